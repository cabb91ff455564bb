// Reciprocal: Y = 1 / X, elementwise. Shape inference, the forward kernel (oneDNN eltwise_pow with alpha 1, beta -1,
// which oneDNN computes as a division: bit for bit the 1 / X PyTorch gives), its double reference, the gradient
// rule and ReciprocalGrad, its backward kernel (a oneDNN binary multiply with post-ops, from the output).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_forward(ctx, n, steps, dnnl_compat::Eltwise::Pow, 1.f, -1.f);
}

// Y = 1 / X. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = 1.0 / in[0]->data[e];
}

// Y = 1 / X; dX = -dY / X^2 = -(Y * Y) * dY, from Y as PyTorch computes it (grad * -(result * result)).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ReciprocalGrad", {dY, n.outputs[0]}));
}

// ReciprocalGrad(dY, Y) -> dX = (-(Y * Y)) * dY: Y * Y, negated and multiplied by dY in post-ops, one primitive.
// dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  using dnnl_compat::Binary, dnnl_compat::PostOp;
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  auto y = ctx.view(n.inputs[1], md);
  steps.push_back({dnnl::binary(dnnl_compat::binary(
                       ctx.engine(), Binary::Mul, md, md, md,
                       {PostOp::fn(dnnl_compat::Eltwise::Linear, -1.f, 0.f), PostOp::with(Binary::Mul)})),
                   {{DNNL_ARG_SRC_0, y},
                    {DNNL_ARG_SRC_1, y},
                    {dnnl_compat::binary_post_op_arg(1), ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

// Reciprocal-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kReciprocal{
    .type = "Reciprocal",
    .versions = {1, 6, 13},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .positive_inputs = true,  // away from the pole at 0, where central differences fail
    .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 6, .shapes = {{2, 7, 3}}}, {.opset = 13, .shapes = {{13}}}}};
extern const OpDef kReciprocalGrad{.type = "ReciprocalGrad",
                                   .versions = {1},
                                   .check = no_check,
                                   .infer = same_as_first,
                                   .forward = grad_forward,
                                   .internal = true};

}  // namespace onnxtrain::ops
