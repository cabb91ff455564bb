// `onnxtrain train`: the loop around TrainingSession. It owns epochs, shuffling, the progress bar, validation, the
// records behind --log and --plot, --diagnostics' reports and warnings, checkpoints and --resume, and SIGINT/SIGTERM;
// everything that computes is in the library.
#include "tools/train_cmd.h"

#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/files.h"
#include "tools/checkpoint.h"
#include "tools/cli_checks.h"
#include "tools/cli_common.h"
#include "tools/plot.h"

namespace onnxtrain::cli {
namespace {

// SIGINT/SIGTERM during training: the step under way finishes, then the model and a checkpoint are written.
volatile sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

// Copies rows idx[begin, end) of d into the batch tensors (their buffers are reused across steps).
void gather(const Dataset& d, const std::vector<int64_t>& idx, size_t begin, size_t end, Tensor& xb, Tensor& yb) {
  const int64_t n = d.x.shape[0], row = d.x.numel() / n, yrow = d.y.numel() / n, b = static_cast<int64_t>(end - begin);
  xb.shape = d.x.shape;
  xb.shape[0] = b;
  xb.f32.resize(static_cast<size_t>(b * row));
  yb.dtype = d.y.dtype;
  yb.shape = d.y.shape;
  yb.shape[0] = b;
  if (d.y.dtype == DType::Int64) yb.i64.resize(static_cast<size_t>(b * yrow)); else yb.f32.resize(static_cast<size_t>(b * yrow));
  for (int64_t k = 0; k < b; ++k) {
    const int64_t i = idx[begin + static_cast<size_t>(k)];
    std::copy(d.x.f32.begin() + i * row, d.x.f32.begin() + (i + 1) * row, xb.f32.begin() + k * row);
    if (d.y.dtype == DType::Int64)
      std::copy(d.y.i64.begin() + i * yrow, d.y.i64.begin() + (i + 1) * yrow, yb.i64.begin() + k * yrow);
    else
      std::copy(d.y.f32.begin() + i * yrow, d.y.f32.begin() + (i + 1) * yrow, yb.f32.begin() + k * yrow);
  }
}

// A one-line progress bar on stderr when it is a terminal; nothing otherwise.
struct ProgressBar {
  bool tty = isatty(STDERR_FILENO) != 0;
  void show(int64_t epoch, int64_t epochs, int64_t done, int64_t total, double loss, double elapsed) const {
    if (!tty) return;
    const int64_t width = 30, filled = total ? width * done / total : width;
    double eta = done ? elapsed * double(total - done) / double(done) : 0;
    std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s%s] %lld/%lld loss %.4f ETA %.0fs", static_cast<long long>(epoch),
                 static_cast<long long>(epochs), std::string(static_cast<size_t>(filled), '=').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), loss, eta);
    std::fflush(stderr);
  }
  void clear() const {
    if (tty) std::fprintf(stderr, "\r\033[K");
  }
};

// The options a resumed run must share with the run that wrote the checkpoint for the weights to come out the same,
// as they take effect: defaults resolved (an unset --lr is the optimizer's), --freeze as a set.
nlohmann::json run_config(const TrainArgs& a, const TrainingSession& s, int64_t samples) {
  const OptimizerConfig o = resolved(a.opt);
  std::vector<std::string> freeze = a.freeze;
  std::sort(freeze.begin(), freeze.end());
  freeze.erase(std::unique(freeze.begin(), freeze.end()), freeze.end());
  nlohmann::json c = {{"samples", samples}, {"batch-size", a.batch}, {"loss", s.loss_name()}, {"optimizer", o.name},
          {"lr", o.lr}, {"momentum", o.momentum}, {"dampening", o.dampening}, {"nesterov", o.nesterov},
          {"weight-decay", o.weight_decay}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps},
          {"seed", a.seed}, {"no-shuffle", a.no_shuffle}, {"freeze", freeze}, {"precision", s.precision()},
          {"threads", a.threads}};
  if (!a.output.empty()) c["output"] = s.output();  // only when chosen: checkpoints from before --output lack it
  return c;
}

