// LeakyRelu: Y = X if X > 0 else alpha * X, alpha defaulting to 0.01. Shape inference, the forward kernel (oneDNN
// eltwise_relu with a negative slope), its double reference and the gradient rule; the backward kernel is ReluGrad
// (relu.cpp).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

float alpha_of(const ir::Node& n) { return n.attr_f("alpha", 0.01f); }

// In X's layout, where it is blocked (a convolution's output).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const auto md = elementwise_layout(ctx, {n.inputs[0]}, n.outputs[0]);
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::relu(ctx.engine(), md, alpha_of(n), false)),
                   {{DNNL_ARG_SRC, ctx.input(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = X > 0 ? X : alpha * X (alpha the float attribute, exactly). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const double alpha = alpha_of(n);
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double x = in[0]->data[e];
    out[0].data[e] = x > 0 ? x : alpha * x;
  }
}

// Y = X > 0 ? X : alpha*X; dX = dY where X > 0, else alpha * dY. LeakyReLU'(0) = alpha, as in PyTorch.
// With alpha >= 0, Y has X's sign, so the rule reads Y; a negative alpha needs X itself.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  float alpha = alpha_of(n);
  if (alpha >= 0)
    b.set_dX(n, 0, b.emit("ReluGrad", {dY, n.outputs[0]}, {{"alpha", ir::Attr::of(alpha)}}));
  else
    b.set_dX(n, 0,
             b.emit("ReluGrad", {dY, n.inputs[0]},
                    {{"alpha", ir::Attr::of(alpha)}, {"from_src", ir::Attr::of(int64_t(1))}}));
}

}  // namespace

extern const OpDef kLeakyRelu{.type = "LeakyRelu",
                              .versions = {1, 6, 16},
                              .check = check_unary,
                              .infer = same_as_first,
                              .forward = forward,
                              .gradient = gradient,
                              .reference = reference,
                              .rectifier_slope = alpha_of,
                              .layouts = true,
                              .cases = {{.opset = 1, .shapes = {{3, 5}}},  // the default alpha, 0.01
                                        {.opset = 6, .shapes = {{2, 7, 3}}, .attrs = {{"alpha", attr(0.3f)}}},
                                        {.opset = 16, .shapes = {{3, 5}}, .attrs = {{"alpha", attr(1.7f)}}},
                                        {.opset = 16, .shapes = {{2, 7, 3}}, .attrs = {{"alpha", attr(-0.3f)}}}}};

}  // namespace onnxtrain::ops
