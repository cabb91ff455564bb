// LogSoftmax: Y = X - log(sum(exp(X))) along an axis, with Softmax's per-opset semantics (2-D coercion before opset
// 13). Shape inference, the forward kernel (oneDNN softmax_v2 with softmax_log) and the gradient rule; the backward
// kernel is SoftmaxGrad's log variant (softmax.cpp).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

bool coerced_2d(const ir::Node& n) { return n.version < 13; }
int64_t axis_attr(const ir::Node& n) { return n.attr_i("axis", coerced_2d(n) ? 1 : -1); }

// X: any shape of rank >= 1; Y: the same.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& in) {
  if (in[0].empty()) g.fail(n, "input must have rank >= 1, found a scalar");
  normalize_axis(g, n, axis_attr(n), in[0].size());
  return {in[0]};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] = softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), axis_attr(n), coerced_2d(n));
  steps.push_back({dnnl::softmax_v2_forward(dnnl_compat::softmax(ctx.engine(), md, axis, false, true)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = X - logsumexp(X) along the axis; dX = dY - exp(Y) * sum(dY) along the same axis.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SoftmaxGrad", {dY, n.outputs[0]},
                        {{"axis", ir::Attr::of(axis_attr(n))}, {"coerced", ir::Attr::of(int64_t(coerced_2d(n)))},
                         {"log", ir::Attr::of(int64_t(1))}}));
}

}  // namespace

extern const OpDef kLogSoftmax{"LogSoftmax", {1, 11, 13}, check_unary, infer, forward, gradient};

}  // namespace onnxtrain::ops
