// Conv: Y = W * X + B, the cross-correlation of X (N, C, D1..Dr) with W (M, C/group, k1..kr), r = 1 to 3, with
// strides, dilations, pads (explicit, or auto_pad SAME_UPPER, SAME_LOWER, VALID) and groups (depthwise included).
// Shape inference, the forward kernel (oneDNN convolution), its double reference, the gradient rule and its two
// backward kernels: ConvGradData (dX, oneDNN's backward data) and ConvGradWeights (dW and dB, its backward weights).
// The kernels run on the blocked layouts oneDNN picks, and keep activations in them (OpDef::layouts).
#include <string>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

// X: (N, C, D1..Dr); W: (M, C/group, k1..kr). Unknown (symbolic) spatial sizes give unknown output sizes.
struct Geometry : Window {
  int64_t group = 1;
};
Geometry geometry(const ir::Graph& g, const ir::Node& n, const Shape& x, const Shape& w) {
  if (x.size() < 3 || x.size() > 5) g.fail(n, "X must be (N, C, D1[, D2[, D3]]), got " + ir::shape_str(x));
  if (w.size() != x.size()) g.fail(n, "W " + ir::shape_str(w) + " must have X's rank, " + std::to_string(x.size()));
  Geometry geo;
  geo.group = n.attr_i("group", 1);
  if (geo.group < 1) g.fail(n, "group must be positive, got " + std::to_string(geo.group));
  if (w[0] != ir::kUnknown && w[0] % geo.group != 0)
    g.fail(n, "W's " + std::to_string(w[0]) + " output channels do not divide into " + std::to_string(geo.group) +
                  " groups");
  if (x[1] != ir::kUnknown && w[1] != ir::kUnknown && x[1] != w[1] * geo.group)
    g.fail(n, "X has " + std::to_string(x[1]) + " channels but W " + ir::shape_str(w) + " takes " +
                  std::to_string(w[1]) + " per group in " + std::to_string(geo.group) + " groups");
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (n.has("kernel_shape") && ints_attr(g, n, "kernel_shape", kernel.size(), 0) != kernel)
    g.fail(n, "kernel_shape " + ir::shape_str(ints_attr(g, n, "kernel_shape", kernel.size(), 0)) +
                  " differs from W's " + ir::shape_str(kernel));
  static_cast<Window&>(geo) = window_of(g, n, x, kernel, false);
  return geo;
}

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2 || n.inputs.size() > 3 || n.input(0) < 0 || n.input(1) < 0)
    g.fail(n, "expected inputs X, W and optionally B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: (N, C, D1..Dr); W: (M, C/group, k1..kr); B: (M); Y: (N, M, O1..Or).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Geometry geo = geometry(g, n, in[0], in[1]);
  if (n.input(2) >= 0 && (in[2].size() != 1 || (in[2][0] != in[1][0] && in[2][0] != ir::kUnknown)))
    g.fail(n, "B " + ir::shape_str(in[2]) + " must be (" + std::to_string(in[1][0]) + "), one per output channel");
  Shape y = {in[0][0], in[1][0]};
  y.insert(y.end(), geo.out.begin(), geo.out.end());
  return {y};
}

// oneDNN's view of a convolution: plain layouts, W as (group, M/group, C/group, k...) when grouped, dilations less one.
struct Descs {
  dc::ConvShape conv;
  dnnl::memory::desc x, w, b, y;
};
Descs descs(const ir::Graph& g, const ir::Node& n, const Shape& x, const Shape& w, const Shape& y, bool bias) {
  const Geometry geo = geometry(g, n, x, w);
  Descs d;
  d.x = dc::plain(x);
  d.y = dc::plain(y);
  Shape wg = w;
  if (geo.group > 1) {
    wg[0] = w[0] / geo.group;
    wg.insert(wg.begin(), geo.group);
  }
  d.w = dc::plain(wg);
  if (bias) d.b = dc::plain({w[0]});
  d.conv.strides.assign(geo.strides.begin(), geo.strides.end());
  for (int64_t dl : geo.dilations) d.conv.dilates.push_back(dl - 1);
  d.conv.pad_l.assign(geo.pad_begin.begin(), geo.pad_begin.end());
  d.conv.pad_r.assign(geo.pad_end.begin(), geo.pad_end.end());
  return d;
}

dnnl::memory::desc any(const dnnl::memory::desc& md) { return dc::any_like(md); }

