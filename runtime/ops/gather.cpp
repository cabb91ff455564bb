// Gather: Y = X's slices at indices along axis (default 0), indices int32 or int64, negative counting from the back,
// X any dtype. An initializer gathered by fed indices is an embedding (nn.Embedding). Shape inference, the fold of
// known integers (x.size(0) in a shape chain), the forward kernel (a host loop reading the indices each run), its
// double reference and the gradient rule: dX = zeros shaped like X with each slice of dY added at its index, repeated
// indices accumulating (GatherGrad). The indices get no gradient.
#include <cstring>

#include "onnxtrain/error.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

int64_t axis_attr(const ir::Node& n) { return n.attr_i("axis", 0); }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs data and indices");
  if (n.version < 11 && axis_attr(n) < 0) g.fail(n, "a negative axis comes at opset 11");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;
  const ir::Value &x = g.values[n.inputs[0]], &i = g.values[n.inputs[1]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; Gather takes tensors");
  if (!i.tensor || (i.dtype != DType::Int64 && i.dtype != DType::Int32))
    g.fail(n, "indices '" + i.name + "' are " + g.type_of(n.inputs[1]) + "; Gather takes int32 or int64 indices");
  g.values[n.outputs[0]].dtype = x.dtype;
}

// X: (a_0, ..., a_r-1), indices: (q_0, ..., q_k-1); Y: (a_0, ..., a_axis-1, q_0, ..., q_k-1, a_axis+1, ...).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &x = in[0], &i = in[1];
  if (x.empty()) g.fail(n, "data must have rank >= 1, found a scalar");
  const int axis = normalize_axis(g, n, axis_attr(n), x.size());
  Shape y(x.begin(), x.begin() + axis);
  y.insert(y.end(), i.begin(), i.end());
  y.insert(y.end(), x.begin() + axis + 1, x.end());
  return {y};
}

// An index into an axis of length d, from the back when negative; false when out of [-d, d).
bool resolve(int64_t& i, int64_t d) {
  if (i < 0) i += d;
  return i >= 0 && i < d;
}

// Known 1-D integers at known indices: Y = X[indices] (a dim of a shape).
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  if (!in.ints(0) || !in.ints(1) || in[0].size() != 1) return false;
  const std::vector<int64_t>& x = *in.ints(0);
  for (int64_t i : *in.ints(1)) {
    if (!resolve(i, static_cast<int64_t>(x.size())))
      g.fail(n, "index " + std::to_string(i) + " is out of range for an axis of " + std::to_string(x.size()));
    out[0].push_back(x[static_cast<size_t>(i)]);
  }
  return true;
}

// X as (outer, d, inner) around axis, Y as (outer, count(indices), inner).
struct Around {
  int64_t outer = 1, d = 0, inner = 1, count = 0;
};
Around around(const ir::Graph& g, const ir::Node& n, const Shape& x, const Shape& indices) {
  Around a;
  const int axis = normalize_axis(g, n, axis_attr(n), x.size());
  for (int k = 0; k < axis; ++k) a.outer *= x[k];
  for (size_t k = axis + 1; k < x.size(); ++k) a.inner *= x[k];
  a.d = x[axis];
  a.count = count_of(indices);
  return a;
}

// The indices of a run, int32 or int64, each resolved against d, or an error naming the node.
std::vector<int64_t> read_indices(const void* p, bool wide, int64_t count, int64_t d, const std::string& who) {
  std::vector<int64_t> at(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    int64_t i = wide ? static_cast<const int64_t*>(p)[k] : static_cast<const int32_t*>(p)[k];
    const int64_t given = i;
    if (!resolve(i, d))
      throw Error(who + ": index " + std::to_string(given) + " is out of range for an axis of " + std::to_string(d));
    at[static_cast<size_t>(k)] = i;
  }
  return at;
}

std::string who(const ir::Graph& g, const ir::Node& n) { return g.source + ": " + n.label(); }

