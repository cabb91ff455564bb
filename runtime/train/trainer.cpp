// Trainer: epochs, seeded shuffling, batches, validation, divergence checks, diagnostics' epoch reports, and when to
// checkpoint and what a resume must match. The computing is TrainingSession's; the folder format is checkpoint.cpp's.
#include "onnxtrain/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "runtime/train/diagnostics.h"

namespace onnxtrain {

namespace {

const char* const kResumeFrom = "TrainerOptions::resume_from";

// The batch size the model's input fixes (a PyTorch export without dynamic_axes), 0 where it is free.
int64_t fixed_batch(const Model& model, const std::string& input) {
  for (const ModelInfo::Port& p : model.info().inputs)
    if (p.name == input) return p.fixed_batch();
  return 0;
}

// Copies rows idx[begin, end) of t (N, ...) of any dtype into tb, whose storage is reserved for a whole batch up front.
void gather_rows(const Tensor& t, const std::vector<int64_t>& idx, size_t begin, size_t end, Tensor& tb) {
  const int64_t n = t.shape[0], b = static_cast<int64_t>(end - begin);
  const size_t width = t.dtype == DType::Float32 ? 4 : t.dtype == DType::Int64 ? 8 : dtype_size(t.dtype);
  const size_t row = static_cast<size_t>(t.numel() / n) * width;  // bytes per sample
  tb.dtype = t.dtype;
  tb.shape = t.shape;
  tb.shape[0] = b;
  if (t.dtype == DType::Float32)
    tb.f32.resize(static_cast<size_t>(b) * row / 4);
  else if (t.dtype == DType::Int64)
    tb.i64.resize(static_cast<size_t>(b) * row / 8);
  else
    tb.bytes.resize(static_cast<size_t>(b) * row);
  const auto* from = static_cast<const uint8_t*>(t.data());
  auto* to = static_cast<uint8_t*>(tb.data());
  if (row == 0) return;
  for (int64_t k = 0; k < b; ++k)
    std::memcpy(to + static_cast<size_t>(k) * row,
                from + static_cast<size_t>(idx[begin + static_cast<size_t>(k)]) * row, row);
}

// The batch of rows idx[begin, end): every input's rows together (keyed by input name in xb, each reused) and the
// targets'.
void gather(const Dataset& d, const std::string& x_name, const std::vector<int64_t>& idx, size_t begin, size_t end,
            std::map<std::string, Tensor>& xb, Tensor& yb) {
  gather_rows(d.x, idx, begin, end, xb[x_name]);
  for (const auto& [name, t] : d.more) gather_rows(t, idx, begin, end, xb[name]);
  gather_rows(d.y, idx, begin, end, yb);
}

// The storage of a batch of up to b rows of t, reserved so that no step allocates.
void reserve_rows(const Tensor& t, int64_t b, Tensor& tb) {
  const size_t count = static_cast<size_t>(b * (t.numel() / t.shape[0]));
  if (t.dtype == DType::Float32)
    tb.f32.reserve(count);
  else if (t.dtype == DType::Int64)
    tb.i64.reserve(count);
  else
    tb.bytes.reserve(count * dtype_size(t.dtype));
}

// A checkpoint's config as run_config makes it now: older checkpoints kept -1 for a default lr or weight decay and
// the frozen initializers in the order given.
nlohmann::json normalized(nlohmann::json c) {
  if (c.contains("optimizer") && c["optimizer"].is_string()) {
    OptimizerConfig o;
    try {
      o.kind = optimizer_named(c["optimizer"].get<std::string>());
    } catch (const Error&) {
      return c;  // an optimizer this build does not know: the comparison names it
    }
    if (c.contains("lr") && c["lr"].is_number()) o.lr = c["lr"].get<double>();
    if (c.contains("weight-decay") && c["weight-decay"].is_number()) o.weight_decay = c["weight-decay"].get<double>();
    o = resolved(o);
    c["lr"] = o.lr;
    c["weight-decay"] = o.weight_decay;
  }
  if (c.contains("freeze") && c["freeze"].is_array()) {
    std::vector<nlohmann::json> f(c["freeze"].begin(), c["freeze"].end());
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    c["freeze"] = f;
  }
  return c;
}

std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream s;
  s << rng;
  return s.str();
}

std::string g_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

struct Trainer::Impl {
  Model& model;
  TrainOptions options;
  TrainerOptions topt;
  TrainerObserver quiet;
  TrainerObserver* obs;
  files::Inputs inputs;
  CheckpointDir from, own;
  CheckpointDir* to = nullptr;  // where checkpoints go: own, or the folder resumed
  Checkpoint resumed;
  std::unique_ptr<TrainingSession> session;
  const Dataset* train = nullptr;
  const Dataset* val = nullptr;
  int64_t n = 0, per_epoch = 0, epochs = 0;
  bool labels = false;  // hits are counted
  double lr = 0;
  Position pos;
  std::mt19937_64 rng;
  std::string x_name;                // the input the training data's x feeds
  std::map<std::string, Tensor> xb;  // the batch of every input, gathered into the same storage each step
  Tensor yb;
  int64_t step_samples = 0;  // samples per optimizer step: batch_size times accumulate (at most the data's)
  Tensor ystep;              // with accumulation, the targets of the whole step, for its normalizer
  float last_finite = NAN;
  diagnostics::EpochTotals totals;
  std::unique_ptr<LrScheduler> sched;  // made in set_data, when the run's steps are known
  // save_best and early_stopping: the best value of the monitored metric (NaN: none yet) and its step; the best
  // early stopping measures against (improved by more than min_delta) and the validations since.
  double best = NAN, es_best = NAN;
  int64_t best_step = 0, es_wait = 0;
  bool best_saved = false;    // this process wrote save_best
  files::Inputs best_inputs;  // what save_best may not overwrite
  bool stopping = false;      // early stopping: end the run after this validation
  std::string stop_reason;

