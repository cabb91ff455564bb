// Expand: Y = X broadcast to `shape` (an integer input, known when a plan is made) with bidirectional numpy
// broadcasting: Y's shape is the broadcast of X's and shape, so a 1 in shape keeps X's dim. Any dtype. Shape
// inference, the forward kernel (an index map made with the plan), its double reference and the gradient rule: dX =
// dY summed to X's shape (ReduceToShape).
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs input and shape");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: any shape; shape: (k) int64; Y: broadcast(X, shape), rank max(r, k).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const std::vector<int64_t>* shape = in.ints(1);
  if (!shape) {  // fed or computed: the rank is known from its length at most
    if (in[1].size() != 1 || in[1][0] == ir::kUnknown) return {};
    return {Shape(std::max<size_t>(in[0].size(), static_cast<size_t>(in[1][0])), ir::kUnknown)};
  }
  for (int64_t d : *shape)
    if (d < 0) g.fail(n, "shape " + ir::shape_str(*shape) + " has a negative dim");
  return {broadcast(g, n, in[0], *shape)};
}

// Known integers broadcast (a shape chain's Expand).
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  if (!in.ints(0) || !in.ints(1)) return false;
  const Shape y = broadcast(g, n, in[0], *in.ints(1));
  for (int64_t at : broadcast_offsets(in[0], y)) out[0].push_back((*in.ints(0))[static_cast<size_t>(at)]);
  return true;
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  gather_step(ctx, n.inputs[0], n.outputs[0], broadcast_offsets(ctx.shape(n.inputs[0]), ctx.shape(n.outputs[0])),
              steps);
}

// Y[i] = X[x(i)], i broadcast back to X's shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const std::vector<int64_t> at = broadcast_offsets(in[0]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[static_cast<size_t>(at[e])];
}

// Y = broadcast(X); dX = dY summed to X's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReduceToShape", {dY, n.inputs[0]}));
}

}  // namespace

extern const OpDef kExpand{.type = "Expand",
                           .versions = {8, 13},
                           .check = check,
                           .infer = infer,
                           .fold = fold,
                           .forward = forward,
                           .gradient = gradient,
                           .int_inputs = {1},
                           .reference = reference,
                           .types = tensor_type_of_first,
                           // A higher rank, a 1 in shape that keeps X's dim, and X's 1s expanded on both sides.
                           .cases = {{.opset = 8, .shapes = {{3, 1}}, .ints = {{2, 3, 4}}},
                                     {.opset = 13, .shapes = {{1, 5}}, .ints = {{3, 1}}},
                                     {.opset = 13, .shapes = {{2, 1, 3}}, .ints = {{2, 4, 1}}}}};

}  // namespace onnxtrain::ops
