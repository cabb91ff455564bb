// MatMul: Y = A @ B, numpy semantics: batch dims broadcast, the last two multiply; a 1-D A is a row (1, K) and a
// 1-D B a column (K, 1), the added dim dropped from Y. Shape inference, the forward kernel (oneDNN matmul, batch
// broadcast native), its double reference, the gradient rule (itself MatMuls of transposes reduced over broadcast
// batch dims) and InsertAxis, the reshape that gives a 1-D operand's gradient its matrix shape.
#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs A and B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// The operands as matrices: a 1-D A (K) as (1, K), a 1-D B (K) as (K, 1).
Shape as_matrix_a(Shape a) {
  if (a.size() == 1) a.insert(a.begin(), 1);
  return a;
}
Shape as_matrix_b(Shape b) {
  if (b.size() == 1) b.push_back(1);
  return b;
}

// A: (..., M, K) or (K); B: (..., K, N) or (K); Y: (broadcast(...), M, N), without M when A is 1-D and without N
// when B is.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (in[0].empty() || in[1].empty())
    g.fail(n, "operands must have a rank of at least 1: A " + ir::shape_str(in[0]) + ", B " + ir::shape_str(in[1]));
  const Shape a = as_matrix_a(in[0]), b = as_matrix_b(in[1]);
  const int64_t K = a[a.size() - 1], Kb = b[b.size() - 2];
  if (K != ir::kUnknown && Kb != ir::kUnknown && K != Kb)
    g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " cannot multiply: K is " + std::to_string(K) +
                  " for A but " + std::to_string(Kb) + " for B");
  Shape y = broadcast(g, n, a, b, 2);  // the batch dims
  const size_t r = y.size();
  y[r - 2] = a[a.size() - 2];
  y[r - 1] = b[b.size() - 1];
  if (in[1].size() == 1) y.erase(y.end() - 1);
  if (in[0].size() == 1) y.erase(y.end() - 1 - (in[1].size() == 1 ? 0 : 1));
  return {y};
}

// Y as the matrix product has it, (broadcast(...), M, N): the dims a 1-D operand dropped put back as 1s.
Shape y_as_matrix(const Shape& y, const Shape& a, const Shape& b) {
  Shape m = y;
  if (a.size() == 1) m.insert(m.end() - (b.size() == 1 ? 0 : 1), 1);
  if (b.size() == 1) m.push_back(1);
  return m;
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& a = ctx.shape(n.inputs[0]);
  const Shape& b = ctx.shape(n.inputs[1]);
  const Shape y = y_as_matrix(ctx.shape(n.outputs[0]), a, b);
  auto a_md = dnnl_compat::plain(padded(as_matrix_a(a), y.size()));
  auto b_md = dnnl_compat::plain(padded(as_matrix_b(b), y.size()));
  auto y_md = dnnl_compat::plain(y);
  steps.push_back({dnnl::matmul(dnnl_compat::matmul(ctx.engine(), a_md, b_md, y_md, {})),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], a_md)},
                    {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[1], b_md)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], y_md)}}});
}

// Y[b, m, j] = sum_k A[a(b), m, k] * B[c(b), k, j], where a(b) and c(b) are Y's batch index b broadcast back to A's
// and B's batch dims. A: (..., M, K); B: (..., K, N); Y: (broadcast(...), M, N); 1-D operands as matrices.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const RefTensor &A = *in[0], &B = *in[1];
  RefTensor& Y = out[0];
  const Shape as = as_matrix_a(A.shape), bs = as_matrix_b(B.shape), ys = y_as_matrix(Y.shape, A.shape, B.shape);
  const size_t r = ys.size();
  const int64_t M = ys[r - 2], N = ys[r - 1], K = as[as.size() - 1];
  const Shape batch(ys.begin(), ys.end() - 2);
  const std::vector<int64_t> a_at = broadcast_offsets(Shape(as.begin(), as.end() - 2), batch);
  const std::vector<int64_t> b_at = broadcast_offsets(Shape(bs.begin(), bs.end() - 2), batch);
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

