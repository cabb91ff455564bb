// Reshape: Y = X's elements in a new shape: the `shape` attribute (opset 1) or an integer input (opset 5 on),
// constant or fed at run time, where 0 copies the input's dim (unless allowzero = 1, opset 14) and one -1 is
// inferred. Shape inference, the forward kernel (a copy), its double reference and the gradient rule, ReshapeLike
// back to X's shape.
#include <algorithm>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.version >= 5 && n.input(1) < 0) g.fail(n, "input shape is required from opset 5");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// The requested shape as the model gives it, 0s and -1 included: "(4,-1)". (ir::shape_str would show a -1 as "?".)
std::string given_str(const std::vector<int64_t>& want) {
  std::string s = "(";
  for (size_t i = 0; i < want.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(want[i]);  // appended, not const char* + string: GCC 12 -O3 warns of that (-Wrestrict)
  }
  return s + ")";
}

// X: any shape; shape: (r) int64, constant or fed; Y: shape with its 0s and -1 resolved.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  if (n.version >= 5 && !in.ints(1)) {
    // A shape fed at run time or computed by a shape chain: known when a plan is made; until then (at load) only its
    // length, when known, says the output's rank.
    const Shape& r = in[1];
    if (r.size() != 1) {
      if (r.empty()) return {};
      g.fail(n, "input shape must be 1-D, got " + ir::shape_str(r));
    }
    if (r[0] == ir::kUnknown) return {};
    return {Shape(static_cast<size_t>(r[0]), ir::kUnknown)};
  }
  const std::vector<int64_t> want =
      n.version >= 5 ? *in.ints(1) : (n.has("shape") ? n.attrs.at("shape").ints : std::vector<int64_t>{});
  const bool allowzero = n.attr_i("allowzero", 0) != 0;
  int64_t total = 1, known = 1;
  bool total_known = true;
  for (int64_t d : x) {
    if (d == ir::kUnknown)
      total_known = false;
    else
      total *= d;
  }
  int infer_at = -1;
  Shape y(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    int64_t d = want[i];
    if (d == 0 && !allowzero) {
      if (i >= x.size())
        g.fail(n, "shape has 0 at axis " + std::to_string(i) + " but the input has rank " + std::to_string(x.size()));
      d = x[i];
    }
    if (d == -1) {
      if (infer_at >= 0) g.fail(n, "shape has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < -1) g.fail(n, "shape has a negative dim " + std::to_string(d));
    y[i] = d;
  }
  // Bounded before multiplying: the requested dims come from the file and may be anything up to 2^63.
  if (!ir::within_limits(y))
    g.fail(n, "shape " + given_str(want) + " has more than " + std::to_string(ir::kMaxElements) + " elements");
  for (size_t i = 0; i < y.size(); ++i)
    if (static_cast<int>(i) != infer_at && y[i] != ir::kUnknown) known *= y[i];
  if (infer_at >= 0) {
    if (!total_known)
      y[infer_at] = ir::kUnknown;
    else if (known == 0 || total % known != 0)
      g.fail(n, "cannot reshape " + ir::shape_str(x) + " to " + given_str(want) + ": " + std::to_string(total) +
                    " elements do not divide evenly");
    else
      y[infer_at] = total / known;
  } else if (total_known && known != total && std::find(y.begin(), y.end(), ir::kUnknown) == y.end()) {
    g.fail(n,
           "cannot reshape " + ir::shape_str(x) + " (" + std::to_string(total) + " elements) to " + ir::shape_str(y));
  }
  return {y};
}

}  // namespace

// Y = reshape(X): the forward a copy, the reference the same; dX = dY reshaped to X's shape (shape_only_*).
extern const OpDef kReshape{
    .type = "Reshape",
    .versions = {1, 5, 13, 14, 19, 21},
    .check = check,
    .infer = infer,
    .fold = shape_only_fold,
    .forward = shape_only_forward,
    .gradient = shape_only_gradient,
    .int_inputs = {1},
    .reference = shape_only_reference,
    .layouts = true,  // a blocked X is reordered into Y, in row-major order
    // The shape: an attribute at opset 1, a constant input from 5; the 0 and -1 rules; allowzero from 14.
    .cases = {{.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"shape", attr({4, -1})}}},
              {.opset = 5, .shapes = {{2, 3, 4}}, .ints = {{0, -1, 2}}},
              {.opset = 13, .shapes = {{2, 3, 4}}, .ints = {{2, 1, 3, 4}}},
              {.opset = 14, .shapes = {{2, 7, 3}}, .attrs = {{"allowzero", attr(1)}}, .ints = {{7, 6}}},
              {.opset = 19, .shapes = {{3, 5}}, .ints = {{-1}}},
              {.opset = 21, .shapes = {{2, 3, 5}}, .ints = {{0, 15}}}}};

}  // namespace onnxtrain::ops
