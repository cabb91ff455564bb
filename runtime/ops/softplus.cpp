// Softplus: Y = ln(1 + exp(X)), elementwise (PyTorch's Softplus with beta 1). Shape inference, the forward kernel
// (a host loop: oneDNN 2.6's eltwise_soft_relu errs by ~1e-6 absolute, 9% of the value at X = -11), its double
// reference, the gradient rule and SoftplusGrad, its backward kernel (oneDNN's soft_relu backward from the input,
// dY * sigmoid(X), within 3e-7 relative).
#include <algorithm>
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr auto kFn = dnnl_compat::Eltwise::SoftRelu;

// X: any shape; Y: the same. As PyTorch computes it: log1p(exp(X)), and X itself above 20, where the two agree in
// float32 and exp would overflow further on.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  host_map(ctx, n.inputs[0], n.inputs[0], n.outputs[0], steps,
           [](float x, float) { return x > 20.f ? x : std::log1p(std::exp(x)); });
}

// Y = ln(1 + exp(X)), written so that a large X does not overflow. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  }
}

// Y = ln(1 + exp(X)); dX = dY * sigmoid(X). PyTorch's threshold (X > 20: dX = dY) agrees to float32 rounding.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SoftplusGrad", {dY, n.inputs[0]}));
}

// SoftplusGrad(dY, X) -> dX. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_backward(ctx, n, steps, kFn, 0.f, 0.f, false);
}

}  // namespace

extern const OpDef kSoftplus{.type = "Softplus",
                             .versions = {1},
                             .check = check_unary,
                             .infer = same_as_first,
                             .forward = forward,
                             .gradient = gradient,
                             .reference = reference,
                             .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 13, .shapes = {{2, 7, 3}}}}};
extern const OpDef kSoftplusGrad{.type = "SoftplusGrad",
                                 .versions = {1},
                                 .check = no_check,
                                 .infer = same_as_first,
                                 .forward = grad_forward,
                                 .internal = true};

}  // namespace onnxtrain::ops
