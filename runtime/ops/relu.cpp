// Relu: Y = max(X, 0), elementwise. Shape inference, the forward kernel (oneDNN eltwise_relu), its double reference,
// the gradient rule, and ReluGrad, the backward kernel that Relu and LeakyRelu share (oneDNN eltwise_backward).
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: any shape; Y: the same.
// In X's layout, where it is blocked (a convolution's output).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const auto md = elementwise_layout(ctx, {n.inputs[0]}, n.outputs[0]);
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::relu(ctx.engine(), md, 0.f, false)),
                   {{DNNL_ARG_SRC, ctx.input(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = max(X, 0). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[e] > 0 ? in[0]->data[e] : 0.0;
}

// Y = max(X, 0); dX = dY where Y > 0, else 0. ReLU'(0) = 0, as in PyTorch. Read from Y, so X need not be kept.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("ReluGrad", {dY, n.outputs[0]}, {{"alpha", ir::Attr::of(0.f)}}));
}

// ReluGrad(dY, V) -> dX = dY where V > 0, else alpha * dY. V is Y (the default, alpha >= 0 keeps its sign) or X
// (from_src = 1). At V = 0 the slope is alpha: ReLU'(0) = 0 and LeakyReLU'(0) = alpha, as in PyTorch.
// dY: any shape; V: the same; dX: the same.
// In V's layout (or dY's), where it is blocked.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const auto md = elementwise_layout(ctx, {n.inputs[1], n.inputs[0]}, n.outputs[0]);
  bool from_src = n.attr_i("from_src", 0) != 0;
  steps.push_back(
      {dnnl::eltwise_backward(dnnl_compat::relu_backward(ctx.engine(), md, n.attr_f("alpha", 0.f), !from_src)),
       {{DNNL_ARG_DIFF_DST, ctx.input(n.inputs[0], md)},
        {from_src ? DNNL_ARG_SRC : DNNL_ARG_DST, ctx.input(n.inputs[1], md)},
        {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

float slope(const ir::Node&) { return 0.f; }  // Relu is the rectifier of slope 0

}  // namespace

extern const OpDef kRelu{.type = "Relu",
                         .versions = {1, 6, 13, 14},
                         .check = check_unary,
                         .infer = same_as_first,
                         .forward = forward,
                         .gradient = gradient,
                         .reference = reference,
                         .rectifier_slope = slope,
                         .layouts = true,
                         .cases = {{.opset = 1, .shapes = {{3, 5}}},
                                   {.opset = 6, .shapes = {{2, 7, 3}}},
                                   {.opset = 13, .shapes = {{13}}},
                                   {.opset = 14, .shapes = {{2, 7, 3}}}}};
extern const OpDef kReluGrad{.type = "ReluGrad",
                             .versions = {1},
                             .check = no_check,
                             .infer = same_as_first,
                             .forward = grad_forward,
                             .internal = true,
                             .layouts = true};

}  // namespace onnxtrain::ops
