// SoftmaxCrossEntropyLoss (internal): the loss and its gradient from logits in one host kernel, as
// torch.nn.functional.cross_entropy (class weights, label smoothing, ignore_index, probability targets). Autodiff
// feeds it the input of a final Softmax (fused: the Softmax backward is skipped) or the model's own logits output.
// The loss is computed from log-sum-exp, never from log(p), so it cannot take log(0). It divides by the normalizer it
// is fed (loss_normalizer's), not by a count of its own, so that accumulated parts add up to the whole batch's mean.
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: (N, C) logits; T: (N) class indices (as float) or (N, C) class probabilities; D: () the normalizer, if fed.
// loss: (); dX: (N, C).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &x = in[0], &t = in[1];
  if (x.size() != 2) g.fail(n, "cross-entropy needs (N, C) scores, found " + ir::shape_str(x));
  bool ok = (t.size() == 1 && t[0] == x[0]) || t == x;
  if (!ok)
    g.fail(n, "cross-entropy targets " + ir::shape_str(t) + " fit neither (N) labels nor (N, C) probabilities for " +
                  ir::shape_str(x));
  return {{}, x};
}

// With p_i = softmax(x_i), lse_i = logsumexp(x_i), class weights w (1 without), W = sum_c w_c, smoothing e, and D the
// normalizer (sum of w[y_i] over the targets not ignored; N for probabilities), as torch 1.13 defines them:
//   labels y_i (y_i = ignore_index adds nothing):
//     loss = (1/D) sum_i [ (1 - e) w_{y_i} (lse_i - x_{i,y_i}) + (e/C) sum_c w_c (lse_i - x_ic) ]
//     dX_ic = [ (1 - e) w_{y_i} (p_ic - [c = y_i]) + (e/C) (W p_ic - w_c) ] / D,  plainly (p_i - onehot_i) / D
//   probabilities t_i, smoothed to t'_ic = (1 - e) t_ic + e/C, with u_ic = w_c t'_ic and s_i = sum_c u_ic:
//     loss = (1/D) sum_i [ s_i lse_i - sum_c u_ic x_ic ],   dX_i = (s_i p_i - u_i) / D
// A normalizer of 0 (every target ignored) gives loss 0 and gradient 0, where torch's mean is 0/0 = NaN.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[0]);
  const int64_t N = xs[0], C = xs[1];
  const bool labels = ctx.shape(n.inputs[1]).size() == 1;
  const std::vector<float> w = n.attrs.count("weights") ? n.attrs.at("weights").floats : std::vector<float>();
  const double e = n.attrs.count("label_smoothing") ? n.attrs.at("label_smoothing").f : 0.0;
  const int64_t ignore = n.attrs.count("ignore_index") ? n.attrs.at("ignore_index").i : -100;
  double W = 0;
  for (float v : w) W += v;
  dnnl::memory x = ctx.view(n.inputs[0], dnnl_compat::plain(xs));
  dnnl::memory t = ctx.view(n.inputs[1], dnnl_compat::plain(ctx.shape(n.inputs[1])));
  const bool fed = n.inputs.size() > 2;  // the normalizer; else this batch's own
  dnnl::memory d = fed ? ctx.view(n.inputs[2], dnnl_compat::plain({})) : dnnl::memory();
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})),
               dx = ctx.view(n.outputs[1], dnnl_compat::plain(xs));
  Step s;
  s.host = [=]() {
    const float* X = static_cast<const float*>(x.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dX = static_cast<float*>(dx.get_data_handle());
    double D = 0;
    if (fed) {
      D = *static_cast<const float*>(d.get_data_handle());
    } else if (!labels) {
      D = double(N);
    } else {
      for (int64_t i = 0; i < N; ++i)
        if (const int64_t y = static_cast<int64_t>(T[i]); y != ignore) D += w.empty() ? 1.0 : w[size_t(y)];
      D = static_cast<float>(D);
    }
    const auto per = [D](double v) { return D != 0 ? v / D : 0.0; };  // divided, as the unweighted mean always was
    const bool plain = w.empty() && e == 0;
    const auto wc = [&](int64_t c) { return w.empty() ? 1.0 : double(w[static_cast<size_t>(c)]); };
    double total = 0;
    for (int64_t i = 0; i < N; ++i) {
      const float* xi = X + i * C;
      float* gi = dX + i * C;
      if (labels && static_cast<int64_t>(T[i]) == ignore) {
        for (int64_t c = 0; c < C; ++c) gi[c] = 0.f;
        continue;
      }
      double mx = xi[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, double(xi[c]));
      double se = 0;
      for (int64_t c = 0; c < C; ++c) se += std::exp(double(xi[c]) - mx);
      const double lse = mx + std::log(se);
      if (labels && plain) {
        const int64_t y = static_cast<int64_t>(T[i]);
        total += lse - xi[y];
        for (int64_t c = 0; c < C; ++c) gi[c] = static_cast<float>((std::exp(double(xi[c]) - lse) - (c == y)) / D);
      } else if (labels) {
        const int64_t y = static_cast<int64_t>(T[i]);
        const double wy = (1 - e) * wc(y), sw = w.empty() ? double(C) : W;
        double smooth = 0;
        for (int64_t c = 0; c < C; ++c) smooth += wc(c) * (lse - xi[c]);
        total += wy * (lse - xi[y]) + e / double(C) * smooth;
        for (int64_t c = 0; c < C; ++c) {
          const double p = std::exp(double(xi[c]) - lse);
          gi[c] = static_cast<float>(per(wy * (p - (c == y)) + e / double(C) * (sw * p - wc(c))));
        }
      } else {
        const float* ti = T + i * C;
        double s_i = 0, tx = 0;
        for (int64_t c = 0; c < C; ++c) {
          const double u = wc(c) * (e == 0 ? double(ti[c]) : (1 - e) * ti[c] + e / double(C));
          s_i += u, tx += u * xi[c];
        }
        total += s_i * lse - tx;
        for (int64_t c = 0; c < C; ++c) {
          const double u = wc(c) * (e == 0 ? double(ti[c]) : (1 - e) * ti[c] + e / double(C));
          gi[c] = static_cast<float>(per(s_i * std::exp(double(xi[c]) - lse) - u));
        }
      }
    }
    *static_cast<float*>(loss.get_data_handle()) = static_cast<float>(per(total));
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kSoftmaxCrossEntropyLoss{.type = "SoftmaxCrossEntropyLoss",
                                            .versions = {1},
                                            .check = no_check,
                                            .infer = infer,
                                            .forward = forward,
                                            .internal = true};

}  // namespace onnxtrain::ops