// The kernels pick their layouts (format any). Activations and their gradients stay in them from one op with
// OpDef::layouts to the next (CompileCtx::layout); the weights, plain in the parameter buffer, are reordered into
// theirs at each step (they are small beside the activations), and once per plan where they are frozen. A Relu that
// fusion folded into the node (onnxtrain.relu_slope) is the convolution's post-op.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const bool bias = n.input(2) >= 0;
  const int y = n.outputs[0];
  const Descs d = descs(ctx.graph(), n, ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1]), ctx.shape(y), bias);
  const bool relu = n.has("onnxtrain.relu_slope"), block = ctx.may_block(y);
  const float slope = relu ? n.attr_f("onnxtrain.relu_slope", 0.f) : 0.f;
  auto pd = dc::conv_forward(ctx.engine(), d.conv, any(d.x), any(d.w), bias ? &d.b : nullptr, block ? any(d.y) : d.y,
                             true, relu, slope);
  // Inference in the activation layouts training picks: given any, oneDNN 2.6's forward_inference picks brgconv on
  // NHWC, 2.6x slower than jit:avx512_core on nChw16c for the bundled CNN's first convolution (docs/performance.md).
  if (ctx.weights_frozen())
    pd = dc::conv_forward(ctx.engine(), d.conv, pd.src_desc(), any(d.w), bias ? &d.b : nullptr, pd.dst_desc(), false,
                          relu, slope);
  if (pd.dst_desc() != d.y) ctx.set_layout(y, pd.dst_desc());
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, ctx.input(n.inputs[0], pd.src_desc())},
                                                {DNNL_ARG_WEIGHTS, ctx.input(n.inputs[1], pd.weights_desc())},
                                                {DNNL_ARG_DST, ctx.view(y, pd.dst_desc())}};
  if (bias) args[DNNL_ARG_BIAS] = ctx.view(n.inputs[2], d.b);
  steps.push_back({dnnl::convolution_forward(pd), std::move(args)});
}

// Y[n, m, o] = B[m] + sum over c in m's group and kernel offsets q of X[n, c, o*s - pad_begin + q*d] * W[m, c', q]
// (X zero outside its bounds).
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Shape &xs = in[0]->shape, &ws = in[1]->shape, &ys = out[0].shape;
  const Geometry geo = geometry(g, n, xs, ws);
  const size_t r = xs.size() - 2;
  // Spatial sizes padded to three axes of size 1, so one loop nest covers 1-D to 3-D.
  int64_t X[3] = {1, 1, 1}, K[3] = {1, 1, 1}, O[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0, 0, 0};
  for (size_t i = 0; i < r; ++i) {
    X[i] = xs[2 + i], K[i] = ws[2 + i], O[i] = ys[2 + i];
    S[i] = geo.strides[i], D[i] = geo.dilations[i], P[i] = geo.pad_begin[i];
  }
  const int64_t N = xs[0], C = xs[1], M = ws[0], Cg = ws[1], Mg = M / geo.group;
  const auto& x = in[0]->data;
  const auto& w = in[1]->data;
  auto& y = out[0].data;
  for (int64_t b = 0; b < N; ++b)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o0 = 0; o0 < O[0]; ++o0)
        for (int64_t o1 = 0; o1 < O[1]; ++o1)
          for (int64_t o2 = 0; o2 < O[2]; ++o2) {
            double acc = in.size() > 2 && in[2] ? in[2]->data[m] : 0.0;
            for (int64_t c = 0; c < Cg; ++c) {
              const int64_t cx = (m / Mg) * Cg + c;
              for (int64_t q0 = 0; q0 < K[0]; ++q0)
                for (int64_t q1 = 0; q1 < K[1]; ++q1)
                  for (int64_t q2 = 0; q2 < K[2]; ++q2) {
                    const int64_t i0 = o0 * S[0] - P[0] + q0 * D[0], i1 = o1 * S[1] - P[1] + q1 * D[1],
                                  i2 = o2 * S[2] - P[2] + q2 * D[2];
                    if (i0 < 0 || i0 >= X[0] || i1 < 0 || i1 >= X[1] || i2 < 0 || i2 >= X[2]) continue;
                    acc += x[(((b * C + cx) * X[0] + i0) * X[1] + i1) * X[2] + i2] *
                           w[(((m * Cg + c) * K[0] + q0) * K[1] + q1) * K[2] + q2];
                  }
            }
            y[(((b * M + m) * O[0] + o0) * O[1] + o1) * O[2] + o2] = acc;
          }
}

// Y = conv(X, W) + B: dX = conv_transpose(dY, W), dW = the correlation of X with dY, dB = dY summed over N and the
// spatial axes. ConvGradData reads X for its shape alone.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0) return;
  if (b.needs(n, 0)) b.set_dX(n, 0, b.emit("ConvGradData", {dY, n.inputs[0], n.inputs[1]}, n.attrs));
  const bool bias = n.input(2) >= 0 && b.needs(n, 2);
  if (!b.needs(n, 1) && !bias) return;
  const std::vector<int> d = b.emit_n("ConvGradWeights", {dY, n.inputs[0], n.inputs[1]}, n.attrs, bias ? 2 : 1);
  if (b.needs(n, 1)) b.set_dX(n, 1, d[0]);
  if (bias) b.set_dX(n, 2, d[1]);
}

// ConvGradData(dY, X, W) -> dX: X's shape.
std::vector<Shape> grad_data_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

// The forward primitive descriptor a backward one is made against (oneDNN's hint), in the layouts it picks.
auto hint(CompileCtx& ctx, const Descs& d, bool bias) {
  return dc::conv_forward(ctx.engine(), d.conv, any(d.x), any(d.w), bias ? &d.b : nullptr, any(d.y), true);
}

