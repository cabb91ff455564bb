// Concat: Y = the inputs joined along axis (default 1 at opset 1, required from 4, negative from 11), any dtype.
// Shape inference, the fold of known integers (a shape chain's Concat before a Reshape), the forward kernel (block
// copies), its double reference and the gradient rule: each input's gradient is its slice of dY (ConcatGrad).
#include <cstring>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

int64_t axis_attr(const ir::Node& n) { return n.attr_i("axis", 1); }  // the default exists at opset 1 only

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.empty()) g.fail(n, "expected at least 1 input");
  for (size_t k = 0; k < n.inputs.size(); ++k)
    if (n.inputs[k] < 0) g.fail(n, "input " + std::to_string(k) + " is missing");
  if (n.version >= 4 && !n.has("axis")) g.fail(n, "attribute axis is required from opset 4");
  if (n.version < 11 && axis_attr(n) < 0) g.fail(n, "a negative axis comes at opset 11");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// All inputs one dtype; Y gets it.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.empty() || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  for (int i : n.inputs) {
    if (i < 0) return;
    const ir::Value& v = g.values[i];
    if (!v.tensor) g.fail(n, "input '" + v.name + "' is " + v.type_name + "; Concat takes tensors");
    const ir::Value& first = g.values[n.inputs[0]];
    if (v.dtype != first.dtype)
      g.fail(n, "input '" + v.name + "' is " + dtype_name(v.dtype) + " but '" + first.name + "' is " +
                    dtype_name(first.dtype));
  }
  g.values[n.outputs[0]].dtype = g.values[n.inputs[0]].dtype;
}

// X_k: the same rank and dims but along axis; Y: those dims, with the sum of theirs along axis.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const size_t rank = in[0].size();
  if (rank == 0) g.fail(n, "inputs must have rank >= 1, found a scalar");
  const int axis = normalize_axis(g, n, axis_attr(n), rank);
  Shape y = in[0];
  for (size_t k = 1; k < in.size(); ++k) {
    const Shape& x = in[k];
    if (x.size() != rank)
      g.fail(n, "input " + std::to_string(k) + " " + ir::shape_str(x) + " has another rank than " + ir::shape_str(y));
    for (size_t d = 0; d < rank; ++d) {
      if (static_cast<int>(d) == axis) {
        y[d] = y[d] == ir::kUnknown || x[d] == ir::kUnknown ? ir::kUnknown : y[d] + x[d];
      } else if (y[d] == ir::kUnknown) {
        y[d] = x[d];
      } else if (x[d] != ir::kUnknown && x[d] != y[d]) {
        g.fail(n, "input " + std::to_string(k) + " " + ir::shape_str(x) + " differs from " + ir::shape_str(in[0]) +
                      " off the axis " + std::to_string(axis));
      }
    }
  }
  return {y};
}

// Known 1-D integers joined: Y = X_0 ++ X_1 ++ ... (a shape assembled from parts).
bool fold(const ir::Graph&, const ir::Node&, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  for (size_t k = 0; k < in.size(); ++k)
    if (!in.ints(k) || in[k].size() != 1) return false;
  for (size_t k = 0; k < in.size(); ++k) out[0].insert(out[0].end(), in.ints(k)->begin(), in.ints(k)->end());
  return true;
}

// Y (outer, sum A_k, inner) from X_k (outer, A_k, inner): for each outer index, X_k's block of A_k * inner elements
// copied to its place in Y's row.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& ys = ctx.shape(n.outputs[0]);
  const int axis = normalize_axis(ctx.graph(), n, axis_attr(n), ys.size());
  const size_t width = dtype_size(ctx.graph().values[n.outputs[0]].dtype);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= ys[d];
  for (size_t d = axis + 1; d < ys.size(); ++d) inner *= ys[d];
  const size_t row = static_cast<size_t>(ys[axis] * inner) * width;
  dnnl::memory y = bytes_view(ctx, n.outputs[0]);
  size_t at = 0;
  for (int in : n.inputs) {
    const size_t block = static_cast<size_t>(ctx.shape(in)[axis] * inner) * width;
    if (block > 0 && outer > 0) {
      dnnl::memory x = bytes_view(ctx, in);
      Step s;
      s.host = [=]() {
        const auto* X = static_cast<const uint8_t*>(x.get_data_handle());
        auto* Y = static_cast<uint8_t*>(y.get_data_handle());
        for (int64_t o = 0; o < outer; ++o) std::memcpy(Y + o * row + at, X + o * block, block);
      };
      steps.push_back(std::move(s));
    }
    at += block;
  }
}

