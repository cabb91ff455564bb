// Add: Y = A + B with numpy broadcasting (from opset 7; before it, B broadcasts to A only with broadcast = 1 and
// no axis). Shape inference, the forward kernel (oneDNN binary add), its double reference and the gradient rule: each
// input's gradient is dY summed over the axes along which it was broadcast (ReduceToShape, gemm.cpp).
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs A and B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 7 && n.has("axis")) g.fail(n, "broadcasting along an explicit axis (opset < 7) is not supported");
}

// A, B: shapes that broadcast; Y: the broadcast shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& in) {
  const Shape &a = in[0], &b = in[1];
  const bool legacy_exact = n.version < 7 && n.attr_i("broadcast", 0) == 0;
  if (legacy_exact && a != b) g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " differ and broadcast = 0");
  Shape y = broadcast(g, n, a, b);
  if (n.version < 7 && y != a) g.fail(n, "B " + ir::shape_str(b) + " must broadcast to A " + ir::shape_str(a) + " before opset 7");
  return {y};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& y = ctx.shape(n.outputs[0]);
  auto y_md = dnnl_compat::plain(y);
  dnnl::memory out = ctx.view(n.outputs[0], y_md);
  int first = n.inputs[0], second = n.inputs[1];
  if (padded(ctx.shape(first), y.size()) != y) std::swap(first, second);  // binary add reads src0 at full shape
  auto add = [&](dnnl::memory src0, const dnnl::memory::desc& md0, int v) {
    auto md1 = dnnl_compat::plain(padded(ctx.shape(v), y.size()));
    steps.push_back({dnnl::binary(dnnl_compat::binary_add(ctx.engine(), md0, md1, y_md)),
                     {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, ctx.view(v, md1)}, {DNNL_ARG_DST, out}}});
  };
  if (padded(ctx.shape(first), y.size()) == y) return add(ctx.view(first, y_md), y_md, second);
  // Both broadcast ((3,1) + (1,4)): Y = (0 + A) + B.
  add(ctx.constant(y_md, 0.f), y_md, first);
  add(out, y_md, second);
}

// Y[i] = A[a(i)] + B[b(i)], a(i) and b(i) the index i broadcast back to A's and B's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const std::vector<int64_t> a_at = broadcast_offsets(in[0]->shape, out[0].shape);
  const std::vector<int64_t> b_at = broadcast_offsets(in[1]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[a_at[e]] + in[1]->data[b_at[e]];
}

// Y = A + B; dA = dY summed to A's shape, dB = dY summed to B's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  for (size_t k = 0; k < 2; ++k)
    if (b.needs(n, k)) b.set_dX(n, k, b.emit("ReduceToShape", {dY, n.inputs[k]}));
}

}  // namespace

extern const OpDef kAdd{"Add", {1, 6, 7, 13, 14}, check, infer, forward, gradient,
                        /*internal=*/false, /*int_inputs=*/{}, /*grad_outputs=*/0, reference};

}  // namespace onnxtrain::ops
