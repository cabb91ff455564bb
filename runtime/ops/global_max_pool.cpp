// GlobalMaxPool: Y (N, C, 1, ..., 1) = the max of each channel of X (N, C, D1..Dr) over its spatial axes: a pool
// whose window is the whole plane (pooling.cpp), forward and backward through oneDNN.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr size_t kWorkspace = 1;  // beyond ONNX's output: the argmax of a training forward, for the backward

// X: (N, C, D1..Dr); Y: (N, C, 1, ..., 1); the workspace: Y's shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  pool_spec(g, n, in[0]);
  Shape y(in[0].size(), 1);
  y[0] = in[0][0], y[1] = in[0][1];
  return std::vector<Shape>(std::max<size_t>(n.outputs.size(), 1), y);
}

int workspace(const ir::Node& n) { return n.outputs.size() > kWorkspace ? n.outputs[kWorkspace] : -1; }

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  pool_forward(ctx, n, steps, workspace(n), -1);
}

void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  pool_reference(pool_spec(g, n, in[0]->shape), *in[0], out[0]);
}

// Y = max over the plane: dX = dY at the plane's (first) maximum, 0 elsewhere.
void gradient(GradBuilder& b, const ir::Node& n) { pool_gradient(b, n, workspace(n)); }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, X");
  if (n.outputs.empty() || n.outputs[0] < 0 || n.outputs.size() > kWorkspace + 1) g.fail(n, "expected 1 output");
}

}  // namespace

extern const OpDef kGlobalMaxPool{.type = "GlobalMaxPool",
                                  .versions = {1},
                                  .check = check,
                                  .infer = infer,
                                  .forward = forward,
                                  .gradient = gradient,
                                  .grad_outputs = kWorkspace + 1,
                                  .reference = reference,
                                  .cases = {{.opset = 1, .shapes = {{2, 3, 5, 4}}},
                                            {.opset = 1, .shapes = {{3, 2, 7}}},
                                            {.opset = 1, .shapes = {{1, 2, 3, 2, 3}}}}};

}  // namespace onnxtrain::ops
