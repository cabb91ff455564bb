// ReduceSum: Y = X summed over axes (the attribute before opset 13, the optional integer input from 13; none: every
// axis, or none at all with noop_with_empty_axes = 1), keepdims default 1. The forward kernel (oneDNN's reduction),
// its double reference and the gradient rule, with ReduceSumGrad, the backward kernel that ReduceMean shares: dY
// broadcast back over the reduced axes (oneDNN binary), scaled by 1/count for a mean. float32 only.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  reduction_forward(ctx, n, steps, dnnl_compat::Reduction::Sum);
}

// Y[k] = sum of X[i] over the i that reduce to k.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  reduction_reference(g, n, in, out, dnnl_compat::Reduction::Sum);
}

// Y = sum(X over axes); dX = dY broadcast back to X's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ReduceSumGrad", {dY, n.inputs[0]}, {{"axes", ir::Attr::of(grad_axes(b, n))}}));
}

// ReduceSumGrad(dY, X) -> dX, X's shape: dY (Y's elements, in either keepdims layout) broadcast over the sorted axes
// of X that were reduced; with mean = 1, divided by the count of elements each Y summed.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

// dX = 0 + dY (binary add, dY seen in X's rank with a 1 at each reduced axis), then * 1/count for a mean.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& x = ctx.shape(n.inputs[1]);
  const std::vector<int64_t>& axes = n.attrs.at("axes").ints;
  const Shape k = kept_shape(x, axes);
  auto x_md = dnnl_compat::plain(x), k_md = dnnl_compat::plain(k);
  dnnl::memory out = ctx.view(n.outputs[0], x_md);
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), dnnl_compat::Binary::Add, x_md, k_md, x_md)),
                   {{DNNL_ARG_SRC_0, ctx.constant(x_md, 0.f)},
                    {DNNL_ARG_SRC_1, ctx.view(n.inputs[0], k_md)},
                    {DNNL_ARG_DST, out}}});
  if (n.attr_i("mean", 0) != 1) return;
  int64_t count = 1;
  for (int64_t a : axes) count *= x[static_cast<size_t>(a)];
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::linear(ctx.engine(), x_md, 1.f / static_cast<float>(count), 0.f)),
                   {{DNNL_ARG_SRC, out}, {DNNL_ARG_DST, out}}});
}

}  // namespace

extern const OpDef kReduceSum{.type = "ReduceSum",
                              .versions = {1, 11, 13},
                              .check = check_reduction,
                              .infer = reduction_infer,
                              .forward = forward,
                              .gradient = gradient,
                              .int_inputs = {1},
                              .reference = reference,
                              .cases = reduction_cases(13)};
extern const OpDef kReduceSumGrad{.type = "ReduceSumGrad",
                                  .versions = {1},
                                  .check = no_check,
                                  .infer = grad_infer,
                                  .forward = grad_forward,
                                  .internal = true};

}  // namespace onnxtrain::ops
