// Range: Y = start, start + delta, ... up to limit (exclusive), max(ceil((limit - start) / delta), 0) elements, in the
// inputs' dtype. Its length depends on the values, so they must be known when a plan is made: integer constants, fed
// int64 inputs or a folded shape chain (torch.arange(x.size(1))); it then always folds and runs no step. Float
// inputs fed as data are refused by name. Shape inference, the fold and its double reference. No gradient.
#include <cmath>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0)
    g.fail(n, "expected inputs start, limit and delta");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0 || n.outputs.size() != 1 ||
      n.outputs[0] < 0)
    return;  // check's
  const ir::Value& s = g.values[n.inputs[0]];
  for (int i : n.inputs)
    if (g.values[i].dtype != s.dtype)
      g.fail(n, "input '" + g.values[i].name + "' is " + g.type_of(i) + " but start is " + g.type_of(n.inputs[0]));
  if (s.dtype != DType::Int64 && s.dtype != DType::Int32 && s.dtype != DType::Int16)
    g.fail(n, "start is " + g.type_of(n.inputs[0]) +
                  "; onnxtrain takes Range over integers known when a plan is made (int16, int32, int64)");
  g.values[n.outputs[0]].dtype = s.dtype;
}

// The count, from known scalars; -1 while unknown.
int64_t count(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  for (size_t k = 0; k < 3; ++k)
    if (!in.ints(k) || in.ints(k)->size() != 1) return -1;
  const int64_t s = in.ints(0)->at(0), l = in.ints(1)->at(0), d = in.ints(2)->at(0);
  if (d == 0) g.fail(n, "delta is 0");
  const int64_t c = d > 0 ? (l - s + d - 1) / d : (s - l - d - 1) / -d;
  return std::max<int64_t>(c, 0);
}

// start, limit, delta: scalars; Y: (count).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  for (size_t k = 0; k < 3; ++k)
    if (!in[k].empty() && !(in[k].size() == 1 && in[k][0] == 1))
      g.fail(n, "input " + std::to_string(k) + " must be a scalar, got " + ir::shape_str(in[k]));
  return {{count(g, n, in)}};
}

// Y[i] = start + i * delta.
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  const int64_t c = count(g, n, in);
  if (c < 0) return false;
  for (int64_t i = 0; i < c; ++i) out[0].push_back(in.ints(0)->at(0) + i * in.ints(2)->at(0));
  return true;
}

// Never runs: where the values are known Range folds, and where they are not the plan is refused.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>&) {
  ctx.graph().fail(n, "start, limit and delta are not known when the plan is made");
}

// Y[i] = start + i * delta.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t i = 0; i < out[0].data.size(); ++i) out[0].data[i] = in[0]->data[0] + double(i) * in[2]->data[0];
}

}  // namespace

extern const OpDef kRange{
    .type = "Range",
    .versions = {11},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .reference = reference,
    .types = types,
    // Positive and negative deltas, a delta that overshoots the limit, an empty range.
    .cases = {{.opset = 11,
               .shapes = {},
               .typed = {{0, DType::Int64, {}, {1}}, {1, DType::Int64, {}, {8}}, {2, DType::Int64, {}, {3}}}},
              {.opset = 11,
               .shapes = {},
               .typed = {{0, DType::Int32, {}, {10}}, {1, DType::Int32, {}, {4}}, {2, DType::Int32, {}, {-3}}}},
              {.opset = 11,
               .shapes = {},
               .typed = {{0, DType::Int64, {}, {5}}, {1, DType::Int64, {}, {5}}, {2, DType::Int64, {}, {1}}}}}};

}  // namespace onnxtrain::ops
