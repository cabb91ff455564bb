// onnxtrain::Trainer: the training loop around a TrainingSession. Epochs or a step count, seeded shuffling, batches
// gathered into reused buffers, validation, divergence checks, diagnostics, checkpoints and resuming, and a stop
// request honoured between steps. It prints nothing: a TrainerObserver hears of each step, validation and epoch.
#pragma once
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "onnxtrain/checkpoint.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/files.h"
#include "onnxtrain/model.h"
#include "onnxtrain/schedule.h"
#include "onnxtrain/train.h"

namespace onnxtrain {

struct TrainerOptions {
  int64_t batch_size = 32;  // samples per step; an epoch's last batch holds what is left
  // Gradient accumulation: each optimizer step sums the gradients of this many consecutive batches of batch_size,
  // so that it trains to the weights of one batch accumulate times as large (to float rounding): the loss of each
  // divides by the large batch's normalizer. steps, the step count and checkpoint_every count optimizer steps.
  int64_t accumulate = 1;
  int64_t epochs = 1;            // passes over the training data, when steps is 0
  int64_t steps = 0;             // > 0: this many steps in all, across epochs (a resumed run's steps count)
  bool shuffle = true;           // a new permutation each epoch, drawn from TrainOptions::seed; false: the data's order
  int64_t val_every = 0;         // > 0: also validate every this many steps inside an epoch (epoch ends always do)
  bool diagnostics = false;      // per-epoch layer and parameter statistics, and warnings from them (costs time)
  std::string checkpoint_dir;    // keep a checkpoint in this folder (created if missing); empty: none
  int64_t checkpoint_every = 0;  // steps between checkpoints; 0: at each epoch's end
  std::string resume_from;       // continue the run whose checkpoint folder this is, bitwise; empty: a new run
  // The learning rate over the run, from OptimizerConfig::lr (schedule.h); Constant: that lr throughout. A resume
  // may change it, or the lr (noted): the new schedule then gives the lr it has at the checkpoint's step.
  LrSchedule schedule;
  // Keeping the best weights and stopping early watch monitor at each validation after training starts: "val_loss"
  // (lower is better) or "val_accuracy" (higher; class labels only). Both need validation data.
  std::string monitor = "val_loss";
  // Non-empty: the model is written here (temporary file and rename) at each validation better than every one
  // before, so that it holds the best weights so far, also after an interrupt; the checkpoint keeps the last ones.
  std::string save_best;
  // > 0: stop when monitor has not improved on its best by more than min_delta for this many validations in a row.
  int64_t early_stopping = 0;
  double min_delta = 0;
  // The files the run reads besides the model (the data's), that no checkpoint folder may hold; the model's own
  // files are added (and are protected from save_best unless it names the model itself: leave them out of inputs
  // then). A role names each in messages ("the training data").
  files::Inputs inputs;
  // The front end's own record of how the run was started (the command line keeps its options here), written into
  // each checkpoint and never compared: CheckpointDir::stored_command reads it back, so that a resume can start the
  // run again from its checkpoint folder alone.
  std::string command;
};

// What the observer hears. Each record is also given as one JSON object's text (on_record), the lines a log holds:
// {"type": "step" | "val" | "epoch", "epoch", "step", "loss", ...}.
struct StepReport {
  int64_t step = 0, epoch = 0, epochs = 0;
  int64_t done = 0, samples = 0;  // samples of this epoch trained so far, of samples
  int64_t batch = 0;
  float loss = 0;           // this batch's (with accumulation, the large batch's)
  double total_norm = NAN;  // with TrainOptions::clip_grad_norm, the gradients' norm before clipping
  double epoch_loss = 0;    // the epoch's running mean
  double lr = 0;            // the learning rate this step used
  double elapsed = 0;       // seconds of training (not validation) in this epoch by this process
  const std::vector<ParamStats>* params = nullptr;  // with diagnostics, this step's; else null
};
struct ValidationReport {
  int64_t step = 0, epoch = 0;  // step 0, epoch 0: before the first step of a new run
  EvalResult result;
};
struct EpochReport {
  int64_t epoch = 0, epochs = 0;
  int64_t done = 0, samples = 0;  // done < samples: a step count ended the run inside this epoch
  bool ended = false;             // the whole epoch is trained (only an ended epoch is recorded and validated)
  double loss = 0;                // mean over the epoch's samples so far
  bool counted = false;           // accuracy holds the hits of class labels (or a binary classifier's)
  double accuracy = 0;
  bool validated = false;  // val holds the validation at the epoch's end
  EvalResult val;
  int64_t trained = 0;       // samples of it this process trained (0: a resumed run's epoch, ended before)
  double samples_per_s = 0;  // of those, per second of training
  double seconds = 0;        // the epoch's training time in this process (validation not counted)
};
// With diagnostics, at each epoch's report: each Relu's statistics and each parameter's epoch means.
struct ParamEpochStats {
  std::string name;
  double grad_norm = 0, update_ratio = 0;  // means over the epoch's steps
  int64_t steps = 0, vanishing_steps = 0, exploding_steps = 0;
};
struct DiagnosticsReport {
  int64_t epoch = 0;
  std::vector<LayerStats> layers;
  std::vector<ParamEpochStats> params;
};

class TrainerObserver {
 public:
  virtual ~TrainerObserver() = default;
  virtual void on_record(const std::string& /*json_line*/) {}  // also those a resumed checkpoint holds, first
  virtual void on_step(const StepReport&) {}
  virtual void on_validation(const ValidationReport&) {}  // not the epoch end's, which on_epoch carries
  virtual void on_epoch(const EpochReport&) {}
  virtual void on_diagnostics(const DiagnosticsReport&) {}
  // A dead layer, a vanishing or exploding gradient (after on_diagnostics), one line with a hint; and notes, such as
  // a resume with another thread count. Options are named as the API names them ("OptimizerConfig::lr").
  virtual void on_warning(const std::string& /*text*/) {}
  virtual void on_note(const std::string& /*text*/) {}
  virtual void on_checkpoint(int64_t /*step*/, const std::string& /*dir*/) {}  // once it is published
};

struct TrainResult {
  bool stopped = false;  // request_stop() ended it between two steps; nothing was checkpointed for it
  int64_t steps = 0;     // steps this run took (a resumed run's earlier ones not counted)
  // TrainerOptions::early_stopping ended it (checkpointed as a finished run); reason says so in a sentence.
  bool early_stopped = false;
  std::string reason;
  // TrainerOptions::save_best: whether this process wrote it, and the best value of monitor so far (NaN: none yet)
  // with the step of its validation (a resumed run's best counts).
  bool best_saved = false;
  double best = std::numeric_limits<double>::quiet_NaN();
  int64_t best_step = 0;
};

class Trainer {
 public:
  // Opens the checkpoint folders (refusing, with an Error naming the folder: a file, one that holds an input, one
  // another process writes, a new run into another run's checkpoint), reads the checkpoint resumed and loads its
  // weights into model, and builds the session. The data follow with set_data, so that a caller can fit its data
  // to session().input() first. The model (and observer) must outlive the trainer.
  Trainer(Model& model, TrainOptions options, TrainerOptions trainer, TrainerObserver* observer = nullptr);
  // The same, with the data given at once.
  Trainer(Model& model, TrainOptions options, TrainerOptions trainer, const Dataset& train,
          const Dataset* val = nullptr, TrainerObserver* observer = nullptr);
  ~Trainer();

