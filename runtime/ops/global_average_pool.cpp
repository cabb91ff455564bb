// GlobalAveragePool: Y (N, C, 1, ..., 1) = the average of each channel of X (N, C, D1..Dr) over its spatial axes: a
// pool whose window is the whole plane (pooling.cpp), forward and backward through oneDNN.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: (N, C, D1..Dr); Y: (N, C, 1, ..., 1).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  pool_spec(g, n, in[0]);
  Shape y(in[0].size(), 1);
  y[0] = in[0][0], y[1] = in[0][1];
  return {y};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) { pool_forward(ctx, n, steps, -1, -1); }

void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  pool_reference(pool_spec(g, n, in[0]->shape), *in[0], out[0]);
}

// Y = mean over the plane: dX = dY / (D1 * ... * Dr), spread over it.
void gradient(GradBuilder& b, const ir::Node& n) { pool_gradient(b, n, -1); }

}  // namespace

extern const OpDef kGlobalAveragePool{.type = "GlobalAveragePool",
                                      .versions = {1},
                                      .check = check_unary,
                                      .infer = infer,
                                      .forward = forward,
                                      .gradient = gradient,
                                      .reference = reference,
                                      .cases = {{.opset = 1, .shapes = {{2, 3, 5, 4}}},
                                                {.opset = 1, .shapes = {{3, 2, 7}}},
                                                {.opset = 1, .shapes = {{1, 2, 3, 2, 3}}}}};

}  // namespace onnxtrain::ops
