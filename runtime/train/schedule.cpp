// LrScheduler: torch.optim.lr_scheduler's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR,
// ReduceLROnPlateau and the LinearLR warmup chained by SequentialLR, each as PyTorch 1.13 computes it: the chainable
// ones recursively from the group's lr, in double, with each expression in torch's order of operations (so the
// sequence matches to the last bit, not merely to the closed form). It knows nothing of optimizers or training.
#include "onnxtrain/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "onnxtrain/error.h"

namespace onnxtrain {

namespace {

const char* const kNames[] = {"constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau"};
const double kPi = 3.141592653589793;  // math.pi

std::string g_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void require(bool ok, const std::string& field, const std::string& what, double got) {
  if (!ok) throw Error("LrSchedule::" + field + " " + what + ", got " + g_text(got));
}

// Python's a % b for b > 0: never negative.
int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

}  // namespace

std::string name_of(Schedule schedule) { return kNames[static_cast<int>(schedule)]; }

Schedule schedule_named(const std::string& name) {
  for (int i = 0; i < 7; ++i)
    if (name == kNames[i]) return static_cast<Schedule>(i);
  throw Error("LrSchedule::kind: unknown schedule '" + name +
              "' (expected constant, step, multistep, exponential, cosine, onecycle or plateau)");
}

void check_schedule(const LrSchedule& s) {
  const int k = static_cast<int>(s.kind);
  if (k < 0 || k > 6) throw Error("LrSchedule::kind: not a Schedule");
  require(s.warmup_steps >= 0, "warmup_steps", "must be >= 0", double(s.warmup_steps));
  if (s.warmup_steps > 0 && s.kind == Schedule::Plateau)
    throw Error(
        "LrSchedule::warmup_steps: not with the plateau schedule (torch's SequentialLR cannot chain "
        "ReduceLROnPlateau, which steps at validations)");
  switch (s.kind) {
    case Schedule::Step: require(s.step_size > 0, "step_size", "must be positive", double(s.step_size)); break;
    case Schedule::MultiStep:
      if (s.milestones.empty()) throw Error("LrSchedule::milestones: the multistep schedule needs at least one");
      for (int64_t m : s.milestones) require(m > 0, "milestones", "must each be positive", double(m));
      break;
    case Schedule::Cosine: require(std::isfinite(s.min_lr) && s.min_lr >= 0, "min_lr", "must be >= 0", s.min_lr); break;
    case Schedule::OneCycle:
      require(s.pct_start >= 0 && s.pct_start <= 1, "pct_start", "must be in [0, 1]", s.pct_start);
      require(s.div_factor > 0 && std::isfinite(s.div_factor), "div_factor", "must be positive", s.div_factor);
      require(s.final_div_factor > 0 && std::isfinite(s.final_div_factor), "final_div_factor", "must be positive",
              s.final_div_factor);
      require(s.base_momentum >= 0 && s.base_momentum < 1, "base_momentum", "must be in [0, 1)", s.base_momentum);
      require(s.max_momentum >= 0 && s.max_momentum < 1, "max_momentum", "must be in [0, 1)", s.max_momentum);
      break;
    case Schedule::Plateau:
      require(s.factor >= 0 && s.factor < 1, "factor", "must be in [0, 1)",
              s.factor);  // torch: "Factor should be < 1.0"
      require(s.patience >= 0, "patience", "must be >= 0", double(s.patience));
      require(s.threshold >= 0 && std::isfinite(s.threshold), "threshold", "must be >= 0", s.threshold);
      require(s.cooldown >= 0, "cooldown", "must be >= 0", double(s.cooldown));
      require(s.plateau_min_lr >= 0 && std::isfinite(s.plateau_min_lr), "plateau_min_lr", "must be >= 0",
              s.plateau_min_lr);
      require(s.eps >= 0 && std::isfinite(s.eps), "eps", "must be >= 0", s.eps);
      break;
    default: break;
  }
  if (s.kind == Schedule::Step || s.kind == Schedule::MultiStep || s.kind == Schedule::Exponential)
    require(s.gamma > 0 && std::isfinite(s.gamma), "gamma", "must be positive", s.gamma);
}

LrScheduler::LrScheduler(const LrSchedule& schedule, double base_lr, int64_t total_steps) : s_(schedule) {
  check_schedule(s_);
  if (!(base_lr > 0) || !std::isfinite(base_lr))
    throw Error("OptimizerConfig::lr must be a positive number, got " + g_text(base_lr));
  std::sort(s_.milestones.begin(), s_.milestones.end());
  base_ = initial_ = base_lr;
  total_ = total_steps - s_.warmup_steps;
  if ((s_.kind == Schedule::Cosine || s_.kind == Schedule::OneCycle) && total_ < 1)
    throw Error("LrSchedule::warmup_steps " + std::to_string(s_.warmup_steps) + " leaves no steps of the run's " +
                std::to_string(total_steps) + " for the " + name_of(s_.kind) + " schedule");
  if (s_.kind == Schedule::OneCycle) initial_ = base_lr / s_.div_factor;  // group['initial_lr'] = max_lr / div_factor
  if (sets_momentum()) momentum_ = one_cycle(0, true);  // the schedule's own first step, which a warmup keeps
  if (s_.warmup_steps > 0) {
    // SequentialLR: the group's lr back to initial_lr, then LinearLR's first step (last_epoch 0: lr * start_factor).
    lr_ = initial_ * (1.0 / double(s_.warmup_steps));
  } else {
    lr_ = s_.kind == Schedule::OneCycle ? one_cycle(0, false) : base_;  // get_lr at last_epoch 0: the group's lr
  }
}

bool LrScheduler::sets_momentum() const { return s_.kind == Schedule::OneCycle && s_.cycle_momentum; }

// OneCycleLR.get_lr at step_num epoch, two phases (three_phase False), cosine annealing; the lr, or the momentum.
double LrScheduler::one_cycle(int64_t epoch, bool momentum) const {
  const double max_lr = base_, initial = initial_, min_lr = initial / s_.final_div_factor;
  struct Phase {
    double end_step, start_lr, end_lr, start_m, end_m;
  };
  const Phase phases[2] = {
      {double(s_.pct_start * double(total_)) - 1, initial, max_lr, s_.max_momentum, s_.base_momentum},
      {double(total_ - 1), max_lr, min_lr, s_.base_momentum, s_.max_momentum}};
  const auto anneal = [](double start, double end, double pct) {
    const double cos_out = std::cos(kPi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  };
  double start_step = 0;
  for (int i = 0; i < 2; ++i) {
    const Phase& p = phases[i];
    if (double(epoch) <= p.end_step || i == 1) {
      const double pct = (double(epoch) - start_step) / (p.end_step - start_step);
      return momentum ? anneal(p.start_m, p.end_m, pct) : anneal(p.start_lr, p.end_lr, pct);
    }
    start_step = p.end_step;
  }
  return 0;  // not reached
}

// The schedule's lr at its last_epoch 0: what its first step gives, and what SequentialLR's step(0) gives at the
// warmup's end (the closed form where the class has one: base_lr * gamma ** 0; Cosine's eta_min + (base_lr -
// eta_min) * (1 + cos(0)) / 2; OneCycle's get_lr at 0).
double LrScheduler::main_start() const {
  switch (s_.kind) {
    case Schedule::Cosine: return s_.min_lr + (base_ - s_.min_lr) * (1 + std::cos(kPi * 0.0 / double(total_))) / 2;
    case Schedule::OneCycle: return one_cycle(0, false);
    case Schedule::Step:
    case Schedule::MultiStep:
    case Schedule::Exponential: return base_ * std::pow(s_.gamma, 0.0);
    default: return base_;  // Constant (LambdaLR(lambda _: 1.0) after a warmup) and Plateau
  }
}

// The schedule's get_lr() at last_epoch epoch > 0, from the group's lr now (lr_).
double LrScheduler::main_lr(int64_t epoch) const {
  const double g = lr_;
  switch (s_.kind) {
    case Schedule::Step: return epoch % s_.step_size != 0 ? g : g * s_.gamma;
    case Schedule::MultiStep: {
      const int64_t count = std::count(s_.milestones.begin(), s_.milestones.end(), epoch);
      return count == 0 ? g : g * std::pow(s_.gamma, double(count));
    }
    case Schedule::Exponential: return g * s_.gamma;
    case Schedule::Cosine: {
      const double T = double(total_), e = s_.min_lr;
      if (py_mod(epoch - 1 - total_, 2 * total_) == 0) return g + (base_ - e) * (1 - std::cos(kPi / T)) / 2;
      return (1 + std::cos(kPi * double(epoch) / T)) / (1 + std::cos(kPi * double(epoch - 1) / T)) * (g - e) + e;
    }
    case Schedule::OneCycle: return one_cycle(epoch, false);
    default: return g;  // Constant, Plateau: a step changes nothing
  }
}

void LrScheduler::step() {
  ++steps_;
  const int64_t n = s_.warmup_steps;
  if (n > 0 && steps_ < n) {
    // LinearLR(start_factor=1/n, end_factor=1, total_iters=n).get_lr at last_epoch steps_ (<= total_iters).
    const double start = 1.0 / double(n), end = 1.0;
    lr_ = lr_ * (1. + (end - start) / (double(n) * start + double(steps_ - 1) * (end - start)));
    return;
  }
  const int64_t epoch = steps_ - n;  // the schedule's own last_epoch
  if (n > 0 && epoch == 0) {
    lr_ = main_start();
  } else {
    if (sets_momentum()) momentum_ = one_cycle(epoch, true);
    lr_ = main_lr(epoch);
  }
}

bool LrScheduler::validated(double val_loss) {
  if (s_.kind != Schedule::Plateau) return false;
  const double current = val_loss;
  // is_better, mode 'min', against torch's initial best of inf.
  const bool better = s_.threshold_abs ? current < best_ - s_.threshold : current < best_ * (1. - s_.threshold);
  if (better) {
    best_ = current;
    bad_ = 0;
  } else {
    ++bad_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_ = 0;  // bad epochs in cooldown are ignored
  }
  if (bad_ > s_.patience) {
    const double old_lr = lr_, new_lr = std::max(old_lr * s_.factor, s_.plateau_min_lr);
    bool lowered = false;
    if (old_lr - new_lr > s_.eps) lr_ = new_lr, lowered = true;
    cooldown_left_ = s_.cooldown;
    bad_ = 0;
    return lowered;
  }
  return false;
}

std::string LrScheduler::state() const {
  nlohmann::json j = {{"steps", steps_}, {"lr", lr_}, {"bad", bad_}, {"cooldown", cooldown_left_}};
  if (sets_momentum()) j["momentum"] = momentum_;
  if (std::isfinite(best_)) j["best"] = best_;  // absent: none yet (torch's inf, which JSON cannot hold)
  return j.dump();
}

void LrScheduler::restore(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error("the schedule's state is malformed: " + std::string(e.what()));
  }
  const auto number = [&](const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number())
      throw Error(std::string("the schedule's state has no number '") + key + "'");
    return j[key];
  };
  const int64_t steps = number("steps").get<int64_t>(), bad = number("bad").get<int64_t>(),
                cooldown = number("cooldown").get<int64_t>();
  const double lr = number("lr").get<double>();
  if (steps < 0 || bad < 0 || cooldown < 0 || !(lr >= 0) || !std::isfinite(lr))
    throw Error("the schedule's state holds a negative count or a bad lr");
  steps_ = steps;
  lr_ = lr;
  bad_ = bad;
  cooldown_left_ = cooldown;
  if (sets_momentum()) momentum_ = number("momentum").get<double>();
  best_ = j.contains("best") ? number("best").get<double>() : INFINITY;
}

}  // namespace onnxtrain
