// Sum (internal): Y = X1 + X2 + ... of one shape, through oneDNN sum. Autodiff emits it where a value has several
// consumers, so that their gradients add up. It has no gradient of its own.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X1..Xn: one shape; Y: the same.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  for (const Shape& s : in)
    if (s != in[0]) g.fail(n, "cannot add " + ir::shape_str(in[0]) + " and " + ir::shape_str(s));
  return {in[0]};
}

// In the layout of the first input stored blocked (gradients meeting at a convolution's output), else plain.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const auto md = elementwise_layout(ctx, n.inputs, n.outputs[0]);
  Step s{dnnl::sum(dnnl_compat::sum(ctx.engine(), md, n.inputs.size())), {{DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}};
  for (size_t i = 0; i < n.inputs.size(); ++i)
    s.args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = ctx.input(n.inputs[i], md);
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kSum{.type = "Sum",
                        .versions = {1},
                        .check = no_check,
                        .infer = infer,
                        .forward = forward,
                        .internal = true,
                        .layouts = true};

}  // namespace onnxtrain::ops
