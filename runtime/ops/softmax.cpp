// Softmax: Y = exp(X - max) / sum(exp(X - max)) along an axis, with each opset's semantics.
//   opset 1 and 11: X is coerced to 2-D at `axis` (default 1), (prod(d[:axis]), prod(d[axis:])), and each row of
//                   that flattened tail is normalized.
//   opset 13 on:    normalized along `axis` alone (default -1).
// Shape inference, the forward kernel (oneDNN's softmax, accurate), its double reference (shared with LogSoftmax),
// the gradient rule and SoftmaxGrad, its backward kernel (oneDNN's softmax backward). Softmax feeding cross-entropy
// is fused by autodiff and skips SoftmaxGrad.
#include <algorithm>
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

bool coerced_2d(const ir::Node& n) { return n.version < 13; }

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] = softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), softmax_axis(n), coerced_2d(n));
  steps.push_back({dnnl_compat::softmax_fwd(dnnl_compat::softmax(ctx.engine(), md, axis, false)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = softmax(X) along the axis, or the coerced 2-D tail, by softmax_reference. X: rank >= 1; Y: the same.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  softmax_reference(g, n, *in[0], out[0], false);
}

// Y = softmax(X) along the axis (or the coerced 2-D tail); dX = Y * (dY - sum(dY * Y)) along the same axis.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0,
           b.emit("SoftmaxGrad", {dY, n.outputs[0]},
                  {{"axis", ir::Attr::of(softmax_axis(n))}, {"coerced", ir::Attr::of(int64_t(coerced_2d(n)))}}));
}

// SoftmaxGrad(dY, Y) -> dX, for Softmax, or with log = 1 for LogSoftmax (dX = dY - exp(Y) * sum(dY)).
// dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto [md, axis] =
      softmax_layout(ctx.graph(), n, ctx.shape(n.inputs[0]), n.attr_i("axis", -1), n.attr_i("coerced", 0) != 0);
  bool log = n.attr_i("log", 0) != 0;
  steps.push_back({dnnl_compat::softmax_bwd(dnnl_compat::softmax_backward(ctx.engine(), md, axis, log)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

std::pair<dnnl::memory::desc, int> softmax_layout(const ir::Graph& g, const ir::Node& n, const Shape& x,
                                                  int64_t axis_in, bool coerced) {
  int axis = normalize_axis(g, n, axis_in, x.size());
  if (!coerced) return {dnnl_compat::plain(x), axis};
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < x.size(); ++i) (static_cast<int>(i) < axis ? outer : inner) *= x[i];
  return {dnnl_compat::plain({outer, inner}), 1};
}

// With outer = prod(d[:axis]) and, before opset 13, len = prod(d[axis:]) and inner = 1, from 13 on len = d[axis] and
// inner = prod(d[axis+1:]), each of the outer * inner lines of len elements, l along it:
//   y_l = exp(x_l - max) / sum_l' exp(x_l' - max),    or with log:  y_l = x_l - max - log(sum_l' exp(x_l' - max))
// x: any shape of rank >= 1; y: the same.
void softmax_reference(const ir::Graph& g, const ir::Node& n, const RefTensor& x, RefTensor& y, bool log) {
  const Shape& s = x.shape;
  const bool coerced = coerced_2d(n);
  const int axis = normalize_axis(g, n, softmax_axis(n), s.size());
  int64_t outer = 1, len = 1, inner = 1;
  for (int i = 0; i < static_cast<int>(s.size()); ++i)
    (i < axis ? outer : (i == axis || coerced) ? len : inner) *= s[i];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      const auto at = [&](int64_t l) { return static_cast<size_t>((o * len + l) * inner + in); };
      double mx = -INFINITY, sum = 0;
      for (int64_t l = 0; l < len; ++l) mx = std::max(mx, x.data[at(l)]);
      for (int64_t l = 0; l < len; ++l) sum += std::exp(x.data[at(l)] - mx);
      for (int64_t l = 0; l < len; ++l)
        y.data[at(l)] = log ? x.data[at(l)] - mx - std::log(sum) : std::exp(x.data[at(l)] - mx) / sum;
    }
}

// X: any shape of rank >= 1; Y: the same (softmax_infer).
extern const OpDef kSoftmax{.type = "Softmax",
                            .versions = {1, 11, 13},
                            .check = check_unary,
                            .infer = softmax_infer,
                            .forward = forward,
                            .gradient = gradient,
                            .reference = reference,
                            .cases = softmax_cases()};
extern const OpDef kSoftmaxGrad{.type = "SoftmaxGrad",
                                .versions = {1},
                                .check = no_check,
                                .infer = same_as_first,
                                .forward = grad_forward,
                                .internal = true};

}  // namespace onnxtrain::ops
