// PRelu: Y = X where X > 0, else slope * X, slope broadcast unidirectionally to X (numpy-style from the right: per
// channel as (C,) against (N,C) or (C,1,1) against (N,C,H,W), or one slope for all). Shape inference, the forward
// kernel (oneDNN prelu), its double reference, the gradient rule, and PReluGrad, its backward kernels. The slope
// trains: dslope is dY * X where X < 0, summed over the broadcast axes (ReduceToShape). Float32 only: PRelu-9 and 16
// add integer types and bfloat16, which onnxtrain refuses by name.
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs X and slope");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: any shape; slope: a shape that broadcasts to X's (rank <= X's, each dim 1 or X's); Y: X's shape. Every version
// is read with numpy's unidirectional broadcast (PRelu-7's), which holds the earlier versions' size-1 and
// same-shape slopes.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &x = in[0], &s = in[1];
  if (s.size() > x.size() || broadcast(g, n, x, s) != x)
    g.fail(n, "slope " + ir::shape_str(s) + " does not broadcast to X " + ir::shape_str(x));
  return {x};
}

// X: any shape; slope padded with leading 1s to X's rank; Y: X's shape.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& x = ctx.shape(n.inputs[0]);
  auto md = dc::plain(x), w = dc::plain(padded(ctx.shape(n.inputs[1]), std::max<size_t>(x.size(), 1)));
  steps.push_back({dnnl::prelu_forward(dc::prelu(ctx.engine(), md, w, false)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[1], w)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y[i] = X[i] > 0 ? X[i] : slope[s(i)] * X[i], s(i) the index i broadcast back to slope's shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const std::vector<int64_t> s_at = broadcast_offsets(in[1]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = x > 0 ? x : in[1]->data[s_at[e]] * x;
  }
}

// Y = X > 0 ? X : slope*X; dX = dY where X > 0, else slope * dY (at X = 0 the slope, as PyTorch's prelu backward);
// dslope = sum over the broadcast axes of dY * X where X < 0.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const std::vector<int> in = {dY, n.inputs[0], n.inputs[1]};
  if (b.needs(n, 0)) b.set_dX(n, 0, b.emit("PReluGrad", in, {{"wrt", ir::Attr::of(int64_t{0})}}));
  if (b.needs(n, 1))
    b.set_dX(n, 1,
             b.emit("ReduceToShape", {b.emit("PReluGrad", in, {{"wrt", ir::Attr::of(int64_t{1})}}), n.inputs[1]}));
}

// PReluGrad(dY, X, slope) -> wrt = 0: dX, through oneDNN's prelu backward (its dslope goes to scratch); wrt = 1:
// dY * min(X, 0), one binary min with a multiplying post-op, for ReduceToShape to sum to slope's shape.
// dY, X: any shape; slope: broadcasts to X; out: X's shape.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& x = ctx.shape(n.inputs[1]);
  const size_t rank = std::max<size_t>(x.size(), 1);
  auto md = dc::plain(x);
  dnnl::memory dY = ctx.view(n.inputs[0], md), X = ctx.view(n.inputs[1], md), out = ctx.view(n.outputs[0], md);
  if (n.attr_i("wrt", 0) == 0) {
    auto w = dc::plain(padded(ctx.shape(n.inputs[2]), rank));
    steps.push_back({dnnl::prelu_backward(dc::prelu_backward(ctx.engine(), md, w)),
                     {{DNNL_ARG_SRC, X},
                      {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[2], w)},
                      {DNNL_ARG_DIFF_DST, dY},
                      {DNNL_ARG_DIFF_SRC, out},
                      {DNNL_ARG_DIFF_WEIGHTS, ctx.scratch(w)}}});
    return;
  }
  auto one = dc::plain(Shape(rank, 1));
  steps.push_back({dnnl::binary(dc::binary(ctx.engine(), dc::BinaryOp::Min, md, one, md, {{dc::BinaryOp::Mul, md}})),
                   {{DNNL_ARG_SRC_0, X},
                    {DNNL_ARG_SRC_1, ctx.constant(one, 0.f)},
                    {dc::binary_post_arg(0), dY},
                    {DNNL_ARG_DST, out}}});
}

// X's shape (input 1).
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

}  // namespace

extern const OpDef kPRelu{.type = "PRelu",
                          .versions = {1, 6, 7, 9, 16},
                          .check = check,
                          .infer = infer,
                          .forward = forward,
                          .gradient = gradient,
                          .reference = reference,
                          // A slope per element, per channel ((C,) against (N,C); (C,1,1) against (N,C,H,W)), a single
                          // one, and the last axis's.
                          .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}},
                                    {.opset = 6, .shapes = {{2, 7, 3}, {1}}},
                                    {.opset = 7, .shapes = {{4, 7}, {7}}},
                                    {.opset = 9, .shapes = {{2, 3, 4, 5}, {3, 1, 1}}},
                                    {.opset = 16, .shapes = {{3, 4, 5}, {5}}},
                                    {.opset = 16, .shapes = {{2, 3, 2, 2}, {1, 3, 1, 1}}}}};
extern const OpDef kPReluGrad{.type = "PReluGrad",
                              .versions = {1},
                              .check = no_check,
                              .infer = grad_infer,
                              .forward = grad_forward,
                              .internal = true};

}  // namespace onnxtrain::ops