  Impl(Model& m, TrainOptions o, TrainerOptions t, TrainerObserver* observer)
      : model(m), options(std::move(o)), topt(std::move(t)), obs(observer ? observer : &quiet), inputs(topt.inputs) {}

  // The options a resumed run must share with the run that wrote the checkpoint for the weights to come out the
  // same, as they take effect: defaults resolved (an unset lr is the optimizer's), the frozen set resolved and sorted.
  nlohmann::json run_config() const {
    const OptimizerConfig o = resolved(options.optimizer);
    // The frozen set as the patterns resolved it: --freeze '0.*' continues a run frozen name by name.
    const std::vector<std::string> freeze = session->frozen();
    nlohmann::json c = {{"samples", n},
                        {"batch-size", topt.batch_size},
                        {"loss", session->loss_name()},
                        {"optimizer", name_of(o.kind)},
                        {"lr", o.lr},
                        {"momentum", o.momentum},
                        {"dampening", o.dampening},
                        {"nesterov", o.nesterov},
                        {"weight-decay", o.weight_decay},
                        {"beta1", o.beta1},
                        {"beta2", o.beta2},
                        {"eps", o.eps},
                        {"seed", options.seed},
                        {"no-shuffle", !topt.shuffle},
                        {"freeze", freeze},
                        {"precision", session->precision()},
                        {"threads", options.threads}};
    if (!options.output.empty()) c["output"] = session->output();  // checkpoints from before outputs were named lack it
    if (options.freeze_batchnorm) c["freeze-batchnorm"] = true;    // set only when on, as checkpoints without it ran
    if (topt.schedule.kind != Schedule::Constant || topt.schedule.warmup_steps > 0)
      c["lr-schedule"] = schedule_config();
    // The same for the gradient and loss options: set only when not the default.
    c.update(gradient_config());
    return c;
  }

  // The options of accumulation, clipping and the loss that change a run's result, those not at their defaults.
  nlohmann::json gradient_config() const {
    nlohmann::json c = nlohmann::json::object();
    if (topt.accumulate > 1) c["accumulate"] = topt.accumulate;
    if (options.clip_grad_norm > 0) c["clip-grad-norm"] = options.clip_grad_norm;
    if (options.clip_grad_value > 0) c["clip-grad-value"] = options.clip_grad_value;
    if (options.label_smoothing > 0) c["label-smoothing"] = options.label_smoothing;
    if (!options.class_weights.empty()) c["class-weights"] = options.class_weights;
    if (options.ignore_index != -100) c["ignore-index"] = options.ignore_index;
    return c;
  }

  // The schedule as it takes effect, for run_config: its kind, the fields it reads, and the run's steps where the
  // schedule is sized by them.
  nlohmann::json schedule_config() const {
    const LrSchedule& l = topt.schedule;
    nlohmann::json c = {{"kind", name_of(l.kind)}, {"warmup-steps", l.warmup_steps}};
    switch (l.kind) {
      case Schedule::Step: c["step-size"] = l.step_size, c["gamma"] = l.gamma; break;
      case Schedule::MultiStep: c["milestones"] = l.milestones, c["gamma"] = l.gamma; break;
      case Schedule::Exponential: c["gamma"] = l.gamma; break;
      case Schedule::Cosine: c["min-lr"] = l.min_lr, c["total-steps"] = total_steps(); break;
      case Schedule::OneCycle:
        c["total-steps"] = total_steps();
        c["pct-start"] = l.pct_start, c["div-factor"] = l.div_factor, c["final-div-factor"] = l.final_div_factor;
        c["cycle-momentum"] = l.cycle_momentum, c["base-momentum"] = l.base_momentum;
        c["max-momentum"] = l.max_momentum;
        break;
      case Schedule::Plateau:
        c["factor"] = l.factor, c["patience"] = l.patience, c["threshold"] = l.threshold;
        c["threshold-mode"] = l.threshold_abs ? "abs" : "rel", c["cooldown"] = l.cooldown;
        c["min-lr"] = l.plateau_min_lr, c["eps"] = l.eps;
        break;
      default: break;
    }
    return c;
  }

