// Flatten: Y = X viewed as 2-D, (prod(d[:axis]), prod(d[axis:])), axis defaulting to 1 (negative from opset 11).
// Shape inference, the forward kernel (a copy), its double reference, the gradient rule, and ReshapeLike, the copy
// back to X's shape that the gradient needs.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: (d0, ..., dr-1); Y: (prod(d[:axis]), prod(d[axis:])).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& in) {
  const Shape& x = in[0];
  const int64_t r = static_cast<int64_t>(x.size());
  int64_t axis = n.attr_i("axis", 1);
  if (axis < -r || axis > r) g.fail(n, "axis " + std::to_string(axis) + " is out of range for an input of rank " + std::to_string(r));
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) {
    int64_t& part = i < axis ? outer : inner;
    part = (part == ir::kUnknown || x[i] == ir::kUnknown) ? ir::kUnknown : part * x[i];
  }
  return {{outer, inner}};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  copy_step(ctx, n.inputs[0], n.outputs[0], steps);
}

// Y = X's elements in row-major order, in the (outer, inner) shape infer gave out[0].
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  out[0].data = in[0]->data;
}

// Y = flatten(X); dX = dY reshaped to X's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReshapeLike", {dY, n.inputs[0]}));
}

// ReshapeLike(V, R) -> V's elements in R's shape (only R's shape is read). V: any shape; R: as many elements.
std::vector<Shape> reshape_like_infer(const ir::Graph&, const ir::Node&, const std::vector<Shape>& in) { return {in[1]}; }

}  // namespace

extern const OpDef kFlatten{"Flatten", {1, 9, 11, 13, 21}, check_unary, infer, forward, gradient,
                            /*internal=*/false, /*int_inputs=*/{}, /*grad_outputs=*/0, reference};
extern const OpDef kReshapeLike{"ReshapeLike", {1}, no_check, reshape_like_infer, forward, nullptr, true};

}  // namespace onnxtrain::ops
