// Selu: Y = gamma * (X if X > 0 else alpha * (exp(X) - 1)), with each opset's defaults for alpha and gamma. Shape
// inference, the forward kernel (oneDNN has no selu: eltwise_elu, then an eltwise linear scaling by gamma in place),
// its double reference and the gradient rule; the backward kernel is EluGrad (elu.cpp) with gamma as its scale.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Selu-1's defaults are the constants rounded to 5 digits; Selu-6's are float32's nearest to them.
float alpha_of(const ir::Node& n) { return n.attr_f("alpha", n.version < 6 ? 1.6732f : 1.67326319217681884765625f); }
float gamma_of(const ir::Node& n) { return n.attr_f("gamma", n.version < 6 ? 1.0507f : 1.05070102214813232421875f); }

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  eltwise_forward(ctx, n, steps, dnnl_compat::Eltwise::Elu, alpha_of(n));
  auto md = dnnl_compat::plain(ctx.shape(n.outputs[0]));
  dnnl::memory y = ctx.view(n.outputs[0], md);
  steps.push_back(
      {dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, dnnl_compat::Eltwise::Linear, gamma_of(n))),
       {{DNNL_ARG_SRC, y}, {DNNL_ARG_DST, y}}});
}

// Y = gamma * (X > 0 ? X : alpha * (exp(X) - 1)). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n), gamma = gamma_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = gamma * (x > 0 ? x : alpha * std::expm1(x));
  }
}

// Y = gamma * Elu(X; alpha); dX = gamma * dY where X > 0, else gamma * alpha * exp(X) * dY. Selu'(0) = gamma * alpha,
// as in PyTorch (its x <= 0 branch).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0,
           b.emit("EluGrad", {dY, n.inputs[0]},
                  {{"alpha", ir::Attr::of(alpha_of(n))}, {"scale", ir::Attr::of(gamma_of(n))}}));
}

}  // namespace

// Selu-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kSelu{
    .type = "Selu",
    .versions = {1, 6},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .cases = {{.opset = 1, .shapes = {{3, 5}}},
              {.opset = 1, .shapes = {{7}}, .attrs = {{"alpha", attr(2.f)}}},
              {.opset = 6, .shapes = {{2, 7, 3}}},
              {.opset = 13, .shapes = {{13}}, .attrs = {{"alpha", attr(2.f)}, {"gamma", attr(3.f)}}}}};

}  // namespace onnxtrain::ops
