// FusedActivation: an activation that a model writes as several elementwise ops, run as one oneDNN eltwise primitive
// (runtime/exec/fusion.cpp matches the patterns PyTorch exports and puts this node in their place). Internal: no model
// file names it. Attribute `function`: gelu_erf, gelu_tanh, swish (x * sigmoid(x)), mish, hardswish. Its gradient is
// FusedActivationGrad, oneDNN's eltwise backward from X (HardSwish's is HardSwishGrad, for PyTorch's kinks).
#include <string>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

// The function a node computes: Y = f(X), alpha as oneDNN reads it (Swish's 1: x * sigmoid(1 * x)).
struct Function {
  dc::Activation f;
  float alpha;
};

Function function_of(const ir::Graph& g, const ir::Node& n) {
  auto it = n.attrs.find("function");
  const std::string f = it == n.attrs.end() ? "" : it->second.s;
  if (f == "gelu_erf") return {dc::Activation::GeluErf, 0.f};
  if (f == "gelu_tanh") return {dc::Activation::GeluTanh, 0.f};
  if (f == "swish") return {dc::Activation::Swish, 1.f};
  if (f == "mish") return {dc::Activation::Mish, 0.f};
  if (f == "hardswish") return {dc::Activation::HardSwish, 0.f};
  g.fail(n, "unknown fused activation '" + f + "'");
}

void check(const ir::Graph& g, const ir::Node& n) {
  check_unary(g, n);
  function_of(g, n);
}

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Function f = function_of(ctx.graph(), n);
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dc::activation(ctx.engine(), md, f.f, f.alpha, 0.f, false)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

// Y = f(X); dX = dY * f'(X), from X. HardSwish: HardSwishGrad (hard_swish.cpp), whose kinks are PyTorch's.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  if (n.attrs.at("function").s == "hardswish") return b.set_dX(n, 0, b.emit("HardSwishGrad", {dY, n.inputs[0]}));
  b.set_dX(n, 0, b.emit("FusedActivationGrad", {dY, n.inputs[0]}, {{"function", n.attrs.at("function")}}));
}

// FusedActivationGrad(dY, X) -> dX = dY * f'(X). dY: any shape; X: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Function f = function_of(ctx.graph(), n);
  auto md = dc::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_backward(dc::activation_backward(ctx.engine(), md, f.f, f.alpha, 0.f)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_SRC, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

}  // namespace

extern const OpDef kFusedActivation{.type = "FusedActivation",
                                    .versions = {1},
                                    .check = check,
                                    .infer = same_as_first,
                                    .forward = forward,
                                    .gradient = gradient,
                                    .internal = true};
extern const OpDef kFusedActivationGrad{.type = "FusedActivationGrad",
                                        .versions = {1},
                                        .check = no_check,
                                        .infer = same_as_first,
                                        .forward = grad_forward,
                                        .internal = true};

}  // namespace onnxtrain::ops
