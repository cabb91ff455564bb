// Flatten: Y = X viewed as 2-D, (prod(d[:axis]), prod(d[axis:])), axis defaulting to 1 (negative from opset 11).
// Shape inference, the forward kernel (a copy), its double reference, the gradient rule, and ReshapeLike, the copy
// back to X's shape that the gradient needs.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: (d0, ..., dr-1); Y: (prod(d[:axis]), prod(d[axis:])).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis = n.attr_i("axis", 1);
  if (axis < -r || axis > r)
    g.fail(n, "axis " + std::to_string(axis) + " is out of range for an input of rank " + std::to_string(r));
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    int64_t& part = i < axis ? outer : inner;
    part = (part == ir::kUnknown || x[i] == ir::kUnknown) ? ir::kUnknown : part * x[i];
  }
  return {{outer, inner}};
}

// ReshapeLike(V, R) -> V's elements in R's shape (only R's shape is read). V: any shape; R: as many elements.
std::vector<Shape> reshape_like_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

}  // namespace

// Y = flatten(X): the forward a copy, the reference the same; dX = dY reshaped to X's shape (shape_only_*).
extern const OpDef kFlatten{.type = "Flatten",
                            .versions = {1, 9, 11, 13, 21},
                            .check = check_unary,
                            .infer = infer,
                            .fold = shape_only_fold,
                            .forward = shape_only_forward,
                            .gradient = shape_only_gradient,
                            .reference = shape_only_reference,
                            .layouts = true,  // a blocked X is reordered into Y, in row-major order
                            .cases = {{.opset = 1, .shapes = {{2, 3, 4}}},
                                      {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(0)}}},
                                      {.opset = 9, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(3)}}},
                                      {.opset = 11, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(-1)}}},
                                      {.opset = 13, .shapes = {{3, 5}}, .attrs = {{"axis", attr(2)}}},
                                      {.opset = 21, .shapes = {{2, 7, 3}}, .attrs = {{"axis", attr(-2)}}}}};
extern const OpDef kReshapeLike{.type = "ReshapeLike",
                                .versions = {1},
                                .check = no_check,
                                .infer = reshape_like_infer,
                                .forward = shape_only_forward,
                                .internal = true};

}  // namespace onnxtrain::ops
