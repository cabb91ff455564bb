// GlobalAveragePool: Y (N, C, 1, ..., 1) = the average of each channel of X (N, C, D1..Dr) over its spatial axes: a
// pool whose window is the whole plane (pooling.cpp), forward and backward through oneDNN.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) { pool_forward(ctx, n, steps, -1, -1); }

// Y = mean over the plane: dX = dY / (D1 * ... * Dr), spread over it.
void gradient(GradBuilder& b, const ir::Node& n) { pool_gradient(b, n, -1); }

}  // namespace

extern const OpDef kGlobalAveragePool{.type = "GlobalAveragePool",
                                      .versions = {1},
                                      .check = check_unary,
                                      .infer = pool_infer,
                                      .forward = forward,
                                      .gradient = gradient,
                                      .reference = pool_reference,
                                      .layouts = true,
                                      .cases = {{.opset = 1, .shapes = {{2, 3, 5, 4}}},
                                                {.opset = 1, .shapes = {{3, 2, 7}}},
                                                {.opset = 1, .shapes = {{1, 2, 3, 2, 3}}}}};

}  // namespace onnxtrain::ops
