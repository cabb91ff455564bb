// Learning-rate schedules, computed as torch.optim.lr_scheduler (PyTorch 1.13) computes them, in float64 and in its
// recursive (chainable) forms, so that the sequence of learning rates matches torch's to the last bit. No optimizer
// and no training here: the Trainer asks an LrScheduler for each step's lr (and OneCycleLR's momentum).
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace onnxtrain {

// Constant: OptimizerConfig::lr throughout. The others are torch's StepLR, MultiStepLR, ExponentialLR,
// CosineAnnealingLR, OneCycleLR and ReduceLROnPlateau.
enum class Schedule { Constant, Step, MultiStep, Exponential, Cosine, OneCycle, Plateau };
// "constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau"; the parser throws Error naming
// LrSchedule::kind and the names expected.
std::string name_of(Schedule schedule);
Schedule schedule_named(const std::string& name);

// Every size counts optimizer steps: the scheduler steps once per optimizer step (Plateau: once per validation).
struct LrSchedule {
  Schedule kind = Schedule::Constant;
  int64_t step_size = 0;            // Step: StepLR's step_size (> 0)
  std::vector<int64_t> milestones;  // MultiStep: MultiStepLR's milestones (each > 0; a repeat multiplies again)
  double gamma = 0.1;               // Step, MultiStep, Exponential: the factor
  double min_lr = 0;                // Cosine: CosineAnnealingLR's eta_min; T_max is the run's steps after the warmup
  // > 0: LinearLR(start_factor=1/N, total_iters=N) for the first N steps, then the schedule, chained as
  // SequentialLR(milestones=[N]) does (so the schedule's own step_size and milestones count from the warmup's end).
  // Not with Plateau, which SequentialLR cannot chain.
  int64_t warmup_steps = 0;
  // OneCycle: OneCycleLR with max_lr = OptimizerConfig::lr, total_steps = the run's steps (after any warmup), and
  // these, torch's defaults. With cycle_momentum it sets SGD's momentum (Adam's beta1) at each step, as torch does.
  double pct_start = 0.3, div_factor = 25, final_div_factor = 1e4;
  bool cycle_momentum = true;
  double base_momentum = 0.85, max_momentum = 0.95;
  // Plateau: ReduceLROnPlateau(mode='min') on the validation loss, stepped at each validation after training starts.
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  bool threshold_abs = false;  // threshold_mode 'abs'; false: 'rel'
  int64_t cooldown = 0;
  double plateau_min_lr = 0;  // ReduceLROnPlateau's min_lr
  double eps = 1e-8;          // ReduceLROnPlateau's eps: a smaller reduction is skipped
};

// Checks a schedule's fields (torch's ranges), naming the field: "LrSchedule::step_size must be positive, got 0".
void check_schedule(const LrSchedule& schedule);

class LrScheduler {
 public:
  // base_lr: the optimizer's lr (OneCycle's max_lr). total_steps: the run's optimizer steps (Cosine's T_max and
  // OneCycle's total_steps are what is left of them after the warmup). Throws Error naming the field when the
  // schedule does not fit (a warmup as long as the run).
  LrScheduler(const LrSchedule& schedule, double base_lr, int64_t total_steps);

  double lr() const { return lr_; }  // for the next optimizer step
  bool sets_momentum() const;        // OneCycle with cycle_momentum: momentum() is the next step's too
  double momentum() const { return momentum_; }
  void step();  // after each optimizer step: torch's scheduler.step()
  // After a validation: Plateau's scheduler.step(val_loss); returns whether it lowered the lr. Others ignore it.
  bool validated(double val_loss);
  int64_t steps() const { return steps_; }  // step() calls so far

  // What step() and validated() have changed, as a JSON object's text, for checkpoints; restore() continues it
  // bitwise in a scheduler made with the same arguments, and throws Error for a malformed state.
  std::string state() const;
  void restore(const std::string& state);

 private:
  double main_lr(int64_t epoch) const;  // the schedule's get_lr() at its last_epoch epoch > 0
  double main_start() const;            // its lr at last_epoch 0 (SequentialLR's step(0), closed forms)
  double one_cycle(int64_t epoch, bool momentum) const;
  LrSchedule s_;
  double base_ = 0, initial_ = 0;  // base_lrs; initial_lr (OneCycle: max_lr / div_factor)
  int64_t total_ = 0;              // the schedule's own steps: Cosine's T_max, OneCycle's total_steps
  int64_t steps_ = 0;
  double lr_ = 0, momentum_ = 0;
  // Plateau's state.
  double best_ = std::numeric_limits<double>::infinity();  // torch's mode_worse for 'min'
  int64_t bad_ = 0, cooldown_left_ = 0;
};

}  // namespace onnxtrain
