// MSELoss (internal): mean squared error and its gradient in one host kernel, as PyTorch's MSELoss (mean over all
// elements).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Y: any shape; T: the same. loss: (); dY: Y's shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& in) {
  if (in[0] != in[1]) g.fail(n, "mse targets " + ir::shape_str(in[1]) + " do not match outputs " + ir::shape_str(in[0]));
  return {{}, in[0]};
}

// loss = (1/E) * sum_e (y_e - t_e)^2;  dY = 2 * (y - t) / E, over all E elements.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  int64_t E = 1;
  for (int64_t d : ctx.shape(n.inputs[0])) E *= d;
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  dnnl::memory y = ctx.view(n.inputs[0], md), t = ctx.view(n.inputs[1], md);
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})), dy = ctx.view(n.outputs[1], md);
  Step s;
  s.host = [=]() {
    const float* Y = static_cast<const float*>(y.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dY = static_cast<float*>(dy.get_data_handle());
    double total = 0;
    for (int64_t e = 0; e < E; ++e) {
      float d = Y[e] - T[e];
      total += double(d) * d;
      dY[e] = 2.f * d / static_cast<float>(E);
    }
    *static_cast<float*>(loss.get_data_handle()) = static_cast<float>(total / double(E));
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kMSELoss{"MSELoss", {1}, no_check, infer, forward, nullptr, true};

}  // namespace onnxtrain::ops
