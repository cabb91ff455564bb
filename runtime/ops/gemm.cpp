// Gemm: Y = alpha * A' * B' + beta * C, with A' = transA ? A^T : A and B' = transB ? B^T : B.
// Shape inference, opset checks, the forward kernel (oneDNN matmul, transposes as strides, C as a broadcast add), its
// double reference, the gradient rule (itself Gemms) and ReduceToShape, the kernel of dC (oneDNN reduction). For a
// small batch against a large weight the forward kernel computes Y^T instead (gemm_computes_transposed), and a data
// gradient dX = dY W as an inner product's backward-data pass (gemm_as_backward_data); inference runs layers as
// inner products where that is faster (gemm_infers_as_inner_product). Under plain SGD a Gemm or ReduceToShape that
// computes a parameter's gradient also gets a variant adding -lr times it to the parameter (CompileCtx::update_step).
#include <algorithm>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

struct GemmAttrs {
  float alpha, beta;
  bool transA, transB;
  bool broadcast;  // before opset 7 C broadcasts only when broadcast=1; from 7 on it always may
};

GemmAttrs attrs_of(const ir::Node& n) {
  return {n.attr_f("alpha", 1.f), n.attr_f("beta", 1.f), n.attr_i("transA", 0) != 0, n.attr_i("transB", 0) != 0,
          n.version >= 7 || n.attr_i("broadcast", 0) != 0};
}

bool has_c(const ir::Node& n) { return n.input(2) >= 0; }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.input(1) < 0) g.fail(n, "inputs A and B are required");
  if (!has_c(n) && n.version < 11)
    g.fail(n, "input C is required before opset 11 (this model imports opset " + std::to_string(g.opset) + ")");
  if (n.inputs.size() > 3) g.fail(n, "expected at most 3 inputs, found " + std::to_string(n.inputs.size()));
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// A: (M,K), or (K,M) with transA; B: (K,N), or (N,K) with transB; C: unidirectionally broadcastable to (M,N).
// Y: (M,N).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const GemmAttrs at = attrs_of(n);
  const Shape& a = in[0];
  const Shape& b = in[1];
  if (a.size() != 2) g.fail(n, "input A must be 2-D, found shape " + ir::shape_str(a));
  if (b.size() != 2) g.fail(n, "input B must be 2-D, found shape " + ir::shape_str(b));
  int64_t M = at.transA ? a[1] : a[0], K = at.transA ? a[0] : a[1];
  int64_t Kb = at.transB ? b[1] : b[0], N = at.transB ? b[0] : b[1];
  if (K != ir::kUnknown && Kb != ir::kUnknown && K != Kb)
    g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) +
                  " cannot multiply (transA=" + std::to_string(at.transA) + ", transB=" + std::to_string(at.transB) +
                  "): K is " + std::to_string(K) + " for A but " + std::to_string(Kb) + " for B");
  if (has_c(n)) {
    const Shape& c = in[2];
    const Shape y = {M, N};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      int64_t cd = c[c.size() - 1 - i], yd = y[1 - i];
      bool must_equal = !at.broadcast;
      if (cd == ir::kUnknown || yd == ir::kUnknown) continue;
      ok = cd == yd || (!must_equal && cd == 1);
    }
    if (!at.broadcast && c.size() != 2) ok = false;
    if (!ok)
      g.fail(n, "C " + ir::shape_str(c) + (at.broadcast ? " does not broadcast to " : " must equal (broadcast=0) ") +
                    "Y " + ir::shape_str(y));
  }
  return {{M, N}};
}

}  // namespace

// See op.h. The thresholds are where oneDNN 2.6's f32 matmul measured the transposed product (with its reorder and
// C add) faster than the direct one on the layers bench/ runs: few rows against a large weight. With more rows, or a
// narrow N or K, its three primitives (three fork-joins) cost more than they save. docs/performance.md has the figures.
bool gemm_computes_transposed(int64_t M, int64_t K, int64_t N) {
  return M <= 64 && K >= 256 && N >= std::max<int64_t>(256, 8 * M);
}

// See op.h. Where oneDNN 2.6's inner product measured faster than its matmul, both on packed weights with bias and
// ReLU fused, on the MLPs bench/ runs: small weights at any batch, large ones only for few rows; with many rows a
// large weight runs faster on the matmul. docs/performance.md has the figures.
bool gemm_infers_as_inner_product(int64_t M, int64_t K, int64_t N) { return M <= 64 || K * N <= 256 * 1024; }

