// Softsign: Y = X / (1 + |X|), elementwise. Shape inference, the forward kernel (oneDNN has no softsign: eltwise abs
// and linear make 1 + |X|, and a binary divide gives the quotient exactly rounded, as PyTorch's x / (1 + |x|)), its
// double reference, the gradient rule and SoftsignGrad, its backward kernel (the same steps).
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

using dnnl_compat::Binary, dnnl_compat::Eltwise, dnnl_compat::PostOp;

// T = 1 + |X| into a scratch buffer of X's desc md, and returns it.
dnnl::memory one_plus_abs(CompileCtx& ctx, const dnnl::memory::desc& md, dnnl::memory x, std::vector<Step>& steps) {
  dnnl::memory t = ctx.scratch(md);
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, Eltwise::Abs)),
                   {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, t}}});
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, Eltwise::Linear, 1.f, 1.f)),
                   {{DNNL_ARG_SRC, t}, {DNNL_ARG_DST, t}}});
  return t;
}

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  dnnl::memory x = ctx.view(n.inputs[0], md), t = one_plus_abs(ctx, md, x, steps);
  steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Div, md, md, md)),
                   {{DNNL_ARG_SRC_0, x}, {DNNL_ARG_SRC_1, t}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = X / (1 + |X|). X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[e] / (1.0 + std::fabs(in[0]->data[e]));
}

// Y = X / (1 + |X|); dX = dY / (1 + |X|)^2, smooth through 0 (1 there, as PyTorch's autograd of x / (1 + |x|) gives).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  b.set_dX(n, 0, b.emit("SoftsignGrad", {dY, n.inputs[0]}));
}

// SoftsignGrad(dY, X) -> dX = (dY / T) / T, T = 1 + |X|: a binary divide and a divide post-op.
// dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  dnnl::memory t = one_plus_abs(ctx, md, ctx.view(n.inputs[1], md), steps);
  steps.push_back(
      {dnnl::binary(dnnl_compat::binary(ctx.engine(), Binary::Div, md, md, md, {PostOp::with(Binary::Div)})),
       {{DNNL_ARG_SRC_0, ctx.view(n.inputs[0], md)},
        {DNNL_ARG_SRC_1, t},
        {dnnl_compat::binary_post_op_arg(0), t},
        {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

extern const OpDef kSoftsign{.type = "Softsign",
                             .versions = {1},
                             .check = check_unary,
                             .infer = same_as_first,
                             .forward = forward,
                             .gradient = gradient,
                             .reference = reference,
                             .cases = {{.opset = 1, .shapes = {{3, 5}}}, {.opset = 13, .shapes = {{2, 7, 3}}}}};
extern const OpDef kSoftsignGrad{.type = "SoftsignGrad",
                                 .versions = {1},
                                 .check = no_check,
                                 .infer = same_as_first,
                                 .forward = grad_forward,
                                 .internal = true};

}  // namespace onnxtrain::ops
