// Identity: Y = X. Shape inference, the forward kernel (a copy), its double reference and the gradient rule, dX = dY.
// Tensors only: optional and sequence inputs (opset 16 on) are refused by the importer as non-tensors.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: any shape; Y: the same.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  copy_step(ctx, n.inputs[0], n.outputs[0], steps);
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

extern const OpDef kIdentity{"Identity", {1, 13, 14, 16, 19, 21}, check_unary, same_as_first, forward, gradient,
                              /*internal=*/false, /*int_inputs=*/{}, /*grad_outputs=*/0, reference};

}  // namespace onnxtrain::ops