// See op.h. Where oneDNN 2.6's inner product backward-data pass measured faster than its matmul on dX = dY W: few
// rows against a large weight; with more rows, or a small weight, it is no faster. docs/performance.md has the figures.
bool gemm_as_backward_data(int64_t M, int64_t K, int64_t N) { return M <= 64 && K >= 256 && N >= 256; }

namespace {

// The fused-update variant of the matmul step (a, b) -> n's output, a parameter's gradient P: P = P + (-lr) * a * b,
// registered with ctx.update_step when fuse (CompileCtx::fuses_update's answer), with (-lr) as its output scale.
void fold_update(CompileCtx& ctx, const ir::Node& n, bool fuse, const dnnl::memory& a, const dnnl::memory::desc& a_md,
                 const dnnl::memory& b, const dnnl::memory::desc& b_md, const dnnl::memory::desc& y_md) {
  if (!fuse) return;
  dc::MatmulEpilogue update;
  update.scale = ctx.update_scale();
  update.accumulate = true;
  const int param = ctx.graph().values[n.outputs[0]].grad_of;
  ctx.update_step(n.outputs[0], {dnnl::matmul(dc::matmul(ctx.engine(), a_md, b_md, y_md, update)),
                                 {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, ctx.view(param, y_md)}}});
}

// One Gemm node's forward as each strategy reads it. Built in place and never copied: ep.add points at c_md.
struct GemmForward {
  GemmAttrs at;
  int64_t M, K, N;
  dnnl::memory::desc a_md, b_md, y_md;  // A viewed as (M,K), B as (K,N), Y (M,N)
  dc::MatmulEpilogue ep;
  dnnl::memory c_mem;  // beta*C, right-aligned to (M,N); none when there is no C or beta is 0
  dnnl::memory::desc c_md;
  bool c_is_row = false;  // C is (N) or (1,N): a layer's bias

  // Reads the shapes and views the operands; with beta != 1, appends the step that scales C into scratch.
  GemmForward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) : at(attrs_of(n)) {
    const Shape& y = ctx.shape(n.outputs[0]);
    M = y[0];
    N = y[1];
    const Shape& a_shape = ctx.shape(n.inputs[0]);
    K = at.transA ? a_shape[0] : a_shape[1];
    // A transposed operand is the same buffer read with swapped strides.
    a_md = dc::strided({M, K}, at.transA ? dnnl::memory::dims{1, M} : dnnl::memory::dims{K, 1});
    b_md = dc::strided({K, N}, at.transB ? dnnl::memory::dims{1, K} : dnnl::memory::dims{N, 1});
    y_md = dc::plain({M, N});
    ep.scale = at.alpha;
    // A following Relu/LeakyRelu folded in by the fusion pass (runtime/exec/fusion.cpp): Y = act(alpha*A'B' + beta*C).
    ep.relu = n.has("onnxtrain.relu_slope");
    ep.relu_slope = n.attr_f("onnxtrain.relu_slope", 0.f);
    if (!has_c(n) || at.beta == 0.f) return;
    // C right-aligned to (M,N): a scalar is (1,1), (N) is (1,N).
    Shape c = ctx.shape(n.inputs[2]);
    while (c.size() < 2) c.insert(c.begin(), 1);
    c_is_row = c == Shape{1, N};
    c_md = dc::plain(c);
    c_mem = ctx.view(n.inputs[2], c_md);
    if (at.beta != 1.f) {
      // beta*C is computed into scratch, so the matmul epilogue stays a plain add.
      dnnl::memory scaled = ctx.scratch(c_md);
      steps.push_back({dnnl::eltwise_forward(dc::linear(ctx.engine(), c_md, at.beta, 0.f)),
                       {{DNNL_ARG_SRC, c_mem}, {DNNL_ARG_DST, scaled}}});
      c_mem = scaled;
    }
    ep.add = &c_md;
  }
  GemmForward(const GemmForward&) = delete;
  GemmForward& operator=(const GemmForward&) = delete;
};

