// MatMul: Y = A @ B, numpy semantics for operands of rank >= 2: batch dims broadcast, the last two multiply.
// Shape inference, the forward kernel (oneDNN matmul, batch broadcast native), its double reference and the gradient
// rule, itself MatMuls of transposes reduced over broadcast batch dims. 1-D operands are refused for now.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs A and B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// A: (..., M, K); B: (..., K, N); Y: (broadcast(...), M, N).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& in) {
  const Shape &a = in[0], &b = in[1];
  if (a.size() < 2 || b.size() < 2)
    g.fail(n, "1-D operands are not supported yet: A " + ir::shape_str(a) + ", B " + ir::shape_str(b));
  const int64_t K = a[a.size() - 1], Kb = b[b.size() - 2];
  if (K != ir::kUnknown && Kb != ir::kUnknown && K != Kb)
    g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " cannot multiply: K is " + std::to_string(K) +
                  " for A but " + std::to_string(Kb) + " for B");
  Shape y = broadcast(g, n, a, b, 2);  // the batch dims
  const size_t r = y.size();
  y[r - 2] = a[a.size() - 2];
  y[r - 1] = b[b.size() - 1];
  return {y};
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& y = ctx.shape(n.outputs[0]);
  auto a_md = dnnl_compat::plain(padded(ctx.shape(n.inputs[0]), y.size()));
  auto b_md = dnnl_compat::plain(padded(ctx.shape(n.inputs[1]), y.size()));
  auto y_md = dnnl_compat::plain(y);
  steps.push_back({dnnl::matmul(dnnl_compat::matmul(ctx.engine(), a_md, b_md, y_md, {})),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], a_md)},
                    {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[1], b_md)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], y_md)}}});
}

// Y[b, m, j] = sum_k A[a(b), m, k] * B[c(b), k, j], where a(b) and c(b) are Y's batch index b broadcast back to A's
// and B's batch dims. A: (..., M, K); B: (..., K, N); Y: (broadcast(...), M, N).
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const RefTensor &A = *in[0], &B = *in[1];
  RefTensor& Y = out[0];
  const size_t r = Y.shape.size();
  const int64_t M = Y.shape[r - 2], N = Y.shape[r - 1], K = A.shape[A.shape.size() - 1];
  const Shape batch(Y.shape.begin(), Y.shape.end() - 2);
  const std::vector<int64_t> a_at = broadcast_offsets(Shape(A.shape.begin(), A.shape.end() - 2), batch);
  const std::vector<int64_t> b_at = broadcast_offsets(Shape(B.shape.begin(), B.shape.end() - 2), batch);
  for (size_t bi = 0; bi < a_at.size(); ++bi) {
    const double* a = A.data.data() + a_at[bi] * M * K;
    const double* b = B.data.data() + b_at[bi] * K * N;
    double* y = Y.data.data() + static_cast<int64_t>(bi) * M * N;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += a[m * K + k] * b[k * N + j];
        y[m * N + j] = acc;
      }
  }
}

// A transposed in its last two axes, as a Transpose node.
int swap_last_two(GradBuilder& b, int v) {
  const size_t r = b.shape(v).size();
  ir::Attr perm;
  perm.kind = ir::Attr::Ints;
  for (size_t i = 0; i < r; ++i) perm.ints.push_back(static_cast<int64_t>(i));
  std::swap(perm.ints[r - 1], perm.ints[r - 2]);
  return b.emit("Transpose", {v}, {{"perm", perm}});
}

// Y = A @ B; dA = dY @ B^T, dB = A^T @ dY (^T: the last two axes), each summed over the batch dims along which its
// operand was broadcast.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const int A = n.inputs[0], B = n.inputs[1];
  const bool batched = b.shape(n.outputs[0]).size() > 2;
  auto to_shape_of = [&](int grad, int like) { return batched ? b.emit("ReduceToShape", {grad, like}) : grad; };
  if (b.needs(n, 0)) b.set_dX(n, 0, to_shape_of(b.emit("MatMul", {dY, swap_last_two(b, B)}), A));
  if (b.needs(n, 1)) b.set_dX(n, 1, to_shape_of(b.emit("MatMul", {swap_last_two(b, A), dY}), B));
}

}  // namespace

extern const OpDef kMatMul{"MatMul", {1, 9, 13}, check, infer, forward, gradient,
                           /*internal=*/false, /*int_inputs=*/{}, /*grad_outputs=*/0, reference};

}  // namespace onnxtrain::ops
