// TrainingSession: the model's graph plus autodiff's loss and backward nodes, one executor, one optimizer. A step
// copies the batch in, runs every step of the plan, and updates the parameters in place. No epochs, shuffling or
// reporting here: those belong to the Trainer (trainer.cpp); the statistics themselves are diagnostics.cpp's.
#include "onnxtrain/train.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "onnxtrain/error.h"
#include "runtime/autodiff/autodiff.h"
#include "runtime/exec/dnnl_compat.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/fusion.h"
#include "runtime/model_impl.h"
#include "runtime/ops/op.h"
#include "runtime/optim/optimizer.h"
#include "runtime/train/diagnostics.h"

namespace onnxtrain {

struct TrainingSession::Impl {
  Model& model;
  ir::Graph g;  // the model's graph with loss and backward nodes; parameters are read from the model's buffer
  autodiff::Loss loss;
  autodiff::Training t;
  int input = -1;                                    // the first of inputs: what the Tensor overloads feed
  std::vector<int> inputs;                           // every graph input the loss's output depends on
  std::vector<std::pair<int, const Tensor*>> bound;  // this step's feeds, reused so that a step allocates nothing
  std::string output;  // the graph output the loss reads (with a fused head, t.scores is the head's input)
  std::unique_ptr<Executor> ex;
  std::unique_ptr<optim::Optimizer> opt;
  std::vector<optim::Range> ranges;
  int64_t classes = 0;
  bool bf16 = false;
  std::vector<std::string> frozen;  // the initializers TrainOptions::freeze and train_only keep fixed, sorted
  std::map<int, ir::Shape> fed;     // the plan key, reused so that a steady-state step allocates nothing
  int64_t steps = 0;
  OptimizerConfig config;      // resolved; lr and momentum as set_lr and set_momentum last set them
  bool fusable = false;        // plain SGD in f32: the executor can fold the update into the backward pass
  float fused_with = 0.f;      // the update scale (-lr) the fused steps were made with
  bool column_output = false;  // the output is (N, 1): one value per sample, whose targets may come as (N)
  bool binary = false;         // bce on an (N, 1) output: hits are counted for float 0/1 targets too
  bool last_fused = false;     // whether the last train_step ran the executor's fused update
  bool from_labels = false;    // the loss was guessed as cross-entropy on raw scores: int64 labels only
  std::vector<float> weights;  // TrainOptions::class_weights
  int64_t ignore = -100;       // TrainOptions::ignore_index
  double clip_norm = 0, clip_value = 0;
  double total_norm = NAN;  // before clipping, at the last step that clipped by norm
  // The step under way (begin_step): its parts, the part next, the whole batch's normalizer, and the sum of the
  // gradients of the parts run so far, laid out as the parameters (allocated at the first step of several parts).
  int64_t parts = 0, part = 0;
  double normalizer = 0;
  std::vector<float> acc;
  // Per plan (its fused flags): the ranges of the parameters that the executor's fused update leaves to the optimizer.
  std::map<const std::vector<char>*, std::vector<optim::Range>> unfused;

  const std::vector<optim::Range>& unfused_ranges() {
    const std::vector<char>& fused = ex->fused();
    auto it = unfused.find(&fused);
    if (it != unfused.end()) return it->second;
    std::vector<optim::Range>& rest = unfused[&fused];
    for (size_t k = 0; k < t.trainable.size(); ++k)
      if (!fused[t.trainable[k]]) rest.push_back(ranges[k]);
    return rest;
  }

  bool diagnose = false;
  diagnostics::StepStats diag;  // while diagnose: each rectifier's signs, each parameter's norms

  explicit Impl(Model& m) : model(m), g(m.impl().graph) { g.params.clear(); }

