// `onnxtrain train`: the command line over the library's Trainer. It maps the flags onto TrainOptions and
// TrainerOptions, prints the progress bar, the epoch lines and the diagnostics, writes --log and --plot, turns
// SIGINT/SIGTERM into a stop request, and publishes the model with them; the loop and checkpoints are the library's.
#include "tools/train_cmd.h"

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "onnxtrain/checkpoint.h"
#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/files.h"
#include "onnxtrain/trainer.h"
#include "tools/cli_checks.h"
#include "tools/cli_common.h"
#include "tools/plot.h"
#include "tools/progress.h"

namespace onnxtrain::cli {
namespace {

// SIGINT/SIGTERM during training: the trainer stops after the step under way, then the model and a checkpoint are
// written. The handler only records the signal and asks the trainer to stop.
volatile sig_atomic_t g_stop_signal = 0;
std::atomic<Trainer*> g_trainer{nullptr};
static_assert(std::atomic<Trainer*>::is_always_lock_free, "the signal handler reads it");
void on_stop_signal(int sig) {
  g_stop_signal = sig;
  if (Trainer* t = g_trainer.load()) t->request_stop();
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command line that continues from dir: this one without its own --resume, plus --resume dir.
std::string resume_command(const std::vector<std::string>& argv, const std::string& dir) {
  std::string cmd;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--resume") {
      ++i;
      continue;
    }
    if (argv[i].rfind("--resume=", 0) == 0) continue;
    cmd += (cmd.empty() ? "" : " ") + shell_quote(argv[i]);
  }
  return cmd + " --resume " + shell_quote(dir);
}

std::string pct(double f) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", 100 * f);
  return b;
}

std::string sci(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

// What the trainer reports, as the command line shows it: the progress bar and the epoch lines, --diagnostics'
// report, warnings and notes on stderr, and each record into --log and --plot.
struct Printer : TrainerObserver {
  files::StreamedFile* log = nullptr;
  PlotData* plot = nullptr;  // null without --plot
  ProgressPrinter progress;
  int64_t batch = 1, per_epoch = 1, run_steps = 1;      // the run's sizes, in samples and steps
  int64_t epoch = 0, steps_here = 0, samples_here = 0;  // this process's steps and samples in the epoch under way

  Printer(bool quiet, double log_every) : progress(quiet, log_every) {}

  void on_record(const std::string& line) override {
    if (log && log->open()) log->write(line + "\n");
    if (plot) plot->add(nlohmann::json::parse(line));
  }
  void on_step(const StepReport& s) override {
    if (s.epoch != epoch) epoch = s.epoch, steps_here = samples_here = 0;
    ++steps_here;
    samples_here += s.batch;
    Progress p;
    p.epoch = s.epoch;
    p.epochs = s.epochs;
    p.step = s.done / batch + (s.done % batch != 0);  // rounded up without overflow: --batch-size may be INT64_MAX
    // Every epoch has per_epoch steps; the last of a --steps run may end sooner.
    int64_t before = 0;  // the steps of the earlier epochs, saturated: --epochs may be INT64_MAX
    if (__builtin_mul_overflow(s.epoch - 1, per_epoch, &before)) before = INT64_MAX;
    p.steps = std::max<int64_t>(p.step, std::min(per_epoch, std::max<int64_t>(0, run_steps - before)));
    p.fraction = double(p.step) / double(p.steps);
    const double per_step = s.elapsed / double(steps_here);  // this process's steps: a resume's earlier ones took none
    p.elapsed = s.elapsed;
    p.eta = double(p.steps - p.step) * per_step;
    p.run_eta = double(std::max<int64_t>(0, run_steps - s.step)) * per_step;
    p.rate = s.elapsed > 0 ? double(samples_here) / s.elapsed : 0;
    p.loss = s.epoch_loss;
    p.lr = s.lr;
    progress.show(p);
  }
  void on_validation(const ValidationReport& v) override {
    progress.clear();
    if (v.step == 0) std::printf("before training: val %s\n", describe(v.result).c_str());
  }
  void on_epoch(const EpochReport& e) override {
    progress.clear();
    std::printf(
        "epoch %lld/%lld%s: loss %.4f", static_cast<long long>(e.epoch), static_cast<long long>(e.epochs),
        e.ended ? "" : (" (" + std::to_string(e.done) + " of " + std::to_string(e.samples) + " samples)").c_str(),
        e.loss);
    if (e.counted) std::printf(", accuracy %.4f", e.accuracy);
    if (e.validated) std::printf(", val %s", describe(e.val).c_str());
    if (e.trained > 0) std::printf(", %.1f s (%.0f samples/s)", e.seconds, e.samples_per_s);  // one field
    std::printf("\n");
    std::fflush(stdout);
  }
  void on_diagnostics(const DiagnosticsReport& d) override {
    progress.clear();
    for (const LayerStats& l : d.layers)
      std::printf("  %s '%s': %lld units, %s dead, %s negative pre-activations\n", l.op_type.c_str(), l.node.c_str(),
                  static_cast<long long>(l.units), pct(l.dead).c_str(), pct(l.negative).c_str());
    for (const ParamEpochStats& p : d.params)
      std::printf("  param '%s': gradient norm %s, update/weight %s (epoch means)\n", p.name.c_str(),
                  sci(p.grad_norm).c_str(), sci(p.update_ratio).c_str());
    std::fflush(stdout);
  }
  void on_warning(const std::string& text) override {
    progress.clear();
    std::fprintf(stderr, "onnxtrain: warning: %s\n", flag_names(text).c_str());
  }
  void on_note(const std::string& text) override {
    progress.clear();
    std::fprintf(stderr, "onnxtrain: note: %s\n", flag_names(text).c_str());
  }
};

// The flags, as the library's options.
TrainOptions train_options(const TrainArgs& a) {
  TrainOptions o;
  o.loss = loss_named(a.loss);
  o.output = a.output;
  o.optimizer = a.opt;
  o.optimizer.kind = optimizer_named(a.optimizer);
  o.freeze = a.freeze;
  o.train_only = a.train_only;
  o.freeze_batchnorm = a.freeze_batchnorm;
  o.threads = a.threads;
  o.precision = precision_named(a.precision);
  o.seed = a.seed;
  if (!a.class_weights.empty()) o.class_weights = class_weights_of(a.class_weights);
  o.label_smoothing = a.label_smoothing;
  o.ignore_index = a.ignore_index;
  o.clip_grad_norm = a.clip_grad_norm;
  o.clip_grad_value = a.clip_grad_value;
  return o;
}

// --lr-milestones 100,200 as steps; throws CLI::ValidationError for anything but positive whole numbers.
std::vector<int64_t> milestones_of(const std::string& list) {
  std::vector<int64_t> steps;
  size_t at = 0;
  while (!list.empty() && at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, comma - at);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v <= 0)
      throw CLI::ValidationError("--lr-milestones",
                                 "takes positive step counts separated by commas (100,200), got '" + list + "'");
    steps.push_back(v);
    at = comma + 1;
  }
  return steps;
}