  // Saturated: --epochs may be as large as int64 holds.
  int64_t total_steps() const {
    int64_t n = 0;
    if (topt.steps > 0) return topt.steps;
    return __builtin_mul_overflow(epochs, per_epoch, &n) ? INT64_MAX : n;
  }

  // The Trainer's own state for the checkpoint (Position::trainer).
  std::string trainer_state() const {
    if (!sched) return "";  // before set_data: nothing has run
    nlohmann::json j = {{"schedule", nlohmann::json::parse(sched->state())},
                        {"best_step", best_step},
                        {"early_stopping_wait", es_wait}};
    if (!std::isnan(best)) j["best"] = best;
    if (!std::isnan(es_best)) j["early_stopping_best"] = es_best;
    return j.dump();
  }

  // The monitored metric of a validation.
  double metric(const EvalResult& v) const { return topt.monitor == "val_accuracy" ? v.accuracy() : v.loss; }
  bool better(double value, double than, double delta) const {
    if (std::isnan(than)) return !std::isnan(value);
    return topt.monitor == "val_accuracy" ? value > than + delta : value < than - delta;
  }

  // After each validation once training has started: the plateau schedule, save_best, early stopping.
  void after_validation(const EvalResult& v, int64_t step) {
    if (sched->validated(v.loss)) {
      session->set_lr(sched->lr());
      obs->on_note("LrSchedule::kind plateau: the validation loss has not improved for " +
                   std::to_string(topt.schedule.patience + 1) + " validations; lr lowered to " + g_text(sched->lr()) +
                   " after step " + std::to_string(step));
    }
    const double value = metric(v);
    if (!topt.save_best.empty() && better(value, best, 0)) {
      check_weights();  // a non-finite weight is never written as the best
      model.save(topt.save_best, best_inputs);
      best = value;
      best_step = step;
      best_saved = true;
    } else if (topt.save_best.empty() && better(value, best, 0)) {
      best = value;
      best_step = step;
    }
    if (topt.early_stopping > 0) {
      if (better(value, es_best, topt.min_delta)) {
        es_best = value;
        es_wait = 0;
      } else if (++es_wait >= topt.early_stopping) {
        stopping = true;
        stop_reason = "early stopping after step " + std::to_string(step) + ": " + topt.monitor +
                      " has not improved by more than TrainerOptions::min_delta " + g_text(topt.min_delta) +
                      " for TrainerOptions::early_stopping " + std::to_string(topt.early_stopping) +
                      " validations (best " + g_text(best) + " at step " + std::to_string(best_step) + ")";
        obs->on_note(stop_reason);
      }
    }
  }

  // Refuses a resume whose options would not continue the same run, naming the first option that differs.
  void check_same_run(const nlohmann::json& checkpoint, const nlohmann::json& now) const {
    const std::string label = std::string(kResumeFrom) + " " + topt.resume_from;
    const nlohmann::json was = normalized(checkpoint);
    // The optimizer first: the defaults of others (lr) follow from it.
    std::vector<std::string> keys = {"optimizer"};
    for (auto it = now.begin(); it != now.end(); ++it)
      if (it.key() != "optimizer" && it.key() != "threads" && it.key() != "lr" && it.key() != "lr-schedule")
        keys.push_back(it.key());  // threads, lr and the schedule: notes below
    // The gradient and loss options are written only when set: one the checkpoint has and this run lacks differs too.
    for (const char* key :
         {"accumulate", "clip-grad-norm", "clip-grad-value", "label-smoothing", "class-weights", "ignore-index"})
      if (was.contains(key) && !now.contains(key))
        throw Error(label + ": the checkpoint was made with " + key + " " + was[key].dump() +
                    ", this run has the default; resume with the same options");
    for (const std::string& key : keys) {
      if (!was.contains(key) || was[key] != now[key])
        throw Error(label + ": the checkpoint was made with " + key + " " +
                    (was.contains(key) ? was[key].dump() : "unset") + ", this run has " + now[key].dump() +
                    "; resume with the same options");
    }
    const nlohmann::json constant = {{"kind", "constant"}};
    const nlohmann::json was_schedule = was.value("lr-schedule", constant),
                         schedule = now.value("lr-schedule", constant);
    if (was.value("lr", nlohmann::json()) != now["lr"] || was_schedule != schedule)
      obs->on_note("the checkpoint was made with OptimizerConfig::lr " + was.value("lr", nlohmann::json()).dump() +
                   " and TrainerOptions::schedule " + was_schedule.dump() + "; this run has lr " + now["lr"].dump() +
                   " and schedule " + schedule.dump() + ", which from here gives the lr it gives at step " +
                   std::to_string(resumed.state.steps));
    if (was.value("threads", 0) != now.value("threads", 0))
      obs->on_note("the checkpoint was made with TrainOptions::threads " + std::to_string(was.value("threads", 0)) +
                   " and this run uses " + std::to_string(now.value("threads", 0)) +
                   ": the result may differ from an uninterrupted run in the last bits");
  }