  // Checks the feeds (each input's batch) and targets as a whole: dtypes, matching counts, and storage that holds
  // what the shapes say (the kernels read shape-many values from it). "what": "a batch" or "the data".
  void check_xy(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y, const char* what) const {
    const std::string& src = g.source;
    if (y.dtype != DType::Float32 && y.dtype != DType::Int64)
      throw Error(src + ": targets must be int64 labels or float32, got " + dtype_name(y.dtype));
    // The element count a shape declares, or -1 for a negative dimension or one past the graph's limit.
    const auto count = [](const Tensor& t) {
      const bool ok =
          ir::within_limits(t.shape) && std::all_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d >= 0; });
      return ok ? t.numel() : int64_t{-1};
    };
    for (const auto& [id, x] : feeds) {
      const ir::Value& v = g.values[id];
      const DType want = v.dtype;
      const std::string named = inputs.size() > 1 ? " for input '" + v.name + "'" : "";
      if (x->dtype != want)
        throw Error(src + ": features" + named + " must be " + dtype_name(want) + " (input '" + v.name + "'), got " +
                    dtype_name(x->dtype));
      if (x->shape.empty() || y.shape.empty() || x->shape[0] != y.shape[0])
        throw Error(src + ": " + what + " of " + shape_str(x->shape) + " features" + named + " and " +
                    shape_str(y.shape) + " targets");
      if (static_cast<int64_t>(x->data_bytes() / dtype_size(x->dtype)) != count(*x))
        throw Error(src + ": features" + named + " of shape " + shape_str(x->shape) + " hold " +
                    std::to_string(x->data_bytes() / dtype_size(x->dtype)) + " values");
    }
    const size_t y_held = y.dtype == DType::Int64 ? y.i64.size() : y.f32.size();
    if (static_cast<int64_t>(y_held) != count(y))
      throw Error(src + ": targets of shape " + shape_str(y.shape) + " hold " + std::to_string(y_held) + " values");
  }

  // The feeds of a call that names its inputs: every input the output depends on, from inputs (other keys ignored).
  const std::vector<std::pair<int, const Tensor*>>& resolve(const std::map<std::string, Tensor>& given) {
    bound.clear();
    for (int id : inputs) {
      auto it = given.find(g.values[id].name);
      if (it == given.end())
        throw Error(g.source + ": no data for input '" + g.values[id].name + "' (" + names() + ")");
      bound.emplace_back(id, &it->second);
    }
    return bound;
  }
  // The feeds of a call with one tensor: the model's only input.
  const std::vector<std::pair<int, const Tensor*>>& one(const Tensor& x) {
    if (inputs.size() != 1)
      throw Error(g.source + ": the model has " + std::to_string(inputs.size()) + " inputs (" + names() +
                  "); give each by name");
    bound.assign(1, {input, &x});
    return bound;
  }
  std::string names() const {
    std::string s;
    for (int id : inputs) s += (s.empty() ? "" : ", ") + g.values[id].name;
    return s;
  }

  // Binds a batch: checks it, picks the plan for its shapes, binds the features in place and copies the targets in,
  // with the normalizer the loss divides by (< 0: this batch's own, loss_normalizer(y)).
  void bind(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y, double norm = -1) {
    const std::string& src = g.source;
    check_xy(feeds, y, "a batch");
    const int64_t B = y.shape[0];
    if (B == 0) throw Error(src + ": the batch is empty");
    check_targets(y);
    if (y.dtype == DType::Int64) {
      if (loss != autodiff::Loss::CrossEntropy && loss != autodiff::Loss::NLL)
        throw Error(src + ": integer labels need TrainOptions::loss cross-entropy or nll, not " +
                    autodiff::loss_name(loss));
      if (y.shape.size() != 1) throw Error(src + ": labels must be (N), got " + shape_str(y.shape));
      for (int64_t i = 0; i < B; ++i)
        if (y.i64[i] != ignore && (y.i64[i] < 0 || (classes > 0 && y.i64[i] >= classes)))
          throw Error(src + ": label " + std::to_string(y.i64[i]) + " of sample " + std::to_string(i) +
                      " is out of range for " + std::to_string(classes) + " classes");
    } else if (y.shape.size() == 1 && (loss == autodiff::Loss::CrossEntropy || loss == autodiff::Loss::NLL)) {
      // One float per sample would be class indices to these losses, as torch refuses them (its cross_entropy takes
      // float targets only as (N, C) probabilities): taken as labels, they trained without any accuracy counted.
      throw Error(src + ": float32 (N) targets under " + autodiff::loss_name(loss) +
                  ": class labels are int64 (and class probabilities float32 (N, C))");
    }
    for (const auto& [id, x] : feeds) {
      ir::Value& v = g.values[id];
      if (v.integer || v.real) {  // read as a shape: its values are the plan's key, as InferenceSession binds it
        bind_plan_values(g, v, *x, fed[id]);
      } else {
        fed[id] = x->shape;  // same-size copies reuse the vectors' storage
      }
    }
    // Float targets (N) for an (N, 1) output are the same numbers, taken as (N, 1). (torch's MSELoss would broadcast
    // them to (N, N) with a warning, which no one means.)
    ir::Shape& target = fed[t.target];
    target = y.shape;  // assigned, not built: a step allocates nothing once the shapes have been seen
    if (y.dtype == DType::Float32 && y.shape.size() == 1 && column_output) target.push_back(1);
    fed[t.normalizer].clear();
    ex->prepare(fed);
    *ex->data(t.normalizer) = static_cast<float>(norm < 0 ? normalizer_of(y) : norm);
    for (const auto& [id, x] : feeds)
      if (x->data_bytes() > 0) ex->bind_input(id, x->data());  // read in place: x outlives the step
    float* tgt = ex->data(t.target);
    if (y.dtype == DType::Int64)
      for (int64_t i = 0; i < B; ++i) tgt[i] = static_cast<float>(y.i64[i]);
    else if (!y.f32.empty())  // an empty vector's data() may be null
      std::memcpy(tgt, y.f32.data(), y.f32.size() * sizeof(float));
  }

  bool labels_loss() const { return loss == autodiff::Loss::CrossEntropy || loss == autodiff::Loss::NLL; }

  // What the options refuse for these targets: float targets for a loss guessed from int64 labels, and an
  // ignore_index >= 0 beside class probabilities (torch refuses it too).
  void check_targets(const Tensor& y) const {
    if (from_labels && y.dtype != DType::Int64)
      throw Error(g.source + ": output '" + output + "' comes from no Softmax, LogSoftmax or Sigmoid and the targets " +
                  "are " + dtype_name(y.dtype) + ", not int64 class labels, so the loss cannot be guessed: choose it " +
                  "with TrainOptions::loss (cross-entropy, nll, bce or mse)");
    if (labels_loss() && y.dtype == DType::Float32 && y.shape.size() == 2 && ignore >= 0)
      throw Error("TrainOptions::ignore_index " + std::to_string(ignore) +
                  " applies to class labels; with class probabilities it must be negative, as torch requires");
  }

  // The sum loss_normalizer describes. A label that names no class counts nothing here (bind refuses it, naming it).
  double normalizer_of(const Tensor& y) const {
    if (y.shape.empty()) return 0;
    const int64_t B = y.shape[0];
    if (!labels_loss()) return double(y.numel());
    const auto label_weight = [&](double v) {
      if (v == double(ignore) || !(v >= 0) || v != std::floor(v) || (classes > 0 && v >= double(classes))) return 0.0;
      return weights.empty() ? 1.0 : double(weights[static_cast<size_t>(v)]);
    };
    double d = 0;
    if (y.dtype == DType::Int64 && static_cast<int64_t>(y.i64.size()) >= B)
      for (int64_t i = 0; i < B; ++i) d += label_weight(double(y.i64[i]));
    else if (y.dtype == DType::Float32 && y.shape.size() == 1 && static_cast<int64_t>(y.f32.size()) >= B)
      for (int64_t i = 0; i < B; ++i) d += label_weight(double(y.f32[i]));
    else
      d = double(B);  // (N, C) probabilities: torch's mean is over the samples
    return d;
  }

  int64_t ignored_of(const Tensor& y) const {
    if (!labels_loss() || y.dtype != DType::Int64) return 0;
    return std::count(y.i64.begin(), y.i64.end(), ignore);
  }

  // torch.nn.utils.clip_grad_norm_ and clip_grad_value_ (1.13) on the summed gradient, in its float arithmetic:
  // each parameter's norm, their norm, coef = min(1, (1 / (norm + 1e-6)) * max) (torch's max / t is
  // t.reciprocal() * max), every gradient times coef. No allocation.
  void clip(float* grads) {
    if (clip_value > 0) {
      const float v = static_cast<float>(clip_value);
      for (const optim::Range& r : ranges)
        for (size_t i = r.offset; i < r.offset + r.count; ++i) grads[i] = std::min(std::max(grads[i], -v), v);
    }
    if (clip_norm <= 0) return;
    double sum = 0;
    for (const optim::Range& r : ranges) {
      double gg = 0;
      for (size_t i = r.offset; i < r.offset + r.count; ++i) gg += double(grads[i]) * grads[i];
      const float norm = static_cast<float>(std::sqrt(gg));
      sum += double(norm) * norm;
    }
    const float total = static_cast<float>(std::sqrt(sum));
    total_norm = total;
    const float coef = std::min((1.f / (total + 1e-6f)) * static_cast<float>(clip_norm), 1.f);
    for (const optim::Range& r : ranges)
      for (size_t i = r.offset; i < r.offset + r.count; ++i) grads[i] *= coef;
  }

  float accumulate_step(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y, int64_t* correct);
  float train_step(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y, int64_t* correct);
  std::map<std::string, Tensor> gradients(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y,
                                          float* loss);
  EvalResult evaluate(std::vector<std::pair<int, const Tensor*>> feeds, const Tensor& y, int64_t batch_size,
                      int64_t top_k);

  // evaluate's sums for R^2, per output element of a sample, in double: Welford's running mean and squared
  // deviations of the targets (SS_tot without the cancellation of sum(y^2) - n mean^2), and the squared errors.
  struct RegressionSums {
    int64_t n = 0;
    std::vector<double> mean, m2, ss_res;
    double abs_err = 0, sq_err = 0;
  };

  // evaluate's metrics of the batch just run against its targets yb: the top-k hits and the confusion matrix for
  // class labels (or a binary classifier's 0/1 targets), the regression sums for float targets under mse.
  void score(const Tensor& yb, EvalResult& r, RegressionSums& reg) {
    if (binary && yb.dtype == DType::Float32) {
      const float* p = ex->data(t.scores);
      if (r.confusion.empty()) r.classes = 2, r.confusion.assign(4, 0);
      for (size_t i = 0; i < yb.f32.size(); ++i) {
        const float prob = t.fused_softmax ? 1.f / (1.f + std::exp(-p[i])) : p[i];
        const int64_t label = yb.f32[i] > 0.5f, predicted = prob > 0.5f;
        ++r.confusion[label * 2 + predicted];
        r.correct_top_k += label == predicted;
      }
      return;
    }
    if (yb.dtype == DType::Int64) {
      const ir::Shape& s = ex->shape(t.scores);
      if (s.size() != 2) return;
      const int64_t c = s[1];
      if (r.confusion.empty()) {
        if (r.top_k > c)
          throw Error(g.source + ": evaluate: top_k must be from 1 to the " + std::to_string(c) + " classes, got " +
                      std::to_string(r.top_k));
        r.classes = c;
        r.confusion.assign(static_cast<size_t>(c * c), 0);
      }
      const float* p = ex->data(t.scores);
      for (int64_t i = 0; i < s[0]; ++i) {
        const float* row = p + i * c;
        const int64_t label = yb.i64[i];
        if (label == ignore) continue;  // TrainOptions::ignore_index: in no metric, as in no loss
        // bind checks labels against a declared C; an output whose C is symbolic is checked here, against the run's.
        if (label < 0 || label >= c)
          throw Error(g.source + ": label " + std::to_string(label) + " of a batch's sample " + std::to_string(i) +
                      " is out of range for the output's " + std::to_string(c) + " classes");
        const int64_t predicted = std::max_element(row, row + c) - row;
        ++r.confusion[label * c + predicted];
        // The label's place in the scores sorted high to low, ties broken by class index as the argmax breaks them.
        int64_t above = 0;
        for (int64_t j = 0; j < c; ++j) above += row[j] > row[label] || (row[j] == row[label] && j < label);
        r.correct_top_k += above < r.top_k;
      }
      return;
    }
    if (loss != autodiff::Loss::MSE) return;
    const float* p = ex->data(t.scores);
    const int64_t b = yb.shape[0], e = b ? static_cast<int64_t>(yb.f32.size()) / b : 0;
    if (reg.mean.empty()) reg.mean.assign(e, 0), reg.m2.assign(e, 0), reg.ss_res.assign(e, 0);
    for (int64_t i = 0; i < b; ++i) {
      ++reg.n;
      for (int64_t j = 0; j < e; ++j) {
        const double v = yb.f32[i * e + j], d = double(p[i * e + j]) - v, delta = v - reg.mean[j];
        reg.mean[j] += delta / double(reg.n);
        reg.m2[j] += delta * (v - reg.mean[j]);
        reg.ss_res[j] += d * d;
        reg.sq_err += d * d;
        reg.abs_err += std::fabs(d);
      }
    }
  }

  // Hits of the scores: the argmax against int64 labels; for a binary classifier, p > 0.5 against float t > 0.5,
  // where p is the Sigmoid's output, or sigmoid(logit) in float when the loss fused the Sigmoid away.
  int64_t correct(const Tensor& y) {
    if (binary && y.dtype == DType::Float32) {
      const float* p = ex->data(t.scores);
      int64_t hits = 0;
      for (size_t i = 0; i < y.f32.size(); ++i) {
        const float prob = t.fused_softmax ? 1.f / (1.f + std::exp(-p[i])) : p[i];
        hits += (prob > 0.5f) == (y.f32[i] > 0.5f);
      }
      return hits;
    }
    if (y.dtype != DType::Int64) return 0;
    const ir::Shape& s = ex->shape(t.scores);
    if (s.size() != 2) return 0;
    const float* p = ex->data(t.scores);
    int64_t hits = 0;
    for (int64_t i = 0; i < s[0]; ++i)
      hits += y.i64[i] != ignore && (std::max_element(p + i * s[1], p + (i + 1) * s[1]) - (p + i * s[1])) == y.i64[i];
    return hits;
  }
};

