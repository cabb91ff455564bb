// oneDNN 2.x primitive construction behind version-neutral helpers. See dnnl_compat.h.
#include "runtime/exec/dnnl_compat.h"

#include <stdexcept>

namespace onnxtrain::dnnl_compat {

static_assert(ir::kMaxRank <= DNNL_MAX_NDIMS, "every shape the IR admits must fit a oneDNN memory descriptor");

using dt = memory::data_type;
using prop = dnnl::prop_kind;
using alg = dnnl::algorithm;

memory::desc bytes(int64_t n) { return memory::desc({n}, dt::u8, memory::format_tag::a); }

memory::desc plain(const ir::Shape& dims) {
  if (dims.empty()) return memory::desc({1}, dt::f32, memory::format_tag::a);
  memory::dims strides(dims.size());
  int64_t s = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = s;
    s *= dims[i] > 0 ? dims[i] : 1;
  }
  return memory::desc(memory::dims(dims.begin(), dims.end()), dt::f32, strides);
}

memory::desc strided(const memory::dims& dims, const memory::dims& strides) {
  return memory::desc(dims, dt::f32, strides);
}

dnnl::matmul::primitive_desc matmul(const dnnl::engine& eng, const memory::desc& src, const memory::desc& wei,
                                    const memory::desc& dst, const MatmulEpilogue& ep) {
  dnnl::primitive_attr attr;
  if (ep.scale != 1.f) attr.set_output_scales(0, {ep.scale});
  dnnl::post_ops po;
  if (ep.accumulate) po.append_sum(1.f);
  if (ep.add) po.append_binary(alg::binary_add, *ep.add);
  if (ep.relu) po.append_eltwise(1.f, alg::eltwise_relu, ep.relu_slope, 0.f);
  attr.set_post_ops(po);
  dnnl::matmul::desc d(src, wei, dst);
  return dnnl::matmul::primitive_desc(d, attr, eng);
}

InnerProductTraining inner_product_training(const dnnl::engine& eng, int64_t batch, int64_t in, int64_t out) {
  const memory::desc x({batch, in}, dt::f32, memory::format_tag::nc), y({batch, out}, dt::f32, memory::format_tag::nc);
  const memory::desc w({out, in}, dt::f32, memory::format_tag::any);
  dnnl::inner_product_forward::primitive_desc fwd(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, x, w, y), eng);
  dnnl::inner_product_backward_weights::primitive_desc bw(
      dnnl::inner_product_backward_weights::desc(x, fwd.weights_desc(), y), eng, fwd);
  dnnl::inner_product_backward_data::primitive_desc bd(
      dnnl::inner_product_backward_data::desc(x, fwd.weights_desc(), y), eng, fwd);
  return {fwd, bw, bd};
}

dnnl::inner_product_backward_data::primitive_desc product_as_backward_data(const dnnl::engine& eng, int64_t M,
                                                                           int64_t K, int64_t N) {
  const memory::desc a({M, K}, dt::f32, memory::format_tag::nc), y({M, N}, dt::f32, memory::format_tag::nc);
  const memory::desc b({K, N}, dt::f32, memory::format_tag::oi);
  dnnl::inner_product_forward::primitive_desc hint(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, y, b, a), eng);
  return dnnl::inner_product_backward_data::primitive_desc(dnnl::inner_product_backward_data::desc(y, b, a), eng, hint);
}

dnnl::inner_product_forward::primitive_desc inner_product_inference(const dnnl::engine& eng, const memory::desc& src,
                                                                    const memory::desc& weights_any,
                                                                    const memory::desc* bias, const memory::desc& dst,
                                                                    const MatmulEpilogue& ep) {
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  if (ep.relu) po.append_eltwise(1.f, alg::eltwise_relu, ep.relu_slope, 0.f);
  attr.set_post_ops(po);
  const auto prop = dnnl::prop_kind::forward_inference;
  auto d = bias ? dnnl::inner_product_forward::desc(prop, src, weights_any, *bias, dst)
                : dnnl::inner_product_forward::desc(prop, src, weights_any, dst);
  return dnnl::inner_product_forward::primitive_desc(d, attr, eng);
}

memory::desc any_layout(const memory::dims& dims) { return memory::desc(dims, dt::f32, memory::format_tag::any); }
memory::desc any_like(const memory::desc& md) { return any_layout(md.dims()); }
memory::desc plain_like(const memory::desc& md) { return plain(md.dims()); }
bool is_f32_of(const memory::desc& md, const ir::Shape& dims) {
  return md.data_type() == dt::f32 && md.dims() == memory::dims(dims.begin(), dims.end());
}