// A checkpoint's config as run_config makes it now: older checkpoints kept -1 for a default --lr or --weight-decay
// and --freeze in the order given.
nlohmann::json normalized(nlohmann::json c) {
  if (c.contains("optimizer") && c["optimizer"].is_string()) {
    OptimizerConfig o;
    o.name = c["optimizer"].get<std::string>();
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

// Refuses a resume whose options would not continue the same run, naming the first option that differs.
void check_same_run(const std::string& dir, const nlohmann::json& checkpoint, const nlohmann::json& now) {
  const nlohmann::json was = normalized(checkpoint);
  // The optimizer first: the defaults of others (--lr) follow from it.
  std::vector<std::string> keys = {"optimizer"};
  for (auto it = now.begin(); it != now.end(); ++it)
    if (it.key() != "optimizer" && it.key() != "threads") keys.push_back(it.key());  // threads: warned below
  for (const std::string& key : keys) {
    if (!was.contains(key) || was[key] != now[key])
      throw Error("--resume " + dir + ": the checkpoint was made with " + key + " " +
                  (was.contains(key) ? was[key].dump() : "unset") + ", this run has " + now[key].dump() +
                  "; resume with the same options");
  }
  if (was.value("threads", 0) != now.value("threads", 0))
    std::fprintf(stderr, "onnxtrain: note: the checkpoint was made with --threads %d and this run uses %d: the result "
                 "may differ from an uninterrupted run in the last bits\n", was.value("threads", 0), now.value("threads", 0));
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The command line that continues from dir: this one without its own --resume, plus --resume dir.
std::string resume_command(const std::vector<std::string>& argv, const std::string& dir) {
  std::string cmd;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--resume") { ++i; continue; }
    if (argv[i].rfind("--resume=", 0) == 0) continue;
    cmd += (cmd.empty() ? "" : " ") + shell_quote(argv[i]);
  }
  return cmd + " --resume " + shell_quote(dir);
}

std::string rng_text(const std::mt19937_64& rng) {
  std::ostringstream s;
  s << rng;
  return s.str();
}

// Checks a checkpoint's position against the data it is resumed on.
void check_position(const std::string& dir, const Position& p, int64_t n) {
  if (p.order.empty()) {  // between epochs; older checkpoints left next at the last epoch's end
    if (p.next != 0 && p.next != n)
      throw Error("--resume " + dir + ": the checkpoint is between epochs but " + std::to_string(p.next) +
                  " samples into one");
    return;
  }
  if (static_cast<int64_t>(p.order.size()) != n)
    throw Error("--resume " + dir + ": the checkpoint's order covers " + std::to_string(p.order.size()) +
                " samples, the data has " + std::to_string(n));
  if (p.next > n)
    throw Error("--resume " + dir + ": the checkpoint is " + std::to_string(p.next) + " samples into an epoch of " +
                std::to_string(n));
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (int64_t i : p.order)
    if (i < 0 || i >= n || seen[static_cast<size_t>(i)]++)
      throw Error("--resume " + dir + ": the checkpoint's order is not a permutation of the samples");
}

// --diagnostics: per-epoch sums of each parameter's statistics, and the warnings' thresholds.
struct ParamEpoch {
  double grad_norm = 0, update_ratio = 0;
  int64_t steps = 0, vanishing = 0, exploding = 0;
};
constexpr double kVanishingNorm = 1e-7;  // a gradient norm below this on every step of an epoch: vanishing
constexpr double kExplodingNorm = 1e3;   // above this on any step: exploding
constexpr double kDeadWarn = 0.5;        // a layer with more than this fraction of units dead for a whole epoch

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

// Prints an epoch's diagnostics, warns (stderr, one line each, with a hint) and returns them for the log.
nlohmann::json report_diagnostics(TrainingSession& s, int64_t epoch, std::map<std::string, ParamEpoch>& params) {
  nlohmann::json layers = nlohmann::json::array(), ps = nlohmann::json::array();
  for (const LayerStats& l : s.layer_stats()) {
    std::printf("  %s '%s': %lld units, %s dead, %s negative pre-activations\n", l.op_type.c_str(), l.node.c_str(),
                static_cast<long long>(l.units), pct(l.dead).c_str(), pct(l.negative).c_str());
    layers.push_back({{"node", l.node}, {"op_type", l.op_type}, {"units", l.units}, {"dead", l.dead}, {"negative", l.negative}});
    if (l.units > 0 && l.dead > kDeadWarn)
      std::fprintf(stderr, "onnxtrain: warning: epoch %lld: %s '%s' had %s of its %lld units dead for the whole epoch "
                   "(zero output on every sample); they no longer learn. Try a lower --lr, LeakyRelu instead of Relu, or "
                   "an initialization without large negative biases\n", static_cast<long long>(epoch), l.op_type.c_str(),
                   l.node.c_str(), pct(l.dead).c_str(), static_cast<long long>(l.units));
  }
  for (auto& [name, p] : params) {
    if (p.steps == 0) continue;
    const double g = p.grad_norm / double(p.steps), u = p.update_ratio / double(p.steps);
    std::printf("  param '%s': gradient norm %s, update/weight %s (epoch means)\n", name.c_str(), sci(g).c_str(), sci(u).c_str());
    ps.push_back({{"name", name}, {"grad_norm", g}, {"update_ratio", u}, {"vanishing_steps", p.vanishing},
                  {"exploding_steps", p.exploding}});
    if (p.vanishing == p.steps)
      std::fprintf(stderr, "onnxtrain: warning: epoch %lld: the gradient of '%s' vanished (norm below %g on all %lld "
                   "steps), so it does not learn. Look for dead units feeding it or above it; try LeakyRelu, a higher --lr, "
                   "or another initialization\n", static_cast<long long>(epoch), name.c_str(), kVanishingNorm,
                   static_cast<long long>(p.steps));
    if (p.exploding > 0)
      std::fprintf(stderr, "onnxtrain: warning: epoch %lld: the gradient of '%s' exploded (norm above %g on %lld of %lld "
                   "steps). Try a lower --lr or a smaller-variance initialization\n", static_cast<long long>(epoch),
                   name.c_str(), kExplodingNorm, static_cast<long long>(p.exploding), static_cast<long long>(p.steps));
    p = ParamEpoch();
  }
  std::fflush(stdout);
  s.reset_layer_stats();
  return {{"layers", layers}, {"params", ps}};
}

}  // namespace

CLI::App* add_train_command(CLI::App& app, TrainArgs& a) {
  auto* train = app.add_subcommand("train", "Train a model's initializers and write the model back with new weights");
  train->add_option("MODEL", a.model, "The .onnx file")->required();
  train->add_option("--data", a.data, "Training data: .npz (x, y), an idx3 file, or fashion-mnist")->required();
  auto* out_opt = train->add_option("--out", a.out, "Where to write the trained model");
  auto* inplace = train->add_flag("--in-place", a.in_place, "Rewrite MODEL itself");
  out_opt->excludes(inplace);
  train->add_option("--loss", a.loss, "cross-entropy | nll | bce | mse (default from the head: Softmax cross-entropy, LogSoftmax nll, Sigmoid bce)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  train->add_option("--output", a.output, "The output the loss reads, for a model with several (default: its only one)");
  train->add_option("--optimizer", a.opt.name, "sgd | adam | adamw (default sgd)")->check(CLI::IsMember({"sgd", "adam", "adamw"}));
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
  train->add_option("--steps", a.steps, "Train this many batches in all, across epochs")->check(cli::kPositive)->excludes(epochs_opt);
  train->add_flag("--no-shuffle", a.no_shuffle, "Batches in file order (default: a new seeded permutation each epoch)");
  train->add_option("--seed", a.seed, "Shuffling and Dropout seed (default 0)")->check(kSeed);
  train->add_option("--val", a.val, "Validation data, evaluated after each epoch (fashion-mnist: its test split)");
  train->add_option("--freeze", a.freeze, "An initializer not to train (repeatable)");
  train->add_option("--input-key", a.x_key, "The .npz key of the features (default: the input's name, else x)");
  train->add_option("--target-key", a.target_key, "The .npz key of the labels or targets (default y)");
  train->add_option("--threads", a.threads, "Threads (default: the machine's cores)")->check(cli::kThreads);
  train->add_option("--log", a.log, "Write a JSON object per step and per epoch to this .jsonl file");
  train->add_option("--precision", a.precision, "f32 | bf16: bf16 GEMMs with f32 master weights, where the CPU has avx512_bf16 (default f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  train->add_option("--checkpoint", a.checkpoint, "Keep a checkpoint (model, optimizer state, data position) in this folder");
  train->add_option("--checkpoint-every", a.checkpoint_every, "Checkpoint every N steps (default: at each epoch's end)")
      ->check(cli::kPositive);
  train->add_option("--val-every", a.val_every, "Also validate every N steps, for --log and --plot (default: at epoch ends only)")
      ->check(cli::kPositive);
  train->add_option("--plot", a.plot, "Draw loss and accuracy against epochs into this .svg, written with the model");
  train->add_flag("--diagnostics", a.diagnostics, "Report dead ReLU units, negative pre-activations, gradient norms and "
                  "update ratios per epoch, and warn about dead layers and vanishing or exploding gradients");
  train->add_option("--resume", a.resume, "Continue the run whose checkpoint folder this is (same options; bitwise the same result)");
  return train;
}

void check_train_usage(const CLI::App& train, const TrainArgs& a) {
  if (a.out.empty() && !a.in_place) throw CLI::ValidationError("--out", "train needs --out OUT.onnx or --in-place");
  // An option of another optimizer would be ignored without a word: refused, as a likely slip.
  const bool sgd = a.opt.name == "sgd";
  for (const char* option : {"--momentum", "--dampening", "--nesterov"})
    if (!sgd && train.count(option)) throw CLI::ValidationError(option, "applies to --optimizer sgd, not " + a.opt.name);
  for (const char* option : {"--beta1", "--beta2", "--eps"})
    if (sgd && train.count(option)) throw CLI::ValidationError(option, "applies to --optimizer adam and adamw, not sgd");
  // Out-of-range hyperparameters are bad usage, refused before anything is read: the library's own rule, one copy.
  try {
    check_optimizer(a.opt);
  } catch (const Error& e) {
    const std::string m = e.what();
    throw CLI::ValidationError(m.substr(0, m.find(' ')), m.substr(m.find(' ') + 1));
  }
  // The model itself is an output with --in-place, or with --out naming it: the same thing, and meant.
  const std::string out = a.in_place ? a.model : a.out;
  NamedPaths inputs = {{"--data", a.data}, {"--val", a.val}};
  if (!files::same_target(out, a.model)) inputs.push_back({"MODEL", a.model});
  check_distinct_outputs({{a.in_place ? "--in-place" : "--out", out}, {"--log", a.log}, {"--plot", a.plot},
                          {"--checkpoint", a.checkpoint.empty() ? a.resume : a.checkpoint}},
                         inputs);
  check_npz_key(train, "--input-key", {a.data, a.val});
  check_npz_key(train, "--target-key", {a.data, a.val});
  if (a.checkpoint_every > 0 && a.checkpoint.empty() && a.resume.empty())
    throw CLI::ValidationError("--checkpoint-every", "needs --checkpoint DIR (or --resume DIR) to write to");
  if (a.val_every > 0 && a.val.empty()) throw CLI::ValidationError("--val-every", "needs --val DATA to validate on");
  if (!a.plot.empty() && (a.plot.size() < 4 || a.plot.compare(a.plot.size() - 4, 4, ".svg") != 0))
    throw CLI::ValidationError("--plot", "writes SVG: name a .svg file (rsvg-convert FILE.svg -o FILE.png makes a PNG)");
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

  // The checkpoint folders: the one resumed, and the one written (the same, unless --checkpoint names another).
  CheckpointDir from, own;
  CheckpointDir* to = nullptr;
  Checkpoint resumed;
  if (!a.resume.empty()) {
    from = CheckpointDir(a.resume, "--resume", inputs, true);
    resumed = from.read();
    inputs.add(resumed.model, "checkpoint's model");
    data_inputs.add(resumed.model, "checkpoint's model");
  }
  if (!a.checkpoint.empty() && !(from.open() && files::same_target(a.checkpoint, a.resume)))
    own = CheckpointDir(a.checkpoint, "--checkpoint", inputs, false), to = &own;
  else if (from.open())
    to = &from;

  // Every file the final write touches is checked now, before the long work: the model and each of its external
  // data files (Model::check_save), --log and --plot, none of them onto another or into the checkpoint's names.
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
  const std::string interrupt_dir = to ? to->dir() : out + ".checkpoint";  // where an interrupt checkpoints
  for (const auto& [what, f] : written) {
    const auto slash = f.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : f.substr(0, slash), name = f.substr(slash + 1);
    if (files::same_target(folder, interrupt_dir) &&
        std::regex_match(name, std::regex("latest|lock|records\\.jsonl|step-[0-9]{8,19}(\\.partial)?")))
      throw Error(what + " " + f + " is a name the checkpoint in " + interrupt_dir + " uses; write it elsewhere");
  }
  if (!to) CheckpointDir::check(interrupt_dir, "the folder an interrupt checkpoints into,", inputs);

  if (!a.resume.empty()) model.load_weights(resumed.model);
  TrainOptions opts;
  opts.loss = a.loss;
  opts.output = a.output;
  opts.optimizer = a.opt;
  opts.freeze = a.freeze;
  opts.threads = a.threads;
  opts.precision = a.precision;
  opts.seed = a.seed;
  TrainingSession session(model, opts);
  session.set_diagnostics(a.diagnostics);
  if (a.precision == "bf16" && session.precision() != "bf16")
    std::fprintf(stderr, "onnxtrain: --precision bf16: this CPU has no native bf16 (avx512_bf16); training in f32\n");
  Dataset train = load_for(model, session.input(), a.data, Split::Train, a.x_key, a.target_key);
  check_trainable(train, session.classes());
  Dataset val;
  if (!a.val.empty()) {
    val = load_for(model, session.input(), a.val, Split::Test, a.x_key, a.target_key);
    check_trainable(val, session.classes());
  }
  const int64_t n = train.x.shape[0];
  // A model exported with a fixed batch runs no other: refused now rather than at the first step, or at an epoch's
  // last, partial batch after the rest of the epoch has trained.
  if (const int64_t fixed = fixed_batch(input_port(model, session.input()))) {
    const std::string why = a.model + ": the model fixes its batch dimension at " + std::to_string(fixed) +
                            " (a PyTorch export without dynamic_axes?)";
    if (a.batch != fixed)
      throw Error(why + ", and --batch-size is " + std::to_string(a.batch) + "; use --batch-size " +
                  std::to_string(fixed) + ", or export again with dynamic_axes");
    if (n % fixed != 0)
      throw Error(why + ", and " + a.data + "'s " + std::to_string(n) + " samples leave a last batch of " +
                  std::to_string(n % fixed) + "; export again with dynamic_axes");
  }
  // Rounded-up divisions that cannot overflow, whatever --batch-size and --steps say.
  const int64_t per_epoch = n / a.batch + (n % a.batch != 0);
  const int64_t epochs = a.steps > 0 ? a.steps / per_epoch + (a.steps % per_epoch != 0) : a.epochs;
  const bool labels = train.y.dtype == DType::Int64 || session.binary_accuracy();  // hits are counted

  Position pos;
  pos.config = run_config(a, session, n);
  std::mt19937_64 rng(a.seed);
  if (!a.resume.empty()) {
    check_same_run(a.resume, resumed.position.config, pos.config);
    check_position(a.resume, resumed.position, n);
    std::istringstream in(resumed.position.rng);
    if (!(in >> rng)) throw Error("--resume " + a.resume + ": the checkpoint's generator state is malformed");
    session.restore(resumed.state);
    pos = std::move(resumed.position);
    if (pos.order.empty()) pos.next = 0;
  }
  const int64_t first_step = session.steps();

  // The records (--log, --plot, the checkpoint's history) are streamed, never kept: memory and checkpoints stay
  // the same size however long the run. --log goes to a side file, published with the model.
  files::StreamedFile log;
  if (!a.log.empty()) log = files::StreamedFile(a.log);
  PlotData plot(per_epoch);
  const auto record = [&](const nlohmann::json& r) {
    const std::string line = r.dump();
    if (log.open()) log.write(line + "\n");
    if (to) to->append_record(line);
    if (!a.plot.empty()) plot.add(r);
  };
  if (from.open())  // the history so far, from the checkpoint (into another checkpoint folder too, if one is named)
    from.for_each_record([&](const std::string& line, const nlohmann::json& r) {
      if (log.open()) log.write(line + "\n");
      if (to && to != &from) to->append_record(line);
      if (!a.plot.empty()) plot.add(r);
    });

  std::printf("training %s on %s: %lld samples, %s loss%s, %s, batch %lld, %lld epoch%s%s\n", a.model.c_str(),
              a.data.c_str(), static_cast<long long>(n), session.loss_name().c_str(),
              a.output.empty() ? "" : (" on '" + session.output() + "'").c_str(), a.opt.name.c_str(),
              static_cast<long long>(a.batch), static_cast<long long>(epochs), epochs == 1 ? "" : "s",
              session.precision() == "bf16" ? ", bf16" : "");
  if (!a.resume.empty())
    std::printf("resuming from %s at step %lld (epoch %lld, %lld of %lld samples done)\n", a.resume.c_str(),
                static_cast<long long>(session.steps()), static_cast<long long>(pos.epoch),
                static_cast<long long>(pos.next), static_cast<long long>(n));
  if (!a.resume.empty() && (a.steps > 0 ? session.steps() >= a.steps : pos.epoch > epochs))
    std::printf("nothing left to train: the checkpoint is past %s; ask for more to go on\n",
                a.steps > 0 ? ("--steps " + std::to_string(a.steps)).c_str() : ("--epochs " + std::to_string(epochs)).c_str());
  std::fflush(stdout);

  // What a run that fails now has written: a failed run publishes nothing, but its checkpoints stay.
  const auto written_so_far = [&]() {
    return to && to->last_step() >= 0 ? "The last checkpoint, in " + to->dir() + ", is from step " +
                                            std::to_string(to->last_step()) + "; nothing else was written"
                                      : std::string("Nothing was written");
  };
  const auto interrupted_before_training = [&]() {
    std::fprintf(stderr, "onnxtrain: interrupted by %s before the first step; nothing was written\n",
                 g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + g_stop_signal;
  };
  // No weight that is not finite is ever written: a finite loss does not prove the weights finite.
  const auto check_weights = [&]() {
    const std::string bad = session.nonfinite_parameter();
    if (bad.empty()) return;
    throw Error("training diverged: parameter '" + bad + "' holds NaN or Inf after step " +
                std::to_string(session.steps()) + ", although the loss stayed finite (a Relu can hide a NaN from it). " +
                written_so_far() + "; check the model's initial weights, or try a lower --lr");
  };
  const auto checkpoint = [&](CheckpointDir& dir) {
    check_weights();
    pos.rng = rng_text(rng);
    dir.write(model, session.state(), pos);
  };
  // The model, then --log and --plot: published together at the end (or at an interrupt), so that a run that
  // fails leaves every one of them as it was.
  const auto publish = [&]() {
    check_weights();
    model.save(out, a.in_place ? data_inputs : inputs);
    if (log.open()) log.publish();
    if (!a.plot.empty()) {
      const std::string name = a.model.substr(a.model.find_last_of('/') + 1);
      files::atomic_write(a.plot, plot.svg("onnxtrain: " + name + " on " + a.data + ", " + a.opt.name + ", batch " +
                                           std::to_string(a.batch)), inputs);
    }
  };
  if (g_stop_signal) return interrupted_before_training();  // while the model and data loaded: nothing to write
  std::map<std::string, ParamEpoch> param_epoch;
  if (!a.val.empty() && a.resume.empty()) {  // where validation starts: the first point of its curve
    EvalResult v = session.evaluate(val.x, val.y);
    std::printf("before training: val %s\n", describe(v).c_str());
    nlohmann::json r = {{"type", "val"}, {"epoch", 0}, {"step", 0}, {"val_loss", v.loss}};
    if (v.classification) r["val_accuracy"] = v.accuracy();
    record(r);
  }
  const double lr = resolved(a.opt).lr;
  Tensor xb, yb;
  ProgressBar progress;
  float last_finite = NAN;
  while (pos.epoch <= epochs) {
    if (pos.order.empty()) {  // a new epoch: its own draw of the order
      pos.order.resize(static_cast<size_t>(n));
      std::iota(pos.order.begin(), pos.order.end(), 0);
      if (!a.no_shuffle)  // Fisher-Yates with our own draw, so a seed means the same order everywhere
        for (size_t i = pos.order.size(); i > 1; --i) std::swap(pos.order[i - 1], pos.order[rng() % i]);
      pos.next = 0;
      pos.loss_sum = 0;
      pos.correct = pos.seen = 0;
    }
    const auto t0 = std::chrono::steady_clock::now();
    int64_t seen_here = 0;  // samples this process trained in this epoch, for the rate
    double eval_secs = 0;   // time spent in --val-every validations, not training
    bool due = false;       // a --checkpoint-every checkpoint fell on the epoch's last step
    while (pos.next < n && (a.steps == 0 || session.steps() < a.steps) && !g_stop_signal) {
      const int64_t b = pos.next, end = std::min(n, b + a.batch);
      gather(train, pos.order, static_cast<size_t>(b), static_cast<size_t>(end), xb, yb);
      int64_t hits = 0;
      const float loss = session.train_step(xb, yb, &hits);
      const int64_t step = session.steps();
      std::vector<ParamStats> stats = a.diagnostics ? session.param_stats() : std::vector<ParamStats>();
      std::string bad_grad;
      for (const ParamStats& p : stats)
        if (bad_grad.empty() && !std::isfinite(p.grad_norm)) bad_grad = p.name;
      if (!std::isfinite(loss) || !bad_grad.empty()) {
        progress.clear();
        const auto g = [](double v) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "%g", v);
          return std::string(buf);
        };
        const std::string what = !std::isfinite(loss) ? std::string("the loss became ") + (std::isnan(loss) ? "NaN" : "Inf")
                                                      : "the gradient of '" + bad_grad + "' became NaN or Inf";
        const std::string where = session.nonfinite_origin();
        const std::string before = std::isfinite(loss) ? "; the loss was still finite, " + g(loss)
                                   : std::isnan(last_finite) ? std::string("; no step had a finite loss")
                                                             : "; the last finite loss was " + g(last_finite);
        throw Error("training diverged: " + what + " at step " + std::to_string(step) + " (epoch " +
                    std::to_string(pos.epoch) + ")" + (where.empty() ? "" : "; it first appeared in " + where) + before +
                    ". " + written_so_far() + "; try a lower --lr");
      }
      last_finite = loss;
      pos.next = end;
      pos.loss_sum += double(loss) * double(end - b);
      pos.correct += hits;
      pos.seen += end - b;
      seen_here += end - b;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - eval_secs;
      nlohmann::json r = {{"type", "step"}, {"epoch", pos.epoch}, {"step", step}, {"loss", loss}, {"batch", end - b},
                          {"lr", lr}, {"samples_per_s", double(seen_here) / elapsed}};
      if (labels) r["accuracy"] = double(hits) / double(end - b);
      if (!stats.empty()) {
        nlohmann::json gn, ur;
        for (const ParamStats& p : stats) {
          gn[p.name] = p.grad_norm;
          ur[p.name] = p.update_ratio;
          ParamEpoch& e = param_epoch[p.name];
          e.grad_norm += p.grad_norm;
          e.update_ratio += p.update_ratio;
          ++e.steps;
          e.vanishing += p.grad_norm < kVanishingNorm;
          e.exploding += p.grad_norm > kExplodingNorm;
        }
        r["grad_norm"] = std::move(gn);
        r["update_ratio"] = std::move(ur);
      }
      record(r);
      progress.show(pos.epoch, epochs, end, n, pos.loss_sum / double(pos.seen), elapsed);
      if (a.val_every > 0 && step % a.val_every == 0 && pos.next < n) {  // the epoch's end validates anyway
        const auto e0 = std::chrono::steady_clock::now();
        EvalResult v = session.evaluate(val.x, val.y);
        eval_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
        nlohmann::json e = {{"type", "val"}, {"epoch", pos.epoch}, {"step", step}, {"val_loss", v.loss}};
        if (v.classification) e["val_accuracy"] = v.accuracy();
        record(e);
      }
      // A checkpoint due at an epoch's last step waits for the epoch's record, so that it covers the whole epoch.
      if (to && a.checkpoint_every > 0 && step % a.checkpoint_every == 0) {
        if (pos.next < n) checkpoint(*to); else due = true;
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - eval_secs;
    progress.clear();
    if (g_stop_signal) {
      if (session.steps() == first_step) return interrupted_before_training();
      // The model is written even when its checkpoint cannot be: the product is the file.
      std::string failed;
      CheckpointDir interrupted;
      if (!to) {  // no --checkpoint: one in OUT.checkpoint, with the records --log holds
        try {
          interrupted = CheckpointDir(interrupt_dir, "checkpoint", inputs, false);
          if (log.open()) log.for_each_line([&](const std::string& line) { interrupted.append_record(line); });
        } catch (const Error& e) {
          failed = e.what();
        }
      }
      CheckpointDir& dir = to ? *to : interrupted;
      publish();
      if (failed.empty()) {
        try {
          checkpoint(dir);
        } catch (const Error& e) {
          failed = e.what();
        }
      }
      if (!failed.empty())
        throw Error("interrupted: wrote the model trained so far to " + out + ", but not its checkpoint: " + failed);
      std::fprintf(stderr,
                   "onnxtrain: interrupted by %s after step %lld (epoch %lld of %lld, %lld of %lld samples); wrote the "
                   "model trained so far to %s and a checkpoint to %s. To continue: %s\n",
                   g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(session.steps()),
                   static_cast<long long>(pos.epoch), static_cast<long long>(epochs), static_cast<long long>(pos.next),
                   static_cast<long long>(n), out.c_str(), dir.dir().c_str(), resume_command(argv, dir.dir()).c_str());
      return 128 + g_stop_signal;
    }
    // An epoch's record is made once, when it ends. A --steps run that stops inside one prints its running totals
    // but records nothing: the run resumed from there records that epoch when it ends, and a resume with nothing
    // left to train prints nothing.
    const bool ended = pos.next == n;
    if (pos.seen > 0 && (seen_here > 0 || ended)) {
      std::printf("epoch %lld/%lld%s: loss %.4f", static_cast<long long>(pos.epoch), static_cast<long long>(epochs),
                  ended ? "" : (" (" + std::to_string(pos.next) + " of " + std::to_string(n) + " samples)").c_str(),
                  pos.loss_sum / double(pos.seen));
      nlohmann::json r = {{"type", "epoch"}, {"epoch", pos.epoch}, {"loss", pos.loss_sum / double(pos.seen)}};
      if (seen_here > 0) r["samples_per_s"] = double(seen_here) / secs;
      if (labels) {
        std::printf(", accuracy %.4f", double(pos.correct) / double(pos.seen));
        r["accuracy"] = double(pos.correct) / double(pos.seen);
      }
      if (ended && !a.val.empty()) {
        EvalResult v = session.evaluate(val.x, val.y);
        std::printf(", val %s", describe(v).c_str());
        r["val_loss"] = v.loss;
        if (v.classification) r["val_accuracy"] = v.accuracy();
      }
      if (seen_here > 0) std::printf(", %.0f samples/s", double(seen_here) / secs);
      std::printf("\n");
      std::fflush(stdout);
      if (a.diagnostics) r["diagnostics"] = report_diagnostics(session, pos.epoch, param_epoch);
      if (ended) record(r);
    }
    if (pos.next < n) break;  // --steps ended the run inside this epoch: the position stays there
    ++pos.epoch;
    pos.order.clear();  // the next epoch draws its order when it starts, from the start
    pos.next = 0;
    if (to && (a.checkpoint_every == 0 || due)) checkpoint(*to);
  }
  if (to) checkpoint(*to);  // so that a later --resume with more --epochs or --steps goes on
  publish();
  std::printf("wrote %s%s%s%s\n", out.c_str(), a.log.empty() ? "" : (", " + a.log).c_str(),
              a.plot.empty() ? "" : (", " + a.plot).c_str(), !to ? "" : (", checkpoint in " + to->dir()).c_str());
  return 0;
}

}  // namespace onnxtrain::cli