TrainerOptions trainer_options(const TrainArgs& a, const files::Inputs& inputs) {
  TrainerOptions t;
  t.batch_size = a.batch;
  t.epochs = a.epochs;
  t.steps = a.steps;
  t.shuffle = !a.no_shuffle;
  t.val_every = a.val_every;
  t.diagnostics = a.diagnostics;
  t.checkpoint_dir = a.checkpoint;
  t.checkpoint_every = a.checkpoint_every;
  t.resume_from = a.resume;
  t.accumulate = a.accumulate;
  t.inputs = inputs;
  t.command = a.command;
  t.schedule = a.schedule;
  t.schedule.kind = schedule_named(a.lr_schedule);
  t.schedule.threshold_abs = a.threshold_mode == "abs";
  t.schedule.milestones = milestones_of(a.milestones);
  if (!a.save_best.empty()) t.monitor = a.save_best, t.save_best = a.in_place ? a.model : a.out;
  t.early_stopping = a.early_stopping;
  t.min_delta = a.min_delta;
  return t;
}

// Every file the final write touches, checked before the long work: the model and each of its external data files
// (Model::check_save), --log and --plot, none of them onto another or into the checkpoint's names; and, without
// --checkpoint, the folder an interrupt would checkpoint into. Returns that folder.
std::string check_outputs(const TrainArgs& a, const Model& model, const std::string& out, const files::Inputs& inputs,
                          const files::Inputs& data_inputs, const CheckpointDir* ck) {
  std::vector<std::pair<std::string, std::string>> written;  // (what, the file written)
  for (const std::string& f : model.check_save(out, a.in_place ? data_inputs : inputs))
    written.emplace_back(written.empty() ? (a.in_place ? "--in-place" : "--out") : "the model's external data", f);
  if (!a.log.empty()) written.emplace_back("--log", files::check_output(a.log, "--log", inputs));
  if (!a.plot.empty()) written.emplace_back("--plot", files::check_output(a.plot, "--plot", inputs));
  for (size_t i = 0; i < written.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (files::same_target(written[i].second, written[j].second))
        throw Error(written[i].first + " " + written[i].second + " is also where " + written[j].first +
                    " writes; give each output its own file");
  const std::string interrupt_dir = ck ? ck->dir() : out + ".checkpoint";
  for (const auto& [what, f] : written)
    if (CheckpointDir::uses_name(interrupt_dir, f))
      throw Error(what + " " + f + " is a name the checkpoint in " + interrupt_dir + " uses; write it elsewhere");
  if (!ck) CheckpointDir::check(interrupt_dir, "the folder an interrupt checkpoints into,", inputs);
  return interrupt_dir;
}

bool has_suffix(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

// The schedule's options: each only with the schedule that reads it, the ones it needs given, those that need
// validation data with --val; then the library's own ranges (check_schedule), under the flags' names.
void check_schedule_usage(const CLI::App& train, const TrainArgs& a) {
  const std::string& k = a.lr_schedule;
  const std::vector<std::pair<const char*, std::vector<std::string>>> owners = {
      {"--lr-step-size", {"step"}},
      {"--lr-milestones", {"multistep"}},
      {"--lr-gamma", {"step", "multistep", "exponential"}},
      {"--lr-min", {"cosine"}},
      {"--plateau-factor", {"plateau"}},
      {"--plateau-patience", {"plateau"}},
      {"--plateau-threshold", {"plateau"}},
      {"--plateau-threshold-mode", {"plateau"}},
      {"--plateau-cooldown", {"plateau"}},
      {"--plateau-min-lr", {"plateau"}}};
  for (const auto& [option, kinds] : owners)
    if (train.count(option) && std::find(kinds.begin(), kinds.end(), k) == kinds.end()) {
      std::string names;
      for (const std::string& n : kinds) names += (names.empty() ? "" : " or ") + n;
      throw CLI::ValidationError(option, "applies to --lr-schedule " + names + ", not " + k);
    }
  if (k == "step" && !train.count("--lr-step-size"))
    throw CLI::ValidationError("--lr-schedule", "step needs --lr-step-size N");
  if (k == "multistep" && !train.count("--lr-milestones"))
    throw CLI::ValidationError("--lr-schedule", "multistep needs --lr-milestones N,M,...");
  if (k == "exponential" && !train.count("--lr-gamma"))
    throw CLI::ValidationError("--lr-schedule", "exponential needs --lr-gamma G");
  if (a.val.empty()) {
    if (k == "plateau")
      throw CLI::ValidationError("--lr-schedule", "plateau steps on the validation loss: it needs --val DATA");
    if (!a.save_best.empty()) throw CLI::ValidationError("--save-best", "needs --val DATA to validate on");
    if (a.early_stopping > 0) throw CLI::ValidationError("--early-stopping", "needs --val DATA to validate on");
  }
  if (train.count("--min-delta") && a.early_stopping == 0)
    throw CLI::ValidationError("--min-delta", "applies to --early-stopping, which is not given");
  try {
    LrSchedule s = a.schedule;
    s.kind = schedule_named(k);
    s.milestones = milestones_of(a.milestones);
    check_schedule(s);
  } catch (const Error& e) {
    const std::string m = flag_names(e.what());
    std::string flag = m.substr(0, m.find(' '));
    if (!flag.empty() && flag.back() == ':') flag.pop_back();  // "LrSchedule::warmup_steps: not with ..."
    throw CLI::ValidationError(flag, m.substr(m.find(' ') + 1));
  }
}

}  // namespace

std::vector<float> class_weights_of(const std::string& spec) {
  if (has_suffix(spec, ".npy")) {
    const Tensor t = load_npy(spec);
    if (t.dtype != DType::Float32)
      throw Error("--class-weights " + spec + ": holds " + dtype_name(t.dtype) +
                  " values; class weights are floats (float32 or float64)");
    if (t.shape.size() != 1)
      throw Error("--class-weights " + spec + ": holds an array of shape " + shape_str(t.shape) +
                  "; class weights are one float per class, (C)");
    return t.f32;
  }
  std::vector<float> w;
  size_t at = 0;
  while (at <= spec.size()) {
    const size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string item = spec.substr(at, comma - at);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end != '\0' || !std::isfinite(v))
      throw CLI::ValidationError("--class-weights",
                                 "takes an .npy file or a list of numbers such as 1,2,0.5; got " + spec);
    w.push_back(static_cast<float>(v));
    at = comma + 1;
  }
  return w;
}