memory::desc as_bf16(const memory::dims& dims) {
  return memory::desc(dims, dt::bf16, dims.size() == 2 ? memory::format_tag::ab : memory::format_tag::a);
}

bool has_native_bf16() {
  auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

dnnl::binary::primitive_desc binary_add(const dnnl::engine& eng, const memory::desc& src0, const memory::desc& src1,
                                        const memory::desc& dst, const MatmulEpilogue& relu) {
  dnnl::primitive_attr attr;
  if (relu.relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, alg::eltwise_relu, relu.relu_slope, 0.f);
    attr.set_post_ops(po);
  }
  return dnnl::binary::primitive_desc(dnnl::binary::desc(alg::binary_add, src0, src1, dst), attr, eng);
}

dnnl::eltwise_forward::primitive_desc pow(const dnnl::engine& eng, const memory::desc& md, float alpha, float beta) {
  return dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(prop::forward_inference, alg::eltwise_pow, md, alpha, beta), eng);
}

dnnl::eltwise_forward::primitive_desc abs(const dnnl::engine& eng, const memory::desc& md) {
  return dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(prop::forward_inference, alg::eltwise_abs, md, 0.f, 0.f), eng);
}

dnnl::reduction::primitive_desc reduction(const dnnl::engine& eng, Reduction op, const memory::desc& src,
                                          const memory::desc& dst) {
  // norm_lp_sum: (sum |src|^p + eps)^(1/p), here p = 2 and eps = 0.
  const alg a = op == Reduction::Sum    ? alg::reduction_sum
                : op == Reduction::Mean ? alg::reduction_mean
                : op == Reduction::Max  ? alg::reduction_max
                                        : alg::reduction_norm_lp_sum;
  const float p = op == Reduction::L2 ? 2.f : 0.f;
  return dnnl::reduction::primitive_desc(dnnl::reduction::desc(a, src, dst, p, 0.f), eng);
}

dnnl::reorder::primitive_desc reorder(const dnnl::engine& eng, const memory::desc& src, const memory::desc& dst) {
  return dnnl::reorder::primitive_desc(eng, src, eng, dst);
}

int matmul_add_arg() { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1; }

dnnl::eltwise_forward::primitive_desc linear(const dnnl::engine& eng, const memory::desc& md, float alpha, float beta) {
  dnnl::eltwise_forward::desc d(prop::forward_inference, alg::eltwise_linear, md, alpha, beta);
  return dnnl::eltwise_forward::primitive_desc(d, eng);
}

dnnl::eltwise_forward::primitive_desc relu(const dnnl::engine& eng, const memory::desc& md, float slope,
                                           bool training) {
  dnnl::eltwise_forward::desc d(training ? prop::forward_training : prop::forward_inference, alg::eltwise_relu, md,
                                slope, 0.f);
  return dnnl::eltwise_forward::primitive_desc(d, eng);
}

softmax_fwd_pd softmax(const dnnl::engine& eng, const memory::desc& md, int axis, bool training, bool log) {
  softmax_fwd::desc d(training ? prop::forward_training : prop::forward_inference,
                      log ? alg::softmax_log : alg::softmax_accurate, md, md, axis);
  return softmax_fwd_pd(d, eng);
}

namespace {
alg eltwise_alg(Eltwise f, bool from_dst) {
  switch (f) {
    case Eltwise::Logistic: return from_dst ? alg::eltwise_logistic_use_dst_for_bwd : alg::eltwise_logistic;
    case Eltwise::Tanh: return from_dst ? alg::eltwise_tanh_use_dst_for_bwd : alg::eltwise_tanh;
    case Eltwise::Exp: return from_dst ? alg::eltwise_exp_use_dst_for_bwd : alg::eltwise_exp;
    case Eltwise::Sqrt: return from_dst ? alg::eltwise_sqrt_use_dst_for_bwd : alg::eltwise_sqrt;
    case Eltwise::Elu: return from_dst ? alg::eltwise_elu_use_dst_for_bwd : alg::eltwise_elu;
    case Eltwise::Abs: return alg::eltwise_abs;
    case Eltwise::Log: return alg::eltwise_log;
    case Eltwise::Square: return alg::eltwise_square;
    case Eltwise::SoftRelu: return alg::eltwise_soft_relu;
    case Eltwise::Linear: return alg::eltwise_linear;
    case Eltwise::Pow: return alg::eltwise_pow;
    case Eltwise::Clip: return alg::eltwise_clip;
  }
  return alg::eltwise_linear;
}
alg binary_alg(Binary op) {
  switch (op) {
    case Binary::Add: return alg::binary_add;
    case Binary::Sub: return alg::binary_sub;
    case Binary::Mul: return alg::binary_mul;
    case Binary::Div: return alg::binary_div;
    case Binary::Max: return alg::binary_max;
    case Binary::Eq: return alg::binary_eq;
    case Binary::Ne: return alg::binary_ne;
    case Binary::Greater: return alg::binary_gt;
  }
  return alg::binary_add;
}
}  // namespace

