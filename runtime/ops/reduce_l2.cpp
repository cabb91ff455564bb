// ReduceL2: Y = sqrt(sum of X^2) over axes (the attribute before opset 18, the optional integer input from 18; none:
// every axis, or none at all with noop_with_empty_axes = 1, when Y = |X|), keepdims default 1. The forward kernel
// (oneDNN's reduction, norm_lp_sum with p = 2), its double reference and the gradient rule with its backward kernel
// ReduceL2Grad, which gives 0 where Y = 0 as PyTorch's norm backward does. float32 only.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  reduction_forward(ctx, n, steps, dnnl_compat::Reduction::L2);
}

// Y[k] = sqrt(sum of X[i]^2 over the i that reduce to k).
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  reduction_reference(g, n, in, out, dnnl_compat::Reduction::L2);
}

// Y = sqrt(sum(X^2 over axes)); dX = X * (dY / Y) broadcast back, 0 where Y = 0 (there X = 0 too).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ReduceL2Grad", {dY, n.inputs[0], n.outputs[0]}, {{"axes", ir::Attr::of(grad_axes(b, n))}}));
}

// ReduceL2Grad(dY, X, Y) -> dX, X's shape; dY and Y in either keepdims layout, axes the sorted reduced axes of X.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

// t = dY / Y at Y's shape, 0 where Y = 0: a host loop over the reduced tensor, since oneDNN 2.6's binary has no select
// to mask the division by zero; then dX = X * t, t broadcast (oneDNN binary mul) over the full tensor.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& x = ctx.shape(n.inputs[1]);
  const Shape k = kept_shape(x, n.attrs.at("axes").ints);
  auto x_md = dnnl_compat::plain(x), k_md = dnnl_compat::plain(k);
  dnnl::memory dy = ctx.view(n.inputs[0], k_md), y = ctx.view(n.inputs[2], k_md), t = ctx.scratch(k_md);
  const size_t count = k_md.get_size() / sizeof(float);
  Step s;
  s.host = [=]() {
    const float *dY = static_cast<const float*>(dy.get_data_handle()),
                *Y = static_cast<const float*>(y.get_data_handle());
    float* T = static_cast<float*>(t.get_data_handle());
    for (size_t i = 0; i < count; ++i) T[i] = Y[i] == 0.f ? 0.f : dY[i] / Y[i];
  };
  steps.push_back(std::move(s));
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), dnnl_compat::Binary::Mul, x_md, k_md, x_md)),
                   {{DNNL_ARG_SRC_0, ctx.view(n.inputs[1], x_md)},
                    {DNNL_ARG_SRC_1, t},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], x_md)}}});
}

}  // namespace

extern const OpDef kReduceL2{.type = "ReduceL2",
                             .versions = {1, 11, 13, 18},
                             .check = check_reduction,
                             .infer = reduction_infer,
                             .forward = forward,
                             .gradient = gradient,
                             .int_inputs = {1},
                             .reference = reference,
                             .cases = reduction_cases(18)};
extern const OpDef kReduceL2Grad{.type = "ReduceL2Grad",
                                 .versions = {1},
                                 .check = no_check,
                                 .infer = grad_infer,
                                 .forward = grad_forward,
                                 .internal = true};

}  // namespace onnxtrain::ops