// How a Gemm's forward runs. Each but Matmul is a measured special case of oneDNN 2.6 (see the thresholds above).
enum class GemmStrategy {
  Transposed,    // training, few rows against a large weight: Y^T = B * A'^T, reordered into Y
  BackwardData,  // training's data gradient dX = dY * W with few rows: an inner product's backward-data pass
  InnerProduct,  // inference of a layer act(A B^T + c): an inner product on B packed once
  Matmul,        // everything else: a matmul (bf16 operands under bf16; B packed once for inference)
};

// The one place the strategy is chosen, from the node, its shapes and the compile's mode; it creates nothing.
GemmStrategy choose_strategy(const CompileCtx& ctx, const ir::Node& n, const GemmForward& f) {
  const GemmAttrs& at = f.at;
  if (at.transB && !ctx.bf16() && !ctx.weights_frozen() && gemm_computes_transposed(f.M, f.K, f.N))
    return GemmStrategy::Transposed;
  if (!ctx.weights_frozen() && !ctx.bf16() && !at.transA && !at.transB && at.alpha == 1.f && !f.ep.add && !f.ep.relu &&
      gemm_as_backward_data(f.M, f.K, f.N))
    return GemmStrategy::BackwardData;
  if (ctx.weights_frozen() && !ctx.bf16() && ctx.stored(n.inputs[1]) && !at.transA && at.alpha == 1.f &&
      (!f.ep.add || (f.c_is_row && at.beta == 1.f)) && gemm_infers_as_inner_product(f.M, f.K, f.N))
    return GemmStrategy::InnerProduct;
  return GemmStrategy::Matmul;
}

// Training, few rows (a small batch) against a large weight B (N,K) that changes every step. oneDNN 2.6's matmul runs
// Y = A' * B^T far below its peak when M is that small, with B read transposed or repacked plain alike; Y^T (N,M) =
// alpha * B * A'^T puts the long side on M and reads B as it is stored. Y^T is reordered into Y, then C and the
// activation are applied to Y, since the matmul epilogue cannot broadcast C along Y^T's rows. (Inference packs B once
// instead, in forward_matmul, which is as fast as this.)
void forward_transposed(CompileCtx& ctx, const ir::Node& n, const GemmForward& f, std::vector<Step>& steps) {
  const int64_t M = f.M, K = f.K, N = f.N;
  auto bt_md = dc::strided({N, K}, {K, 1});
  auto at_md = dc::strided({K, M}, f.at.transA ? dnnl::memory::dims{M, 1} : dnnl::memory::dims{1, K});
  auto yt_md = dc::plain({N, M});
  dnnl::memory yt = ctx.scratch(yt_md);
  dc::MatmulEpilogue scale_only;
  scale_only.scale = f.at.alpha;
  steps.push_back({dnnl::matmul(dc::matmul(ctx.engine(), bt_md, at_md, yt_md, scale_only)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[1], bt_md)},
                    {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[0], at_md)},
                    {DNNL_ARG_DST, yt}}});
  auto y_as_yt = dc::strided({N, M}, {1, N});  // Y's buffer seen as Y^T
  steps.push_back({dnnl::reorder(dc::reorder(ctx.engine(), yt_md, y_as_yt)),
                   {{DNNL_ARG_SRC, yt}, {DNNL_ARG_DST, ctx.view(n.outputs[0], y_as_yt)}}});
  dnnl::memory y = f.ep.add || f.ep.relu ? ctx.view(n.outputs[0], f.y_md) : dnnl::memory();
  if (f.ep.add)
    steps.push_back({dnnl::binary(dc::binary_add(ctx.engine(), f.y_md, f.c_md, f.y_md, f.ep)),
                     {{DNNL_ARG_SRC_0, y}, {DNNL_ARG_SRC_1, f.c_mem}, {DNNL_ARG_DST, y}}});
  else if (f.ep.relu)
    steps.push_back({dnnl::eltwise_forward(dc::relu(ctx.engine(), f.y_md, f.ep.relu_slope, false)),
                     {{DNNL_ARG_SRC, y}, {DNNL_ARG_DST, y}}});
}

// Training's data gradient dX = dY * W of a layer with few rows (a small batch): oneDNN's inner product backward-data
// pass reads W (out, in) as stored and runs it on oneDNN's jit gemm, where the brgemm matmul runs far below its peak
// with so few rows.
void forward_as_backward_data(CompileCtx& ctx, const ir::Node& n, const GemmForward& f, std::vector<Step>& steps) {
  steps.push_back({dnnl::inner_product_backward_data(dc::product_as_backward_data(ctx.engine(), f.M, f.K, f.N)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], f.a_md)},
                    {DNNL_ARG_WEIGHTS, ctx.view(n.inputs[1], f.b_md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], f.y_md)}}});
}