CLI::App* add_train_command(CLI::App& app, TrainArgs& a) {
  auto* train = app.add_subcommand("train", "Train a model's initializers and write the model back with new weights");
  // Paths name their type (MODEL, DATA, FILE, DIR): a resumed run's stored options hold them as absolute paths.
  // MODEL and --data are required unless --resume supplies them (check_train_usage).
  train->add_option("MODEL", a.model, "The .onnx file (with --resume: the checkpoint's run's)")->type_name("MODEL");
  train
      ->add_option("--data", a.data,
                   "Training data: .npz (x, y), .csv, .npy (with --labels), an idx3 file, or fashion-mnist")
      ->type_name("DATA");
  auto* out_opt = train->add_option("--out", a.out, "Where to write the trained model")->type_name("FILE");
  auto* inplace = train->add_flag("--in-place", a.in_place, "Rewrite MODEL itself");
  out_opt->excludes(inplace);
  train
      ->add_option(
          "--loss", a.loss,
          "cross-entropy | nll | bce | mse (default from the head: Softmax cross-entropy, LogSoftmax nll, Sigmoid bce)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  train->add_option("--output", a.output,
                    "The output the loss reads, for a model with several (default: its only one)");
  train->add_option("--optimizer", a.optimizer, "sgd | adam | adamw (default sgd)")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  train->add_option("--lr", a.opt.lr, "Learning rate (default: sgd 0.01, adam and adamw 0.001)")->check(kPositive);
  train->add_option("--momentum", a.opt.momentum, "SGD momentum (default 0)");
  train->add_option("--dampening", a.opt.dampening, "SGD dampening (default 0)");
  train->add_flag("--nesterov", a.opt.nesterov, "SGD Nesterov momentum");
  train->add_option("--weight-decay", a.opt.weight_decay, "Weight decay (default 0; adamw 0.01)")->check(kNonNegative);
  train->add_option("--beta1", a.opt.beta1, "Adam beta1 (default 0.9)");
  train->add_option("--beta2", a.opt.beta2, "Adam beta2 (default 0.999)");
  train->add_option("--eps", a.opt.eps, "Adam eps (default 1e-8)");
  train->add_option("--batch-size", a.batch, "Samples per step (default 32)")->check(kPositive);
  auto* epochs_opt = train->add_option("--epochs", a.epochs, "Passes over the data (default 1)")->check(cli::kPositive);
  train->add_option("--steps", a.steps, "Train this many batches in all, across epochs")
      ->check(cli::kPositive)
      ->excludes(epochs_opt);
  train->add_flag("--no-shuffle", a.no_shuffle, "Batches in file order (default: a new seeded permutation each epoch)");
  train->add_option("--seed", a.seed, "Shuffling and Dropout seed (default 0)")->check(kSeed);
  train
      ->add_option("--val", a.val,
                   "Validation data, evaluated before training and after each epoch (fashion-mnist: its test split)")
      ->type_name("DATA");
  train->add_option("--freeze", a.freeze,
                    "An initializer not to train, or a glob pattern over their names ('0.*'; repeatable)");
  train->add_option("--train-only", a.train_only,
                    "Train only the initializers this glob pattern matches, freezing the rest (repeatable)");
  train->add_flag("--freeze-batchnorm", a.freeze_batchnorm,
                  "BatchNormalization keeps its running statistics fixed and normalizes with them (model.eval())");
  train->add_option("--input-key", a.x_key, "The .npz key of the features (default: the input's name, else x)");
  train->add_option("--target-key", a.target_key, "The .npz key of the labels or targets (default y)");
  train->add_option("--target-col", a.target_col, "The .csv column of the labels or targets (default: the last)");
  train->add_option("--labels", a.labels, "The labels of .npy or idx --data, as an .npy")->type_name("FILE");
  train->add_option("--val-labels", a.val_labels, "The labels of .npy or idx --val data, as an .npy")
      ->type_name("FILE");
  train->add_option("--threads", a.threads, "Threads (default: the machine's cores)")->check(cli::kThreads);
  train->add_option("--log", a.log, "Write a JSON object per step and per epoch to this .jsonl file")
      ->type_name("FILE");
  train
      ->add_option("--precision", a.precision,
                   "f32 | bf16: bf16 GEMMs with f32 master weights, where the CPU has avx512_bf16 (default f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  train
      ->add_option("--checkpoint", a.checkpoint,
                   "Keep a checkpoint (model, optimizer state, data position) in this folder")
      ->type_name("DIR");
  train->add_option("--checkpoint-every", a.checkpoint_every, "Checkpoint every N steps (default: at each epoch's end)")
      ->check(cli::kPositive);
  train
      ->add_option("--val-every", a.val_every,
                   "Also validate every N steps, for --log and --plot (default: at epoch ends only)")
      ->check(cli::kPositive);
  train->add_option("--plot", a.plot, "Draw loss and accuracy against epochs into this .svg, written with the model")
      ->type_name("FILE");
  train->add_flag("--diagnostics", a.diagnostics,
                  "Report dead ReLU units, negative pre-activations, gradient norms and "
                  "update ratios per epoch, and warn about dead layers and vanishing or exploding gradients");
  train->add_flag("--quiet", a.quiet, "No progress line on stderr (the epoch lines, warnings and errors stay)");
  train
      ->add_option("--log-every", a.log_every,
                   "When stderr is not a terminal: a progress line every this many seconds (default 30)")
      ->check(kPositive);
  train
      ->add_option("--resume", a.resume,
                   "Continue the run whose checkpoint folder this is, bitwise; options not given are the run's own")
      ->type_name("DIR");
  auto* clip_norm = train
                        ->add_option("--clip-grad-norm", a.clip_grad_norm,
                                     "Scale the gradients to this total 2-norm when above it (clip_grad_norm_)")
                        ->check(kPositive);
  train
      ->add_option("--clip-grad-value", a.clip_grad_value, "Clamp every gradient element to [-V, V] (clip_grad_value_)")
      ->check(kPositive)
      ->excludes(clip_norm);
  train
      ->add_option("--accumulate", a.accumulate,
                   "Sum the gradients of N batches of --batch-size per optimizer step (default 1)")
      ->check(kPositive);
  train->add_option("--label-smoothing", a.label_smoothing, "Cross-entropy label smoothing, 0 to 1 (default 0)")
      ->check(kNonNegative);
  train->add_option("--class-weights", a.class_weights,
                    "Cross-entropy and nll class weights: an .npy of one float per class, or a list 1,2,0.5");
  train->add_option("--ignore-index", a.ignore_index,
                    "Cross-entropy and nll skip targets with this label (default -100, as torch)");
  // Learning-rate schedules (torch.optim.lr_scheduler's), keeping the best weights, early stopping.
  train
      ->add_option("--lr-schedule", a.lr_schedule,
                   "constant | step | multistep | exponential | cosine | onecycle | plateau: torch's StepLR, "
                   "MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, stepped once per "
                   "optimizer step (plateau: per validation) (default constant)")
      ->check(CLI::IsMember({"constant", "step", "multistep", "exponential", "cosine", "onecycle", "plateau"}));
  train->add_option("--lr-step-size", a.schedule.step_size, "step: multiply the lr by --lr-gamma every N steps")
      ->check(kPositive);
  train->add_option("--lr-milestones", a.milestones, "multistep: the steps at which the lr is multiplied (100,200)");
  train->add_option("--lr-gamma", a.schedule.gamma, "step, multistep, exponential: the factor (default 0.1)")
      ->check(kPositive);
  train->add_option("--lr-min", a.schedule.min_lr, "cosine: the lr it anneals to, eta_min (default 0)")
      ->check(kNonNegative);
  train
      ->add_option("--warmup-steps", a.schedule.warmup_steps,
                   "Raise the lr linearly from lr/N over the first N steps, then follow --lr-schedule (LinearLR then "
                   "SequentialLR)")
      ->check(kPositive);
  train->add_option("--plateau-factor", a.schedule.factor, "plateau: multiply the lr by this (default 0.1)")
      ->check(kNonNegative);
  train
      ->add_option("--plateau-patience", a.schedule.patience,
                   "plateau: validations without improvement it lets pass; the next one lowers the lr (default 10)")
      ->check(kNonNegative);
  train->add_option("--plateau-threshold", a.schedule.threshold, "plateau: what counts as improvement (default 1e-4)")
      ->check(kNonNegative);
  train->add_option("--plateau-threshold-mode", a.threshold_mode, "plateau: rel | abs (default rel)")
      ->check(CLI::IsMember({"rel", "abs"}));
  train
      ->add_option("--plateau-cooldown", a.schedule.cooldown,
                   "plateau: validations to wait after lowering the lr (default 0)")
      ->check(kNonNegative);
  train->add_option("--plateau-min-lr", a.schedule.plateau_min_lr, "plateau: the lowest lr (default 0)")
      ->check(kNonNegative);
  train
      ->add_option("--save-best", a.save_best,
                   "val_loss | val_accuracy: keep the weights of the best validation so far in --out (the last ones "
                   "stay in the checkpoint)")
      ->check(CLI::IsMember({"val_loss", "val_accuracy"}));
  train
      ->add_option("--early-stopping", a.early_stopping,
                   "Stop when the --save-best metric (default val_loss) has not improved by more than --min-delta "
                   "for N validations")
      ->check(kPositive);
  train->add_option("--min-delta", a.min_delta, "--early-stopping: the least change that counts (default 0)")
      ->check(kNonNegative);
  return train;
}

void check_train_usage(const CLI::App& train, const TrainArgs& a) {
  // Without --resume, or from a checkpoint that holds no record of its command line, MODEL and --data are needed.
  if (a.model.empty())
    throw CLI::RequiredError(a.resume.empty() ? "MODEL"
                                              : "MODEL (the checkpoint in " + a.resume +
                                                    " holds no record of its run's options: give them as that run had "
                                                    "them)");
  if (a.data.empty()) throw CLI::RequiredError("--data");
  if (a.out.empty() && !a.in_place) throw CLI::ValidationError("--out", "train needs --out OUT.onnx or --in-place");
  // An option of another optimizer would be ignored without a word: refused, as a likely slip.
  const bool sgd = a.optimizer == "sgd";
  for (const char* option : {"--momentum", "--dampening", "--nesterov"})
    if (!sgd && train.count(option))
      throw CLI::ValidationError(option, "applies to --optimizer sgd, not " + a.optimizer);
  for (const char* option : {"--beta1", "--beta2", "--eps"})
    if (sgd && train.count(option))
      throw CLI::ValidationError(option, "applies to --optimizer adam and adamw, not sgd");
  // Out-of-range hyperparameters are bad usage, refused before anything is read: the library's own rule, one copy.
  try {
    OptimizerConfig o = a.opt;
    o.kind = optimizer_named(a.optimizer);
    check_optimizer(o);
  } catch (const Error& e) {
    const std::string m = flag_names(e.what());
    throw CLI::ValidationError(m.substr(0, m.find(' ')), m.substr(m.find(' ') + 1));
  }
  // The model itself is an output with --in-place, or with --out naming it: the same thing, and meant.
  const std::string out = a.in_place ? a.model : a.out;
  NamedPaths inputs = {{"--data", a.data}, {"--val", a.val}};
  if (!files::same_target(out, a.model)) inputs.push_back({"MODEL", a.model});
  check_distinct_outputs({{a.in_place ? "--in-place" : "--out", out},
                          {"--log", a.log},
                          {"--plot", a.plot},
                          {"--checkpoint", a.checkpoint.empty() ? a.resume : a.checkpoint}},
                         inputs);
  check_npz_key(train, "--input-key", {a.data, a.val});
  check_npz_key(train, "--target-key", {a.data, a.val});
  check_target_col(train, {a.data, a.val});
  check_labels_for("--labels", a.labels, a.data);
  check_labels_for("--val-labels", a.val_labels, a.val);
  if (!a.val_labels.empty() && a.val.empty())
    throw CLI::ValidationError("--val-labels", "needs --val DATA whose labels it gives");
  if (a.checkpoint_every > 0 && a.checkpoint.empty() && a.resume.empty())
    throw CLI::ValidationError("--checkpoint-every", "needs --checkpoint DIR (or --resume DIR) to write to");
  if (a.val_every > 0 && a.val.empty()) throw CLI::ValidationError("--val-every", "needs --val DATA to validate on");
  if (a.label_smoothing > 1)
    throw CLI::ValidationError("--label-smoothing",
                               "must be between 0 and 1, got " + std::to_string(a.label_smoothing));
  if (!a.class_weights.empty() && !has_suffix(a.class_weights, ".npy")) class_weights_of(a.class_weights);
  check_schedule_usage(train, a);
  if (!a.plot.empty() && (a.plot.size() < 4 || a.plot.compare(a.plot.size() - 4, 4, ".svg") != 0))
    throw CLI::ValidationError("--plot",
                               a.plot +
                                   " is not an .svg name: --plot writes SVG; name a .svg file, and convert it "
                                   "with rsvg-convert (rsvg-convert FILE.svg -o FILE.png, Debian's "
                                   "librsvg2-bin)");
}

int cmd_train(const TrainArgs& a, const std::vector<std::string>& argv) {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const std::string out = a.in_place ? a.model : a.out;

  // Every file the run reads, by identity: the model and its external data, the data, a resumed checkpoint. No
  // output may be one of them, however its path is spelled.
  Model model = Model::load(a.model);
  files::Inputs inputs, data_inputs;  // data_inputs: all but the model's own files, which --in-place rewrites
  for (const std::string& f : model.files())
    inputs.add(f, f == model.files()[0] ? "MODEL" : "MODEL's external data '" + f + "'");
  for (const auto& [option, path] : NamedPaths{{"--data", a.data}, {"--val", a.val}})
    if (!path.empty() && path != "fashion-mnist") inputs.add(path, option), data_inputs.add(path, option);

  Printer printer(a.quiet, a.log_every);
  // The checkpoint folders are opened, a resumed checkpoint read and its weights loaded, and the session built.
  // --in-place with --save-best rewrites MODEL at each improvement: the trainer is given the data alone as inputs
  // then, and adds the model's files itself for everything but that write.
  Trainer trainer(model, train_options(a),
                  trainer_options(a, a.in_place && !a.save_best.empty() ? data_inputs : inputs), &printer);
  g_trainer.store(&trainer);
  struct Unhook {
    ~Unhook() { g_trainer.store(nullptr); }
  } unhook;
  inputs = trainer.inputs();
  if (trainer.resumed()) data_inputs.add(trainer.resumed_model(), "checkpoint's model");
  const CheckpointDir* ck = trainer.checkpoints();
  const std::string interrupt_dir = check_outputs(a, model, out, inputs, data_inputs, ck);

  TrainingSession& session = trainer.session();
  if (a.precision == "bf16" && session.precision() != "bf16")
    std::fprintf(stderr, "onnxtrain: --precision bf16: this CPU has no native bf16 (avx512_bf16); training in f32\n");
  Dataset train = load_data(model, session.inputs(), a.data, Split::Train, a.x_key,
                            LabelArgs{a.target_key, a.target_col, a.labels}, true);
  fit_targets(train, session.class_labels());
  check_trainable(train, session.classes(), session.ignore_index());
  Dataset val;
  if (!a.val.empty()) {
    val = load_data(model, session.inputs(), a.val, Split::Test, a.x_key,
                    LabelArgs{a.target_key, a.target_col, a.val_labels}, true);
    fit_targets(val, session.class_labels());
    check_trainable(val, session.classes(), session.ignore_index());
  }
  // The records (--log, --plot, the checkpoint's history) are streamed, never kept: memory and checkpoints stay
  // the same size however long the run. --log goes to a side file, published with the model.
  files::StreamedFile log;
  if (!a.log.empty()) log = files::StreamedFile(a.log);
  const int64_t n = train.x.shape[0];
  const int64_t step_samples = a.batch > n / a.accumulate ? n : a.batch * a.accumulate;  // an optimizer step's
  PlotData plot(n / step_samples + (n % step_samples != 0));
  printer.log = &log;
  printer.batch = a.batch;
  printer.plot = a.plot.empty() ? nullptr : &plot;
  // The resume is checked against the data and these options, and the checkpoint's records replayed.
  trainer.set_data(train, a.val.empty() ? nullptr : &val);
  const int64_t epochs = trainer.epochs();
  const Position& pos = trainer.position();
  printer.per_epoch = trainer.steps_per_epoch();
  printer.run_steps = trainer.total_steps();

  std::printf("training %s on %s: %lld samples, %s loss%s, %s, batch %lld, %lld epoch%s%s\n", a.model.c_str(),
              a.data.c_str(), static_cast<long long>(n), session.loss_name().c_str(),
              a.output.empty() ? "" : (" on '" + session.output() + "'").c_str(), a.optimizer.c_str(),
              static_cast<long long>(a.batch), static_cast<long long>(epochs), epochs == 1 ? "" : "s",
              session.precision() == "bf16" ? ", bf16" : "");
  if (a.accumulate > 1)
    std::printf("accumulating %lld batches of %lld per optimizer step (as batch %lld), %lld steps an epoch\n",
                static_cast<long long>(a.accumulate), static_cast<long long>(a.batch),
                static_cast<long long>(step_samples), static_cast<long long>(trainer.steps_per_epoch()));
  if (!a.resume.empty())
    std::printf("resuming from %s at step %lld (epoch %lld, %lld of %lld samples done)\n", a.resume.c_str(),
                static_cast<long long>(session.steps()), static_cast<long long>(pos.epoch),
                static_cast<long long>(pos.next), static_cast<long long>(n));
  if (!a.resume.empty() && trainer.finished())
    std::printf(
        "nothing left to train: the checkpoint is past %s; ask for more to go on\n",
        a.steps > 0 ? ("--steps " + std::to_string(a.steps)).c_str() : ("--epochs " + std::to_string(epochs)).c_str());
  std::fflush(stdout);

  const auto interrupted_before_training = [&]() {
    std::fprintf(stderr, "onnxtrain: interrupted by %s before the first step; nothing was written\n",
                 g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + g_stop_signal;
  };
  // The model, then --log and --plot: published together at the end (or at an interrupt), so that a run that
  // fails leaves every one of them as it was.
  // With --save-best, --out holds the best validation's weights, written by the trainer at each improvement: the
  // last weights go there only when no validation has been scored yet.
  const auto publish = [&](const TrainResult& r) {
    trainer.check_weights();
    if (a.save_best.empty() || std::isnan(r.best)) model.save(out, a.in_place ? data_inputs : inputs);
    if (log.open()) log.publish();
    if (!a.plot.empty()) {
      const std::string name = a.model.substr(a.model.find_last_of('/') + 1);
      files::atomic_write(
          a.plot,
          plot.svg("onnxtrain: " + name + " on " + a.data + ", " + a.optimizer + ", batch " + std::to_string(a.batch)),
          inputs);
    }
  };
  if (g_stop_signal) return interrupted_before_training();  // while the model and data loaded: nothing to write
  TrainResult result;
  try {
    result = trainer.run();
  } catch (...) {
    printer.progress.clear();
    throw;
  }
  printer.progress.clear();
  if (result.stopped) {
    if (result.steps == 0) return interrupted_before_training();
    // The model is written even when its checkpoint cannot be: the product is the file.
    std::string failed;
    CheckpointDir interrupted;
    if (!ck) {  // no --checkpoint: one in OUT.checkpoint, with the records --log holds
      try {
        interrupted = CheckpointDir(interrupt_dir, "checkpoint", inputs, false);
        if (log.open()) log.for_each_line([&](const std::string& line) { interrupted.append_record(line); });
      } catch (const Error& e) {
        failed = e.what();
      }
    }
    publish(result);
    if (failed.empty()) {
      try {
        trainer.write_checkpoint(ck ? nullptr : &interrupted);
      } catch (const Error& e) {
        failed = e.what();
      }
    }
    if (!failed.empty())
      throw Error("interrupted: wrote the model trained so far to " + out + ", but not its checkpoint: " + failed);
    const std::string dir = ck ? ck->dir() : interrupted.dir();
    std::fprintf(stderr,
                 "onnxtrain: interrupted by %s after step %lld (epoch %lld of %lld, %lld of %lld samples); wrote the "
                 "model trained so far to %s and a checkpoint to %s. To continue: %s\n",
                 g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(session.steps()),
                 static_cast<long long>(pos.epoch), static_cast<long long>(epochs), static_cast<long long>(pos.next),
                 static_cast<long long>(n), out.c_str(), dir.c_str(), resume_command(argv, dir).c_str());
    return 128 + g_stop_signal;
  }
  publish(result);
  if (!a.save_best.empty() && !std::isnan(result.best))
    std::printf("best validation: %s %s at step %lld%s\n", a.save_best.c_str(), sci(result.best).c_str(),
                static_cast<long long>(result.best_step),
                result.best_saved ? (", its weights in " + out).c_str()
                                  : ", written to --out by the run resumed (no better one since)");
  if (result.early_stopped) std::printf("stopped early: %s\n", flag_names(result.reason).c_str());
  std::printf("wrote %s%s%s%s\n", out.c_str(), a.log.empty() ? "" : (", " + a.log).c_str(),
              a.plot.empty() ? "" : (", " + a.plot).c_str(), !ck ? "" : (", checkpoint in " + ck->dir()).c_str());
  return 0;
}

}  // namespace onnxtrain::cli
