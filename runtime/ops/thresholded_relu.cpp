// ThresholdedRelu: Y = X if X > alpha else 0, alpha defaulting to 1. Shape inference, the forward kernel, its double
// reference, the gradient rule and ThresholdedReluGrad, its backward kernel. oneDNN has no thresholded relu; both
// kernels are one binary primitive, (X > alpha) as 1 or 0 (binary_gt against the scalar alpha) times V in a
// post-op: exact for every finite X (X = -inf gives 0 * -inf = NaN where ONNX gives 0).
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

float alpha_of(const ir::Node& n) { return n.attr_f("alpha", 1.f); }

// out = (X > alpha) * V, elementwise. X, V, out: one shape.
void gated(CompileCtx& ctx, int x, int v, int out, float alpha, std::vector<Step>& steps) {
  using dnnl_compat::Binary, dnnl_compat::PostOp;
  const Shape& shape = ctx.shape(x);
  auto md = dnnl_compat::plain(shape);
  auto scalar = dnnl_compat::plain(Shape(std::max<size_t>(shape.size(), 1), 1));  // alpha, broadcast
  steps.push_back(
      {dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Greater, md, scalar, md, {PostOp::with(Binary::Mul)})),
       {{DNNL_ARG_SRC_0, ctx.view(x, md)},
        {DNNL_ARG_SRC_1, ctx.constant(scalar, alpha)},
        {dnnl_compat::binary_post_op_arg(0), ctx.view(v, md)},
        {DNNL_ARG_DST, ctx.view(out, md)}}});
}

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  gated(ctx, n.inputs[0], n.inputs[0], n.outputs[0], alpha_of(n), steps);
}

// Y = X > alpha ? X : 0. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[e] > alpha ? in[0]->data[e] : 0.0;
}

// Y = X > alpha ? X : 0; dX = dY where X > alpha, else 0: 0 at X = alpha, as PyTorch's threshold gives.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ThresholdedReluGrad", {dY, n.inputs[0]}, {{"alpha", ir::Attr::of(alpha_of(n))}}));
}

// ThresholdedReluGrad(dY, X) -> dX. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  gated(ctx, n.inputs[1], n.inputs[0], n.outputs[0], n.attr_f("alpha", 1.f), steps);
}

}  // namespace

extern const OpDef kThresholdedRelu{.type = "ThresholdedRelu",
                                    .versions = {10},
                                    .check = check_unary,
                                    .infer = same_as_first,
                                    .forward = forward,
                                    .gradient = gradient,
                                    .reference = reference,
                                    .cases = {{.opset = 10, .shapes = {{3, 5}}},
                                              {.opset = 10, .shapes = {{2, 7, 3}}, .attrs = {{"alpha", attr(0.5f)}}},
                                              {.opset = 13, .shapes = {{13}}, .attrs = {{"alpha", attr(-1.25f)}}}}};
extern const OpDef kThresholdedReluGrad{.type = "ThresholdedReluGrad",
                                        .versions = {1},
                                        .check = no_check,
                                        .infer = same_as_first,
                                        .forward = grad_forward,
                                        .internal = true};

}  // namespace onnxtrain::ops
