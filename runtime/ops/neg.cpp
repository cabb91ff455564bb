// Neg: Y = -X, elementwise. Shape inference, the forward kernel (oneDNN eltwise_linear with alpha -1), its double
// reference and the gradient rule, which is Neg again: no backward kernel of its own.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::linear(ctx.engine(), md, -1.f, 0.f)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = -X. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = -in[0]->data[e];
}

// Y = -X; dX = -dY
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("Neg", {dY}));
}

}  // namespace

// Neg-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored, as Relu-1's
// is. Float32 only, as Relu and Tanh: Neg-6 and 13 add integer types and bfloat16, which onnxtrain refuses by name.
extern const OpDef kNeg{
    .type = "Neg",
    .versions = {1, 6, 13},
    .check = check_unary,
    .infer = same_as_first,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 6, .shapes = {{2, 7, 3}}}, {.opset = 13, .shapes = {{13}}}}};

}  // namespace onnxtrain::ops