dnnl::eltwise_forward::primitive_desc eltwise(const dnnl::engine& eng, const memory::desc& md, Eltwise f, float alpha,
                                              float beta) {
  return dnnl::eltwise_forward::primitive_desc(
      dnnl::eltwise_forward::desc(prop::forward_inference, eltwise_alg(f, false), md, alpha, beta), eng);
}

dnnl::eltwise_backward::primitive_desc eltwise_backward(const dnnl::engine& eng, const memory::desc& md, Eltwise f,
                                                        float alpha, float beta, bool from_dst) {
  const alg a = eltwise_alg(f, from_dst);
  dnnl::eltwise_forward::primitive_desc hint(dnnl::eltwise_forward::desc(prop::forward_training, a, md, alpha, beta),
                                             eng);
  return dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(a, md, md, alpha, beta), eng, hint);
}

dnnl::binary::primitive_desc binary(const dnnl::engine& eng, Binary op, const memory::desc& src0,
                                    const memory::desc& src1, const memory::desc& dst,
                                    const std::vector<PostOp>& post) {
  dnnl::post_ops po;
  for (size_t i = 0; i < post.size(); ++i) {
    const PostOp& p = post[i];
    if (p.binary) {
      po.append_binary(binary_alg(p.op), dst);
      continue;
    }
    for (size_t j = 0; j < i; ++j)
      if (!post[j].binary && post[j].f == p.f)
        throw std::invalid_argument("dnnl_compat::binary: an eltwise post-op repeated, which oneDNN 2.6 miscomputes");
    po.append_eltwise(p.scale, eltwise_alg(p.f, false), p.alpha, p.beta);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  return dnnl::binary::primitive_desc(dnnl::binary::desc(binary_alg(op), src0, src1, dst), attr, eng);
}

int binary_post_op_arg(size_t index) {
  return DNNL_ARG_ATTR_MULTIPLE_POST_OP(static_cast<int>(index)) | DNNL_ARG_SRC_1;
}

dnnl::eltwise_backward::primitive_desc relu_backward(const dnnl::engine& eng, const memory::desc& md, float slope,
                                                     bool from_dst) {
  alg a = from_dst ? alg::eltwise_relu_use_dst_for_bwd : alg::eltwise_relu;
  dnnl::eltwise_forward::primitive_desc hint(dnnl::eltwise_forward::desc(prop::forward_training, a, md, slope, 0.f),
                                             eng);
  return dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(a, md, md, slope, 0.f), eng, hint);
}

softmax_bwd_pd softmax_backward(const dnnl::engine& eng, const memory::desc& md, int axis, bool log) {
  alg a = log ? alg::softmax_log : alg::softmax_accurate;
  softmax_fwd_pd hint(softmax_fwd::desc(prop::forward_training, a, md, md, axis), eng);
  return softmax_bwd_pd(softmax_bwd::desc(a, md, md, md, axis), eng, hint);
}

dnnl::sum::primitive_desc sum(const dnnl::engine& eng, const memory::desc& md, size_t n) {
  return dnnl::sum::primitive_desc(md, std::vector<float>(n, 1.f), std::vector<memory::desc>(n, md), eng);
}

dnnl::reduction::primitive_desc reduce_sum(const dnnl::engine& eng, const memory::desc& src, const memory::desc& dst) {
  return dnnl::reduction::primitive_desc(dnnl::reduction::desc(alg::reduction_sum, src, dst, 0.f, 0.f), eng);
}

namespace {
dnnl::normalization_flags norm_flags(bool global_stats) {
  dnnl::normalization_flags f = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  return global_stats ? f | dnnl::normalization_flags::use_global_stats : f;
}
}  // namespace

