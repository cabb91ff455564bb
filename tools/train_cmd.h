// `onnxtrain train`: its options, mapped onto the library's Trainer, which runs the loop and the checkpoints; the
// command prints the progress, writes --log and --plot, and turns SIGINT or SIGTERM into a stop request.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "onnxtrain/schedule.h"
#include "onnxtrain/train.h"
#include "tools/cli_common.h"

namespace onnxtrain::cli {

struct TrainArgs {
  std::string model, data, out, val, loss, output, target_key = "y", x_key, log;
  bool in_place = false, no_shuffle = false, freeze_batchnorm = false;
  int64_t batch = 32, epochs = 1, steps = 0;
  uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> freeze, train_only;  // names or glob patterns
  std::string optimizer = "sgd";                // --optimizer, as name_of(Optimizer) spells it
  OptimizerConfig opt;                          // the rest of the optimizer's options; its kind follows from optimizer
  std::string precision = "f32";
  std::string checkpoint, resume;  // checkpoint folders
  int64_t checkpoint_every = 0;    // steps; 0: at each epoch's end
  std::string plot;                // an .svg rewritten at each epoch's end
  int64_t val_every = 0;           // steps between validations inside an epoch (logged and plotted); 0: none
  bool diagnostics = false;        // dead units, gradient norms, update ratios, warnings
  bool quiet = false;              // no progress on stderr (tools/progress.h)
  double log_every = 30;           // seconds between progress lines when stderr is not a terminal
  std::string command;             // the options as given (cli_usage.h's given_arguments), kept in checkpoints
  // Gradients and the cross-entropy options (TrainOptions, TrainerOptions::accumulate).
  double clip_grad_norm = 0, clip_grad_value = 0, label_smoothing = 0;
  int64_t accumulate = 1, ignore_index = -100;
  std::string class_weights;       // FILE.npy, or a list "1,2,0.5"
  std::string target_col;          // --target-col: a .csv's target column (default: the last)
  std::string labels, val_labels;  // --labels, --val-labels: .npy labels of .npy or idx features
  // The learning-rate schedule (--lr-schedule and its options) as TrainerOptions::schedule; its kind follows from
  // lr_schedule, its milestones from --lr-milestones' list, threshold_abs from --plateau-threshold-mode.
  std::string lr_schedule = "constant", milestones, threshold_mode = "rel";
  LrSchedule schedule;
  std::string save_best;       // --save-best METRIC: val_loss or val_accuracy, kept in --out
  int64_t early_stopping = 0;  // --early-stopping PATIENCE, in validations
  double min_delta = 0;
};

// --class-weights: an .npy of one float per class, or a comma-separated list. Throws Error naming the file for a
// file that is not one float array, CLI::ValidationError for a list that is not numbers.
std::vector<float> class_weights_of(const std::string& spec);

// Registers the train command and its options, filled into a when parsed.
CLI::App* add_train_command(CLI::App& app, TrainArgs& a);

// Usage rules CLI11 cannot state, checked on the parsed train command; throws CLI::ValidationError naming the option.
void check_train_usage(const CLI::App& train, const TrainArgs& a);

// Runs it. Returns 0, or 128 + the signal when SIGINT or SIGTERM stopped it (after writing the model and a
// checkpoint). argv is quoted back in the hint on how to resume. Throws Error for bad models, data or files.
int cmd_train(const TrainArgs& a, const std::vector<std::string>& argv);

}  // namespace onnxtrain::cli