  // Checks a checkpoint's position against the data it is resumed on.
  void check_position(const Position& p) const {
    const std::string label = std::string(kResumeFrom) + " " + topt.resume_from;
    if (p.order.empty()) {  // between epochs; older checkpoints left next at the last epoch's end
      if (p.next != 0 && p.next != n)
        throw Error(label + ": the checkpoint is between epochs but " + std::to_string(p.next) + " samples into one");
      return;
    }
    if (static_cast<int64_t>(p.order.size()) != n)
      throw Error(label + ": the checkpoint's order covers " + std::to_string(p.order.size()) +
                  " samples, the data has " + std::to_string(n));
    if (p.next > n)
      throw Error(label + ": the checkpoint is " + std::to_string(p.next) + " samples into an epoch of " +
                  std::to_string(n));
    std::vector<char> seen(static_cast<size_t>(n), 0);
    for (int64_t i : p.order)
      if (i < 0 || i >= n || seen[static_cast<size_t>(i)]++)
        throw Error(label + ": the checkpoint's order is not a permutation of the samples");
  }

  // What a run that fails now has written: a failed run publishes nothing, but its checkpoints stay.
  std::string written_so_far() const {
    return to && to->last_step() >= 0 ? "The last checkpoint, in " + to->dir() + ", is from step " +
                                            std::to_string(to->last_step()) + "; nothing else was written"
                                      : std::string("Nothing was written");
  }

  void check_weights() const {
    const std::string bad = session->nonfinite_parameter();
    if (bad.empty()) return;
    throw Error("training diverged: parameter '" + bad + "' holds NaN or Inf after step " +
                std::to_string(session->steps()) +
                ", although the loss stayed finite (a Relu can hide a NaN from it). " + written_so_far() +
                "; check the model's initial weights, or try a lower OptimizerConfig::lr");
  }

  void checkpoint(CheckpointDir& dir) {
    check_weights();
    pos.rng = rng_text(rng);
    pos.trainer = trainer_state();
    const int64_t before = dir.last_step();
    dir.write(model, session->state(), pos);
    if (dir.last_step() != before) obs->on_checkpoint(dir.last_step(), dir.dir());  // not when the step had one
  }

  void record(const nlohmann::json& r) {
    const std::string line = r.dump();
    if (to) to->append_record(line);
    obs->on_record(line);
  }

  // A validation between steps (step 0: before the first), reported and recorded.
  EvalResult validate(int64_t step, int64_t epoch) {
    EvalResult v = session->evaluate(*val);
    nlohmann::json r = {{"type", "val"}, {"epoch", epoch}, {"step", step}, {"val_loss", v.loss}};
    if (v.classification) r["val_accuracy"] = v.accuracy();
    obs->on_validation({step, epoch, v});
    record(r);
    return v;
  }

