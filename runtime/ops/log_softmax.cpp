// LogSoftmax: Y = X - log(sum(exp(X))) along an axis, with Softmax's per-opset semantics (2-D coercion before opset
// 13). Shape inference, the forward kernel (oneDNN's softmax with softmax_log), its double reference and the gradient
// rule; the backward kernel is SoftmaxGrad's log variant (softmax.cpp).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

bool coerced_2d(const ir::Node& n) { return n.version < 13; }

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] = softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), softmax_axis(n), coerced_2d(n));
  steps.push_back({dnnl_compat::softmax_fwd(dnnl_compat::softmax(ctx.engine(), md, axis, false, true)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = X - logsumexp(X) along the axis, or the coerced 2-D tail, by softmax_reference. X: rank >= 1; Y: the same.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  softmax_reference(g, n, *in[0], out[0], true);
}

// Y = X - logsumexp(X) along the axis; dX = dY - exp(Y) * sum(dY) along the same axis.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0,
           b.emit("SoftmaxGrad", {dY, n.outputs[0]},
                  {{"axis", ir::Attr::of(softmax_axis(n))},
                   {"coerced", ir::Attr::of(int64_t(coerced_2d(n)))},
                   {"log", ir::Attr::of(int64_t(1))}}));
}

}  // namespace

// X: any shape of rank >= 1; Y: the same (softmax_infer).
extern const OpDef kLogSoftmax{.type = "LogSoftmax",
                               .versions = {1, 11, 13},
                               .check = check_unary,
                               .infer = softmax_infer,
                               .forward = forward,
                               .gradient = gradient,
                               .reference = reference,
                               .cases = softmax_cases()};

}  // namespace onnxtrain::ops
