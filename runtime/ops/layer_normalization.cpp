// LayerNormalization (opset 17): each row of X viewed as (R, C), R = prod(d[:axis]), C = prod(d[axis:]), normalized
// by its own mean and variance: Y = (X - mean) / sqrt(var + epsilon) * Scale + B; outputs Mean and InvStdDev
// (optional), shaped d[:axis] followed by ones. Computes in float32 whatever stash_type says (1, float, is what
// PyTorch writes). oneDNN's layer_normalization forward and backward (dX, dScale, dB); no gradient flows from Mean or
// InvStdDev.
#include <cmath>
#include <string>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

constexpr float kEpsilon = 1e-5f;
constexpr size_t kVariance = 3;  // beyond ONNX's outputs: the biased variance per row, which the gradient rule reads

float epsilon_of(const ir::Node& n) { return n.attr_f("epsilon", kEpsilon); }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() < 2 || n.inputs.size() > 3 || n.input(0) < 0 || n.input(1) < 0)
    g.fail(n, "expected inputs X, Scale and optionally B");
  if (n.outputs.empty() || n.outputs[0] < 0 || n.outputs.size() > 3)
    g.fail(n, "expected Y and optionally Mean and InvStdDev");
  if (!(epsilon_of(n) >= 0.f)) g.fail(n, "epsilon must be >= 0");
}

// The normalized axis in [0, rank), and X as (R, C).
struct Rows {
  int axis;
  int64_t R, C;
};
Rows rows_of(const ir::Graph& g, const ir::Node& n, const Shape& x) {
  Rows r{normalize_axis(g, n, n.attr_i("axis", -1), x.size()), 1, 1};
  for (size_t i = 0; i < x.size(); ++i) (static_cast<int>(i) < r.axis ? r.R : r.C) *= x[i];
  return r;
}

// X: (d0, ..., dr-1); Scale, B: d[axis:] (leading ones allowed); Y: X's shape; Mean, InvStdDev: d[:axis] then ones.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  const int axis = normalize_axis(g, n, n.attr_i("axis", -1), x.size());
  const Shape normalized(x.begin() + axis, x.end());
  for (size_t k = 1; k < in.size(); ++k) {
    if (n.input(k) < 0) continue;
    const Shape& s = in[k];
    bool ok = s.size() <= normalized.size();
    for (size_t i = 0; ok && i < s.size(); ++i) {
      const int64_t want = normalized[normalized.size() - s.size() + i];
      ok = s[i] == ir::kUnknown || want == ir::kUnknown || s[i] == want;
    }
    for (size_t i = 0; ok && i + s.size() < normalized.size(); ++i) ok = normalized[i] == 1;
    if (!ok)
      g.fail(n, std::string(k == 1 ? "Scale " : "B ") + ir::shape_str(s) + " must be X's dims from axis " +
                    std::to_string(axis) + ", " + ir::shape_str(normalized));
  }
  Shape stats(x.begin(), x.begin() + axis);
  stats.resize(x.size(), 1);
  std::vector<Shape> out(std::max<size_t>(n.outputs.size(), 1), stats);
  out[0] = x;
  if (out.size() > kVariance) out[kVariance] = Shape{stats};
  return out;
}

// mean, var over each row of (R, C); Y = (X - mean) / sqrt(var + eps) * Scale + B; InvStdDev = 1 / sqrt(var + eps).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Rows r = rows_of(ctx.graph(), n, ctx.shape(n.inputs[0]));
  const auto md = dnnl_compat::plain({r.R, r.C}), cmd = dnnl_compat::plain({r.C}), rmd = dnnl_compat::plain({r.R});
  const float eps = epsilon_of(n);
  const auto out = [&](size_t k) {
    return k < n.outputs.size() && n.outputs[k] >= 0 ? ctx.view(n.outputs[k], rmd) : ctx.scratch(rmd);
  };
  dnnl::memory mean = out(1), var = out(kVariance);
  dnnl::memory shift = n.input(2) >= 0 ? ctx.view(n.inputs[2], cmd) : ctx.constant(cmd, 0.f);
  steps.push_back({dnnl::layer_normalization_forward(dnnl_compat::layer_norm(ctx.engine(), md, eps)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_DST, ctx.view(n.outputs[0], md)},
                    {DNNL_ARG_SCALE, ctx.view(n.inputs[1], cmd)},
                    {DNNL_ARG_SHIFT, shift},
                    {DNNL_ARG_MEAN, mean},
                    {DNNL_ARG_VARIANCE, var}}});
  if (n.outputs.size() < 3 || n.outputs[2] < 0) return;
  dnnl::memory inv = ctx.view(n.outputs[2], rmd);
  const int64_t R = r.R;
  Step s;
  s.host = [=]() {
    const float* V = static_cast<const float*>(var.get_data_handle());
    float* I = static_cast<float*>(inv.get_data_handle());
    for (int64_t i = 0; i < R; ++i) I[i] = 1.f / std::sqrt(V[i] + eps);
  };
  steps.push_back(std::move(s));
}