  // An epoch's diagnostics: reported, warned about, and returned for its record.
  nlohmann::json report_diagnostics(int64_t epoch) {
    DiagnosticsReport d = totals.take(epoch, session->layer_stats());
    session->reset_layer_stats();
    obs->on_diagnostics(d);
    for (const std::string& w : diagnostics::warnings(d)) obs->on_warning(w);
    nlohmann::json layers = nlohmann::json::array(), ps = nlohmann::json::array();
    for (const LayerStats& l : d.layers)
      layers.push_back(
          {{"node", l.node}, {"op_type", l.op_type}, {"units", l.units}, {"dead", l.dead}, {"negative", l.negative}});
    for (const ParamEpochStats& p : d.params)
      ps.push_back({{"name", p.name},
                    {"grad_norm", p.grad_norm},
                    {"update_ratio", p.update_ratio},
                    {"vanishing_steps", p.vanishing_steps},
                    {"exploding_steps", p.exploding_steps}});
    return {{"layers", layers}, {"params", ps}};
  }
};

Trainer::Trainer(Model& model, TrainOptions options, TrainerOptions trainer, TrainerObserver* observer)
    : impl_(std::make_unique<Impl>(model, std::move(options), std::move(trainer), observer)) {
  Impl& m = *impl_;
  const TrainerOptions& t = m.topt;
  if (t.batch_size <= 0)
    throw Error("TrainerOptions::batch_size must be positive, got " + std::to_string(t.batch_size));
  if (t.steps <= 0 && t.epochs <= 0)
    throw Error("TrainerOptions::epochs must be positive (or TrainerOptions::steps set), got " +
                std::to_string(t.epochs));
  if (t.accumulate < 1)
    throw Error("TrainerOptions::accumulate must be at least 1, got " + std::to_string(t.accumulate));
  if (t.checkpoint_every < 0 || t.val_every < 0 || t.steps < 0)
    throw Error("TrainerOptions::steps, checkpoint_every and val_every must be >= 0");
  const std::vector<std::string> own_files = model.files();
  for (const std::string& f : own_files)
    if (!m.inputs.role_of(f)) m.inputs.add(f, f == own_files[0] ? "model" : "model's external data '" + f + "'");
  // The checkpoint folders: the one resumed, and the one written (the same, unless checkpoint_dir names another).
  if (!t.resume_from.empty()) {
    m.from = CheckpointDir(t.resume_from, kResumeFrom, m.inputs, true);
    m.resumed = m.from.read();
    m.inputs.add(m.resumed.model, "checkpoint's model");
  }
  if (!t.checkpoint_dir.empty() && !(m.from.open() && files::same_target(t.checkpoint_dir, t.resume_from)))
    m.own = CheckpointDir(t.checkpoint_dir, "TrainerOptions::checkpoint_dir", m.inputs, false), m.to = &m.own;
  else if (m.from.open())
    m.to = &m.from;
  if (m.from.open()) model.load_weights(m.resumed.model);
  check_schedule(t.schedule);
  if (t.monitor != "val_loss" && t.monitor != "val_accuracy")
    throw Error("TrainerOptions::monitor: '" + t.monitor + "' is not val_loss or val_accuracy");
  if (t.early_stopping < 0 || !(t.min_delta >= 0) || !std::isfinite(t.min_delta))
    throw Error("TrainerOptions::early_stopping and min_delta must be >= 0");
  TrainOptions session_options = m.options;
  // OneCycleLR sets the momentum (or beta1) of every step, so SGD has a momentum buffer even from momentum 0, as
  // torch's SGD then has: it is made with the schedule's first momentum, which the first step sets anyway.
  if (t.schedule.kind == Schedule::OneCycle && t.schedule.cycle_momentum && m.options.optimizer.kind == Optimizer::Sgd)
    session_options.optimizer.momentum = t.schedule.max_momentum;
  if (!t.save_best.empty()) {
    m.best_inputs = t.inputs;
    if (m.from.open()) m.best_inputs.add(m.resumed.model, "checkpoint's model");
    // The model's own files are outputs when save_best names the model itself (training it in place).
    if (!files::same_target(t.save_best, own_files[0]))
      for (const std::string& f : own_files)
        m.best_inputs.add(f, f == own_files[0] ? "model" : "model's external data");
    model.check_save(t.save_best, m.best_inputs);
  }
  m.session = std::make_unique<TrainingSession>(model, session_options);
  m.session->set_diagnostics(t.diagnostics);
  m.lr = resolved(m.options.optimizer).lr;
}

Trainer::Trainer(Model& model, TrainOptions options, TrainerOptions trainer, const Dataset& train, const Dataset* val,
                 TrainerObserver* observer)
    : Trainer(model, std::move(options), std::move(trainer), observer) {
  set_data(train, val);
}

Trainer::~Trainer() = default;

void Trainer::set_data(const Dataset& train, const Dataset* val) {
  Impl& m = *impl_;
  if (m.train) throw Error("Trainer::set_data: the trainer has its data already");
  TrainingSession& s = *m.session;
  check_trainable(train, s.classes(), s.ignore_index());
  if (val) check_trainable(*val, s.classes(), s.ignore_index());
  // Targets the loss options refuse (float targets where the loss was guessed from int64 labels, an ignore_index
  // beside probabilities) are refused now, not at the first step.
  s.loss_normalizer(train.y);
  if (val) s.loss_normalizer(val->y);
  if (s.loss_from_labels())
    m.obs->on_note("output '" + s.output() +
                   "' comes from no Softmax, LogSoftmax or Sigmoid and the labels are int64 classes, so the loss is "
                   "cross-entropy on its logits, as torch.nn.CrossEntropyLoss (TrainOptions::loss chooses another)");
  m.train = &train;
  m.val = val;
  const int64_t n = m.n = train.x.shape[0], batch = m.topt.batch_size;
  // A model exported with a fixed batch runs no other: refused now rather than at the first step, or at an epoch's
  // last, partial batch after the rest of the epoch has trained.
  if (const int64_t fixed = fixed_batch(m.model, s.input())) {
    const std::string why = m.model.path() + ": the model fixes its batch dimension at " + std::to_string(fixed) +
                            " (a PyTorch export without dynamic_axes?)";
    if (batch != fixed)
      throw Error(why + ", and TrainerOptions::batch_size is " + std::to_string(batch) +
                  "; use TrainerOptions::batch_size " + std::to_string(fixed) + ", or export again with dynamic_axes");
    if (n % fixed != 0)
      throw Error(why + ", and " + train.source + "'s " + std::to_string(n) + " samples leave a last batch of " +
                  std::to_string(n % fixed) + "; export again with dynamic_axes");
  }
  // Rounded-up divisions that cannot overflow, whatever batch_size, accumulate and steps say.
  m.step_samples = batch > n / m.topt.accumulate ? n : batch * m.topt.accumulate;
  m.per_epoch = n / m.step_samples + (n % m.step_samples != 0);
  m.epochs = m.topt.steps > 0 ? m.topt.steps / m.per_epoch + (m.topt.steps % m.per_epoch != 0) : m.topt.epochs;
  m.labels = train.y.dtype == DType::Int64 || s.binary_accuracy();
  const TrainerOptions& t = m.topt;
  if (!val && t.schedule.kind == Schedule::Plateau)
    throw Error("LrSchedule::kind plateau steps on the validation loss: it needs validation data");
  if (!val && !t.save_best.empty())
    throw Error("TrainerOptions::save_best keeps the best validation's weights: it needs validation data");
  if (!val && t.early_stopping > 0)
    throw Error("TrainerOptions::early_stopping watches the validations: it needs validation data");
  if ((!t.save_best.empty() || t.early_stopping > 0) && t.monitor == "val_accuracy" &&
      !(val->y.dtype == DType::Int64 || s.binary_accuracy()))
    throw Error("TrainerOptions::monitor val_accuracy needs class labels in the validation data (" + val->source +
                " has float targets)");
  m.sched = std::make_unique<LrScheduler>(t.schedule, resolved(m.options.optimizer).lr, m.total_steps());

  m.pos.config = m.run_config().dump();
  m.pos.command = m.topt.command;
  m.rng.seed(m.options.seed);
  if (m.from.open()) {
    const std::string label = std::string(kResumeFrom) + " " + m.topt.resume_from;
    m.check_same_run(nlohmann::json::parse(m.resumed.position.config), nlohmann::json::parse(m.pos.config));
    m.check_position(m.resumed.position);
    std::istringstream in(m.resumed.position.rng);
    if (!(in >> m.rng)) throw Error(label + ": the checkpoint's generator state is malformed");
    s.restore(m.resumed.state);
    // The schedule continues from its state when neither it nor the lr changed; otherwise the new one gives the lr
    // it has at this step (a plateau schedule starting afresh).
    const nlohmann::json was = normalized(nlohmann::json::parse(m.resumed.position.config)),
                         now = nlohmann::json::parse(m.pos.config);
    const bool same_schedule = was.value("lr", nlohmann::json()) == now["lr"] &&
                               was.value("lr-schedule", nlohmann::json()) == now.value("lr-schedule", nlohmann::json());
    nlohmann::json state = m.resumed.position.trainer.empty() ? nlohmann::json::object()
                                                              : nlohmann::json::parse(m.resumed.position.trainer);
    if (same_schedule && state.contains("schedule")) {
      m.sched->restore(state["schedule"].dump());
    } else {
      while (m.sched->steps() < s.steps()) m.sched->step();
    }
    if (state.contains("best") && state["best"].is_number()) m.best = state["best"].get<double>();
    if (state.contains("best_step") && state["best_step"].is_number()) m.best_step = state["best_step"].get<int64_t>();
    if (state.contains("early_stopping_best") && state["early_stopping_best"].is_number())
      m.es_best = state["early_stopping_best"].get<double>();
    if (state.contains("early_stopping_wait") && state["early_stopping_wait"].is_number())
      m.es_wait = state["early_stopping_wait"].get<int64_t>();
    m.pos = std::move(m.resumed.position);
    if (m.pos.order.empty()) m.pos.next = 0;
    m.pos.command = m.topt.command;  // how this run was started, for the checkpoints it writes
    // The history so far (copied into another checkpoint folder too, if checkpoints go elsewhere).
    m.from.for_each_record([&](const std::string& line) {
      m.obs->on_record(line);
      if (m.to && m.to != &m.from) m.to->append_record(line);
    });
  }
  s.set_lr(m.sched->lr());
  if (m.sched->sets_momentum()) s.set_momentum(m.sched->momentum());
  // The batch buffers at their largest, so that no step allocates.
  m.x_name = train.x_name.empty() ? s.input() : train.x_name;
  reserve_rows(train.x, std::min(batch, n), m.xb[m.x_name]);
  for (const auto& [name, t] : train.more) reserve_rows(t, std::min(batch, n), m.xb[name]);
  reserve_rows(train.y, std::min(batch, n), m.yb);
  if (m.topt.accumulate > 1) reserve_rows(train.y, m.step_samples, m.ystep);
}

TrainResult Trainer::run() {
  Impl& m = *impl_;
  if (!m.train) throw Error("Trainer::run: no training data (Trainer::set_data)");
  TrainingSession& s = *m.session;
  Position& pos = m.pos;
  const TrainerOptions& t = m.topt;
  const int64_t n = m.n, first_step = s.steps();
  TrainResult result;
  const auto finish = [&]() {
    result.early_stopped = m.stopping;
    result.reason = m.stop_reason;
    result.best_saved = m.best_saved;
    result.best = m.best;
    result.best_step = m.best_step;
    return result;
  };
  if (stop_requested()) return result.stopped = true, finish();
  if (t.early_stopping > 0 && m.es_wait >= t.early_stopping) {  // a resumed run that had stopped early
    m.stopping = true;
    m.stop_reason = "early stopping: the checkpoint's run had stopped early (" + t.monitor + " not improved for " +
                    std::to_string(m.es_wait) + " validations); a larger TrainerOptions::early_stopping goes on";
    m.obs->on_note(m.stop_reason);
    return finish();
  }
  if (m.val && !m.from.open()) m.validate(0, 0);  // where validation starts: the first point of its curve
  while (pos.epoch <= m.epochs && !m.stopping) {
    if (pos.order.empty()) {  // a new epoch: its own draw of the order
      pos.order.resize(static_cast<size_t>(n));
      std::iota(pos.order.begin(), pos.order.end(), 0);
      if (t.shuffle)  // Fisher-Yates with our own draw, so a seed means the same order everywhere
        for (size_t i = pos.order.size(); i > 1; --i) std::swap(pos.order[i - 1], pos.order[m.rng() % i]);
      pos.next = 0;
      pos.loss_sum = 0;
      pos.correct = pos.seen = pos.ignored = 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    int64_t seen_here = 0;  // samples this process trained in this epoch, for the rate
    double eval_secs = 0;   // time spent in val_every validations, not training
    bool due = false;       // a checkpoint_every checkpoint fell on the epoch's last step
    while (pos.next < n && (t.steps == 0 || s.steps() < t.steps) && !stop_requested() && !m.stopping) {
      const int64_t b = pos.next, end = std::min(n, b + m.step_samples);
      int64_t hits = 0, ignored = 0;
      float loss = 0;
      m.lr = s.lr();  // the lr this step uses, set by the schedule after the step before
      if (t.accumulate == 1) {
        gather(*m.train, m.x_name, pos.order, static_cast<size_t>(b), static_cast<size_t>(end), m.xb, m.yb);
        loss = s.train_step(m.xb, m.yb, &hits);
        ignored = s.ignored(m.yb);
      } else {
        // One optimizer step over the micro-batches of [b, end), each divided by the whole step's normalizer.
        gather_rows(m.train->y, pos.order, static_cast<size_t>(b), static_cast<size_t>(end), m.ystep);
        s.begin_step((end - b + t.batch_size - 1) / t.batch_size, s.loss_normalizer(m.ystep));
        ignored = s.ignored(m.ystep);
        double sum = 0;
        for (int64_t mb = b; mb < end; mb += t.batch_size) {
          const int64_t me = std::min(end, mb + t.batch_size);
          gather(*m.train, m.x_name, pos.order, static_cast<size_t>(mb), static_cast<size_t>(me), m.xb, m.yb);
          int64_t part_hits = 0;
          sum += s.accumulate_step(m.xb, m.yb, &part_hits);
          hits += part_hits;
        }
        loss = static_cast<float>(sum);
      }
      const int64_t step = s.steps();
      m.sched->step();  // torch's scheduler.step() after optimizer.step(): the next step's lr
      s.set_lr(m.sched->lr());
      if (m.sched->sets_momentum()) s.set_momentum(m.sched->momentum());
      std::vector<ParamStats> stats = t.diagnostics ? s.param_stats() : std::vector<ParamStats>();
      std::string bad_grad;
      for (const ParamStats& p : stats)
        if (bad_grad.empty() && !std::isfinite(p.grad_norm)) bad_grad = p.name;
      if (!std::isfinite(loss) || !bad_grad.empty()) {
        const std::string what = !std::isfinite(loss)
                                     ? std::string("the loss became ") + (std::isnan(loss) ? "NaN" : "Inf")
                                     : "the gradient of '" + bad_grad + "' became NaN or Inf";
        const std::string where = s.nonfinite_origin();
        const std::string before = std::isfinite(loss)         ? "; the loss was still finite, " + g_text(loss)
                                   : std::isnan(m.last_finite) ? std::string("; no step had a finite loss")
                                                               : "; the last finite loss was " + g_text(m.last_finite);
        throw Error("training diverged: " + what + " at step " + std::to_string(step) + " (epoch " +
                    std::to_string(pos.epoch) + ")" + (where.empty() ? "" : "; it first appeared in " + where) +
                    before + ". " + m.written_so_far() + "; try a lower OptimizerConfig::lr");
      }
      m.last_finite = loss;
      pos.next = end;
      pos.loss_sum += double(loss) * double(end - b);
      pos.correct += hits;
      pos.seen += end - b;
      pos.ignored += ignored;
      seen_here += end - b;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - eval_secs;
      nlohmann::json r = {{"type", "step"},
                          {"epoch", pos.epoch},
                          {"step", step},
                          {"loss", loss},
                          {"batch", end - b},
                          {"lr", m.lr},
                          {"samples_per_s", double(seen_here) / elapsed}};
      if (m.labels && end - b > ignored) r["accuracy"] = double(hits) / double(end - b - ignored);
      const double total_norm = m.options.clip_grad_norm > 0 ? s.total_norm() : NAN;
      if (m.options.clip_grad_norm > 0) r["total_norm"] = total_norm;
      if (!stats.empty()) {
        nlohmann::json gn, ur;
        for (const ParamStats& p : stats) {
          gn[p.name] = p.grad_norm;
          ur[p.name] = p.update_ratio;
        }
        m.totals.add(stats);
        r["grad_norm"] = std::move(gn);
        r["update_ratio"] = std::move(ur);
      }
      m.record(r);
      StepReport report;
      report.step = step;
      report.epoch = pos.epoch;
      report.epochs = m.epochs;
      report.done = end;
      report.samples = n;
      report.batch = end - b;
      report.loss = loss;
      report.epoch_loss = pos.loss_sum / double(pos.seen);
      report.lr = m.lr;
      report.total_norm = total_norm;
      report.elapsed = elapsed;
      report.params = t.diagnostics ? &stats : nullptr;
      m.obs->on_step(report);
      if (t.val_every > 0 && m.val && step % t.val_every == 0 && pos.next < n) {  // the epoch's end validates anyway
        const auto e0 = std::chrono::steady_clock::now();
        m.after_validation(m.validate(step, pos.epoch), step);
        eval_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
      }
      // A checkpoint due at an epoch's last step waits for the epoch's record, so that it covers the whole epoch.
      if (m.to && t.checkpoint_every > 0 && step % t.checkpoint_every == 0) {
        if (pos.next < n)
          m.checkpoint(*m.to);
        else
          due = true;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - eval_secs;
    result.steps = s.steps() - first_step;
    if (stop_requested()) return result.stopped = true, finish();  // the caller writes what it wants (write_checkpoint)
    // An epoch's record is made once, when it ends. A step count that stops inside one reports its running totals
    // but records nothing: the run resumed from there records that epoch when it ends, and a resume with nothing
    // left to train reports nothing.
    const bool ended = pos.next == n;
    if (pos.seen > 0 && (seen_here > 0 || ended)) {
      EpochReport e;
      e.epoch = pos.epoch;
      e.epochs = m.epochs;
      e.done = pos.next;
      e.samples = n;
      e.ended = ended;
      e.loss = pos.loss_sum / double(pos.seen);
      e.trained = seen_here;
      e.seconds = secs;
      nlohmann::json r = {{"type", "epoch"}, {"epoch", pos.epoch}, {"loss", e.loss}};
      if (seen_here > 0) r["samples_per_s"] = e.samples_per_s = double(seen_here) / secs;
      if (m.labels) {
        e.counted = true;
        r["accuracy"] = e.accuracy =
            pos.seen > pos.ignored ? double(pos.correct) / double(pos.seen - pos.ignored) : 0.0;
      }
      if (ended && m.val) {
        e.validated = true;
        e.val = s.evaluate(*m.val);
        r["val_loss"] = e.val.loss;
        if (e.val.classification) r["val_accuracy"] = e.val.accuracy();
        m.after_validation(e.val, s.steps());
      }
      m.obs->on_epoch(e);
      if (t.diagnostics) r["diagnostics"] = m.report_diagnostics(pos.epoch);
      if (ended) m.record(r);
    }
    if (pos.next < n) break;  // a step count ended the run inside this epoch: the position stays there
    ++pos.epoch;
    pos.order.clear();  // the next epoch draws its order when it starts, from the start
    pos.next = 0;
    if (m.to && (t.checkpoint_every == 0 || due)) m.checkpoint(*m.to);
  }
  if (m.to) m.checkpoint(*m.to);  // so that a later resume with more epochs or steps goes on
  return finish();
}

void Trainer::write_checkpoint(CheckpointDir* dir) {
  Impl& m = *impl_;
  if (!dir && !m.to)
    throw Error("Trainer::write_checkpoint: no folder given, and TrainerOptions::checkpoint_dir is unset");
  m.checkpoint(dir ? *dir : *m.to);
}

void Trainer::check_weights() const { impl_->check_weights(); }
TrainingSession& Trainer::session() { return *impl_->session; }
const CheckpointDir* Trainer::checkpoints() const { return impl_->to; }
const files::Inputs& Trainer::inputs() const { return impl_->inputs; }
bool Trainer::resumed() const { return impl_->from.open(); }
const Position& Trainer::position() const { return impl_->pos; }
int64_t Trainer::samples() const { return impl_->n; }
int64_t Trainer::steps_per_epoch() const { return impl_->per_epoch; }
int64_t Trainer::total_steps() const { return impl_->total_steps(); }
int64_t Trainer::epochs() const { return impl_->epochs; }
bool Trainer::finished() const {
  const Impl& m = *impl_;
  if (m.topt.early_stopping > 0 && m.es_wait >= m.topt.early_stopping) return true;  // it had stopped early
  return m.topt.steps > 0 ? m.session->steps() >= m.topt.steps : m.pos.epoch > m.epochs;
}
std::string Trainer::resumed_model() const { return impl_->from.open() ? impl_->resumed.model : ""; }

}  // namespace onnxtrain
