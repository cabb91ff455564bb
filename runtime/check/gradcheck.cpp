// gradcheck: the analytic side is TrainingSession::gradients (the kernels and loss training uses); the numeric side is
// central differences of the loss, in double, over ReferenceForward, rerunning only the nodes after the perturbed
// parameter. Elements whose difference straddles a Relu/LeakyRelu kink are excluded and reported. It prints nothing:
// the CLI formats the report.
#include "onnxtrain/gradcheck.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <set>

#include "onnxtrain/error.h"
#include "onnxtrain/train.h"
#include "runtime/autodiff/autodiff.h"
#include "runtime/check/reference.h"
#include "runtime/model_impl.h"
#include "runtime/ops/op.h"

namespace onnxtrain {
namespace {

using check::ReferenceForward;
using ops::RefTensor;

// A pre-activation within this fraction of its layer's largest |pre-activation| may sit on the other side of the kink
// in the kernels' float32 than in double (float32 dot products of a few hundred terms round at ~1e-6 of their scale).
constexpr double kFloatBand = 1e-5;

// The loss in double on the model's output, with the reductions and label conventions of runtime/losses/*.cpp.
// out: (N, C) or any shape (bce, mse); y: (N) int64 labels or float targets (N, C) / out's shape.
//   cross-entropy: -(1/N) sum_i sum_c t_ic log p_ic, t one-hot for labels; p the output when a Softmax head makes it
//                  (training fuses that head with the loss), else softmax of the output (logits).
//   nll:           -(1/N) sum_i out[i, t_i], out holding log-probabilities.
//   bce:           -(1/E) sum_e (t log p + (1 - t) log(1 - p)), each log clamped at -100 as PyTorch's BCELoss does.
//   mse:           (1/E) sum_e (out_e - t_e)^2.
double reference_loss(autodiff::Loss loss, const RefTensor& out, bool softmax_head, const Tensor& y) {
  const std::vector<double>& o = out.data;
  const int64_t E = static_cast<int64_t>(o.size());
  const bool labels = y.dtype == DType::Int64;
  const auto target = [&](int64_t e) { return double(y.f32[static_cast<size_t>(e)]); };
  double total = 0;
  switch (loss) {
    case autodiff::Loss::CrossEntropy: {
      const int64_t N = out.shape[0], C = out.shape[1];
      for (int64_t i = 0; i < N; ++i) {
        const double* row = o.data() + i * C;
        double lse = 0;
        if (!softmax_head) {
          const double mx = *std::max_element(row, row + C);
          double s = 0;
          for (int64_t c = 0; c < C; ++c) s += std::exp(row[c] - mx);
          lse = mx + std::log(s);
        }
        for (int64_t c = 0; c < C; ++c) {
          const double t = labels ? double(y.i64[static_cast<size_t>(i)] == c) : target(i * C + c);
          if (t != 0) total -= t * (softmax_head ? std::log(row[c]) : row[c] - lse);
        }
      }
      return total / double(N);
    }
    case autodiff::Loss::NLL: {
      const int64_t N = out.shape[0], C = out.shape[1];
      for (int64_t i = 0; i < N; ++i) total -= o[static_cast<size_t>(i * C + y.i64[static_cast<size_t>(i)])];
      return total / double(N);
    }
    case autodiff::Loss::BCE:
      for (int64_t e = 0; e < E; ++e) {
        const double p = o[static_cast<size_t>(e)], t = target(e);
        total -= t * std::max(std::log(p), -100.0) + (1 - t) * std::max(std::log(1 - p), -100.0);
      }
      return total / double(E);
    case autodiff::Loss::MSE:
      for (int64_t e = 0; e < E; ++e) {
        const double d = o[static_cast<size_t>(e)] - target(e);
        total += d * d;
      }
      return total / double(E);
  }
  return 0;
}

// A Relu or LeakyRelu input, as it is at the unperturbed parameters.
struct Kink {
  size_t node;
  int value;
  std::vector<double> base;
  std::vector<char> near;  // within kFloatBand of the kink at the base point
};

int sign(double v) { return (v > 0) - (v < 0); }

// Whether pre (the kink's input at w + eps or w - eps) is on another side of the kink than at w: the difference
// quotient then mixes two slopes, and no analytic gradient matches it.
bool crosses(const Kink& k, const std::vector<double>& pre) {
  for (size_t u = 0; u < pre.size(); ++u)
    if (sign(pre[u]) != sign(k.base[u])) return true;
  return false;
}

// Whether pre moved one that lies within float32 rounding of the kink: the kernels may have taken the other branch
// there, so a mismatch at this element need not be a wrong rule.
bool moves_near(const Kink& k, const std::vector<double>& pre) {
  for (size_t u = 0; u < pre.size(); ++u)
    if (k.near[u] && pre[u] != k.base[u]) return true;
  return false;
}

// The elements to check: all, or `want` at random plus the one of largest |analytic|, ascending.
std::vector<int64_t> pick(const std::vector<float>& analytic, int64_t want, std::mt19937_64& rng) {
  const int64_t n = static_cast<int64_t>(analytic.size());
  std::vector<int64_t> all;
  if (want == 0 || want + 1 >= n) {
    for (int64_t i = 0; i < n; ++i) all.push_back(i);
    return all;
  }
  std::set<int64_t> chosen;
  int64_t largest = 0;
  for (int64_t i = 1; i < n; ++i)
    if (std::fabs(analytic[static_cast<size_t>(i)]) > std::fabs(analytic[static_cast<size_t>(largest)])) largest = i;
  chosen.insert(largest);
  std::uniform_int_distribution<int64_t> any(0, n - 1);
  while (static_cast<int64_t>(chosen.size()) < want + 1) chosen.insert(any(rng));
  return {chosen.begin(), chosen.end()};
}

}  // namespace

GradcheckReport gradcheck(Model& model, const Tensor& x, const Tensor& y, const GradcheckOptions& o) {
  const ir::Graph& g = model.impl().graph;
  if (g.inputs.size() != 1)
    g.fail("gradcheck with one tensor feeds one input, but the model has " + std::to_string(g.inputs.size()) +
           "; give each by name");
  return gradcheck(model, {{g.values[g.inputs[0]].name, x}}, y, o);
}

GradcheckReport gradcheck(Model& model, const std::map<std::string, Tensor>& inputs, const Tensor& y,
                          const GradcheckOptions& o) {
  if (!(o.eps > 0) || !std::isfinite(o.eps))
    throw Error("gradcheck: GradcheckOptions::eps must be a positive number, got " + std::to_string(o.eps));
  if (!(o.tolerance > 0))
    throw Error("gradcheck: GradcheckOptions::tolerance must be positive, got " + std::to_string(o.tolerance));
  if (o.elements < 0)
    throw Error("gradcheck: GradcheckOptions::elements must be 0 (all) or more, got " + std::to_string(o.elements));
  const ir::Graph& g = model.impl().graph;

  // The analytic side: what train_step would apply, before the optimizer.
  TrainOptions to;
  to.loss = o.loss;
  to.output = o.output;
  to.threads = o.threads;
  TrainingSession session(model, to);
  float loss_f = 0;
  std::map<std::string, Tensor> analytic = session.gradients(inputs, y, &loss_f);

  GradcheckReport r;
  r.loss = session.loss_name();
  r.samples = y.shape.empty() ? 0 : y.shape[0];
  r.loss_onnxtrain = loss_f;
  const autodiff::Loss loss = autodiff::parse_loss(r.loss);
  const int out = g.find(session.output());
  const bool softmax_head = g.values[out].producer >= 0 && g.nodes[g.values[out].producer].op_type == "Softmax";

  std::map<std::string, const Tensor*> fed;
  for (const auto& [name, t] : inputs) fed[name] = &t;
  ReferenceForward ref(g, fed);
  ref.run_all();
  const auto L = [&]() { return reference_loss(loss, ref.value(out), softmax_head, y); };
  r.loss_reference = L();
  r.loss_agrees =
      std::fabs(r.loss_reference - r.loss_onnxtrain) <= o.tolerance * std::max(1.0, std::fabs(r.loss_reference));
  // What rounding alone can put between the two sides, in absolute terms (atol): no difference within it fails.
  //  - numeric: each L is a double sum with rounding up to ~64 DBL_EPSILON |L| (the reductions' depth), and the
  //    quotient (L+ - L-) / 2eps carries twice that over 2eps: 64 DBL_EPSILON max(1, |L|) / eps.
  //  - analytic: the float32 backward rounds every product at FLT_EPSILON of its size and sums them, so a gradient
  //    whose exact value is 0 (a shift of all logits, which softmax cancels; terms that cancel over the batch) comes
  //    out as ~FLT_EPSILON x the size of its terms (4e-8 against a per-parameter floor of 1e-11: a FAIL). Those terms
  //    are of the size the model's gradients have where they do not cancel, so the scale is the largest |analytic|
  //    element over all parameters, G: 8 FLT_EPSILON G, the 8 for a few roundings per term and a sum's growth over
  //    the batch (exactly-zero gradients measured up to 1.2 FLT_EPSILON G). Not divided by eps: the analytic side
  //    differences nothing. G, not the loss, sets it: |L| ~ 2 on a model whose first-layer gradients are ~1e-3
  //    would hide errors there. (Near a stationary point, where every gradient is tiny, G shrinks with them while
  //    the rounding of p - t does not; there an exactly-zero gradient can still fail.)
  const double noise = 64 * DBL_EPSILON * std::max(1.0, std::fabs(r.loss_reference)) / o.eps;
  double largest_gradient = 0;
  for (const auto& [name, t] : analytic)
    for (float e : t.f32) largest_gradient = std::max(largest_gradient, std::fabs(double(e)));
  r.atol = 8 * double(FLT_EPSILON) * largest_gradient + noise;

  std::vector<Kink> kinks;
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const ir::Node& n = g.nodes[k];
    r.dropout_nodes += n.op_type == "Dropout";
    const ops::OpDef* def = ops::find_op(n.op_type);
    if (!def || !def->rectifier_slope) continue;  // a rectifier's kink at 0
    Kink kink{k, n.inputs[0], ref.value(n.inputs[0]).data, {}};
    double largest = 0;
    for (double v : kink.base) largest = std::max(largest, std::fabs(v));
    for (double v : kink.base) kink.near.push_back(std::fabs(v) <= kFloatBand * largest);
    kinks.push_back(std::move(kink));
  }