// Y[..., j, ...] = X_k[..., j - offset_k, ...] for the k whose range along axis holds j.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape& ys = out[0].shape;
  const int axis = normalize_axis(g, n, axis_attr(n), ys.size());
  const std::vector<int64_t> yst = row_strides(ys);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    int64_t j = (static_cast<int64_t>(e) / yst[axis]) % ys[axis];
    size_t k = 0;
    while (j >= in[k]->shape[axis]) j -= in[k++]->shape[axis];
    // X_k's offset: Y's index with j in place of the axis coordinate, in X_k's strides.
    const std::vector<int64_t> xst = row_strides(in[k]->shape);
    int64_t off = 0;
    for (size_t d = 0; d < ys.size(); ++d)
      off += (static_cast<int>(d) == axis ? j : (static_cast<int64_t>(e) / yst[d]) % ys[d]) * xst[d];
    out[0].data[e] = in[k]->data[static_cast<size_t>(off)];
  }
}

// Y = concat(X_0, X_1, ...) along axis; dX_k = dY[..., offset_k : offset_k + A_k, ...], offset_k = A_0 + ... +
// A_k-1 (ConcatGrad, which reads X_0 ... X_k's shapes when a plan is made, so a symbolic dim may be anywhere).
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0) return;
  const int axis = normalize_axis(b.graph(), n, axis_attr(n), b.shape(n.outputs[0]).size());
  std::vector<int> reads = {dY};
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    reads.push_back(n.inputs[k]);
    if (b.needs(n, k)) b.set_dX(n, k, b.emit("ConcatGrad", reads, {{"axis", ir::Attr::of(axis)}}));
  }
}

// ConcatGrad(dY, X_0, ..., X_k) -> dY[..., start : start + A_k, ...], start = A_0 + ... + A_k-1: X_k's shape. Only
// the shapes of the X are read.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in.back()}; }

// dX (outer, A, inner) from dY (outer, B, inner): for each outer index, the block at start.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape &ys = ctx.shape(n.inputs[0]), &xs = ctx.shape(n.outputs[0]);
  const int axis = static_cast<int>(n.attr_i("axis", 0));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= ys[d];
  for (size_t d = axis + 1; d < ys.size(); ++d) inner *= ys[d];
  std::vector<int64_t> at;
  at.reserve(static_cast<size_t>(count_of(xs)));
  int64_t start = 0;
  for (size_t k = 1; k + 1 < n.inputs.size(); ++k) start += ctx.shape(n.inputs[k])[axis];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < xs[axis] * inner; ++i) at.push_back((o * ys[axis] + start) * inner + i);
  gather_step(ctx, n.inputs[0], n.outputs[0], std::move(at), steps);
}

}  // namespace

extern const OpDef kConcat{
    .type = "Concat",
    .versions = {1, 4, 11, 13},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // axis 1 by default at opset 1; inner, outer and negative axes; three inputs of different lengths.
    .cases = {{.opset = 1, .shapes = {{2, 3}, {2, 4}}},
              {.opset = 4, .shapes = {{2, 3, 5}, {1, 3, 5}, {3, 3, 5}}, .attrs = {{"axis", attr(0)}}},
              {.opset = 11, .shapes = {{2, 3, 5}, {2, 3, 2}}, .attrs = {{"axis", attr(-1)}}},
              {.opset = 13, .shapes = {{2, 1, 3}, {2, 4, 3}}, .attrs = {{"axis", attr(1)}}}}};
extern const OpDef kConcatGrad{.type = "ConcatGrad",
                               .versions = {1},
                               .check = no_check,
                               .infer = grad_infer,
                               .forward = grad_forward,
                               .internal = true};

}  // namespace onnxtrain::ops
