// Split: Y_0, ..., Y_m-1 = X cut along axis (default 0) into parts of the sizes `split` gives: an attribute (or at
// opset 1 an optional input) before 13, an optional input from 13; without it equal parts, and from 18 num_outputs
// parts of ceil(d / num_outputs), the last smaller. Any dtype. Shape inference, the forward kernel (block copies), its
// double reference and the gradient rule: dX = the output gradients joined along axis, zeros for an output no
// gradient reaches (SplitGrad).
#include <cstring>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

int64_t axis_attr(const ir::Node& n) { return n.attr_i("axis", 0); }

// Whether the sizes come as input 1 (opset 1 optionally, 13 on) rather than as the attribute.
bool split_as_input(const ir::Node& n) { return (n.version == 1 || n.version >= 13) && n.input(1) >= 0; }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input is required");
  if (n.inputs.size() > 2) g.fail(n, "expected at most 2 inputs, found " + std::to_string(n.inputs.size()));
  if (n.version >= 2 && n.version < 13 && n.inputs.size() > 1) g.fail(n, "split is an attribute at this opset");
  if (n.version >= 13 && n.has("split")) g.fail(n, "split is an input from opset 13, not an attribute");
  if (n.version == 1 && n.has("split") && n.input(1) >= 0) g.fail(n, "split given both as input and attribute");
  if (n.version < 11 && axis_attr(n) < 0) g.fail(n, "a negative axis comes at opset 11");
  if (n.has("num_outputs")) {
    if (n.version < 18) g.fail(n, "attribute num_outputs comes at opset 18");
    if (n.input(1) >= 0) g.fail(n, "num_outputs and input split exclude each other");
    if (n.attr_i("num_outputs", 0) != static_cast<int64_t>(n.outputs.size()))
      g.fail(n, "num_outputs is " + std::to_string(n.attr_i("num_outputs", 0)) + " but the node has " +
                    std::to_string(n.outputs.size()) + " outputs");
  }
  if (n.outputs.empty()) g.fail(n, "expected at least 1 output");
  for (int o : n.outputs)
    if (o < 0) g.fail(n, "every output must be named");
}

// The part sizes along an axis of length d, or an empty vector while they are unknown.
std::vector<int64_t> parts(const ir::Graph& g, const ir::Node& n, const InferInputs& in, int64_t d) {
  const int64_t m = static_cast<int64_t>(n.outputs.size());
  std::vector<int64_t> s;
  if (split_as_input(n)) {
    if (!in.ints(1)) return {};
    s = *in.ints(1);
  } else if (n.has("split")) {
    s = n.attrs.at("split").ints;
  } else {
    if (d == ir::kUnknown) return {};
    if (n.has("num_outputs")) {  // ceil(d / m) each, the last what remains
      const int64_t chunk = (d + m - 1) / m;
      for (int64_t k = 0; k < m; ++k) s.push_back(std::max<int64_t>(0, std::min(chunk, d - k * chunk)));
      return s;
    }
    if (d % m != 0)
      g.fail(n, "axis of length " + std::to_string(d) + " does not split into " + std::to_string(m) + " equal parts");
    return std::vector<int64_t>(static_cast<size_t>(m), d / m);
  }
  if (static_cast<int64_t>(s.size()) != m)
    g.fail(n, "split has " + std::to_string(s.size()) + " sizes for " + std::to_string(m) + " outputs");
  int64_t total = 0;
  for (int64_t p : s) {
    if (p < 0) g.fail(n, "split has a negative size " + std::to_string(p));
    total += p;
  }
  if (d != ir::kUnknown && total != d)
    g.fail(n, "split sizes sum to " + std::to_string(total) + ", but the axis has length " + std::to_string(d));
  return s;
}

// X: (..., d, ...); Y_k: X's shape with parts[k] along axis.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  if (x.empty()) g.fail(n, "input must have rank >= 1, found a scalar");
  const int axis = normalize_axis(g, n, axis_attr(n), x.size());
  const std::vector<int64_t> p = parts(g, n, in, x[axis]);
  std::vector<Shape> y(n.outputs.size(), x);
  for (size_t k = 0; k < y.size(); ++k) y[k][axis] = p.empty() ? ir::kUnknown : p[k];
  return y;
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; Split takes tensors");
  for (int o : n.outputs)
    if (o >= 0) g.values[o].dtype = x.dtype;
}

// The blocks of one row (outer index) of a (outer, d, inner) tensor: parts of size A_k * inner, one after another.
// copy(k, X-row offset, bytes) for each part, row by row.
struct Rows {
  int64_t outer = 1, inner = 1, row = 0;  // row: d * inner, in elements
};
Rows rows_of(const Shape& x, int axis) {
  Rows r;
  for (int d = 0; d < axis; ++d) r.outer *= x[d];
  for (size_t d = axis + 1; d < x.size(); ++d) r.inner *= x[d];
  r.row = x[axis] * r.inner;
  return r;
}