  std::mt19937_64 rng(o.seed);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ir::Value& val = g.values[v];
    // State (running statistics) is no parameter: training updates it without a gradient.
    if (val.kind != ir::ValueKind::Parameter || val.consumers.empty() || ops::is_state(g, static_cast<int>(v)))
      continue;
    ParamCheck p;
    p.name = val.name;
    p.shape = val.shape;
    const int64_t count = g.numel(static_cast<int>(v));
    auto it = analytic.find(val.name);
    p.has_gradient = it != analytic.end();
    const std::vector<float> a = p.has_gradient ? it->second.f32 : std::vector<float>(static_cast<size_t>(count), 0.f);
    double largest = 0;
    for (float e : a) largest = std::max(largest, std::fabs(double(e)));
    // atol / tolerance: an element is then held to max(tolerance x its size, atol), tolerance alone when it is large.
    p.floor = std::max(o.floor_fraction * largest, r.atol / o.tolerance);

    const std::vector<size_t> after = ref.downstream(static_cast<int>(v));
    std::vector<const Kink*> watched;
    for (const Kink& k : kinks)
      if (std::find(after.begin(), after.end(), k.node) != after.end()) watched.push_back(&k);
    std::set<std::string> kink_nodes;
    std::vector<std::vector<double>> plus(watched.size());
    std::vector<double>& w = ref.value(static_cast<int>(v)).data;
    for (int64_t i : pick(a, o.elements, rng)) {
      const double w0 = w[static_cast<size_t>(i)];
      w[static_cast<size_t>(i)] = w0 + o.eps;
      ref.run(after);
      const double lp = L();
      for (size_t k = 0; k < watched.size(); ++k) plus[k] = ref.value(watched[k]->value).data;
      w[static_cast<size_t>(i)] = w0 - o.eps;
      ref.run(after);
      const double lm = L();
      const double h = (w0 + o.eps) - (w0 - o.eps);  // 2 eps, as the doubles hold it
      w[static_cast<size_t>(i)] = w0;
      const double an = a[static_cast<size_t>(i)], nu = (lp - lm) / h;
      const double rel = std::fabs(an - nu) / std::max({std::fabs(an), std::fabs(nu), p.floor});
      // Excluded: w +- eps crosses a kink; or the element fails while moving a pre-activation that float32 may have
      // put on the other side of a kink.
      const ir::Node* kink = nullptr;
      for (size_t k = 0; k < watched.size() && !kink; ++k) {
        const std::vector<double>& minus = ref.value(watched[k]->value).data;
        if (crosses(*watched[k], plus[k]) || crosses(*watched[k], minus) ||
            (!(rel <= o.tolerance) && (moves_near(*watched[k], plus[k]) || moves_near(*watched[k], minus))))
          kink = &g.nodes[watched[k]->node];
      }
      if (kink) {
        ++p.excluded;
        kink_nodes.insert(kink->name + " (" + kink->op_type + ")");
        continue;
      }
      ++p.checked;
      if (p.worst < 0 || rel > p.max_rel_error || std::isnan(rel)) {
        p.max_rel_error = rel;
        p.worst = i;
        p.analytic = an;
        p.numeric = nu;
      }
    }
    ref.run(after);  // back to the unperturbed values, for the next parameter
    p.kink_nodes.assign(kink_nodes.begin(), kink_nodes.end());
    p.pass = !(p.max_rel_error > o.tolerance) && !std::isnan(p.max_rel_error);
    r.params.push_back(std::move(p));
  }
  return r;
}

}  // namespace onnxtrain
