// Abs: Y = |X|, elementwise. Shape inference, the forward kernel (oneDNN eltwise_abs), its double reference, the
// gradient rule and AbsGrad, its backward kernel (eltwise_backward from the input). Float32 only: the integer types
// of Abs-6 and 13 are refused by name.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::Abs;

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) { eltwise_forward(ctx, n, steps, kFn); }

// Y = |X|. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = std::fabs(in[0]->data[e]);
}

// Y = |X|; dX = dY * sign(X). Abs'(0) = 0, as PyTorch's sign gives. Y cannot tell X's sign, so X is read.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("AbsGrad", {dY, n.inputs[0]}));
}

// AbsGrad(dY, X) -> dX = dY where X > 0, -dY where X < 0, 0 at 0 (oneDNN's abs backward). dY, X, dX: one shape.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_backward(ctx, n, steps, kFn, 0.f, 0.f, false);
}

}  // namespace

// Abs-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kAbs{
    .type = "Abs",
    .versions = {1, 6, 13},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 6, .shapes = {{2, 7, 3}}}, {.opset = 13, .shapes = {{13}}}}};
extern const OpDef kAbsGrad{.type = "AbsGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = same_as_first,
                            .forward = grad_forward,
                            .internal = true};

}  // namespace onnxtrain::ops