namespace {

std::string names(const ir::Graph& g, const std::vector<int>& ids) {
  std::string s;
  for (int v : ids) s += (s.empty() ? "" : ", ") + g.values[v].name;
  return s;
}

// The output the loss reads (TrainOptions::output), made the graph's only one: only the nodes it depends on are
// kept, and only the inputs they read, so that a second head is neither computed nor differentiated.
void keep_only_output(ir::Graph& g, const std::string& name) {
  int out = -1;
  for (int o : g.outputs)
    if (g.values[o].name == name) out = o;
  if (out < 0)
    g.fail("TrainOptions::output: the model has no output '" + name + "'; its outputs: " + names(g, g.outputs));
  if (g.outputs.size() == 1) return;
  std::vector<bool> live(g.values.size(), false);
  live[out] = true;
  std::vector<ir::Node> kept;
  for (size_t k = g.nodes.size(); k-- > 0;) {  // in topological order, so walking back sees readers first
    bool read = false;
    for (int o : g.nodes[k].outputs) read = read || (o >= 0 && live[o]);
    if (!read) continue;
    for (int i : g.nodes[k].inputs)
      if (i >= 0) live[i] = true;
    kept.push_back(std::move(g.nodes[k]));
  }
  g.nodes.assign(std::make_move_iterator(kept.rbegin()), std::make_move_iterator(kept.rend()));
  for (int o : g.outputs) g.values[o].is_output = false;
  g.values[out].is_output = true;
  g.outputs = {out};
  g.inputs.erase(std::remove_if(g.inputs.begin(), g.inputs.end(), [&](int i) { return !live[i]; }), g.inputs.end());
  g.finalize();
}

// Whether an initializer's name matches a pattern: a glob (fnmatch's * ? [...], where * also spans dots), or the
// name itself, so that a name holding a bracket still matches.
bool matches(const std::string& pattern, const std::string& name) {
  return pattern == name || fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// The float initializers TrainOptions::freeze and train_only leave untrained. Every pattern must match one: a
// pattern that matches none is a slip (a typo, another model's names), refused naming it and listing the names.
std::set<std::string> frozen_set(const ir::Graph& g, const TrainOptions& o) {
  std::vector<std::string> params;
  for (const ir::Value& v : g.values)
    if (v.kind == ir::ValueKind::Parameter) params.push_back(v.name);
  std::sort(params.begin(), params.end());
  const auto check = [&](const char* field, const std::vector<std::string>& patterns) {
    for (const std::string& p : patterns) {
      if (std::any_of(params.begin(), params.end(), [&](const std::string& n) { return matches(p, n); })) continue;
      std::string some;
      for (size_t i = 0; i < params.size() && i < 12; ++i) some += (i ? ", " : "") + params[i];
      if (params.size() > 12) some += ", ... (" + std::to_string(params.size()) + " in all)";
      throw Error(std::string(field) + ": '" + p + "' matches no float initializer of the model; it has " +
                  (params.empty() ? std::string("none") : some));
    }
  };
  check("TrainOptions::freeze", o.freeze);
  check("TrainOptions::train_only", o.train_only);
  std::set<std::string> frozen;
  for (const std::string& n : params) {
    const auto hit = [&](const std::string& p) { return matches(p, n); };
    if (std::any_of(o.freeze.begin(), o.freeze.end(), hit) ||
        (!o.train_only.empty() && std::none_of(o.train_only.begin(), o.train_only.end(), hit)))
      frozen.insert(n);
  }
  return frozen;
}

// The loss and clipping options, checked as torch checks them (and a little more: negative or non-finite class
// weights, which torch takes, make no mean). classes: C of an (N, C) output, else 0.
void check_loss_options(const TrainOptions& o, autodiff::Loss loss, int64_t classes) {
  const bool ce = loss == autodiff::Loss::CrossEntropy, labels = ce || loss == autodiff::Loss::NLL;
  const std::string name = autodiff::loss_name(loss);
  if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1))
    throw Error("TrainOptions::label_smoothing must be between 0 and 1, got " + std::to_string(o.label_smoothing));
  if (o.label_smoothing > 0 && !ce) throw Error("TrainOptions::label_smoothing applies to cross-entropy, not " + name);
  if (!o.class_weights.empty()) {
    if (!labels) throw Error("TrainOptions::class_weights applies to cross-entropy and nll, not " + name);
    if (static_cast<int64_t>(o.class_weights.size()) != classes)
      throw Error("TrainOptions::class_weights holds " + std::to_string(o.class_weights.size()) +
                  " weights; the model's output has " +
                  (classes > 0 ? std::to_string(classes) + " classes" : std::string("no (N, C) classes")));
    for (size_t c = 0; c < o.class_weights.size(); ++c)
      if (!std::isfinite(o.class_weights[c]) || o.class_weights[c] < 0)
        throw Error("TrainOptions::class_weights: the weight of class " + std::to_string(c) + " is " +
                    std::to_string(o.class_weights[c]) + "; weights must be finite and >= 0");
  }
  if (o.ignore_index != -100 && !labels)
    throw Error("TrainOptions::ignore_index applies to cross-entropy and nll, not " + name);
  if (!(o.clip_grad_norm >= 0) || !std::isfinite(o.clip_grad_norm))
    throw Error("TrainOptions::clip_grad_norm must be a finite number >= 0, got " + std::to_string(o.clip_grad_norm));
  if (!(o.clip_grad_value >= 0) || !std::isfinite(o.clip_grad_value))
    throw Error("TrainOptions::clip_grad_value must be a finite number >= 0, got " + std::to_string(o.clip_grad_value));
  if (o.clip_grad_norm > 0 && o.clip_grad_value > 0)
    throw Error("TrainOptions::clip_grad_norm and TrainOptions::clip_grad_value: choose one");
}

}  // namespace

