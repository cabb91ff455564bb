// Training diagnostics: the session's per-step statistics and the Trainer's per-epoch means and warnings
// (diagnostics.h). Reading them costs a pass over every Relu output and a copy of the weights per step, so a session
// gathers them only while asked.
#include "runtime/train/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace onnxtrain::diagnostics {

namespace {

int64_t elements(const ir::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", 100 * f);
  return b;
}

// printf into a string of whatever length it takes (node names have no bound).
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  va_list a, b;
  va_start(a, fmt);
  va_copy(b, a);
  const int n = std::vsnprintf(nullptr, 0, fmt, a);
  va_end(a);
  std::string s(static_cast<size_t>(n > 0 ? n : 0) + 1, '\0');
  std::vsnprintf(s.data(), s.size(), fmt, b);
  va_end(b);
  s.pop_back();
  return s;
}

}  // namespace

void StepStats::start(bool on, const std::vector<std::string>& names, const std::vector<optim::Range>& ranges) {
  size_t total = 0;
  for (const optim::Range& r : ranges) total += r.count;
  before_.assign(on ? total : 0, 0.f);
  pstats_.clear();
  for (const std::string& name : names) pstats_.push_back({name});
  reset_layers();
}

void StepStats::observe_layers(Executor& ex) {
  for (Watched& w : watched) {
    const ir::Shape& s = ex.shape(w.value);
    if (s.empty() || s[0] <= 0) continue;
    const int64_t units = elements(s) / s[0];
    if (static_cast<int64_t>(w.alive.size()) != units)
      w.alive.assign(static_cast<size_t>(units), 0), w.samples = w.negative = 0;
    const float* v = ex.data(w.value);
    for (int64_t i = 0; i < s[0]; ++i)
      for (int64_t u = 0; u < units; ++u) {
        const bool positive = v[i * units + u] > 0;
        w.alive[static_cast<size_t>(u)] |= positive;
        w.negative += !positive;
      }
    w.samples += s[0];
  }
}

void StepStats::observe_params(Executor& ex, const float* params, const std::vector<optim::Range>& ranges) {
  const float* grads = ex.grads();
  size_t at = 0;
  for (size_t k = 0; k < ranges.size(); ++k) {
    double gg = 0, ww = 0;
    for (size_t i = 0; i < ranges[k].count; ++i) {
      const double d = grads[ranges[k].offset + i], w = params[ranges[k].offset + i];
      gg += d * d;
      ww += w * w;
    }
    pstats_[k].grad_norm = std::sqrt(gg);
    pstats_[k].weight_norm = std::sqrt(ww);
    std::copy(params + ranges[k].offset, params + ranges[k].offset + ranges[k].count,
              before_.begin() + static_cast<long>(at));
    at += ranges[k].count;
  }
}

void StepStats::observe_update(const float* params, const std::vector<optim::Range>& ranges) {
  size_t at = 0;
  for (size_t k = 0; k < ranges.size(); ++k) {
    double dd = 0;
    for (size_t i = 0; i < ranges[k].count; ++i) {
      const double d = double(params[ranges[k].offset + i]) - double(before_[at + i]);
      dd += d * d;
    }
    at += ranges[k].count;
    pstats_[k].update_ratio = pstats_[k].weight_norm > 0 ? std::sqrt(dd) / pstats_[k].weight_norm : std::sqrt(dd);
  }
}

std::vector<LayerStats> StepStats::layer_stats() const {
  std::vector<LayerStats> out;
  for (const Watched& w : watched) {
    LayerStats s{w.node, w.op_type, static_cast<int64_t>(w.alive.size()), w.samples};
    if (w.samples > 0 && !w.alive.empty()) {
      s.dead = double(std::count(w.alive.begin(), w.alive.end(), 0)) / double(w.alive.size());
      s.negative = double(w.negative) / (double(w.samples) * double(w.alive.size()));
    }
    out.push_back(std::move(s));
  }
  return out;
}

void StepStats::reset_layers() {
  for (Watched& w : watched) {
    std::fill(w.alive.begin(), w.alive.end(), 0);
    w.samples = w.negative = 0;
  }
}

std::string nonfinite_origin(const ir::Graph& g, Executor& ex) {
  for (const ir::Node& n : g.nodes)
    for (int v : n.outputs) {
      if (v < 0) continue;
      const ir::Shape& s = ex.shape(v);
      const float* d = ex.data(v);
      const int64_t count = elements(s);
      for (int64_t i = 0; i < count; ++i)
        if (!std::isfinite(d[i]))
          return std::string(n.backward ? "the backward pass at " : "the forward pass at ") + n.label();
    }
  return "";
}

void EpochTotals::add(const std::vector<ParamStats>& step) {
  for (const ParamStats& p : step) {
    Sums& e = params_[p.name];
    e.grad_norm += p.grad_norm;
    e.update_ratio += p.update_ratio;
    ++e.steps;
    e.vanishing += p.grad_norm < kVanishingNorm;
    e.exploding += p.grad_norm > kExplodingNorm;
  }
}

DiagnosticsReport EpochTotals::take(int64_t epoch, std::vector<LayerStats> layers) {
  DiagnosticsReport d;
  d.epoch = epoch;
  d.layers = std::move(layers);
  for (auto& [name, p] : params_) {
    if (p.steps == 0) continue;
    d.params.push_back(
        {name, p.grad_norm / double(p.steps), p.update_ratio / double(p.steps), p.steps, p.vanishing, p.exploding});
    p = Sums();
  }
  return d;
}

std::vector<std::string> warnings(const DiagnosticsReport& d) {
  std::vector<std::string> out;
  const long long epoch = static_cast<long long>(d.epoch);
  for (const LayerStats& l : d.layers)
    if (l.units > 0 && l.dead > kDeadWarn) {
      out.push_back(
          format("epoch %lld: %s '%s' had %s of its %lld units dead for the whole epoch (zero output on "
                 "every sample); they no longer learn. Try a lower OptimizerConfig::lr, LeakyRelu instead of Relu, or "
                 "an initialization without large negative biases",
                 epoch, l.op_type.c_str(), l.node.c_str(), pct(l.dead).c_str(), static_cast<long long>(l.units)));
    }
  for (const ParamEpochStats& p : d.params) {
    if (p.vanishing_steps == p.steps) {
      out.push_back(
          format("epoch %lld: the gradient of '%s' vanished (norm below %g on all %lld steps), so it "
                 "does not learn. Look for dead units feeding it or above it; try LeakyRelu, a higher "
                 "OptimizerConfig::lr, or another initialization",
                 epoch, p.name.c_str(), kVanishingNorm, static_cast<long long>(p.steps)));
    }
    if (p.exploding_steps > 0) {
      out.push_back(
          format("epoch %lld: the gradient of '%s' exploded (norm above %g on %lld of %lld steps). Try "
                 "a lower OptimizerConfig::lr or a smaller-variance initialization",
                 epoch, p.name.c_str(), kExplodingNorm, static_cast<long long>(p.exploding_steps),
                 static_cast<long long>(p.steps)));
    }
  }
  return out;
}

}  // namespace onnxtrain::diagnostics
