// Slice: Y = X[starts:ends:steps] along axes, any dtype. starts, ends and axes are attributes at opset 1 (no steps);
// from 10 they are integer inputs, axes (default 0..k-1) and steps (default 1, negative walks backwards) optional.
// Indices count from the back when negative and are clamped to the axis. Shape inference, the fold of known integers
// (x.shape[2:] in a shape chain), the forward kernel (an index map made with the plan), its double reference and the
// gradient rule: dX = zeros of X's shape with dY scattered into the slice (SliceGrad).
#include <algorithm>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.version < 10) {
    if (n.inputs.size() > 1) g.fail(n, "starts and ends are attributes before opset 10, not inputs");
    if (!n.has("starts") || !n.has("ends")) g.fail(n, "attributes starts and ends are required");
  } else {
    if (n.has("starts") || n.has("ends") || n.has("axes")) g.fail(n, "starts, ends and axes are inputs from opset 10");
    if (n.input(1) < 0 || n.input(2) < 0) g.fail(n, "inputs starts and ends are required");
    if (n.inputs.size() > 5) g.fail(n, "expected at most 5 inputs, found " + std::to_string(n.inputs.size()));
  }
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// Per axis of X: where Y's walk starts, its step and its length.
struct Walk {
  std::vector<int64_t> start, step, count;
};

// The arguments (attributes or inputs: get(k) gives input k's values, nullptr while unknown) resolved against X's
// shape as ONNX says: negative starts and ends count from the back; then, for a positive step, both are clamped to
// [0, d]; for a negative one, start to [0, d-1] and end to [-1, d-1]. Returns false while an argument is unknown.
template <class Get>
bool walk_of(const ir::Graph& g, const ir::Node& n, const Shape& x, Get get, Walk& w) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.version < 10) {
    starts = n.attrs.at("starts").ints, ends = n.attrs.at("ends").ints;
    if (n.has("axes")) axes = n.attrs.at("axes").ints;
  } else {
    const std::vector<int64_t>*s = get(1), *e = get(2), *a = n.input(3) >= 0 ? get(3) : nullptr,
          *t = n.input(4) >= 0 ? get(4) : nullptr;
    if (!s || !e || (n.input(3) >= 0 && !a) || (n.input(4) >= 0 && !t)) return false;
    starts = *s, ends = *e;
    if (a) axes = *a;
    if (t) steps = *t;
  }
  if (ends.size() != starts.size()) g.fail(n, "starts and ends differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    g.fail(n, "starts, ends, axes and steps differ in length");
  const size_t r = x.size();
  w.start.assign(r, 0), w.step.assign(r, 1), w.count = x;
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = normalize_axis(g, n, axes[i], r);
    if (seen[a]) g.fail(n, "axis " + std::to_string(axes[i]) + " is sliced twice");
    seen[a] = true;
    const int64_t d = x[a], step = steps[i];
    if (step == 0) g.fail(n, "a step of 0");
    if (d == ir::kUnknown) {
      w.count[a] = ir::kUnknown;
      continue;
    }
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += d;  // then clamped: -d - 1 and below stay before the axis
    if (e < 0) e += d;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d), e = std::clamp<int64_t>(e, 0, d);
      w.count[a] = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1), e = std::clamp<int64_t>(e, -1, d - 1);
      w.count[a] = s > e ? (s - e - step - 1) / -step : 0;
    }
    w.start[a] = s, w.step[a] = step;
  }
  return true;
}

// X: any shape; starts, ends, axes, steps: (k) int64 or int32; Y: the walk's counts.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  Walk w;
  // Bounds not known yet (computed by a shape chain, known when a plan is made): Y keeps X's rank, which is what the
  // ops after it (and the gradient rules of reductions) need at load.
  if (!walk_of(
          g, n, in[0], [&](size_t k) { return in.ints(k); }, w))
    return {Shape(in[0].size(), ir::kUnknown)};
  return {w.count};
}

// Y's elements in row-major order: offsets into X, sum over axes of (start + i * step) * stride.
std::vector<int64_t> offsets(const Walk& w, const Shape& x) {
  const std::vector<int64_t> xst = row_strides(x);
  std::vector<int64_t> at(static_cast<size_t>(count_of(w.count)));
  std::vector<int64_t> idx(x.size(), 0);
  int64_t base = 0;
  for (size_t d = 0; d < x.size(); ++d) base += w.start[d] * xst[d];
  for (int64_t& o : at) {
    o = base;
    for (size_t d = 0; d < x.size(); ++d) o += idx[d] * w.step[d] * xst[d];
    for (size_t d = x.size(); d-- > 0;)
      if (++idx[d] < w.count[d])
        break;
      else
        idx[d] = 0;
  }
  return at;
}

// Known 1-D integers sliced: Y = X[start:end:step] (a shape's dims from axis 2 on).
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  if (!in.ints(0) || in[0].size() != 1) return false;
  Walk w;
  if (!walk_of(
          g, n, in[0], [&](size_t k) { return in.ints(k); }, w))
    return false;
  for (int64_t o : offsets(w, in[0])) out[0].push_back((*in.ints(0))[static_cast<size_t>(o)]);
  return true;
}