// Inference of a layer, Y = act(A B^T + c) with c a row (N) or none: oneDNN's inner product on B packed once (again
// only when training changes it), where measured faster than the packed matmul of forward_matmul.
void forward_inner_product(CompileCtx& ctx, const ir::Node& n, const GemmForward& f, std::vector<Step>& steps) {
  const int64_t K = f.K, N = f.N;
  auto w_md = dc::strided({N, K}, f.at.transB ? dnnl::memory::dims{K, 1} : dnnl::memory::dims{1, N});  // B as (N,K)
  auto bias_md = dc::plain({N});
  auto pd = dc::inner_product_inference(ctx.engine(), f.a_md, dc::any_layout({N, K}), f.ep.add ? &bias_md : nullptr,
                                        f.y_md, f.ep);
  dnnl::memory packed = ctx.scratch(pd.weights_desc());
  ctx.prepare_step({dnnl::reorder(dc::reorder(ctx.engine(), w_md, pd.weights_desc())),
                    {{DNNL_ARG_SRC, ctx.view(n.inputs[1], w_md)}, {DNNL_ARG_DST, packed}}});
  Step s{dnnl::inner_product_forward(pd),
         {{DNNL_ARG_SRC, ctx.view(n.inputs[0], f.a_md)},
          {DNNL_ARG_WEIGHTS, packed},
          {DNNL_ARG_DST, ctx.view(n.outputs[0], f.y_md)}}};
  if (f.ep.add) s.args[DNNL_ARG_BIAS] = ctx.view(n.inputs[2], bias_md);
  steps.push_back(std::move(s));
}

// The general case: one matmul with alpha, C and the activation in its epilogue. Under bf16 both operands are first
// converted into scratch; for inference B is packed once; a weight gradient under plain SGD gets its fused update.
void forward_matmul(CompileCtx& ctx, const ir::Node& n, const GemmForward& f, std::vector<Step>& steps) {
  const int64_t M = f.M, K = f.K, N = f.N;
  dnnl::memory::desc a_md = f.a_md, b_md = f.b_md;
  dnnl::memory a = ctx.view(n.inputs[0], a_md), b = ctx.view(n.inputs[1], b_md);
  if (ctx.bf16()) {
    // bf16 compute: both operands converted (transposes resolved on the way) into scratch; the result stays f32.
    auto convert = [&](dnnl::memory& m, dnnl::memory::desc& md, const dnnl::memory::dims& dims) {
      auto to = dc::as_bf16(dims);
      dnnl::memory converted = ctx.scratch(to);
      steps.push_back(
          {dnnl::reorder(dc::reorder(ctx.engine(), md, to)), {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, converted}}});
      m = converted;
      md = to;
    };
    convert(a, a_md, {M, K});
    convert(b, b_md, {K, N});
  }
  auto pd = dc::matmul(ctx.engine(), a_md, b_md, f.y_md, f.ep);
  if (ctx.weights_frozen() && !ctx.bf16() && ctx.stored(n.inputs[1])) {
    // Inference: let oneDNN choose B's layout and pack it once (again only when training changes it), instead of
    // re-reading a transposed B on every run.
    auto packed_pd = dc::matmul(ctx.engine(), a_md, dc::any_layout({K, N}), f.y_md, f.ep);
    if (packed_pd.weights_desc() != b_md) {
      dnnl::memory packed = ctx.scratch(packed_pd.weights_desc());
      ctx.prepare_step({dnnl::reorder(dc::reorder(ctx.engine(), b_md, packed_pd.weights_desc())),
                        {{DNNL_ARG_SRC, b}, {DNNL_ARG_DST, packed}}});
      pd = packed_pd;
      b = packed;
    }
  }
  Step s{dnnl::matmul(pd), {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, ctx.view(n.outputs[0], f.y_md)}}};
  if (f.ep.add) s.args[dc::matmul_add_arg()] = f.c_mem;
  steps.push_back(std::move(s));
  // A weight gradient dW = A' * B' with plain SGD folded in: W = W + (-lr) * (A' * B').
  if (f.ep.scale == 1.f && !f.ep.add && !f.ep.relu && !ctx.bf16())
    fold_update(ctx, n, ctx.fuses_update(n.outputs[0], {n.inputs[0], n.inputs[1]}), a, a_md, b, b_md, f.y_md);
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const GemmForward f(ctx, n, steps);
  switch (choose_strategy(ctx, n, f)) {
    case GemmStrategy::Transposed: return forward_transposed(ctx, n, f, steps);
    case GemmStrategy::BackwardData: return forward_as_backward_data(ctx, n, f, steps);
    case GemmStrategy::InnerProduct: return forward_inner_product(ctx, n, f, steps);
    case GemmStrategy::Matmul: return forward_matmul(ctx, n, f, steps);
  }
}