// v (of rank r) transposed in its last two axes, as a Transpose node.
int swap_last_two(GradBuilder& b, int v, size_t r) {
  ir::Attr perm;
  perm.kind = ir::Attr::Ints;
  for (size_t i = 0; i < r; ++i) perm.ints.push_back(static_cast<int64_t>(i));
  std::swap(perm.ints[r - 1], perm.ints[r - 2]);
  return b.emit("Transpose", {v}, {{"perm", perm}});
}

int insert_axis(GradBuilder& b, int v, int64_t axis) {
  return b.emit("InsertAxis", {v}, {{"axis", ir::Attr::of(axis)}});
}

// Y = A @ B; dA = dY @ B^T, dB = A^T @ dY (^T: the last two axes), each summed over the batch dims along which its
// operand was broadcast. With a 1-D operand the product runs on the matrices (1-D A as (1, K), 1-D B as (K, 1), dY
// with the dropped dim back), and a 1-D B's gradient is taken transposed, dB^T = dY^T @ A: (..., 1, K), which sums
// down to (K) as any broadcast gradient does.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const int A = n.inputs[0], B = n.inputs[1];
  const size_t ra = b.shape(A).size(), rb = b.shape(B).size(), ry = b.shape(n.outputs[0]).size();
  const bool a1 = ra == 1, b1 = rb == 1;
  const size_t rym = ry + a1 + b1;  // the ranks as matrices: A (ra + a1), B (rb + b1), dY (rym)
  const bool batched = rym > 2;
  if (a1) dY = insert_axis(b, dY, b1 ? -1 : -2);  // dY: (..., 1, N) or, B 1-D too, (1)
  if (b1) dY = insert_axis(b, dY, -1);            // dY: (..., M, 1)
  const int Am = a1 ? insert_axis(b, A, -2) : A, Bm = b1 ? insert_axis(b, B, -1) : B;
  auto to_shape_of = [&](int grad, int like) {
    return batched || a1 || b1 ? b.emit("ReduceToShape", {grad, like}) : grad;
  };
  if (b.needs(n, 0)) b.set_dX(n, 0, to_shape_of(b.emit("MatMul", {dY, swap_last_two(b, Bm, rb + b1)}), A));
  if (b.needs(n, 1)) {
    const int dB =
        b1 ? b.emit("MatMul", {swap_last_two(b, dY, rym), Am}) : b.emit("MatMul", {swap_last_two(b, Am, ra + a1), dY});
    b.set_dX(n, 1, to_shape_of(dB, B));
  }
}

// InsertAxis(X) -> X's elements with a dim of 1 inserted at `axis`, counted from the end of the output (-1: last).
// X: any shape; Y: X's rank + 1.
std::vector<Shape> insert_axis_infer(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  Shape y = in[0];
  y.insert(y.end() + 1 + n.attr_i("axis", -1), 1);
  return {y};
}

}  // namespace

extern const OpDef kMatMul{.type = "MatMul",
                           .versions = {1, 9, 13},
                           .check = check,
                           .infer = infer,
                           .forward = forward,
                           .gradient = gradient,
                           .reference = reference,
                           // 2-D, batched with broadcast batch dims, and 1-D operands (a row for A, a column for B).
                           .cases = {{.opset = 1, .shapes = {{3, 5}, {5, 7}}},
                                     {.opset = 9, .shapes = {{2, 3, 5}, {5, 7}}},
                                     {.opset = 13, .shapes = {{1, 3, 4}, {2, 4, 5}}},
                                     {.opset = 13, .shapes = {{4}, {2, 4, 5}}},
                                     {.opset = 13, .shapes = {{2, 3, 4}, {4}}},
                                     {.opset = 13, .shapes = {{4}, {4}}}}};
extern const OpDef kInsertAxis{.type = "InsertAxis",
                               .versions = {1},
                               .check = no_check,
                               .infer = insert_axis_infer,
                               .forward = shape_only_forward,
                               .internal = true};

}  // namespace onnxtrain::ops