  // The training data and, optionally, the validation data (both must outlive the trainer). Checks them (and a
  // batch size the model fixes), and for a resumed run that the options and data continue the checkpoint's run
  // (the first option that differs is named), restores the optimizer and position, and replays the checkpoint's
  // records to the observer.
  void set_data(const Dataset& train, const Dataset* val = nullptr);

  // Trains until the epochs or steps are done, or a stop is requested. A new run with validation data validates
  // first. Checkpoints at each epoch's end (or every checkpoint_every steps) and at the end. Throws Error when the
  // loss or a gradient becomes NaN or Inf, naming the step and the node where it first appeared.
  TrainResult run();

  // Asks run() to return before its next step. Async-signal-safe: a signal handler may call it.
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  bool stop_requested() const noexcept { return stop_.load(std::memory_order_relaxed); }

  // Writes a checkpoint of where the run stands into dir (its checkpoint folder when dir is null), after checking
  // that no weight is NaN or Inf. For a stopped run: its own folder, or a new one (CheckpointDir) it had not.
  void write_checkpoint(CheckpointDir* dir = nullptr);
  // Throws Error when a trainable parameter holds NaN or Inf (a finite loss does not prove the weights finite): a
  // caller checks it before saving the model.
  void check_weights() const;

  TrainingSession& session();
  const CheckpointDir* checkpoints() const;  // the folder checkpoints go to, null for none
  const files::Inputs& inputs() const;       // the run's inputs: the options', the model's, the checkpoint's model
  bool resumed() const;
  const Position& position() const;  // where the run stands (epoch, next sample, ...)
  int64_t samples() const;           // of the training data
  int64_t steps_per_epoch() const;
  int64_t total_steps() const;        // the run's optimizer steps: TrainerOptions::steps, or epochs' worth (saturated)
  int64_t epochs() const;             // the epochs the run spans: TrainerOptions::epochs, or enough for steps
  bool finished() const;              // nothing left to train (a resumed run past its epochs or steps)
  std::string resumed_model() const;  // the resumed checkpoint's model file, "" for a new run

  static_assert(std::atomic<bool>::is_always_lock_free, "request_stop must be async-signal-safe");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
};

}  // namespace onnxtrain
