// Helpers the op files share: arity checks, shape rules (unary, broadcasting, softmax axes), copies, the elementwise
// kernels whose gradient oneDNN computes from the output, and the references' broadcasting. No op is defined here.
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {

void check_unary(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, found " + std::to_string(n.inputs.size()));
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void no_check(const ir::Graph&, const ir::Node&) {}

void copy_step(CompileCtx& ctx, int from, int to, std::vector<Step>& steps) {
  int64_t n = static_cast<int64_t>(dtype_size(ctx.graph().values[from].dtype));
  for (int64_t d : ctx.shape(from)) n *= d;
  auto md = dnnl_compat::bytes(n);  // bytes, whatever the dtype
  steps.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), md, md)),
                   {{DNNL_ARG_SRC, ctx.view(from, md)}, {DNNL_ARG_DST, ctx.view(to, md)}}});
}

AxesArg axes_arg(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  AxesArg a;
  if (n.version < 13) {
    auto it = n.attrs.find("axes");
    a.given = it != n.attrs.end();
    if (a.given) a.axes = it->second.ints;
    return a;
  }
  a.given = n.input(1) >= 0;
  if (!a.given) return a;
  // A fed input (or a shape chain): known once its values are bound, when a plan is made.
  const std::vector<int64_t>* values = in.ints(1);
  a.known = values != nullptr;
  if (a.known) a.axes = *values;
  return a;
}

std::vector<int64_t> normalize_axes(const ir::Graph& g, const ir::Node& n, std::vector<int64_t> axes, size_t rank,
                                    const char* what) {
  const int64_t r = static_cast<int64_t>(rank);
  for (int64_t& a : axes) {
    if (a < -r || a >= r)
      g.fail(n, "axis " + std::to_string(a) + " is out of range for " + what + " of rank " + std::to_string(rank));
    if (a < 0) a += r;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    g.fail(n, "axes " + ir::shape_str(axes) + " name an axis more than once");
  return axes;
}

void tensor_type_of_first(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check refuses it
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; " + n.op_type + " takes tensors");
  ir::Value& y = g.values[n.outputs[0]];
  y.dtype = x.dtype;
  y.tensor = true;
  y.type_name = x.type_name;
}

void shape_only_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  copy_step(ctx, n.inputs[0], n.outputs[0], steps);
}

// Y = X's elements in row-major order, in the shape infer gave out[0].
void shape_only_reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
                          std::vector<RefTensor>& out) {
  out[0].data = in[0]->data;
}

// Y = X in another shape; dX = dY reshaped to X's shape.
bool shape_only_fold(const ir::Graph&, const ir::Node&, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  if (!in.ints(0)) return false;
  out[0] = *in.ints(0);
  return true;
}

void shape_only_gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReshapeLike", {dY, n.inputs[0]}));
}

std::vector<Shape> same_as_first(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[0]}; }

int normalize_axis(const ir::Graph& g, const ir::Node& n, int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= std::max<int64_t>(r, 1))
    g.fail(n, "axis " + std::to_string(axis) + " is out of range for an input of rank " + std::to_string(rank));
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

Shape broadcast(const ir::Graph& g, const ir::Node& n, const Shape& a, const Shape& b, size_t trailing) {
  const size_t r = std::max(a.size(), b.size());
  Shape y(r);
  for (size_t i = 0; i + trailing < r; ++i) {
    int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1, db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (da != 1 && db != 1 && da != ir::kUnknown && db != ir::kUnknown && da != db)
      g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " do not broadcast");
    y[i] = da == 1 ? db : da;
  }
  return y;
}

Shape padded(Shape s, size_t rank) {
  while (s.size() < rank) s.insert(s.begin(), 1);
  return s;
}

// x: right-aligned to y (rank(x) <= rank(y)), each dim 1 or y's. Walks y's index (odometer) and x's offset with it.
std::vector<int64_t> broadcast_offsets(const Shape& x_in, const Shape& y) {
  const Shape x = padded(x_in, y.size());
  int64_t count = 1;
  for (int64_t d : y) count *= d;
  std::vector<int64_t> stride(x.size()), idx(y.size(), 0), out(static_cast<size_t>(count));
  for (int64_t i = static_cast<int64_t>(x.size()) - 1, s = 1; i >= 0; --i) stride[i] = x[i] == 1 ? 0 : s, s *= x[i];
  int64_t off = 0;
  for (int64_t e = 0; e < count; ++e) {
    out[static_cast<size_t>(e)] = off;
    for (size_t d = y.size(); d-- > 0;) {
      off += stride[d];
      if (++idx[d] < y[d]) break;
      off -= stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return out;
}

int64_t softmax_axis(const ir::Node& n) { return n.attr_i("axis", n.version < 13 ? 1 : -1); }

std::vector<Shape> softmax_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (in[0].empty()) g.fail(n, "input must have rank >= 1, found a scalar");
  normalize_axis(g, n, softmax_axis(n), in[0].size());
  return {in[0]};
}

// Before 13 the input is coerced to 2-D at axis (default 1); from 13 normalized along axis (default -1).
std::vector<OpCase> softmax_cases() {
  return {{.opset = 1, .shapes = {{2, 3, 4}}},
          {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(0)}}},
          {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(2)}}},
          {.opset = 11, .shapes = {{3, 5}}},
          {.opset = 11, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(-1)}}},
          {.opset = 13, .shapes = {{2, 3, 4}}},
          {.opset = 13, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(0)}}},
          {.opset = 13, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(-2)}}}};
}

void eltwise_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f, float alpha,
                     float beta) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, f, alpha, beta)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

void eltwise_backward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f, float alpha,
                      float beta, bool from_dst) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_backward(dnnl_compat::eltwise_backward(ctx.engine(), md, f, alpha, beta, from_dst)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {from_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

void eltwise_backward_from_dst(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f) {
  eltwise_backward(ctx, n, steps, f, 0.f, 0.f, true);
}

}  // namespace onnxtrain::ops
