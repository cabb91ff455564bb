// SoftmaxCrossEntropyLoss (internal): the loss and its gradient from logits in one host kernel. Autodiff feeds it
// the input of a final Softmax (fused: the Softmax backward is skipped) or the model's own logits output. The loss is
// computed from log-sum-exp, never from log(p), so it cannot take log(0).
#include <cmath>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// X: (N, C) logits; T: (N) class indices (as float) or (N, C) class probabilities. loss: (); dX: (N, C).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &x = in[0], &t = in[1];
  if (x.size() != 2) g.fail(n, "cross-entropy needs (N, C) scores, found " + ir::shape_str(x));
  bool ok = (t.size() == 1 && t[0] == x[0]) || t == x;
  if (!ok)
    g.fail(n, "cross-entropy targets " + ir::shape_str(t) + " fit neither (N) labels nor (N, C) probabilities for " +
                  ir::shape_str(x));
  return {{}, x};
}

// With p_i = softmax(x_i) and s_i = sum_c t_ic (1 for labels and for distributions):
//   loss = (1/N) * sum_i [ s_i * logsumexp(x_i) - sum_c t_ic * x_ic ]
//   dX_i = (s_i * p_i - t_i) / N,      for class labels: (p_i - onehot_i) / N
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[0]);
  const int64_t N = xs[0], C = xs[1];
  const bool labels = ctx.shape(n.inputs[1]).size() == 1;
  dnnl::memory x = ctx.view(n.inputs[0], dnnl_compat::plain(xs));
  dnnl::memory t = ctx.view(n.inputs[1], dnnl_compat::plain(ctx.shape(n.inputs[1])));
  dnnl::memory loss = ctx.view(n.outputs[0], dnnl_compat::plain({})),
               dx = ctx.view(n.outputs[1], dnnl_compat::plain(xs));
  Step s;
  s.host = [=]() {
    const float* X = static_cast<const float*>(x.get_data_handle());
    const float* T = static_cast<const float*>(t.get_data_handle());
    float* dX = static_cast<float*>(dx.get_data_handle());
    double total = 0;
    for (int64_t i = 0; i < N; ++i) {
      const float* xi = X + i * C;
      float* gi = dX + i * C;
      double mx = xi[0];
      for (int64_t c = 1; c < C; ++c) mx = std::max(mx, double(xi[c]));
      double se = 0;
      for (int64_t c = 0; c < C; ++c) se += std::exp(double(xi[c]) - mx);
      const double lse = mx + std::log(se);
      if (labels) {
        const int64_t y = static_cast<int64_t>(T[i]);
        total += lse - xi[y];
        for (int64_t c = 0; c < C; ++c)
          gi[c] = static_cast<float>((std::exp(double(xi[c]) - lse) - (c == y)) / double(N));
      } else {
        const float* ti = T + i * C;
        double s_i = 0, tx = 0;
        for (int64_t c = 0; c < C; ++c) s_i += ti[c], tx += double(ti[c]) * xi[c];
        total += s_i * lse - tx;
        for (int64_t c = 0; c < C; ++c)
          gi[c] = static_cast<float>((s_i * std::exp(double(xi[c]) - lse) - ti[c]) / double(N));
      }
    }
    *static_cast<float*>(loss.get_data_handle()) = static_cast<float>(total / double(N));
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