TrainingSession::TrainingSession(Model& model, TrainOptions options) : impl_(std::make_unique<Impl>(model)) {
  Impl& m = *impl_;
  ir::Graph& g = m.g;
  if (!options.output.empty()) keep_only_output(g, options.output);
  if (g.outputs.size() != 1)
    g.fail("the model has " + std::to_string(g.outputs.size()) + " outputs (" + names(g, g.outputs) +
           "): name the one the loss reads with TrainOptions::output");
  if (g.inputs.empty()) g.fail("training feeds data to the model's inputs, and the output depends on none");
  m.inputs = g.inputs;
  m.input = g.inputs[0];
  m.output = g.values[g.outputs[0]].name;
  // Inputs may be of any tensor dtype (an int64 index, a uint8 image): no gradient flows into them. What the loss
  // reads must be float32.
  for (int v : g.inputs)
    if (!g.values[v].tensor) g.fail("input '" + g.values[v].name + "' is " + g.type_of(v) + "; training feeds tensors");
  if (!g.values[g.outputs[0]].tensor || g.values[g.outputs[0]].dtype != DType::Float32)
    g.fail("output '" + g.values[g.outputs[0]].name + "' is " + g.type_of(g.outputs[0]) +
           "; training computes its loss on float32 tensors");
  const ir::Shape& out = g.values[g.outputs[0]].shape;
  if (options.loss != Loss::FromHead) {
    m.loss = autodiff::parse_loss(name_of(options.loss));
  } else {
    // Raw scores of (N, C) classes, from no Softmax, LogSoftmax or Sigmoid: cross-entropy on the logits, as a
    // PyTorch user writes it, for int64 class labels (check_targets refuses other targets).
    const int p = g.values[g.outputs[0]].producer;
    const std::string head = p >= 0 ? g.nodes[p].op_type : "";
    const bool scores = head != "Softmax" && head != "LogSoftmax" && head != "Sigmoid" && out.size() == 2 && out[1] > 1;
    m.from_labels = scores;
    m.loss = scores ? autodiff::Loss::CrossEntropy : autodiff::default_loss(g);
  }
  check_loss_options(options, m.loss, out.size() == 2 ? out[1] : 0);
  m.weights = options.class_weights;
  m.ignore = options.ignore_index;
  m.clip_norm = options.clip_grad_norm;
  m.clip_value = options.clip_grad_value;
  if (out.size() == 2 && out[1] > 0) m.classes = out[1];
  m.column_output = out.size() == 2 && out[1] == 1;
  m.binary = m.column_output && m.loss == autodiff::Loss::BCE;
  fuse_layer_norm(g);  // before autodiff: the fused node's gradient is oneDNN's backward
  // Ops with state (BatchNormalization's running statistics) keep it fixed in training runs too.
  if (options.freeze_batchnorm)
    for (ir::Node& n : g.nodes)
      if (!ops::find_op(n.op_type)->state_inputs.empty()) n.attrs["onnxtrain.frozen_state"] = ir::Attr::of(1);
  // Before autodiff, so that a fused activation's gradient is one eltwise backward rather than its parts'.
  fuse_patterns(g, model.impl().graph.params.data());
  fold_zero_pad(g, model.impl().graph.params.data());
  const std::set<std::string> frozen = frozen_set(g, options);
  m.frozen.assign(frozen.begin(), frozen.end());
  autodiff::LossSettings settings;
  settings.weights = options.class_weights;
  settings.label_smoothing = options.label_smoothing;
  settings.ignore_index = options.ignore_index;
  settings.fed_normalizer = true;
  m.t = autodiff::add_training(g, m.loss, frozen, settings);
  std::vector<std::pair<int, int>> activations;  // (pre-activation, output) of each rectifier (Relu, LeakyRelu)
  for (const ir::Node& n : g.nodes)
    if (const ops::OpDef* def = n.backward ? nullptr : ops::find_op(n.op_type); def && def->rectifier_slope) {
      m.diag.watched.emplace_back();
      m.diag.watched.back().node = n.name;
      m.diag.watched.back().op_type = n.op_type;
      activations.emplace_back(n.inputs[0], n.outputs[0]);
    }
  fuse_activations(g);
  mask_before_max_pool(g);
  for (size_t k = 0; k < activations.size(); ++k) {
    const ir::Value& pre = g.values[activations[k].first];
    const bool fused_away = pre.kind == ir::ValueKind::Activation && pre.producer < 0;
    m.diag.watched[k].value = fused_away ? activations[k].second : activations[k].first;
  }
  ir::Graph& mg = model.impl().graph;
  for (int p : m.t.trainable) m.ranges.push_back({g.values[p].offset, static_cast<size_t>(g.numel(p))});
  m.opt = optim::make(options.optimizer, mg.params.size());
  m.config = resolved(options.optimizer);
  set_threads(options.threads);
  if (options.precision != Precision::F32 && options.precision != Precision::Bf16)
    throw Error("TrainOptions::precision: not a Precision");
  m.bf16 = options.precision == Precision::Bf16 && dnnl_compat::has_native_bf16();
  m.ex = std::make_unique<Executor>(g, mg.params.data(), mg.params.size(), m.bf16);
  m.ex->set_seed(options.seed);
  // Plain SGD is folded into the weight-gradient GEMMs (f32 only): they add -lr * dW to W instead of writing dW,
  // which saves the update pass's reading and writing of every weight (docs/performance.md has what it gave).
  // Clipping needs the whole gradient before any update, so it runs the update as its own pass.
  m.fusable = !m.bf16 && m.opt->fused_scale() != 0.f && m.clip_norm <= 0 && m.clip_value <= 0;
  if (m.fusable) m.ex->fuse_updates(m.fused_with = m.opt->fused_scale());
}

