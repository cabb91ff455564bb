// NLLLoss (internal): mean(-logp[label]) on log-probabilities the model already computed, and its gradient
// (-1/N at each label), as PyTorch's NLLLoss. A LogSoftmax head does not come here: autodiff fuses it with the loss
// (SoftmaxCrossEntropyLoss on its input), so its gradient is softmax(x) - onehot.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// L: (N, C) log-probabilities; T: (N) class indices (as float). loss: (); dL: (N, C).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (in[0].size() != 2 || in[1].size() != 1 || (in[1][0] != in[0][0] && in[0][0] != ir::kUnknown))
    g.fail(n, "nll needs (N, C) log-probabilities and (N) labels, found " + ir::shape_str(in[0]) + " and " +
                  ir::shape_str(in[1]));
  return {{}, in[0]};
}

// loss = -(1/N) * sum_i L[i, t_i];  dL[i, c] = -1/N where c = t_i, else 0.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& ls = ctx.shape(n.inputs[0]);
  const int64_t N = ls[0], C = ls[1];
  dnnl::memory l = ctx.view(n.inputs[0], dnnl_compat::plain(ls));
  dnnl::memory t = ctx.view(n.inputs[1], dnnl_compat::plain({N}));
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})),
               dl = ctx.view(n.outputs[1], dnnl_compat::plain(ls));
  Step s;
  s.host = [=]() {
    const float* L = static_cast<const float*>(l.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dL = static_cast<float*>(dl.get_data_handle());
    double total = 0;
    for (int64_t i = 0; i < N * C; ++i) dL[i] = 0.f;
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = static_cast<int64_t>(T[i]);
      total -= L[i * C + y];
      dL[i * C + y] = -1.f / static_cast<float>(N);
    }
    *static_cast<float*>(loss.get_data_handle()) = static_cast<float>(total / double(N));
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kNLLLoss{
    .type = "NLLLoss", .versions = {1}, .check = no_check, .infer = infer, .forward = forward, .internal = true};

}  // namespace onnxtrain::ops
