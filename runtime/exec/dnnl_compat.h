// The one place that knows which oneDNN API we build against (2.x: op::desc + primitive_desc(desc, attr, engine)).
// Ops describe what they want in version-neutral terms here; porting to oneDNN 3.x touches only this pair of files.
// scripts/check_boundaries.sh fails on a version-specific oneDNN name anywhere else.
#pragma once
#include <dnnl.hpp>
#include <utility>
#include <vector>

#include "runtime/ir/graph.h"

// Written and tested against Debian's oneDNN 2.6. oneDNN 3.0 changed the API this pair of files uses, and 3.x cannot
// be compiled here, so rather than untested 3.x spellings the build stops with what to port:
//   - every op::desc is gone: each X::primitive_desc(desc, [attr,] eng[, hint]) in dnnl_compat.cpp becomes
//     X::primitive_desc(eng, <the desc's arguments>, [attr | hint]); eltwise forward takes src and dst descs, the
//     eltwise and softmax backward take diff_src, diff_dst and src/dst; sum::primitive_desc(eng, dst, scales, srcs).
//   - softmax_v2_forward/backward are named softmax_forward/backward (the aliases below).
//   - post_ops::append_eltwise(scale, alg, a, b) is append_eltwise(alg, a, b).
//   - primitive_attr::set_output_scales is gone: matmul() takes set_scales_mask(DNNL_ARG_WEIGHTS, 0) and the scale as
//     a runtime f32 argument DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS. That argument is bound where the steps are built
//     (ops/gemm.cpp, the callers of matmul() with MatmulEpilogue::scale != 1), which then change too.
//   - cpu_isa: check that avx512_core_bf16 and avx512_core_amx keep their names (has_native_bf16).
#if DNNL_VERSION_MAJOR >= 3
#error "port runtime/exec/dnnl_compat.{h,cpp} to oneDNN 3.x: see the list at the top of dnnl_compat.h"
#elif DNNL_VERSION_MAJOR < 2 || (DNNL_VERSION_MAJOR == 2 && DNNL_VERSION_MINOR < 6)
#error "onnxtrain needs oneDNN 2.6 or a newer 2.x: the API dnnl_compat is written and tested against"
#endif