TrainingSession::~TrainingSession() = default;

float TrainingSession::train_step(const Tensor& x, const Tensor& y, int64_t* correct) {
  return impl_->train_step(impl_->one(x), y, correct);
}

float TrainingSession::train_step(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t* correct) {
  return impl_->train_step(impl_->resolve(inputs), y, correct);
}

float TrainingSession::Impl::train_step(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y,
                                        int64_t* correct) {
  check_xy(feeds, y, "a batch");  // before the normalizer reads the labels
  check_targets(y);
  parts = 1, part = 0;
  normalizer = normalizer_of(y);
  return accumulate_step(feeds, y, correct);
}

float TrainingSession::Impl::accumulate_step(const std::vector<std::pair<int, const Tensor*>>& feeds, const Tensor& y,
                                             int64_t* correct) {
  Impl& m = *this;
  if (m.part >= m.parts)
    throw Error("TrainingSession::accumulate_step: no step under way (TrainingSession::begin_step names its parts)");
  m.bind(feeds, y, m.normalizer);
  m.ex->set_training(true);
  // Each part draws Dropout masks of its own; part 0 draws those of an unaccumulated step.
  m.ex->set_step(static_cast<uint64_t>(m.steps) | (static_cast<uint64_t>(m.part) << 48));
  // Diagnostics read every gradient, and parts sum theirs first, so both run the update as its own pass.
  const bool fused = m.fusable && !m.diagnose && m.parts == 1;
  const bool last = m.part + 1 == m.parts;
  m.last_fused = fused;
  if (fused)
    m.ex->run_update();
  else
    m.ex->run();
  m.ex->set_training(false);
  if (correct) *correct = m.correct(y);
  const float loss = *m.ex->data(m.t.loss);
  if (m.diagnose) m.diag.observe_layers(*m.ex);
  float* grads = m.ex->grads();
  if (m.parts > 1) {  // the parts' sum gathers in acc; the last part's gradient joins it where the optimizer reads
    for (const optim::Range& r : m.ranges)
      for (size_t i = r.offset; i < r.offset + r.count; ++i) {
        if (m.part == 0)
          m.acc[i] = grads[i];
        else if (!last)
          m.acc[i] += grads[i];
        else
          grads[i] += m.acc[i];
      }
  }
  if (!last) {
    ++m.part;
    return loss;
  }
  m.part = m.parts = 0;
  ir::Graph& params_owner = m.model.impl().graph;
  if (m.diagnose) m.diag.observe_params(*m.ex, params_owner.params.data(), m.ranges);
  m.clip(grads);
  m.opt->step(params_owner.params.data(), grads, fused ? m.unfused_ranges() : m.ranges);
  if (m.diagnose) m.diag.observe_update(params_owner.params.data(), m.ranges);
  ++params_owner.params_version;  // inference sessions repack the weights they cached
  ++m.steps;
  return loss;
}

