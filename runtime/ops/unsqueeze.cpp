// Unsqueeze: Y = X with a dim of 1 inserted at each of axes (the attribute before opset 13, an integer input from
// 13), counted in Y's rank. Shape inference, the forward kernel (a copy of any dtype), its double reference and the
// gradient rule, ReshapeLike back to X's shape.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.version < 13) {
    if (n.inputs.size() > 1) g.fail(n, "axes is an attribute before opset 13, not an input");
    if (!n.has("axes")) g.fail(n, "attribute axes is required");
  } else {
    if (n.has("axes")) g.fail(n, "axes is an input from opset 13, not an attribute");
    if (n.input(1) < 0) g.fail(n, "input axes is required");
    if (n.inputs.size() > 2) g.fail(n, "expected 2 inputs, found " + std::to_string(n.inputs.size()));
  }
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: (d0, ..., dr-1); axes: (k) int64, each in [-(r+k), r+k); Y: rank r+k, 1 at the axes and X's dims in order
// elsewhere.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  const AxesArg a = axes_arg(g, n, in);
  if (!a.known) return {};
  const size_t rank = x.size() + a.axes.size();
  const std::vector<int64_t> axes = normalize_axes(g, n, a.axes, rank, "the output");
  Shape y;
  size_t next = 0, from = 0;
  for (size_t i = 0; i < rank; ++i) {
    if (next < axes.size() && axes[next] == static_cast<int64_t>(i)) {
      ++next;
      y.push_back(1);
    } else {
      y.push_back(x[from++]);
    }
  }
  return {y};
}

}  // namespace

// Y = unsqueeze(X): the forward a copy, the reference the same; dX = dY reshaped to X's shape (shape_only_*).
extern const OpDef kUnsqueeze{.type = "Unsqueeze",
                              .versions = {1, 11, 13, 21},
                              .check = check,
                              .infer = infer,
                              .fold = shape_only_fold,
                              .forward = shape_only_forward,
                              .gradient = shape_only_gradient,
                              .int_inputs = {1},
                              .reference = shape_only_reference,
                              .types = tensor_type_of_first,
                              // The axes, counted in the output's rank, in any order: an attribute before 13 (negative
                              // from 11), an input from 13.
                              .cases = {{.opset = 1, .shapes = {{3, 5}}, .attrs = {{"axes", attr({0, 3})}}},
                                        {.opset = 11, .shapes = {{2, 7, 3}}, .attrs = {{"axes", attr({-1, 1})}}},
                                        {.opset = 13, .shapes = {{3, 5}}, .ints = {{2, 0}}},
                                        {.opset = 21, .shapes = {{13}}, .ints = {{-1}}}}};

}  // namespace onnxtrain::ops