dnnl::batch_normalization_forward::primitive_desc batch_norm(const dnnl::engine& eng, const memory::desc& md,
                                                             float epsilon, bool global_stats) {
  return dnnl::batch_normalization_forward::primitive_desc(
      dnnl::batch_normalization_forward::desc(global_stats ? prop::forward_inference : prop::forward_training, md,
                                              epsilon, norm_flags(global_stats)),
      eng);
}

dnnl::batch_normalization_backward::primitive_desc batch_norm_backward(const dnnl::engine& eng, const memory::desc& md,
                                                                       float epsilon, bool global_stats) {
  dnnl::batch_normalization_forward::primitive_desc hint(
      dnnl::batch_normalization_forward::desc(prop::forward_training, md, epsilon, norm_flags(global_stats)), eng);
  return dnnl::batch_normalization_backward::primitive_desc(
      dnnl::batch_normalization_backward::desc(prop::backward, md, md, epsilon, norm_flags(global_stats)), eng, hint);
}

namespace {
memory::desc row_stats(const memory::desc& md) { return memory::desc({md.dims()[0]}, dt::f32, memory::format_tag::a); }
}  // namespace

dnnl::layer_normalization_forward::primitive_desc layer_norm(const dnnl::engine& eng, const memory::desc& md,
                                                             float epsilon) {
  return dnnl::layer_normalization_forward::primitive_desc(
      dnnl::layer_normalization_forward::desc(prop::forward_training, md, row_stats(md), epsilon, norm_flags(false)),
      eng);
}

dnnl::layer_normalization_backward::primitive_desc layer_norm_backward(const dnnl::engine& eng, const memory::desc& md,
                                                                       float epsilon) {
  return dnnl::layer_normalization_backward::primitive_desc(
      dnnl::layer_normalization_backward::desc(prop::backward, md, md, row_stats(md), epsilon, norm_flags(false)), eng,
      layer_norm(eng, md, epsilon));
}

dnnl::convolution_forward::primitive_desc conv_forward(const dnnl::engine& eng, const ConvShape& c,
                                                       const memory::desc& src, const memory::desc& wei,
                                                       const memory::desc* bias, const memory::desc& dst, bool training,
                                                       bool relu, float relu_slope) {
  const prop p = training ? prop::forward_training : prop::forward_inference;
  using d = dnnl::convolution_forward::desc;
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops post;
    post.append_eltwise(1.f, alg::eltwise_relu, relu_slope, 0.f);
    attr.set_post_ops(post);
  }
  return {bias ? d(p, alg::convolution_direct, src, wei, *bias, dst, c.strides, c.dilates, c.pad_l, c.pad_r)
               : d(p, alg::convolution_direct, src, wei, dst, c.strides, c.dilates, c.pad_l, c.pad_r),
          attr, eng};
}

dnnl::convolution_backward_data::primitive_desc conv_backward_data(
    const dnnl::engine& eng, const ConvShape& c, const memory::desc& diff_src, const memory::desc& wei,
    const memory::desc& diff_dst, const dnnl::convolution_forward::primitive_desc& hint) {
  return {dnnl::convolution_backward_data::desc(alg::convolution_direct, diff_src, wei, diff_dst, c.strides, c.dilates,
                                                c.pad_l, c.pad_r),
          eng, hint};
}

dnnl::convolution_backward_weights::primitive_desc conv_backward_weights(
    const dnnl::engine& eng, const ConvShape& c, const memory::desc& src, const memory::desc& diff_wei,
    const memory::desc* diff_bias, const memory::desc& diff_dst,
    const dnnl::convolution_forward::primitive_desc& hint) {
  using d = dnnl::convolution_backward_weights::desc;
  return {diff_bias
              ? d(alg::convolution_direct, src, diff_wei, *diff_bias, diff_dst, c.strides, c.dilates, c.pad_l, c.pad_r)
              : d(alg::convolution_direct, src, diff_wei, diff_dst, c.strides, c.dilates, c.pad_l, c.pad_r),
          eng, hint};
}

namespace {
alg pool_alg(Pool p) {
  switch (p) {
    case Pool::Max: return alg::pooling_max;
    case Pool::AvgIncludePadding: return alg::pooling_avg_include_padding;
    case Pool::AvgExcludePadding: return alg::pooling_avg_exclude_padding;
  }
  return alg::pooling_max;
}
}  // namespace

