// ReduceMax: Y = the max of X over axes (the attribute before opset 18, the optional integer input from 18; none:
// every axis, or none at all with noop_with_empty_axes = 1), keepdims default 1. The forward kernel (oneDNN's
// reduction), its double reference and the gradient rule with its backward kernel ReduceMaxGrad. Ties share the
// gradient equally, as PyTorch's torch.amax backward does; x.max(dim)[0], which PyTorch exports as the same ReduceMax,
// gives it all to the one index max returns instead, so the two agree where the max is unique. float32 only.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  reduction_forward(ctx, n, steps, dnnl_compat::Reduction::Max);
}

// Y[k] = the max of X[i] over the i that reduce to k.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  reduction_reference(g, n, in, out, dnnl_compat::Reduction::Max);
}

// Y = max(X over axes); M = (X == Y) broadcast; dX = M * dY / sum(M over axes), broadcast back.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ReduceMaxGrad", {dY, n.inputs[0], n.outputs[0]}, {{"axes", ir::Attr::of(grad_axes(b, n))}}));
}

// ReduceMaxGrad(dY, X, Y) -> dX, X's shape; dY and Y in either keepdims layout, axes the sorted reduced axes of X.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

// Four oneDNN steps: M = (X == Y) (binary eq, 1 or 0), C = sum(M) over the axes (reduction), T = dY / C (binary div,
// Y's shape), dX = M * T (binary mul, T broadcast). Nothing reduced: dX = dY.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  using dnnl_compat::Binary;
  const Shape& x = ctx.shape(n.inputs[1]);
  const Shape k = kept_shape(x, n.attrs.at("axes").ints);
  if (k == x) return copy_step(ctx, n.inputs[0], n.outputs[0], steps);
  auto x_md = dnnl_compat::plain(x), k_md = dnnl_compat::plain(k);
  dnnl::memory m = ctx.scratch(x_md), c = ctx.scratch(k_md), t = ctx.scratch(k_md);
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Eq, x_md, k_md, x_md)),
                   {{DNNL_ARG_SRC_0, ctx.view(n.inputs[1], x_md)},
                    {DNNL_ARG_SRC_1, ctx.view(n.inputs[2], k_md)},
                    {DNNL_ARG_DST, m}}});
  steps.push_back({dnnl::reduction(dnnl_compat::reduction(ctx.engine(), dnnl_compat::Reduction::Sum, x_md, k_md)),
                   {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, c}}});
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Div, k_md, k_md, k_md)),
                   {{DNNL_ARG_SRC_0, ctx.view(n.inputs[0], k_md)}, {DNNL_ARG_SRC_1, c}, {DNNL_ARG_DST, t}}});
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Mul, x_md, k_md, x_md)),
                   {{DNNL_ARG_SRC_0, m}, {DNNL_ARG_SRC_1, t}, {DNNL_ARG_DST, ctx.view(n.outputs[0], x_md)}}});
}

}  // namespace

extern const OpDef kReduceMax{
    .type = "ReduceMax",
    .versions = {1, 11, 12, 13, 18, 20},
    .check = check_reduction,
    .infer = reduction_infer,
    .forward = forward,
    .gradient = gradient,
    .int_inputs = {1},
    .reference = reference,
    // The shared cases, and ReduceMax-12 (its integer types) and 20 (its bool inputs) on float32.
    .cases = [] {
      std::vector<OpCase> c = reduction_cases(18);
      c.push_back({.opset = 12, .shapes = {{3, 5}}, .attrs = {{"axes", attr({0})}}});
      c.push_back({.opset = 20, .shapes = {{2, 3, 7}}});
      return c;
    }()};
extern const OpDef kReduceMaxGrad{.type = "ReduceMaxGrad",
                                  .versions = {1},
                                  .check = no_check,
                                  .infer = grad_infer,
                                  .forward = grad_forward,
                                  .internal = true};

}  // namespace onnxtrain::ops
