// Sigmoid: Y = 1 / (1 + exp(-X)), elementwise. Shape inference, the forward kernel (oneDNN eltwise), the gradient
// rule and SigmoidGrad, its backward kernel (eltwise_backward from the output, so X need not be kept).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::Logistic;

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, kFn)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = 1 / (1 + exp(-X)); dX = dY * Y * (1 - Y)
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SigmoidGrad", {dY, n.outputs[0]}));
}

// SigmoidGrad(dY, Y) -> dX. dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_backward(dnnl_compat::eltwise_backward(ctx.engine(), md, kFn)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

extern const OpDef kSigmoid{"Sigmoid", {1, 6, 13}, check_unary, same_as_first, forward, gradient};
extern const OpDef kSigmoidGrad{"SigmoidGrad", {1}, no_check, same_as_first, grad_forward, nullptr, true};

}  // namespace onnxtrain::ops