void TrainingSession::begin_step(int64_t parts, double normalizer) {
  Impl& m = *impl_;
  if (parts < 1) throw Error("TrainingSession::begin_step: a step has at least one part, got " + std::to_string(parts));
  if (!(normalizer >= 0) || !std::isfinite(normalizer))
    throw Error("TrainingSession::begin_step: the normalizer must be a finite number >= 0, got " +
                std::to_string(normalizer));
  if (parts > 1 && m.acc.empty()) m.acc.assign(m.model.impl().graph.params.size(), 0.f);
  m.parts = parts, m.part = 0;
  m.normalizer = normalizer;
}

float TrainingSession::accumulate_step(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t* correct) {
  return impl_->accumulate_step(impl_->resolve(inputs), y, correct);
}

double TrainingSession::loss_normalizer(const Tensor& y) const {
  impl_->check_targets(y);
  return impl_->normalizer_of(y);
}
int64_t TrainingSession::ignored(const Tensor& y) const { return impl_->ignored_of(y); }
int64_t TrainingSession::ignore_index() const { return impl_->labels_loss() ? impl_->ignore : kNoIgnoredLabel; }
double TrainingSession::total_norm() const { return impl_->total_norm; }
bool TrainingSession::loss_from_labels() const { return impl_->from_labels; }

std::map<std::string, Tensor> TrainingSession::gradients(const Tensor& x, const Tensor& y, float* loss) {
  return impl_->gradients(impl_->one(x), y, loss);
}

std::map<std::string, Tensor> TrainingSession::gradients(const std::map<std::string, Tensor>& inputs, const Tensor& y,
                                                         float* loss) {
  return impl_->gradients(impl_->resolve(inputs), y, loss);
}

