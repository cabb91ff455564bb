// HardSigmoid: Y = max(0, min(1, alpha * X + beta)), elementwise, alpha 0.2 and beta 0.5 by default. Shape
// inference, the forward kernel (oneDNN 2.6 has no hardsigmoid: eltwise linear, then eltwise clip in place), its
// double reference, the gradient rule and HardSigmoidGrad, its backward kernel (from the output, so X need not be
// kept). The kinks are PyTorch's: torch's hardsigmoid (alpha 1/6) passes dY / 6 for -3 < X < 3 only, 0 at the edges.
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

float alpha_of(const ir::Node& n) { return n.attr_f("alpha", 0.2f); }
float beta_of(const ir::Node& n) { return n.attr_f("beta", 0.5f); }

// X: any shape; Y: the same. Y = alpha * X + beta, then clipped to [0, 1] in place.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  dnnl::memory X = ctx.view(n.inputs[0], md), Y = ctx.view(n.outputs[0], md);
  steps.push_back({dnnl::eltwise_forward(dc::linear(ctx.engine(), md, alpha_of(n), beta_of(n))),
                   {{DNNL_ARG_SRC, X}, {DNNL_ARG_DST, Y}}});
  steps.push_back({dnnl::eltwise_forward(dc::activation(ctx.engine(), md, dc::Activation::Clip, 0.f, 1.f, false)),
                   {{DNNL_ARG_SRC, Y}, {DNNL_ARG_DST, Y}}});
}

// Y = max(0, min(1, alpha * X + beta)). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n), beta = beta_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e)
    out[0].data[e] = std::max(0.0, std::min(1.0, alpha * in[0]->data[e] + beta));
}

// Y = max(0, min(1, alpha*X + beta)); dX = alpha * dY where 0 < Y < 1, strictly, else 0 (PyTorch's edges).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("HardSigmoidGrad", {dY, n.outputs[0]}, {{"alpha", ir::Attr::of(alpha_of(n))}}));
}

// HardSigmoidGrad(dY, Y) -> dX = alpha * dY where 0 < Y < 1: oneDNN's clip backward from the output (strict at both
// bounds), then scaled in place. dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  dnnl::memory dX = ctx.view(n.outputs[0], md);
  steps.push_back(
      {dnnl::eltwise_backward(dc::activation_backward(ctx.engine(), md, dc::Activation::Clip, 0.f, 1.f, true)),
       {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
        {DNNL_ARG_DST, ctx.view(n.inputs[1], md)},
        {DNNL_ARG_DIFF_SRC, dX}}});
  steps.push_back({dnnl::eltwise_forward(dc::linear(ctx.engine(), md, n.attr_f("alpha", 0.2f), 0.f)),
                   {{DNNL_ARG_SRC, dX}, {DNNL_ARG_DST, dX}}});
}

}  // namespace

// HardSigmoid-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kHardSigmoid{
    .type = "HardSigmoid",
    .versions = {1, 6},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .cases = {{.opset = 1, .shapes = {{3, 5}}},
              {.opset = 6, .shapes = {{2, 7, 3}}, .attrs = {{"alpha", attr(0.5f)}, {"beta", attr(0.6f)}}},
              {.opset = 6, .shapes = {{13}}, .attrs = {{"alpha", attr(1.f / 6)}}},
              {.opset = 6, .shapes = {{3, 5}}, .attrs = {{"alpha", attr(-0.7f)}, {"beta", attr(0.2f)}}}}};
extern const OpDef kHardSigmoidGrad{.type = "HardSigmoidGrad",
                                    .versions = {1},
                                    .check = no_check,
                                    .infer = same_as_first,
                                    .forward = grad_forward,
                                    .internal = true};

}  // namespace onnxtrain::ops
