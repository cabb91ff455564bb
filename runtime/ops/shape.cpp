// Shape: Y = the dims of X as a 1-D int64 tensor, dims[start:end] from opset 15. It always folds when a plan is made
// (the plan's shapes are concrete), so it runs no kernel and the chains it starts (Gather, Concat, Reshape) fold too.
// No gradient: its output is integer.
#include <algorithm>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 15 && (n.has("start") || n.has("end"))) g.fail(n, "attributes start and end come at opset 15");
}

// Shape-15's [start, end): negative counts from the back, both clamped to [0, rank]; start defaults to 0, end to rank.
std::pair<int64_t, int64_t> range(const ir::Node& n, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  const auto clamp = [r](int64_t i) { return std::clamp(i < 0 ? i + r : i, int64_t{0}, r); };
  const int64_t start = clamp(n.attr_i("start", 0)), end = clamp(n.attr_i("end", r));
  return {start, std::max(start, end)};
}

// X: rank r; Y: (end - start) int64.
std::vector<Shape> infer(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  const auto [start, end] = range(n, in[0].size());
  return {{end - start}};
}

// Y = dims(X)[start:end], known once X's dims are.
bool fold(const ir::Graph&, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  const Shape& x = in[0];
  if (std::find(x.begin(), x.end(), ir::kUnknown) != x.end()) return false;
  const auto [start, end] = range(n, x.size());
  out[0].assign(x.begin() + start, x.begin() + end);
  return true;
}

// Never runs: at plan time Shape always folds, and the executor fills Y.
void forward(CompileCtx&, const ir::Node&, std::vector<Step>&) {}

// Y = dims(X)[start:end].
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const auto [start, end] = range(n, in[0]->shape.size());
  out[0].data.assign(in[0]->shape.begin() + start, in[0]->shape.begin() + end);
}

// Y is int64; X may be a tensor of any dtype.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; Shape takes tensors");
  g.values[n.outputs[0]].dtype = DType::Int64;
}

}  // namespace

extern const OpDef kShape{
    .type = "Shape",
    .versions = {1, 13, 15, 19, 21},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .reference = reference,
    .types = types,
    .cases = {{.opset = 1, .shapes = {{3, 5}}},
              {.opset = 13, .shapes = {{2, 7, 3}}},
              {.opset = 15, .shapes = {{2, 7, 3, 4}}, .attrs = {{"start", attr(1)}}},
              {.opset = 15, .shapes = {{2, 7, 3, 4}}, .attrs = {{"start", attr(-3)}, {"end", attr(-1)}}},
              {.opset = 19, .shapes = {{2, 7, 3}}, .attrs = {{"end", attr(9)}}},
              {.opset = 21, .shapes = {{5}}, .attrs = {{"start", attr(2)}}}}};

}  // namespace onnxtrain::ops