std::map<std::string, Tensor> TrainingSession::Impl::gradients(const std::vector<std::pair<int, const Tensor*>>& feeds,
                                                               const Tensor& y, float* loss) {
  Impl& m = *this;
  m.bind(feeds, y);
  m.ex->set_training(false);  // Dropout as the identity; DropoutGrad then passes dY through unscaled
  m.ex->run();
  std::map<std::string, Tensor> grads;
  for (size_t k = 0; k < m.t.trainable.size(); ++k) {
    const ir::Value& v = m.g.values[m.t.trainable[k]];
    const float* from = m.ex->grads() + m.ranges[k].offset;
    grads[v.name] = Tensor::f32_of(v.shape, std::vector<float>(from, from + m.ranges[k].count));
  }
  if (loss) *loss = *m.ex->data(m.t.loss);
  return grads;
}

namespace {

// Rows [b, e) of t, (N, ...) of any dtype, into out (whose storage is reused).
void slice_rows(const Tensor& t, int64_t b, int64_t e, Tensor& out) {
  const int64_t n = t.shape[0], row = n ? t.numel() / n : 0;
  out.dtype = t.dtype;
  out.shape = t.shape;
  out.shape[0] = e - b;
  if (t.dtype == DType::Float32)
    out.f32.assign(t.f32.begin() + b * row, t.f32.begin() + e * row);
  else if (t.dtype == DType::Int64)
    out.i64.assign(t.i64.begin() + b * row, t.i64.begin() + e * row);
  else
    out.bytes.assign(t.bytes.begin() + b * row * static_cast<int64_t>(dtype_size(t.dtype)),
                     t.bytes.begin() + e * row * static_cast<int64_t>(dtype_size(t.dtype)));
}

}  // namespace

EvalResult TrainingSession::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size, int64_t top_k) {
  return impl_->evaluate(impl_->one(x), y, batch_size, top_k);
}

EvalResult TrainingSession::evaluate(const std::map<std::string, Tensor>& inputs, const Tensor& y, int64_t batch_size,
                                     int64_t top_k) {
  return impl_->evaluate(impl_->resolve(inputs), y, batch_size, top_k);
}

EvalResult TrainingSession::evaluate(const Dataset& data, int64_t batch_size, int64_t top_k) {
  Impl& m = *impl_;
  std::vector<std::pair<int, const Tensor*>> feeds;
  const std::string x_name = data.x_name.empty() ? input() : data.x_name;
  for (int id : m.inputs) {
    const std::string& name = m.g.values[id].name;
    auto it = data.more.find(name);
    if (name == x_name)
      feeds.emplace_back(id, &data.x);
    else if (it != data.more.end())
      feeds.emplace_back(id, &it->second);
    else
      throw Error(data.source + ": no data for input '" + name + "' (" + m.names() + ")");
  }
  return m.evaluate(std::move(feeds), data.y, batch_size, top_k);
}

EvalResult TrainingSession::Impl::evaluate(std::vector<std::pair<int, const Tensor*>> feeds, const Tensor& y,
                                           int64_t batch_size, int64_t top_k) {
  Impl& m = *this;
  if (batch_size < 1) throw Error("evaluate: batch_size must be at least 1, got " + std::to_string(batch_size));
  if (top_k < 1) throw Error("evaluate: top_k must be at least 1, got " + std::to_string(top_k));
  m.check_xy(feeds, y, "data");
  if (top_k > 1 && y.dtype != DType::Int64)
    throw Error(m.g.source + ": evaluate: top_k " + std::to_string(top_k) +
                " applies to (N, C) scores against int64 class labels");
  const ir::Value& in = m.g.values[m.input];
  if (in.has_declared && !in.declared.empty() && in.declared[0].value > 0) batch_size = in.declared[0].value;
  m.check_targets(y);
  // Every batch divides by the whole set's normalizer, so that the losses add up to its mean, weighted as torch
  // weights one batch of all of it.
  const double norm = m.normalizer_of(y);
  EvalResult r;
  r.top_k = top_k;
  RegressionSums reg;
  r.classification = y.dtype == DType::Int64 || m.binary;
  r.ignored = m.ignored_of(y);
  const int64_t n = y.shape[0];
  std::vector<Tensor> xb(feeds.size());
  std::vector<std::pair<int, const Tensor*>> batch(feeds.size());
  Tensor yb;
  double total = 0;
  for (int64_t b = 0; b < n; b += batch_size) {
    const int64_t e = std::min(n, b + batch_size);
    for (size_t k = 0; k < feeds.size(); ++k) {
      slice_rows(*feeds[k].second, b, e, xb[k]);
      batch[k] = {feeds[k].first, &xb[k]};
    }
    slice_rows(y, b, e, yb);
    m.bind(batch, yb, norm);
    m.ex->run_forward();
    total += double(*m.ex->data(m.t.loss));
    r.correct += m.correct(yb);
    m.score(yb, r, reg);
  }
  r.count = n;
  r.loss = n ? total : 0;
  if (reg.n > 0) {
    r.regression = true;
    const double elements = double(reg.n) * double(reg.mean.size());
    r.mse = reg.sq_err / elements;
    r.mae = reg.abs_err / elements;
    double sum = 0;
    for (size_t j = 0; j < reg.mean.size(); ++j)
      sum += reg.m2[j] > 0 ? 1 - reg.ss_res[j] / reg.m2[j] : (reg.ss_res[j] == 0 ? 1.0 : 0.0);
    r.r2 = reg.mean.empty() ? 0 : sum / double(reg.mean.size());
  }
  return r;
}

std::vector<double> EvalResult::per_class_accuracy() const {
  std::vector<double> acc(static_cast<size_t>(classes), std::nan(""));
  if (confusion.size() != static_cast<size_t>(classes * classes)) return acc;
  for (int64_t c = 0; c < classes; ++c) {
    int64_t samples = 0;
    for (int64_t p = 0; p < classes; ++p) samples += confusion[c * classes + p];
    if (samples) acc[c] = double(confusion[c * classes + c]) / double(samples);
  }
  return acc;
}