// Per row of (R, C): mean = sum(x) / C, var = sum((x - mean)^2) / C, Y = (x - mean) / sqrt(var + eps) * Scale + B.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const Rows r = rows_of(g, n, in[0]->shape);
  const std::vector<double>& x = in[0]->data;
  const double eps = epsilon_of(n);
  const RefTensor* bias = in.size() > 2 ? in[2] : nullptr;
  for (int64_t i = 0; i < r.R; ++i) {
    double s = 0, q = 0;
    for (int64_t c = 0; c < r.C; ++c) s += x[i * r.C + c];
    const double mean = s / double(r.C);
    for (int64_t c = 0; c < r.C; ++c) q += (x[i * r.C + c] - mean) * (x[i * r.C + c] - mean);
    const double var = q / double(r.C), inv = 1 / std::sqrt(var + eps);
    for (int64_t c = 0; c < r.C; ++c)
      out[0].data[i * r.C + c] = (x[i * r.C + c] - mean) * inv * in[1]->data[c] + (bias ? bias->data[c] : 0.0);
    const double stats[] = {0, mean, inv, var};
    for (size_t k = 1; k < out.size() && k <= kVariance; ++k) out[k].data[i] = stats[k];
  }
}

// xhat = (x - mean) / sqrt(var + eps) per row, Y = xhat * Scale + B: dB = sum over rows of dY, dScale = sum over rows
// of dY * xhat, dX = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps) with g = dY * Scale, means along the row.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  if (dY < 0 || !(b.needs(n, 0) || b.needs(n, 1) || b.needs(n, 2))) return;
  const std::vector<int> d =
      b.emit_n("LayerNormalizationGrad", {dY, n.inputs[0], n.inputs[1], n.outputs[1], n.outputs[kVariance], n.input(2)},
               {{"epsilon", ir::Attr::of(epsilon_of(n))}, {"axis", ir::Attr::of(n.attr_i("axis", -1))}}, 3);
  for (size_t k = 0; k < 3; ++k)
    if (b.needs(n, k)) b.set_dX(n, k, d[k]);
}

// LayerNormalizationGrad(dY, X, Scale, Mean, Variance, B) -> dX, dScale, dB (oneDNN's backward reads B too; absent:
// zeros). dY, X, dX: X's shape; dScale, dB: Scale's.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) {
  return {in[1], in[2], in[2]};
}

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Rows r = rows_of(ctx.graph(), n, ctx.shape(n.inputs[1]));
  const auto md = dnnl_compat::plain({r.R, r.C}), cmd = dnnl_compat::plain({r.C}), rmd = dnnl_compat::plain({r.R});
  const float eps = epsilon_of(n);
  steps.push_back({dnnl::layer_normalization_backward(dnnl_compat::layer_norm_backward(ctx.engine(), md, eps)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {DNNL_ARG_SRC, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_SCALE, ctx.view(n.inputs[2], cmd)},
                    {DNNL_ARG_SHIFT, n.input(5) >= 0 ? ctx.view(n.inputs[5], cmd) : ctx.constant(cmd, 0.f)},
                    {DNNL_ARG_MEAN, ctx.view(n.inputs[3], rmd)},
                    {DNNL_ARG_VARIANCE, ctx.view(n.inputs[4], rmd)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)},
                    {DNNL_ARG_DIFF_SCALE, ctx.view(n.outputs[1], cmd)},
                    {DNNL_ARG_DIFF_SHIFT, ctx.view(n.outputs[2], cmd)}}});
}

}  // namespace

extern const OpDef kLayerNormalization{
    .type = "LayerNormalization",
    .versions = {17},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .grad_outputs = kVariance + 1,
    .reference = reference,
    .cases = {{.opset = 17, .shapes = {{3, 5}, {5}, {5}}},
              {.opset = 17, .shapes = {{2, 3, 4}, {3, 4}, {3, 4}}, .attrs = {{"axis", attr(1)}}},
              {.opset = 17, .shapes = {{2, 7, 3}, {3}}, .attrs = {{"epsilon", attr(1e-2f)}}},
              {.opset = 17, .shapes = {{4, 3}, {4, 3}, {4, 3}}, .attrs = {{"axis", attr(0)}}}}};
extern const OpDef kLayerNormalizationGrad{.type = "LayerNormalizationGrad",
                                           .versions = {1},
                                           .check = no_check,
                                           .infer = grad_infer,
                                           .forward = grad_forward,
                                           .internal = true};

}  // namespace onnxtrain::ops
