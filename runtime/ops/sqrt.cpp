// Sqrt: Y = sqrt(X), elementwise. Shape inference, the forward kernel (oneDNN eltwise_sqrt), its double reference,
// the gradient rule and SqrtGrad, its backward kernel (eltwise_backward from the output, so X need not be kept). The
// root of a negative is NaN, as in ONNX and PyTorch.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::Sqrt;

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) { eltwise_forward(ctx, n, steps, kFn); }

// Y = sqrt(X). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = std::sqrt(in[0]->data[e]);
}

// Y = sqrt(X); dX = dY / (2 * Y), as PyTorch computes it (grad / (2 * result)): +inf at X = 0.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SqrtGrad", {dY, n.outputs[0]}));
}

// SqrtGrad(dY, Y) -> dX. dY: any shape; Y: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_backward_from_dst(ctx, n, steps, kFn);
}

}  // namespace

// Sqrt-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kSqrt{
    .type = "Sqrt",
    .versions = {1, 6, 13},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .positive_inputs = true,
    .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 6, .shapes = {{2, 7, 3}}}, {.opset = 13, .shapes = {{13}}}}};
extern const OpDef kSqrtGrad{.type = "SqrtGrad",
                             .versions = {1},
                             .check = no_check,
                             .infer = same_as_first,
                             .forward = grad_forward,
                             .internal = true};

}  // namespace onnxtrain::ops
