// Erf: Y = erf(X), elementwise. Shape inference, the forward kernel (a host loop: oneDNN has no erf, and its
// gelu_erf, x * (1 + erf(x / sqrt 2)) / 2, gives erf back only through a division by x that loses it near 0), its
// double reference, the gradient rule and ErfGrad, its backward kernel (a oneDNN binary multiply with post-ops).
// Float32 only: the integer types of Erf-9 and 13 are refused by name.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: any shape; Y: the same. std::erf in float32, within an ulp of the exact value.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  host_map(ctx, n.inputs[0], n.inputs[0], n.outputs[0], steps, [](float x, float) { return std::erf(x); });
}

// Y = erf(X). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = std::erf(in[0]->data[e]);
}

// Y = erf(X); dX = 2/sqrt(pi) * exp(-X^2) * dY, in PyTorch's order.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ErfGrad", {dY, n.inputs[0]}));
}

// ErfGrad(dY, X) -> dX: X * X, then in post-ops negated, exp scaled by 2/sqrt(pi), and multiplied by dY; one
// primitive. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  using dnnl_compat::Binary, dnnl_compat::Eltwise, dnnl_compat::PostOp;
  const float two_over_sqrt_pi = static_cast<float>(2.0 / std::sqrt(M_PI));
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  auto x = ctx.view(n.inputs[1], md);
  steps.push_back({dnnl::binary(dnnl_compat::binary(
                       ctx.engine(), Binary::Mul, md, md, md,
                       {PostOp::fn(Eltwise::Linear, -1.f, 0.f), PostOp::fn(Eltwise::Exp, 0.f, 0.f, two_over_sqrt_pi),
                        PostOp::with(Binary::Mul)})),
                   {{DNNL_ARG_SRC_0, x},
                    {DNNL_ARG_SRC_1, x},
                    {dnnl_compat::binary_post_op_arg(2), ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

extern const OpDef kErf{.type = "Erf",
                        .versions = {9, 13},
                        .check = check_unary,
                        .infer = same_as_first,
                        .forward = forward,
                        .gradient = gradient,
                        .reference = reference,
                        .cases = {{.opset = 9, .shapes = {{3, 5}}}, {.opset = 13, .shapes = {{2, 7, 3}}}}};
extern const OpDef kErfGrad{.type = "ErfGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = same_as_first,
                            .forward = grad_forward,
                            .internal = true};

}  // namespace onnxtrain::ops