// Y[m,j] = alpha * sum_k A'[m,k] * B'[k,j] + beta * C[m,j], C right-aligned to (M,N) with its dims of 1 repeated
// (skipped when beta = 0, as the kernel skips it). A: (M,K) or (K,M); B: (K,N) or (N,K); Y: (M,N).
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const GemmAttrs at = attrs_of(n);
  const RefTensor &A = *in[0], &B = *in[1];
  const RefTensor* C = in.size() > 2 && at.beta != 0.f ? in[2] : nullptr;
  RefTensor& Y = out[0];
  const int64_t M = Y.shape[0], N = Y.shape[1], K = at.transA ? A.shape[0] : A.shape[1];
  const std::vector<int64_t> c_at = C ? broadcast_offsets(C->shape, Y.shape) : std::vector<int64_t>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += A.data[at.transA ? k * M + m : m * K + k] * B.data[at.transB ? j * K + k : k * N + j];
      Y.data[m * N + j] = double(at.alpha) * acc + (C ? double(at.beta) * C->data[c_at[m * N + j]] : 0.0);
    }
}

// An ordinary Gemm node for the gradient: alpha * P' * Q', no C.
int gemm(GradBuilder& b, int P, int Q, float alpha, bool transP, bool transQ) {
  return b.emit("Gemm", {P, Q},
                {{"alpha", ir::Attr::of(alpha)},
                 {"transA", ir::Attr::of(int64_t(transP))},
                 {"transB", ir::Attr::of(int64_t(transQ))}});
}

// Y = alpha * A' * B' + beta * C.
//   transA = 0: dA = alpha * dY * B'^T          transA = 1: dA = alpha * B' * dY^T
//   transB = 0: dB = alpha * A'^T * dY          transB = 1: dB = alpha * dY^T * A'
//   dC = beta * dY, summed over the axes along which C was broadcast.
void gradient(GradBuilder& b, const ir::Node& n) {
  const GemmAttrs at = attrs_of(n);
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  int A = n.inputs[0], B = n.inputs[1];
  if (b.needs(n, 0))
    b.set_dX(n, 0, at.transA ? gemm(b, B, dY, at.alpha, at.transB, true) : gemm(b, dY, B, at.alpha, false, !at.transB));
  if (b.needs(n, 1))
    b.set_dX(n, 1, at.transB ? gemm(b, dY, A, at.alpha, true, at.transA) : gemm(b, A, dY, at.alpha, !at.transA, false));
  if (has_c(n) && b.needs(n, 2) && at.beta != 0.f)
    b.set_dX(n, 2, b.emit("ReduceToShape", {dY, n.inputs[2]}, {{"scale", ir::Attr::of(at.beta)}}));
}

// ReduceToShape(dY, R) -> scale * dY summed down to R's shape (R right-aligned to dY, as in broadcasting). Only
// R's shape is read. dY: (d0, ..., dk); R: a shape that broadcasts to dY's; out: R's shape.
std::vector<Shape> reduce_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

