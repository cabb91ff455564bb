// HardSwish: Y = X * max(0, min(1, X / 6 + 1/2)), elementwise (ONNX fixes alpha 1/6 and beta 1/2). Shape inference,
// the forward kernel (oneDNN eltwise_hardswish), its double reference, the gradient rule and HardSwishGrad, its
// backward kernel: a host loop, since oneDNN's hardswish backward puts the kinks on the outer sides (0 at X = -3,
// 1 at X = 3) where PyTorch's hardswish_backward takes the middle piece at both (-1/2 and 3/2).
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dc::activation(ctx.engine(), md, dc::Activation::HardSwish, 0.f, 0.f, false)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = X * max(0, min(1, X / 6 + 1/2)). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
  }
}

// Y = X * clip(X/6 + 1/2, 0, 1); dX = 0 where X < -3, dY * (X/3 + 1/2) where -3 <= X <= 3, dY where X > 3: PyTorch's
// hardswish_backward, kinks included.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("HardSwishGrad", {dY, n.inputs[0]}));
}

// HardSwishGrad(dY, X) -> dX, as the rule above. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  dnnl::memory dY = ctx.view(n.inputs[0], md), X = ctx.view(n.inputs[1], md), dX = ctx.view(n.outputs[0], md);
  size_t count = 1;
  for (int64_t d : ctx.shape(n.inputs[0])) count *= static_cast<size_t>(d);
  Step s;
  s.host = [=]() {
    const float* dy = static_cast<const float*>(dY.get_data_handle());
    const float* x = static_cast<const float*>(X.get_data_handle());
    float* dx = static_cast<float*>(dX.get_data_handle());
    for (size_t i = 0; i < count; ++i) dx[i] = x[i] < -3.f ? 0.f : x[i] <= 3.f ? dy[i] * (x[i] / 3.f + 0.5f) : dy[i];
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kHardSwish{.type = "HardSwish",
                              .versions = {14},
                              .check = check_unary,
                              .infer = same_as_first,
                              .forward = forward,
                              .gradient = gradient,
                              .reference = reference,
                              .cases = {{.opset = 14, .shapes = {{3, 5}}}, {.opset = 14, .shapes = {{2, 7, 3}}}}};
extern const OpDef kHardSwishGrad{.type = "HardSwishGrad",
                                  .versions = {1},
                                  .check = no_check,
                                  .infer = same_as_first,
                                  .forward = grad_forward,
                                  .internal = true};

}  // namespace onnxtrain::ops
