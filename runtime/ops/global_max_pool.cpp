// GlobalMaxPool: Y (N, C, 1, ..., 1) = the max of each channel of X (N, C, D1..Dr) over its spatial axes: a pool
// whose window is the whole plane (pooling.cpp), forward and backward through oneDNN.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr size_t kWorkspace = 1;  // beyond ONNX's output: the argmax of a training forward, for the backward

int workspace(const ir::Node& n) { return n.outputs.size() > kWorkspace ? n.outputs[kWorkspace] : -1; }

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  pool_forward(ctx, n, steps, workspace(n), -1);
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
                                  .infer = pool_infer,
                                  .forward = forward,
                                  .gradient = gradient,
                                  .grad_outputs = kWorkspace + 1,
                                  .reference = pool_reference,
                                  .layouts = true,
                                  .cases = {{.opset = 1, .shapes = {{2, 3, 5, 4}}},
                                            {.opset = 1, .shapes = {{3, 2, 7}}},
                                            {.opset = 1, .shapes = {{1, 2, 3, 2, 3}}}}};

}  // namespace onnxtrain::ops