void grad_data_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const int dX = n.outputs[0];
  const Descs d = descs(ctx.graph(), n, ctx.shape(n.inputs[1]), ctx.shape(n.inputs[2]), ctx.shape(n.inputs[0]), false);
  const auto pd = dc::conv_backward_data(ctx.engine(), d.conv, ctx.may_block(dX) ? any(d.x) : d.x, any(d.w), any(d.y),
                                         hint(ctx, d, false));
  if (pd.diff_src_desc() != d.x) ctx.set_layout(dX, pd.diff_src_desc());
  steps.push_back({dnnl::convolution_backward_data(pd),
                   {{DNNL_ARG_DIFF_DST, ctx.input(n.inputs[0], pd.diff_dst_desc())},
                    {DNNL_ARG_WEIGHTS, ctx.input(n.inputs[2], pd.weights_desc())},
                    {DNNL_ARG_DIFF_SRC, ctx.view(dX, pd.diff_src_desc())}}});
}

// ConvGradWeights(dY, X, W) -> dW (W's shape)[, dB (M)]. W is read for its shape alone.
std::vector<Shape> grad_weights_infer(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  if (n.outputs.size() > 1) return {in[2], {in[2][0]}};
  return {in[2]};
}

// dW in the layout the kernel picks, reordered into the plain gradient buffer.
void grad_weights_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const bool bias = n.outputs.size() > 1 && n.outputs[1] >= 0;
  const Descs d = descs(ctx.graph(), n, ctx.shape(n.inputs[1]), ctx.shape(n.inputs[2]), ctx.shape(n.inputs[0]), bias);
  const auto pd = dc::conv_backward_weights(ctx.engine(), d.conv, any(d.x), any(d.w), bias ? &d.b : nullptr, any(d.y),
                                            hint(ctx, d, bias));
  std::vector<Step> after;
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_DIFF_DST, ctx.input(n.inputs[0], pd.diff_dst_desc())},
      {DNNL_ARG_SRC, ctx.input(n.inputs[1], pd.src_desc())},
      {DNNL_ARG_DIFF_WEIGHTS, written(ctx, n.outputs[0], pd.diff_weights_desc(), after)}};
  if (bias) args[DNNL_ARG_DIFF_BIAS] = ctx.view(n.outputs[1], d.b);
  steps.push_back({dnnl::convolution_backward_weights(pd), std::move(args)});
  for (Step& s : after) steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kConv{
    .type = "Conv",
    .versions = {1, 11},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .layouts = true,
    // Odd channel counts, strides that do not divide the input, pads larger than the kernel, groups (depthwise),
    // dilations, each auto_pad, 1-D and 3-D, and no bias.
    .cases = {
        {.opset = 1, .shapes = {{2, 3, 7, 6}, {5, 3, 3, 3}, {5}}},
        {.opset = 1,
         .shapes = {{1, 4, 9, 8}, {6, 2, 3, 2}},
         .attrs = {{"group", attr(2)}, {"strides", attr({2, 3})}, {"pads", attr({1, 0, 2, 1})}}},
        {.opset = 11,
         .shapes = {{2, 3, 5, 5}, {3, 1, 2, 2}, {3}},
         .attrs = {{"group", attr(3)}, {"pads", attr({3, 3, 3, 3})}}},
        {.opset = 11,
         .shapes = {{1, 2, 9, 7}, {3, 2, 3, 3}, {3}},
         .attrs = {{"dilations", attr({2, 1})}, {"strides", attr({1, 2})}, {"auto_pad", attr_string("SAME_UPPER")}}},
        {.opset = 11,
         .shapes = {{1, 2, 6, 5}, {2, 2, 2, 2}},
         .attrs = {{"strides", attr({2, 2})}, {"auto_pad", attr_string("SAME_LOWER")}}},
        {.opset = 11,
         .shapes = {{2, 3, 8}, {4, 3, 3}, {4}},
         .attrs = {{"auto_pad", attr_string("VALID")}, {"strides", attr({2})}}},
        {.opset = 11,
         .shapes = {{1, 2, 4, 3, 5}, {3, 2, 2, 2, 3}, {3}},
         .attrs = {{"pads", attr({0, 1, 1, 1, 0, 1})}, {"kernel_shape", attr({2, 2, 3})}}}}};
extern const OpDef kConvGradData{.type = "ConvGradData",
                                 .versions = {1},
                                 .check = no_check,
                                 .infer = grad_data_infer,
                                 .forward = grad_data_forward,
                                 .internal = true,
                                 .layouts = true};
extern const OpDef kConvGradWeights{.type = "ConvGradWeights",
                                    .versions = {1},
                                    .check = no_check,
                                    .infer = grad_weights_infer,
                                    .forward = grad_weights_forward,
                                    .internal = true,
                                    .layouts = true};

}  // namespace onnxtrain::ops
