// Identity: Y = X. Shape inference, the forward kernel (a copy), its double reference and the gradient rule, dX = dY.
// It takes every type onnxtrain carries: tensors of any dtype and, from opset 16, sequences and optionals, which
// it passes on without a kernel (the session hands the fed value to the output). Only float32 carries gradients.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Y has X's type. Sequences and optionals are in its type constraint from opset 16.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check refuses it
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor && n.version < 16)
    g.fail(n, "input '" + x.name + "' is " + x.type_name + "; Identity takes sequences and optionals from opset 16");
  ir::Value& y = g.values[n.outputs[0]];
  y.dtype = x.dtype;
  y.tensor = x.tensor;
  y.type_name = x.type_name;
}

// X: any shape; Y: the same. A sequence or optional needs no kernel: Y is X.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  if (ctx.graph().values[n.inputs[0]].tensor) copy_step(ctx, n.inputs[0], n.outputs[0], steps);
}

// Y = X. X: any shape; Y: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  out[0].data = in[0]->data;
}

// Y = X; dX = dY.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, dY);
}

}  // namespace

extern const OpDef kIdentity{.type = "Identity",
                             .versions = {1, 13, 14, 16, 19, 21},
                             .check = check_unary,
                             .infer = same_as_first,
                             .fold = shape_only_fold,
                             .forward = forward,
                             .gradient = gradient,
                             .reference = reference,
                             .types = types,
                             .cases = {{.opset = 1, .shapes = {{3, 5}}},
                                       {.opset = 13, .shapes = {{2, 7, 3}}},
                                       {.opset = 14, .shapes = {{13}}},
                                       {.opset = 16, .shapes = {{3, 5}}},
                                       {.opset = 19, .shapes = {{2, 7, 3}}},
                                       {.opset = 21, .shapes = {{3, 5}}}}};

}  // namespace onnxtrain::ops