pool_fwd::primitive_desc pool_forward(const dnnl::engine& eng, Pool p, const ConvShape& c, const memory::dims& kernel,
                                      const memory::desc& src, const memory::desc& dst, bool training) {
  return {pool_fwd::desc(training ? prop::forward_training : prop::forward_inference, pool_alg(p), src, dst, c.strides,
                         kernel, c.dilates, c.pad_l, c.pad_r),
          eng};
}

pool_bwd::primitive_desc pool_backward(const dnnl::engine& eng, Pool p, const ConvShape& c, const memory::dims& kernel,
                                       const memory::desc& diff_src, const memory::desc& diff_dst,
                                       const pool_fwd::primitive_desc& hint) {
  return {pool_bwd::desc(pool_alg(p), diff_src, diff_dst, c.strides, kernel, c.dilates, c.pad_l, c.pad_r), eng, hint};
}

namespace {
alg activation_alg(Activation f, bool from_dst) {
  switch (f) {
    case Activation::Clip: return from_dst ? alg::eltwise_clip_v2_use_dst_for_bwd : alg::eltwise_clip_v2;
    case Activation::HardSwish: return alg::eltwise_hardswish;
    case Activation::Swish: return alg::eltwise_swish;
    case Activation::Mish: return alg::eltwise_mish;
    case Activation::GeluErf: return alg::eltwise_gelu_erf;
    case Activation::GeluTanh: return alg::eltwise_gelu_tanh;
  }
  return alg::eltwise_linear;
}
alg binary_alg(BinaryOp op) {
  switch (op) {
    case BinaryOp::Max: return alg::binary_max;
    case BinaryOp::Min: return alg::binary_min;
    case BinaryOp::Mul: return alg::binary_mul;
    case BinaryOp::Gt: return alg::binary_gt;
    case BinaryOp::Lt: return alg::binary_lt;
  }
  return alg::binary_add;
}
}  // namespace

dnnl::eltwise_forward::primitive_desc activation(const dnnl::engine& eng, const memory::desc& md, Activation f,
                                                 float alpha, float beta, bool training) {
  if (f == Activation::HardSwish) alpha = 1.f / 6, beta = 0.5f;  // 2.x ignores them; 3.x reads them
  dnnl::eltwise_forward::desc d(training ? prop::forward_training : prop::forward_inference, activation_alg(f, false),
                                md, alpha, beta);
  return dnnl::eltwise_forward::primitive_desc(d, eng);
}

dnnl::eltwise_backward::primitive_desc activation_backward(const dnnl::engine& eng, const memory::desc& md,
                                                           Activation f, float alpha, float beta, bool from_dst) {
  const alg a = activation_alg(f, from_dst);
  if (f == Activation::HardSwish) alpha = 1.f / 6, beta = 0.5f;
  dnnl::eltwise_forward::primitive_desc hint(dnnl::eltwise_forward::desc(prop::forward_training, a, md, alpha, beta),
                                             eng);
  return dnnl::eltwise_backward::primitive_desc(dnnl::eltwise_backward::desc(a, md, md, alpha, beta), eng, hint);
}

dnnl::binary::primitive_desc binary(const dnnl::engine& eng, BinaryOp op, const memory::desc& src0,
                                    const memory::desc& src1, const memory::desc& dst,
                                    const std::vector<std::pair<BinaryOp, memory::desc>>& post) {
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  for (const auto& [p, md] : post) po.append_binary(binary_alg(p), md);
  attr.set_post_ops(po);
  return dnnl::binary::primitive_desc(dnnl::binary::desc(binary_alg(op), src0, src1, dst), attr, eng);
}

int binary_post_arg(int k) { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(k) | DNNL_ARG_SRC_1; }

dnnl::prelu_forward::primitive_desc prelu(const dnnl::engine& eng, const memory::desc& x, const memory::desc& w,
                                          bool training) {
  return dnnl::prelu_forward::primitive_desc(
      dnnl::prelu_forward::desc(training ? prop::forward_training : prop::forward_inference, x, w), eng);
}

dnnl::prelu_backward::primitive_desc prelu_backward(const dnnl::engine& eng, const memory::desc& x,
                                                    const memory::desc& w) {
  dnnl::prelu_forward::primitive_desc hint(dnnl::prelu_forward::desc(prop::forward_training, x, w), eng);
  return dnnl::prelu_backward::primitive_desc(dnnl::prelu_backward::desc(x, w, x, w), eng, hint);
}

}  // namespace onnxtrain::dnnl_compat
