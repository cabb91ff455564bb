// Celu: Y = max(0, X) + min(0, alpha * (exp(X / alpha) - 1)), alpha defaulting to 1. Shape inference, the forward
// kernel, its double reference, the gradient rule and CeluGrad, its backward kernel. Both kernels are host loops:
// oneDNN has no celu, and its elu, the nearest, picks its branch by the sign of its input and passes that input
// through above 0, so fed X / alpha it gives X / alpha, not X, there (and the wrong branch for a negative alpha).
#include <algorithm>
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

float alpha_of(const ir::Node& n) { return n.attr_f("alpha", 1.f); }

// X: any shape; Y: the same. The x <= 0 branch as PyTorch's celu computes it, with expm1 for small |X|.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const float alpha = alpha_of(n);
  host_map(ctx, n.inputs[0], n.inputs[0], n.outputs[0], steps,
           [alpha](float x, float) { return x > 0 ? x : alpha * std::expm1(x / alpha); });
}

// Y = max(0, X) + min(0, alpha * (exp(X / alpha) - 1)). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = std::max(0.0, x) + std::min(0.0, alpha * std::expm1(x / alpha));
  }
}

// Y = X > 0 ? X : alpha * (exp(X / alpha) - 1); dX = dY where X > 0, else dY * exp(X / alpha). Celu'(0) = 1, as in
// PyTorch (its x <= 0 branch, exp(0)).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("CeluGrad", {dY, n.inputs[0]}, {{"alpha", ir::Attr::of(alpha_of(n))}}));
}

// CeluGrad(dY, X) -> dX. dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const float alpha = n.attr_f("alpha", 1.f);
  host_map(ctx, n.inputs[1], n.inputs[0], n.outputs[0], steps,
           [alpha](float x, float dy) { return x > 0 ? dy : dy * std::exp(x / alpha); });
}

}  // namespace

extern const OpDef kCelu{.type = "Celu",
                         .versions = {12},
                         .check = check_unary,
                         .infer = same_as_first,
                         .forward = forward,
                         .gradient = gradient,
                         .reference = reference,
                         .cases = {{.opset = 12, .shapes = {{3, 5}}},
                                   {.opset = 12, .shapes = {{2, 7, 3}}, .attrs = {{"alpha", attr(2.f)}}},
                                   {.opset = 13, .shapes = {{13}}, .attrs = {{"alpha", attr(0.3f)}}},
                                   {.opset = 17, .shapes = {{4, 3}}, .attrs = {{"alpha", attr(-1.5f)}}}}};
extern const OpDef kCeluGrad{.type = "CeluGrad",
                             .versions = {1},
                             .check = no_check,
                             .infer = same_as_first,
                             .forward = grad_forward,
                             .internal = true};

}  // namespace onnxtrain::ops