// Y[o, k, j] = X[o, indices[k], j]: blocks of inner elements.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const Around a = around(g, n, ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1]));
  const size_t block = static_cast<size_t>(a.inner) * dtype_size(g.values[n.inputs[0]].dtype);
  const bool wide = g.values[n.inputs[1]].dtype == DType::Int64;
  dnnl::memory x = bytes_view(ctx, n.inputs[0]), i = bytes_view(ctx, n.inputs[1]), y = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=, name = who(g, n)]() {
    const std::vector<int64_t> at = read_indices(i.get_data_handle(), wide, a.count, a.d, name);
    const auto* X = static_cast<const uint8_t*>(x.get_data_handle());
    auto* Y = static_cast<uint8_t*>(y.get_data_handle());
    for (int64_t o = 0; o < a.outer; ++o)
      for (int64_t k = 0; k < a.count; ++k)
        std::memcpy(Y + (o * a.count + k) * block, X + (o * a.d + at[static_cast<size_t>(k)]) * block, block);
  };
  steps.push_back(std::move(s));
}

// Y[a_0, ..., q_0, ..., q_k-1, ..., a_r-1] = X[a_0, ..., indices[q_0, ..., q_k-1], ..., a_r-1].
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape& xs = in[0]->shape;
  const int axis = normalize_axis(g, n, axis_attr(n), xs.size());
  const size_t q = in[1]->shape.size();
  const std::vector<int64_t> yst = row_strides(out[0].shape), xst = row_strides(xs), ist = row_strides(in[1]->shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    int64_t off = 0, at = 0;
    for (size_t d = 0; d < out[0].shape.size(); ++d) {
      const int64_t c = (static_cast<int64_t>(e) / yst[d]) % out[0].shape[d];
      if (d < static_cast<size_t>(axis))
        off += c * xst[d];
      else if (d < axis + q)
        at += c * ist[d - axis];
      else
        off += c * xst[d - q + 1];
    }
    int64_t i = static_cast<int64_t>(in[1]->data[static_cast<size_t>(at)]);
    if (!resolve(i, xs[axis])) g.fail(n, "index " + std::to_string(i) + " is out of range");
    out[0].data[e] = in[0]->data[static_cast<size_t>(off + i * xst[axis])];
  }
}

// Y = X[..., indices, ...]; dX = 0, then dX[o, indices[k], j] += dY[o, k, j] for each k (GatherGrad).
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("GatherGrad", {dY, n.inputs[1], n.inputs[0]}, {{"axis", ir::Attr::of(axis_attr(n))}}));
}

// GatherGrad(dY, indices, X) -> dX: X's shape (only X's shape is read).
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[2]}; }

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const Around a = around(g, n, ctx.shape(n.inputs[2]), ctx.shape(n.inputs[1]));
  const bool wide = g.values[n.inputs[1]].dtype == DType::Int64;
  dnnl::memory dy = bytes_view(ctx, n.inputs[0]), i = bytes_view(ctx, n.inputs[1]), dx = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=, name = who(g, n)]() {
    const std::vector<int64_t> at = read_indices(i.get_data_handle(), wide, a.count, a.d, name);
    const float* dY = static_cast<const float*>(dy.get_data_handle());
    float* dX = static_cast<float*>(dx.get_data_handle());
    std::fill(dX, dX + a.outer * a.d * a.inner, 0.f);
    for (int64_t o = 0; o < a.outer; ++o)
      for (int64_t k = 0; k < a.count; ++k) {
        float* row = dX + (o * a.d + at[static_cast<size_t>(k)]) * a.inner;
        const float* from = dY + (o * a.count + k) * a.inner;
        for (int64_t j = 0; j < a.inner; ++j) row[j] += from[j];
      }
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kGather{
    .type = "Gather",
    .versions = {1, 11, 13},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // Along the first, a middle and the last axis; a scalar index; negative and repeated indices (which accumulate in
    // the gradient); int32 and int64 indices.
    .cases = {
        {.opset = 1, .shapes = {{5, 3}}, .typed = {{1, DType::Int64, {2, 2}, {0, 4, 4, 1}}}},
        {.opset = 11,
         .shapes = {{3, 4, 2}},
         .attrs = {{"axis", attr(1)}},
         .typed = {{1, DType::Int32, {3}, {-1, 0, -1}}}},
        {.opset = 11, .shapes = {{2, 3, 5}}, .attrs = {{"axis", attr(-1)}}, .typed = {{1, DType::Int64, {}, {3}}}},
        {.opset = 13, .shapes = {{10, 4}}, .typed = {{1, DType::Int64, {6}, {1, 3, 3, 9, 0, 3}}}}}};
extern const OpDef kGatherGrad{.type = "GatherGrad",
                               .versions = {1},
                               .check = no_check,
                               .infer = grad_infer,
                               .forward = grad_forward,
                               .internal = true};

}  // namespace onnxtrain::ops
