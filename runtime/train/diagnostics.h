// Training diagnostics: what a TrainingSession gathers per step (each rectifier's dead units and negative
// pre-activations, each parameter's gradient norm and update ratio, where a NaN first appeared), and what the Trainer
// makes of them per epoch (means, and warnings past fixed thresholds). Internal to the library.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/train.h"
#include "onnxtrain/trainer.h"
#include "runtime/exec/executor.h"
#include "runtime/ir/graph.h"
#include "runtime/optim/optimizer.h"

namespace onnxtrain::diagnostics {

// A session's per-step statistics. Each watched Relu or LeakyRelu is read after the step from its pre-activation,
// or, where fusion left no pre-activation (slope >= 0), from its output, whose sign is the pre-activation's.
class StepStats {
 public:
  struct Watched {
    std::string node, op_type;
    int value = -1;
    std::vector<uint8_t> alive;  // per unit: a positive pre-activation seen since the reset
    int64_t samples = 0, negative = 0;
  };
  std::vector<Watched> watched;

  // Starts (or stops) gathering for the parameters of these names, laid out at ranges.
  void start(bool on, const std::vector<std::string>& names, const std::vector<optim::Range>& ranges);
  // Sign counts of the watched pre-activations and the gradient and weight norms, after the executor's run, before
  // the update; then the update-to-weight ratios, after it.
  void observe(Executor& ex, const float* params, const std::vector<optim::Range>& ranges) {
    observe_layers(ex);
    observe_params(ex, params, ranges);
  }
  // The two halves: each part of an accumulated step has its own activations, and the step one summed gradient.
  void observe_layers(Executor& ex);
  void observe_params(Executor& ex, const float* params, const std::vector<optim::Range>& ranges);
  void observe_update(const float* params, const std::vector<optim::Range>& ranges);
  std::vector<LayerStats> layer_stats() const;
  void reset_layers();
  const std::vector<ParamStats>& params() const { return pstats_; }

 private:
  std::vector<float> before_;  // the trainable weights before the update, in ranges order
  std::vector<ParamStats> pstats_;
};

// After a step whose loss is NaN or Inf: "the forward pass at node 'fc1' (Gemm)" or "the backward pass at ...", the
// first node in order whose output holds one; "" if none does.
std::string nonfinite_origin(const ir::Graph& g, Executor& ex);

// Thresholds of the warnings, for each epoch.
constexpr double kVanishingNorm = 1e-7;  // a gradient norm below this on every step of an epoch: vanishing
constexpr double kExplodingNorm = 1e3;   // above this on any step: exploding
constexpr double kDeadWarn = 0.5;        // a layer with more than this fraction of units dead for a whole epoch

// Per-epoch sums of each parameter's step statistics.
class EpochTotals {
 public:
  void add(const std::vector<ParamStats>& step);
  // The epoch's report (each parameter's means), the sums started again.
  DiagnosticsReport take(int64_t epoch, std::vector<LayerStats> layers);

 private:
  struct Sums {
    double grad_norm = 0, update_ratio = 0;
    int64_t steps = 0, vanishing = 0, exploding = 0;
  };
  std::map<std::string, Sums> params_;
};

// The warnings an epoch's report calls for, one line each with a hint, options named as the API names them.
std::vector<std::string> warnings(const DiagnosticsReport& d);

}  // namespace onnxtrain::diagnostics