// A 2-D sum over rows or columns is a matmul with a ones vector: 1^T * dY is (1,N), dY * 1 is (M,1). That runs on
// oneDNN's GEMM kernels, where its reduction primitive has only a reference implementation in 2.6.
void reduce_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& src = ctx.shape(n.inputs[0]);
  Shape dst = ctx.shape(n.inputs[1]);
  while (dst.size() < src.size()) dst.insert(dst.begin(), 1);
  auto src_md = dc::plain(src), dst_md = dc::plain(dst);
  float scale = n.attr_f("scale", 1.f);
  dnnl::memory in = ctx.view(n.inputs[0], src_md), out = ctx.view(n.outputs[0], dst_md);
  auto linear = [&](dnnl::memory from, dnnl::memory to, const dnnl::memory::desc& md) {
    steps.push_back(
        {dnnl::eltwise_forward(dc::linear(ctx.engine(), md, scale, 0.f)), {{DNNL_ARG_SRC, from}, {DNNL_ARG_DST, to}}});
  };
  if (dst == src) return linear(in, out, src_md);
  auto matmul = [&](dnnl::memory a, const dnnl::memory::desc& a_md, dnnl::memory b, const dnnl::memory::desc& b_md,
                    dnnl::memory y, const dnnl::memory::desc& y_md, float s) {
    dc::MatmulEpilogue ep;
    ep.scale = s;
    steps.push_back({dnnl::matmul(dc::matmul(ctx.engine(), a_md, b_md, y_md, ep)),
                     {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, y}}});
  };
  // A bias gradient db = sum(dY) with plain SGD folded in: b = b + (-lr) * sum(dY).
  const bool fuse = scale == 1.f && ctx.fuses_update(n.outputs[0], {n.inputs[0]});
  if (src.size() == 2) {
    const int64_t M = src[0], N = src[1];
    auto ones_m_md = dc::plain({1, M}), ones_n_md = dc::plain({N, 1});
    if (dst[0] == 1 && dst[1] == N) {  // (1,N) = 1^T * dY
      dnnl::memory ones = ctx.constant(ones_m_md, 1.f);
      matmul(ones, ones_m_md, in, src_md, out, dst_md, scale);
      fold_update(ctx, n, fuse, ones, ones_m_md, in, src_md, dst_md);
    } else if (dst[0] == M && dst[1] == 1) {  // (M,1) = dY * 1
      dnnl::memory ones = ctx.constant(ones_n_md, 1.f);
      matmul(in, src_md, ones, ones_n_md, out, dst_md, scale);
      fold_update(ctx, n, fuse, in, src_md, ones, ones_n_md, dst_md);
    } else {  // (1,1) = 1^T * dY * 1
      auto row_md = dc::plain({1, N});
      dnnl::memory row = ctx.scratch(row_md);
      matmul(ctx.constant(ones_m_md, 1.f), ones_m_md, in, src_md, row, row_md, 1.f);
      matmul(row, row_md, ctx.constant(ones_n_md, 1.f), ones_n_md, out, dst_md, scale);
    }
    return;
  }
  steps.push_back(
      {dnnl::reduction(dc::reduce_sum(ctx.engine(), src_md, dst_md)), {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}}});
  if (scale != 1.f) linear(out, out, dst_md);
}

}  // namespace

extern const OpDef kGemm{
    .type = "Gemm",
    .versions = {1, 6, 7, 9, 11, 13},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    // Every transpose, alpha and beta; C of each broadcast shape: required before 11, broadcast only with
    // broadcast = 1 before 7.
    .cases = {{.opset = 1, .shapes = {{3, 5}, {5, 7}, {3, 7}}, .attrs = {{"alpha", attr(0.5f)}, {"beta", attr(2.f)}}},
              {.opset = 6, .shapes = {{5, 3}, {5, 7}, {7}}, .attrs = {{"broadcast", attr(1)}, {"transA", attr(1)}}},
              {.opset = 7,
               .shapes = {{3, 5}, {7, 5}, {1, 7}},
               .attrs = {{"transB", attr(1)}, {"alpha", attr(0.7f)}, {"beta", attr(-1.5f)}}},
              {.opset = 9, .shapes = {{5, 3}, {7, 5}, {3, 1}}, .attrs = {{"transA", attr(1)}, {"transB", attr(1)}}},
              {.opset = 11, .shapes = {{3, 5}, {5, 7}}},
              {.opset = 13, .shapes = {{2, 13}, {13, 3}, {1}}, .attrs = {{"beta", attr(-2.f)}}},
              {.opset = 13,
               .shapes = {{13, 1}, {3, 13}, {1, 3}},
               .attrs = {{"transA", attr(1)}, {"transB", attr(1)}, {"alpha", attr(0.5f)}}}}};
extern const OpDef kReduceToShape{.type = "ReduceToShape",
                                  .versions = {1},
                                  .check = no_check,
                                  .infer = reduce_infer,
                                  .forward = reduce_forward,
                                  .internal = true};

}  // namespace onnxtrain::ops