namespace onnxtrain::dnnl_compat {

using dnnl::memory;

// The softmax primitives and their descriptors, under names that do not change with the version (3.x:
// dnnl::softmax_forward and dnnl::softmax_backward).
using softmax_fwd = dnnl::softmax_v2_forward;
using softmax_bwd = dnnl::softmax_v2_backward;
using softmax_fwd_pd = softmax_fwd::primitive_desc;
using softmax_bwd_pd = softmax_bwd::primitive_desc;

// Row-major f32 desc of a concrete shape; a scalar is {1}.
memory::desc plain(const ir::Shape& dims);
// n bytes as u8: a copy of a tensor of any dtype.
memory::desc bytes(int64_t n);
// f32 desc with explicit strides (transposes as strides).
memory::desc strided(const memory::dims& dims, const memory::dims& strides);

// What follows a matmul: dst = scale * (src x wei) [+ add] [then relu with slope].
struct MatmulEpilogue {
  float scale = 1.f;
  bool accumulate = false;  // dst = scale * product + dst (a sum post-op): a fused update of the buffer dst views
  const memory::desc* add = nullptr;  // broadcastable src1 of a binary add post-op
  bool relu = false;
  float relu_slope = 0.f;
};
dnnl::matmul::primitive_desc matmul(const dnnl::engine& eng, const memory::desc& src, const memory::desc& wei,
                                    const memory::desc& dst, const MatmulEpilogue& ep);
// A fully connected layer's three training GEMMs as oneDNN inner products, over weights (out, in) in the layout oneDNN
// prefers for them (format any, blocked), kept in it from step to step: Y = X W^T, dW = dY^T X, dX = dY W. For the
// bench's comparison of layouts (bench/onnxtrain_bench.cpp --mode gemm-blocked); the runtime uses matmul.
struct InnerProductTraining {
  dnnl::inner_product_forward::primitive_desc forward;
  dnnl::inner_product_backward_weights::primitive_desc weights;
  dnnl::inner_product_backward_data::primitive_desc data;
};
InnerProductTraining inner_product_training(const dnnl::engine& eng, int64_t batch, int64_t in, int64_t out);
// Y (M,N) = A (M,K) * B (K,N), both plain, as oneDNN's inner product backward-data pass, which reads B as a layer's
// weights (out = K, in = N) in their plain layout and multiplies with oneDNN's jit gemm.
dnnl::inner_product_backward_data::primitive_desc product_as_backward_data(const dnnl::engine& eng, int64_t M,
                                                                           int64_t K, int64_t N);
// Inference Y = X W^T + b, then the activation of MatmulEpilogue (ep.relu, ep.relu_slope; nothing else is read):
// oneDNN's inner product, with W (out, in) in the layout it prefers (any), for weights packed once. bias: nullptr
// for none, else (out).
dnnl::inner_product_forward::primitive_desc inner_product_inference(const dnnl::engine& eng, const memory::desc& src,
                                                                    const memory::desc& weights_any,
                                                                    const memory::desc* bias, const memory::desc& dst,
                                                                    const MatmulEpilogue& ep);
// f32 of these dims in whatever layout the primitive prefers (format_tag::any): for weights packed once.
memory::desc any_layout(const memory::dims& dims);
// md's dims in format any (for a primitive to pick the layout), and plain (row-major f32).
memory::desc any_like(const memory::desc& md);
memory::desc plain_like(const memory::desc& md);
// Whether md is an f32 desc of these dims, in any layout.
bool is_f32_of(const memory::desc& md, const ir::Shape& dims);
// The same dims as md in bf16, plain row-major: where a bf16 GEMM reads its operands.
memory::desc as_bf16(const memory::dims& dims);
// Whether this CPU computes bf16 GEMMs natively (avx512_bf16); oneDNN would emulate them slowly otherwise.
bool has_native_bf16();
// dst = src0 + src1, src1 broadcast to dst (both of dst's rank; src0 of dst's shape); then, with relu, the
// activation of MatmulEpilogue (only ep.relu and ep.relu_slope are read).
dnnl::binary::primitive_desc binary_add(const dnnl::engine& eng, const memory::desc& src0, const memory::desc& src1,
                                        const memory::desc& dst, const MatmulEpilogue& relu = {});
// y = alpha * x^beta, elementwise (eltwise_pow); y = |x| (eltwise_abs).
dnnl::eltwise_forward::primitive_desc pow(const dnnl::engine& eng, const memory::desc& md, float alpha, float beta);
dnnl::eltwise_forward::primitive_desc abs(const dnnl::engine& eng, const memory::desc& md);
// dst = src reduced over the axes where dst has size 1 (same rank): the sum, the mean, the max, or the L2 norm
// sqrt(sum src^2).
enum class Reduction { Sum, Mean, Max, L2 };
dnnl::reduction::primitive_desc reduction(const dnnl::engine& eng, Reduction op, const memory::desc& src,
                                          const memory::desc& dst);
// dst = src converted between data types and layouts.
dnnl::reorder::primitive_desc reorder(const dnnl::engine& eng, const memory::desc& src, const memory::desc& dst);

// The argument key of the binary add's src1 in a matmul built with an add epilogue.
int matmul_add_arg();

// y = alpha * x + beta, elementwise (eltwise_linear).
dnnl::eltwise_forward::primitive_desc linear(const dnnl::engine& eng, const memory::desc& md, float alpha, float beta);
// y = x > 0 ? x : slope * x (eltwise_relu), for inference or for training (keeps what backward needs).
dnnl::eltwise_forward::primitive_desc relu(const dnnl::engine& eng, const memory::desc& md, float slope, bool training);
// Softmax (or log-softmax) along axis of md (accurate or log); the primitive is softmax_fwd.
softmax_fwd_pd softmax(const dnnl::engine& eng, const memory::desc& md, int axis, bool training, bool log = false);

// oneDNN's elementwise functions y = f(x; alpha, beta), with its meaning of alpha and beta: Elu alpha*(exp(x)-1)
// below 0; Linear alpha*x + beta; Pow alpha*x^beta; Clip min(max(x, alpha), beta); SoftRelu log(1 + exp(x)); the
// others ignore both.
enum class Eltwise { Logistic, Tanh, Abs, Exp, Log, Sqrt, Square, Elu, SoftRelu, Linear, Pow, Clip };
dnnl::eltwise_forward::primitive_desc eltwise(const dnnl::engine& eng, const memory::desc& md, Eltwise f,
                                              float alpha = 0.f, float beta = 0.f);
// dX from dY and Y = f(X) (from_dst: Logistic, Tanh, Exp, Sqrt, Elu with alpha >= 0), or from dY and X.
dnnl::eltwise_backward::primitive_desc eltwise_backward(const dnnl::engine& eng, const memory::desc& md, Eltwise f,
                                                        float alpha = 0.f, float beta = 0.f, bool from_dst = true);

// dst = src0 op src1 (src1 broadcast to dst, both of dst's rank; src0 of dst's shape), then each post-op in turn on
// dst: an Eltwise scale * f(dst; alpha, beta), or `dst op tensor` with a tensor of dst's desc, bound at
// binary_post_op_arg(its index in post). oneDNN 2.6 computes a second eltwise post-op of the same function with the
// first one's alpha and beta (two Linear post-ops both scale by the first's alpha), so binary() refuses a chain that
// repeats a function: fold a final scaling into the scale of the eltwise post-op before it instead. Eq, Ne and Greater
// give 1 or 0.
enum class Binary { Add, Sub, Mul, Div, Max, Eq, Ne, Greater };
struct PostOp {
  static PostOp fn(Eltwise f, float alpha = 0.f, float beta = 0.f, float scale = 1.f) {
    return {false, f, alpha, beta, scale, Binary::Add};
  }
  static PostOp with(Binary op) { return {true, Eltwise::Linear, 0.f, 0.f, 1.f, op}; }
  bool binary;
  Eltwise f;
  float alpha, beta, scale;
  Binary op;
};
dnnl::binary::primitive_desc binary(const dnnl::engine& eng, Binary op, const memory::desc& src0,
                                    const memory::desc& src1, const memory::desc& dst,
                                    const std::vector<PostOp>& post = {});
int binary_post_op_arg(size_t index);

// dX from dY for y = x > 0 ? x : slope * x; from dst (y) when from_dst, which needs slope >= 0, else from src (x).
dnnl::eltwise_backward::primitive_desc relu_backward(const dnnl::engine& eng, const memory::desc& md, float slope,
                                                     bool from_dst);
// dX = Y * (dY - sum(dY * Y)) along axis; for log-softmax dX = dY - exp(Y) * sum(dY). The primitive is softmax_bwd.
softmax_bwd_pd softmax_backward(const dnnl::engine& eng, const memory::desc& md, int axis, bool log = false);
// dst = sum of srcs (all of md's shape).
dnnl::sum::primitive_desc sum(const dnnl::engine& eng, const memory::desc& md, size_t n);
// dst = src summed over the axes where dst has size 1 (same rank).
dnnl::reduction::primitive_desc reduce_sum(const dnnl::engine& eng, const memory::desc& src, const memory::desc& dst);

// Batch normalization of md (N, C, ...) over every axis but C, with scale and shift (C): for training (batch
// statistics, which it writes to mean and variance, the variance biased) or with given statistics (global_stats:
// inference, mean and variance read).
dnnl::batch_normalization_forward::primitive_desc batch_norm(const dnnl::engine& eng, const memory::desc& md,
                                                             float epsilon, bool global_stats);
// dX, dscale and dshift from dY, X, scale and the statistics the forward used (global_stats: given ones, which are
// then constants).
dnnl::batch_normalization_backward::primitive_desc batch_norm_backward(const dnnl::engine& eng, const memory::desc& md,
                                                                       float epsilon, bool global_stats);
// Layer normalization of md (R, C) over its last axis, with scale and shift (C); mean and variance (R) written
// (forward training) for the backward.
dnnl::layer_normalization_forward::primitive_desc layer_norm(const dnnl::engine& eng, const memory::desc& md,
                                                             float epsilon);
// dX, dscale and dshift from dY, X, scale, mean and variance.
dnnl::layer_normalization_backward::primitive_desc layer_norm_backward(const dnnl::engine& eng, const memory::desc& md,
                                                                       float epsilon);
// Convolutions (direct, no Winograd, so results round as the reference sums) on the layouts the descs give: the
// spatial geometry, with oneDNN's dilations (0 is none) and the padding before (pad_l) and after (pad_r) each axis.
struct ConvShape {
  memory::dims strides, dilates, pad_l, pad_r;
};
// Y = X * W (+ bias), then with relu y = y > 0 ? y : relu_slope * y: training keeps what the backward passes are made
// against (forward_training). Descs of format any let oneDNN pick its blocked layouts.
dnnl::convolution_forward::primitive_desc conv_forward(const dnnl::engine& eng, const ConvShape& c,
                                                       const memory::desc& src, const memory::desc& wei,
                                                       const memory::desc* bias, const memory::desc& dst, bool training,
                                                       bool relu = false, float relu_slope = 0.f);
// dX from dY and W; dW (and dbias) from X and dY. hint: the forward they belong to.
dnnl::convolution_backward_data::primitive_desc conv_backward_data(
    const dnnl::engine& eng, const ConvShape& c, const memory::desc& diff_src, const memory::desc& wei,
    const memory::desc& diff_dst, const dnnl::convolution_forward::primitive_desc& hint);
dnnl::convolution_backward_weights::primitive_desc conv_backward_weights(
    const dnnl::engine& eng, const ConvShape& c, const memory::desc& src, const memory::desc& diff_wei,
    const memory::desc* diff_bias, const memory::desc& diff_dst, const dnnl::convolution_forward::primitive_desc& hint);
// Pooling, with dilations (2.x: the pooling_v2 primitives; 3.x: pooling_forward and pooling_backward). The window is
// a ConvShape's (oneDNN's dilations: 0 is none) with its kernel. Max keeps, in training, the argmax in a workspace
// that its backward reads.
enum class Pool { Max, AvgIncludePadding, AvgExcludePadding };
using pool_fwd = dnnl::pooling_v2_forward;
using pool_bwd = dnnl::pooling_v2_backward;
pool_fwd::primitive_desc pool_forward(const dnnl::engine& eng, Pool p, const ConvShape& c, const memory::dims& kernel,
                                      const memory::desc& src, const memory::desc& dst, bool training);
pool_bwd::primitive_desc pool_backward(const dnnl::engine& eng, Pool p, const ConvShape& c, const memory::dims& kernel,
                                       const memory::desc& diff_src, const memory::desc& diff_dst,
                                       const pool_fwd::primitive_desc& hint);
// Activations: oneDNN eltwise algorithms under version-neutral names. alpha and beta as the function reads them:
// Clip's bounds (y = min(max(x, alpha), beta), alpha <= beta), Swish's y = x * sigmoid(alpha * x); the others read
// none (HardSwish is y = x * clip(x / 6 + 1/2, 0, 1)).
enum class Activation { Clip, HardSwish, Swish, Mish, GeluErf, GeluTanh };
dnnl::eltwise_forward::primitive_desc activation(const dnnl::engine& eng, const memory::desc& md, Activation f,
                                                 float alpha, float beta, bool training);
// dX from dY and X, or from dY and Y with from_dst (Clip only: dX = dY where alpha < Y < beta, strictly).
dnnl::eltwise_backward::primitive_desc activation_backward(const dnnl::engine& eng, const memory::desc& md,
                                                           Activation f, float alpha, float beta,
                                                           bool from_dst = false);
// dst = src0 op src1, then dst = dst op_k src_k for each post-op k: numpy broadcasting of each src1 and src_k (of
// dst's rank) to dst, which has src0's shape. Comparisons give 1 or 0.
enum class BinaryOp { Max, Min, Mul, Gt, Lt };
dnnl::binary::primitive_desc binary(const dnnl::engine& eng, BinaryOp op, const memory::desc& src0,
                                    const memory::desc& src1, const memory::desc& dst,
                                    const std::vector<std::pair<BinaryOp, memory::desc>>& post = {});
// The argument key of post-op k's second operand in a binary() primitive.
int binary_post_arg(int k);
// y = x > 0 ? x : w * x, w (of x's rank) broadcast to x; backward gives dX and dW (w's shape) from dY, X and W.
dnnl::prelu_forward::primitive_desc prelu(const dnnl::engine& eng, const memory::desc& x, const memory::desc& w,
                                          bool training);
dnnl::prelu_backward::primitive_desc prelu_backward(const dnnl::engine& eng, const memory::desc& x,
                                                    const memory::desc& w);

}  // namespace onnxtrain::dnnl_compat