TrainingState TrainingSession::state() const {
  const Impl& m = *impl_;
  TrainingState st;
  st.steps = m.steps;
  for (auto& [buffer, data] : m.opt->buffers())
    for (size_t k = 0; k < m.t.trainable.size(); ++k) {
      const ir::Value& v = m.g.values[m.t.trainable[k]];
      const float* from = data->data() + m.ranges[k].offset;
      st.optimizer[buffer + "/" + v.name] = Tensor::f32_of(v.shape, std::vector<float>(from, from + m.ranges[k].count));
    }
  return st;
}

void TrainingSession::restore(const TrainingState& st) {
  Impl& m = *impl_;
  if (st.steps < 0) throw Error("training state: a negative step count " + std::to_string(st.steps));
  // Checked whole before anything is copied, so a refused state leaves the session as it was.
  std::vector<std::pair<const Tensor*, float*>> copies;
  std::set<std::string> expected;
  for (auto& [buffer, data] : m.opt->buffers())
    for (size_t k = 0; k < m.t.trainable.size(); ++k) {
      const ir::Value& v = m.g.values[m.t.trainable[k]];
      const std::string key = buffer + "/" + v.name;
      auto it = st.optimizer.find(key);
      if (it == st.optimizer.end())
        throw Error("training state: no optimizer tensor '" + key + "' (another optimizer?)");
      if (it->second.dtype != DType::Float32 || it->second.shape != v.shape)
        throw Error("training state: optimizer tensor '" + key + "' is " + dtype_name(it->second.dtype) + " " +
                    shape_str(it->second.shape) + ", expected float32 " + shape_str(v.shape));
      expected.insert(key);
      copies.emplace_back(&it->second, data->data() + m.ranges[k].offset);
    }
  for (auto& [key, t] : st.optimizer)
    if (!expected.count(key))
      throw Error("training state: optimizer tensor '" + key + "' is not state of this optimizer and model");
  for (auto& [from, to] : copies) std::copy(from->f32.begin(), from->f32.end(), to);
  m.opt->set_steps(st.steps);
  m.steps = st.steps;
}

int64_t TrainingSession::steps() const { return impl_->steps; }

void TrainingSession::set_lr(double lr) {
  Impl& m = *impl_;
  if (!(lr >= 0) || !std::isfinite(lr)) throw Error("TrainingSession::set_lr: the lr must be >= 0 and finite");
  m.config.lr = lr;
  m.opt->set_lr(lr);
  // The fused steps hold the lr they were made with: a new one ends the fusion for the run (one new plan), which is
  // faster on oneDNN 2.6 than fused steps that read their scale when they run.
  if (m.fusable && m.opt->fused_scale() != m.fused_with) {
    m.ex->set_update_scale(m.opt->fused_scale());
    m.fusable = false;
  }
}

double TrainingSession::lr() const { return impl_->config.lr; }

void TrainingSession::set_momentum(double momentum) {
  Impl& m = *impl_;
  if (m.config.kind == Optimizer::Sgd && m.config.momentum == 0)
    throw Error("TrainingSession::set_momentum: an SGD session made without OptimizerConfig::momentum has no buffer");
  m.opt->set_momentum(momentum);
}

void TrainingSession::set_diagnostics(bool on) {
  Impl& m = *impl_;
  m.diagnose = on;
  std::vector<std::string> names;
  for (int p : m.t.trainable) names.push_back(m.g.values[p].name);
  m.diag.start(on, names, m.ranges);
}

std::vector<LayerStats> TrainingSession::layer_stats() const { return impl_->diag.layer_stats(); }
void TrainingSession::reset_layer_stats() { impl_->diag.reset_layers(); }
std::vector<ParamStats> TrainingSession::param_stats() const { return impl_->diag.params(); }

std::string TrainingSession::nonfinite_origin() const {
  const Impl& m = *impl_;
  if (!m.ex || m.steps == 0) return "";
  return diagnostics::nonfinite_origin(m.g, *m.ex);
}

std::string TrainingSession::nonfinite_parameter() const {
  const Impl& m = *impl_;
  const float* params = m.model.impl().graph.params.data();
  for (size_t k = 0; k < m.t.trainable.size(); ++k)
    for (size_t i = 0; i < m.ranges[k].count; ++i)
      if (!std::isfinite(params[m.ranges[k].offset + i])) return m.g.values[m.t.trainable[k]].name;
  return "";
}

std::string TrainingSession::loss_name() const { return autodiff::loss_name(impl_->loss); }
std::string TrainingSession::output() const { return impl_->output; }
std::string TrainingSession::input() const { return impl_->g.values[impl_->input].name; }
std::vector<std::string> TrainingSession::inputs() const {
  std::vector<std::string> out;
  for (int id : impl_->inputs) out.push_back(impl_->g.values[id].name);
  return out;
}
bool TrainingSession::binary_accuracy() const { return impl_->binary; }

std::vector<std::string> TrainingSession::trainable() const {
  std::vector<std::string> names;
  for (int p : impl_->t.trainable) names.push_back(impl_->g.values[p].name);
  return names;
}

std::vector<std::string> TrainingSession::frozen() const { return impl_->frozen; }

int64_t TrainingSession::classes() const { return impl_->classes; }
bool TrainingSession::class_labels() const {
  return impl_->classes > 1 && (impl_->loss == autodiff::Loss::CrossEntropy || impl_->loss == autodiff::Loss::NLL);
}
std::string TrainingSession::precision() const { return impl_->bf16 ? "bf16" : "f32"; }

std::vector<std::string> TrainingSession::fused_updates() const {
  const Impl& m = *impl_;
  std::vector<std::string> names;
  if (!m.last_fused) return names;
  for (int p : m.t.trainable)
    if (m.ex->fused()[p]) names.push_back(m.g.values[p].name);
  return names;
}

}  // namespace onnxtrain