// Y_k (outer, A_k, inner) = X (outer, d, inner) at [start_k, start_k + A_k) along axis.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[0]);
  const int axis = normalize_axis(ctx.graph(), n, axis_attr(n), xs.size());
  const size_t width = dtype_size(ctx.graph().values[n.inputs[0]].dtype);
  const Rows r = rows_of(xs, axis);
  dnnl::memory x = bytes_view(ctx, n.inputs[0]);
  int64_t start = 0;
  for (int o : n.outputs) {
    const int64_t a = ctx.shape(o)[axis];
    const size_t block = static_cast<size_t>(a * r.inner) * width, at = static_cast<size_t>(start * r.inner) * width;
    const size_t row = static_cast<size_t>(r.row) * width;
    start += a;
    if (block == 0 || r.outer == 0) continue;
    dnnl::memory y = bytes_view(ctx, o);
    Step s;
    s.host = [=, outer = r.outer]() {
      const auto* X = static_cast<const uint8_t*>(x.get_data_handle());
      auto* Y = static_cast<uint8_t*>(y.get_data_handle());
      for (int64_t i = 0; i < outer; ++i) std::memcpy(Y + i * block, X + i * row + at, block);
    };
    steps.push_back(std::move(s));
  }
}

// Y_k[..., j, ...] = X[..., start_k + j, ...].
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape& xs = in[0]->shape;
  const int axis = normalize_axis(g, n, axis_attr(n), xs.size());
  const std::vector<int64_t> xst = row_strides(xs);
  int64_t start = 0;
  for (RefTensor& y : out) {
    const std::vector<int64_t> yst = row_strides(y.shape);
    for (size_t e = 0; e < y.data.size(); ++e) {
      int64_t off = 0;
      for (size_t d = 0; d < xs.size(); ++d) {
        const int64_t i = (static_cast<int64_t>(e) / yst[d]) % y.shape[d];
        off += (static_cast<int>(d) == axis ? start + i : i) * xst[d];
      }
      y.data[e] = in[0]->data[static_cast<size_t>(off)];
    }
    start += y.shape.empty() ? 0 : y.shape[axis];
  }
}

// Y_k = X[..., start_k : start_k + A_k, ...]; dX = concat(dY_0, ..., dY_m-1) along axis, zeros where no gradient
// reaches Y_k (SplitGrad, which reads the Y's shapes for the parts).
void gradient(GradBuilder& b, const ir::Node& n) {
  if (!b.needs(n, 0)) return;
  std::vector<int> reads = {n.inputs[0]};
  std::vector<int> grads;
  bool any = false;
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    reads.push_back(n.outputs[k]);
    grads.push_back(b.dY(n, k));
    any = any || grads.back() >= 0;
  }
  if (!any) return;
  reads.insert(reads.end(), grads.begin(), grads.end());
  const int axis = normalize_axis(b.graph(), n, axis_attr(n), b.shape(n.inputs[0]).size());
  b.set_dX(n, 0, b.emit("SplitGrad", reads, {{"axis", ir::Attr::of(axis)}}));
}

// SplitGrad(X, Y_0, ..., Y_m-1, dY_0, ..., dY_m-1) -> dX: X's shape; absent dY_k (-1) are zeros of Y_k's shape.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[0]}; }

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[0]);
  const int axis = static_cast<int>(n.attr_i("axis", 0));
  const size_t m = (n.inputs.size() - 1) / 2;
  const Rows r = rows_of(xs, axis);
  dnnl::memory dx = bytes_view(ctx, n.outputs[0]);
  std::vector<dnnl::memory> dys;
  std::vector<int64_t> sizes;
  for (size_t k = 0; k < m; ++k) {
    sizes.push_back(ctx.shape(n.inputs[1 + k])[axis] * r.inner);
    const int g = n.inputs[1 + m + k];
    dys.push_back(g >= 0 && sizes.back() > 0 ? bytes_view(ctx, g) : dnnl::memory());
  }
  Step s;
  s.host = [=, outer = r.outer, row = r.row, total = count_of(xs)]() {
    float* dX = static_cast<float*>(dx.get_data_handle());
    std::fill(dX, dX + total, 0.f);
    int64_t at = 0;
    for (size_t k = 0; k < dys.size(); ++k) {
      if (dys[k]) {
        const float* dY = static_cast<const float*>(dys[k].get_data_handle());
        for (int64_t i = 0; i < outer; ++i)
          std::memcpy(dX + i * row + at, dY + i * sizes[k], static_cast<size_t>(sizes[k]) * sizeof(float));
      }
      at += sizes[k];
    }
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kSplit{
    .type = "Split",
    .versions = {1, 2, 11, 13, 18},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .int_inputs = {1},
    .reference = reference,
    .types = types,
    // Sizes as the attribute (1, 2, 11), as an input (1, 13), none (equal parts), num_outputs with a short last part.
    .cases = {{.opset = 1, .shapes = {{5, 3}}, .ints = {{2, 3}}, .outputs = 2},
              {.opset = 2, .shapes = {{2, 6}}, .attrs = {{"axis", attr(1)}, {"split", attr({1, 4, 1})}}, .outputs = 3},
              {.opset = 11, .shapes = {{3, 2, 4}}, .attrs = {{"axis", attr(-1)}}, .outputs = 2},
              {.opset = 13, .shapes = {{7, 2}}, .ints = {{3, 4}}, .outputs = 2},
              {.opset = 13, .shapes = {{2, 6, 3}}, .attrs = {{"axis", attr(1)}}, .outputs = 3},
              {.opset = 18, .shapes = {{2, 7}}, .attrs = {{"axis", attr(1)}, {"num_outputs", attr(3)}}, .outputs = 3}}};
extern const OpDef kSplitGrad{.type = "SplitGrad",
                              .versions = {1},
                              .check = no_check,
                              .infer = grad_infer,
                              .forward = grad_forward,
                              .internal = true};

}  // namespace onnxtrain::ops