Walk plan_walk(CompileCtx& ctx, const ir::Node& n, int x) {
  Walk w;
  if (!walk_of(
          ctx.graph(), n, ctx.shape(x), [&](size_t k) { return ctx.ints(n.inputs[k]); }, w))
    ctx.graph().fail(n, "starts, ends, axes or steps are not known when the plan is made");
  return w;
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Walk w = plan_walk(ctx, n, n.inputs[0]);
  gather_step(ctx, n.inputs[0], n.outputs[0], offsets(w, ctx.shape(n.inputs[0])), steps);
}

// Y[i_0, ..., i_r-1] = X[s_0 + i_0 t_0, ..., s_r-1 + i_r-1 t_r-1].
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape& xs = in[0]->shape;
  std::vector<std::vector<int64_t>> given(n.inputs.size());
  for (size_t k = 1; k < n.inputs.size(); ++k)
    if (in[k]) given[k].assign(in[k]->data.begin(), in[k]->data.end());
  Walk w;
  walk_of(
      g, n, xs, [&](size_t k) { return &given[k]; }, w);
  const std::vector<int64_t> yst = row_strides(out[0].shape), xst = row_strides(xs);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    int64_t off = 0;
    for (size_t d = 0; d < xs.size(); ++d)
      off += (w.start[d] + (static_cast<int64_t>(e) / yst[d]) % out[0].shape[d] * w.step[d]) * xst[d];
    out[0].data[e] = in[0]->data[static_cast<size_t>(off)];
  }
}

// Y = X[walk]; dX = 0 but at the walk, where dX[walk] = dY (a slice never repeats an element). SliceGrad(dY, X,
// starts, ends, axes, steps) carries the node's attributes at opset 1.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  std::vector<int> reads = {dY, n.inputs[0]};
  std::map<std::string, ir::Attr> attrs;
  if (n.version < 10) {
    attrs = n.attrs;
  } else {
    for (size_t k = 1; k < 5; ++k) reads.push_back(n.input(k));
  }
  b.set_dX(n, 0, b.emit("SliceGrad", reads, attrs));
}

// SliceGrad -> X's shape. Its node has Slice's arguments shifted by one input (dY first); version 1 when the
// attributes are there, 10 otherwise, as walk_of reads them.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  ir::Node as_slice = n;
  as_slice.inputs.erase(as_slice.inputs.begin());  // (X, starts, ends, axes, steps), as Slice has them
  as_slice.version = n.has("starts") ? 1 : 10;
  const Walk w = plan_walk(ctx, as_slice, n.inputs[1]);
  const std::vector<int64_t> at = offsets(w, ctx.shape(n.inputs[1]));
  dnnl::memory dy = bytes_view(ctx, n.inputs[0]), dx = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=, total = count_of(ctx.shape(n.inputs[1]))]() {
    const float* dY = static_cast<const float*>(dy.get_data_handle());
    float* dX = static_cast<float*>(dx.get_data_handle());
    std::fill(dX, dX + total, 0.f);
    for (size_t e = 0; e < at.size(); ++e) dX[at[e]] = dY[e];
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kSlice{
    .type = "Slice",
    .versions = {1, 10, 11, 13},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .gradient = gradient,
    .int_inputs = {1, 2, 3, 4},
    .reference = reference,
    .types = tensor_type_of_first,
    // Attributes at 1 (axes default, a clamped end); inputs from 10: steps 2, negative steps, negative axes and
    // indices, ends past the axis, an empty slice.
    .cases = {{.opset = 1, .shapes = {{4, 5}}, .attrs = {{"starts", attr({1, 0})}, {"ends", attr({3, 100})}}},
              {.opset = 1,
               .shapes = {{3, 6, 2}},
               .attrs = {{"axes", attr({1})}, {"starts", attr({-4})}, {"ends", attr({-1})}}},
              {.opset = 10, .shapes = {{5, 7}}, .ints = {{0, 1}, {5, 7}, {0, 1}, {2, 3}}},
              {.opset = 11, .shapes = {{4, 6}}, .ints = {{-1}, {-100}, {-1}, {-2}}},
              {.opset = 11, .shapes = {{3, 5, 2}}, .ints = {{4, 1}, {0, 10}, {1, -3}, {-1, 1}}},
              {.opset = 13, .shapes = {{2, 7, 3}}, .ints = {{2}, {6}, {1}}},
              {.opset = 13, .shapes = {{3, 4}}, .ints = {{3}, {1}, {1}}}}};
extern const OpDef kSliceGrad{.type = "SliceGrad",
                              .versions = {1},
                              .check = no_check,
                              .infer = grad_infer,
                              .forward = grad_forward,
                              .internal = true,
                              .int_inputs = {2, 3, 4, 5}};

}  // namespace onnxtrain::ops
