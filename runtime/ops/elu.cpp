// Elu: Y = X if X > 0 else alpha * (exp(X) - 1), alpha defaulting to 1. Shape inference, the forward kernel (oneDNN
// eltwise_elu), its double reference, the gradient rule and EluGrad, the backward kernel that Elu and Selu share
// (eltwise_backward from the input).
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::Elu;

float alpha_of(const ir::Node& n) { return n.attr_f("alpha", 1.f); }

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_forward(ctx, n, steps, kFn, alpha_of(n));
}

// Y = X > 0 ? X : alpha * (exp(X) - 1). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = x > 0 ? x : alpha * std::expm1(x);
  }
}

// Y = X > 0 ? X : alpha * (exp(X) - 1); dX = dY where X > 0, else dY * alpha * exp(X). Elu'(0) = alpha, as in
// PyTorch (its x <= 0 branch). Read from X, as PyTorch does: from Y it would be dY * (Y + alpha), which cancels to
// nothing where exp(X) is small.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("EluGrad", {dY, n.inputs[0]}, {{"alpha", ir::Attr::of(alpha_of(n))}}));
}

// EluGrad(dY, X) -> dX = scale * (X > 0 ? dY : dY * alpha * exp(X)); scale (default 1) is Selu's gamma, applied in
// place by an eltwise linear. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_backward(ctx, n, steps, kFn, n.attr_f("alpha", 1.f), 0.f, false);
  const float scale = n.attr_f("scale", 1.f);
  if (scale == 1.f) return;
  auto md = dnnl_compat::plain(ctx.shape(n.outputs[0]));
  dnnl::memory dx = ctx.view(n.outputs[0], md);
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, dnnl_compat::Eltwise::Linear, scale)),
                   {{DNNL_ARG_SRC, dx}, {DNNL_ARG_DST, dx}}});
}

}  // namespace

// Elu-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kElu{.type = "Elu",
                        .versions = {1, 6},
                        .check = check_unary,
                        .infer = same_as_first,
                        .forward = forward,
                        .gradient = gradient,
                        .reference = reference,
                        .cases = {{.opset = 1, .shapes = {{3, 5}}},
                                  {.opset = 6, .shapes = {{2, 7, 3}}},
                                  {.opset = 6, .shapes = {{13}}, .attrs = {{"alpha", attr(2.5f)}}},
                                  {.opset = 13, .shapes = {{4, 3}}, .attrs = {{"alpha", attr(-0.5f)}}}}};
extern const OpDef kEluGrad{.type = "EluGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = same_as_first,
                            .forward = grad_forward,
                            .internal = true};

}  // namespace onnxtrain::ops
