// The host kernel of a loss that is a mean over elements (mse, bce): one loop computing each element's loss term
// and its gradient, the mean written to the scalar loss output.
#pragma once
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {

// Whether targets T pair with outputs X element for element: the same shape, or shapes that differ only in leading
// dims of 1, which PyTorch broadcasts to a shape with as many elements as each (a batch of one squeezed to (), beside
// targets (1)). Not (N, 1) beside (N): PyTorch broadcasts those to (N, N).
inline bool same_elements(const Shape& x, const Shape& t) {
  const size_t rank = std::max(x.size(), t.size());
  return padded(x, rank) == padded(t, rank);
}

// body(x, t, dx&, D) returns the element's loss term and writes d(mean loss)/dx into dx, where D is the normalizer fed
// (the element count E of a whole step's batch: accumulated parts add up to its mean).
// X: any shape; T: the same; D: (). Outputs: loss (); dX: X's shape.
template <typename Body>
void elementwise_loss(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, Body body) {
  int64_t E = 1;
  for (int64_t d : ctx.shape(n.inputs[0])) E *= d;
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  dnnl::memory x = ctx.view(n.inputs[0], md), t = ctx.view(n.inputs[1], md);
  const bool fed = n.inputs.size() > 2;  // the normalizer; else this batch's element count
  dnnl::memory d = fed ? ctx.view(n.inputs[2], dnnl_compat::plain({})) : dnnl::memory();
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})), dx = ctx.view(n.outputs[1], md);
  Step s;
  s.host = [=]() {
    const float* X = static_cast<const float*>(x.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dX = static_cast<float*>(dx.get_data_handle());
    const float D = fed ? *static_cast<const float*>(d.get_data_handle()) : static_cast<float>(E);
    double total = 0;
    for (int64_t e = 0; e < E; ++e) total += body(X[e], T[e], dX[e], D);
    *static_cast<float*>(loss.get_data_handle()) = static_cast<float>(total / double(D));
  };
  steps.push_back(std::move(s));
}

}  // namespace onnxtrain::ops
