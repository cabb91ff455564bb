// Log: Y = ln(X), elementwise. Shape inference, the forward kernel (a host loop of std::log: oneDNN 2.6's
// eltwise_log errs by up to 4e-6 absolute, giving ln(1) = -1.4e-6 and failing ONNX's own test), its double
// reference, the gradient rule and LogGrad, its backward kernel (oneDNN eltwise_backward from the input, dY / X,
// which is exact). ln of a negative is NaN and of 0 is -inf, as in ONNX and PyTorch.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::Log;

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  host_map(ctx, n.inputs[0], n.inputs[0], n.outputs[0], steps, [](float x, float) { return std::log(x); });
}

// Y = ln(X). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = std::log(in[0]->data[e]);
}

// Y = ln(X); dX = dY / X, as PyTorch computes it (grad / self).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("LogGrad", {dY, n.inputs[0]}));
}

// LogGrad(dY, X) -> dX. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_backward(ctx, n, steps, kFn, 0.f, 0.f, false);
}

}  // namespace

// Log-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kLog{
    .type = "Log",
    .versions = {1, 6, 13},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .positive_inputs = true,
    .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 6, .shapes = {{2, 7, 3}}}, {.opset = 13, .shapes = {{13}}}}};
extern const OpDef kLogGrad{.type = "LogGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = same_as_first,
                            .forward = grad_forward,
                            .internal = true};

}  // namespace onnxtrain::ops
