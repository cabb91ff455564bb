// Squeeze: Y = X without the dims of 1 that axes lists (the attribute before opset 13, an integer input from 13), or
// without every dim of 1 when there are no axes. Shape inference, the forward kernel (a copy of any dtype), its double
// reference and the gradient rule, ReshapeLike back to X's shape.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.version < 13 && n.inputs.size() > 1) g.fail(n, "axes is an attribute before opset 13, not an input");
  if (n.version >= 13 && n.has("axes")) g.fail(n, "axes is an input from opset 13, not an attribute");
  if (n.inputs.size() > 2) g.fail(n, "expected at most 2 inputs, found " + std::to_string(n.inputs.size()));
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: (d0, ..., dr-1); axes: (k) int64; Y: X's dims but those at axes, each of which must be 1. No axes (or none
// listed): X's dims that are not 1, which is unknown while a dim is.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  const AxesArg a = axes_arg(g, n, in);
  if (!a.known) return {};
  Shape y;
  if (a.axes.empty()) {
    for (int64_t d : x) {
      if (d == ir::kUnknown) return {};
      if (d != 1) y.push_back(d);
    }
    return {y};
  }
  const std::vector<int64_t> axes = normalize_axes(g, n, a.axes, x.size(), "the input");
  size_t next = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (next < axes.size() && axes[next] == static_cast<int64_t>(i)) {
      ++next;
      if (x[i] != 1 && x[i] != ir::kUnknown)
        g.fail(n, "cannot squeeze axis " + std::to_string(i) + " of " + ir::shape_str(x) + ": its dim is " +
                      std::to_string(x[i]) + ", not 1");
      continue;
    }
    y.push_back(x[i]);
  }
  return {y};
}

}  // namespace

// Y = squeeze(X): the forward a copy, the reference the same; dX = dY reshaped to X's shape (shape_only_*).
extern const OpDef kSqueeze{
    .type = "Squeeze",
    .versions = {1, 11, 13, 21},
    .check = check,
    .infer = infer,
    .fold = shape_only_fold,
    .forward = shape_only_forward,
    .gradient = shape_only_gradient,
    .int_inputs = {1},
    .reference = shape_only_reference,
    .types = tensor_type_of_first,
    // The axes: an attribute before 13 (negative from 11), an input from 13; none: every dim of 1.
    .cases = {{.opset = 1, .shapes = {{1, 3, 1, 5}}, .attrs = {{"axes", attr({0, 2})}}},
              {.opset = 11, .shapes = {{1, 3, 1, 5}}, .attrs = {{"axes", attr({-2})}}},
              {.opset = 13, .shapes = {{1, 3, 1, 5}}, .ints = {{0}}},
              {.opset = 13, .shapes = {{3, 1, 5, 1}}},
              {.opset = 21, .shapes = {{2, 1, 7}}, .ints = {{-2}}}}};

}  // namespace onnxtrain::ops
