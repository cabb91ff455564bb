// Softmax: Y = exp(X - max) / sum(exp(X - max)) along an axis, with each opset's semantics.
//   opset 1 and 11: X is coerced to 2-D at `axis` (default 1), (prod(d[:axis]), prod(d[axis:])), and each row of
//                   that flattened tail is normalized.
//   opset 13 on:    normalized along `axis` alone (default -1).
// Shape inference, the forward kernel (oneDNN softmax_v2, accurate), the gradient rule and SoftmaxGrad, its
// backward kernel (softmax_v2_backward). Softmax feeding cross-entropy is fused by autodiff and skips SoftmaxGrad.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

bool coerced_2d(const ir::Node& n) { return n.version < 13; }

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] = softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), softmax_axis(n), coerced_2d(n));
  steps.push_back({dnnl::softmax_v2_forward(dnnl_compat::softmax(ctx.engine(), md, axis, false)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = softmax(X) along the axis (or the coerced 2-D tail); dX = Y * (dY - sum(dY * Y)) along the same axis.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SoftmaxGrad", {dY, n.outputs[0]},
                        {{"axis", ir::Attr::of(softmax_axis(n))}, {"coerced", ir::Attr::of(int64_t(coerced_2d(n)))}}));
}

// SoftmaxGrad(dY, Y) -> dX, for Softmax, or with log = 1 for LogSoftmax (dX = dY - exp(Y) * sum(dY)).
// dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] = softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), n.attr_i("axis", -1), n.attr_i("coerced", 0) != 0);
  bool log = n.attr_i("log", 0) != 0;
  steps.push_back({dnnl::softmax_v2_backward(dnnl_compat::softmax_backward(ctx.engine(), md, axis, log)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

std::pair<dnnl::memory::desc, int> softmax_layout(const ir::Graph& g, const ir::Node& n, const Shape& x, int64_t axis_in,
                                          bool coerced) {
  int axis = normalize_axis(g, n, axis_in, x.size());
  if (!coerced) return {dnnl_compat::plain(x), axis};
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < x.size(); ++i) (static_cast<int>(i) < axis ? outer : inner) *= x[i];
  return {dnnl_compat::plain({outer, inner}), 1};
}

// X: any shape of rank >= 1; Y: the same (softmax_infer).
extern const OpDef kSoftmax{"Softmax", {1, 11, 13}, check_unary, softmax_infer, forward, gradient};
extern const OpDef kSoftmaxGrad{"SoftmaxGrad", {1}, no_check, same_as_first, grad_forward, nullptr, true};

}  // namespace onnxtrain::ops
