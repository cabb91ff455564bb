// ReduceMean: Y = the mean of X over axes (the attribute before opset 18, the optional integer input from 18; none:
// every axis, or none at all with noop_with_empty_axes = 1), keepdims default 1. The forward kernel (oneDNN's
// reduction), its double reference and the gradient rule: dY broadcast back, divided by the count (ReduceSumGrad,
// reduce_sum.cpp). float32 only.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  reduction_forward(ctx, n, steps, dnnl_compat::Reduction::Mean);
}

// Y[k] = the mean of X[i] over the i that reduce to k.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  reduction_reference(g, n, in, out, dnnl_compat::Reduction::Mean);
}

// Y = sum(X over axes) / count; dX = dY / count broadcast back to X's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(
      n, 0,
      b.emit("ReduceSumGrad", {dY, n.inputs[0]}, {{"axes", ir::Attr::of(grad_axes(b, n))}, {"mean", ir::Attr::of(1)}}));
}

}  // namespace

extern const OpDef kReduceMean{.type = "ReduceMean",
                               .versions = {1, 11, 13, 18},
                               .check = check_reduction,
                               .infer = reduction_infer,
                               .forward = forward,
                               .gradient = gradient,
                               .int_inputs = {1},
                               .reference = reference,
                               .cases = reduction_cases(18)};

}  // namespace onnxtrain::ops
