// onnxtrain: the command line, a thin layer over the public API (include/onnxtrain/). Commands: info, run, train,
// eval. Epochs, shuffling and reporting live here; everything that computes lives in the library.
// Every failure is one line on stderr and a non-zero exit: 1 for bad models or data, 2 for bad usage.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <numeric>
#include <random>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"

namespace {

using namespace onnxtrain;

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string dims_str(const std::vector<std::string>& dims) { return "(" + join(dims, ",") + ")"; }

std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

int cmd_ops() {
  std::printf("%-12s %-8s %s\n", "op", "opsets", "gradient");
  for (const OpSupport& op : supported_ops())
    std::printf("%-12s %d-%-6d %s\n", op.op_type.c_str(), op.first_opset, op.last_opset, op.gradient ? "yes" : "no");
  return 0;
}

int cmd_info(const std::string& path) {
  Model model = Model::load(path);
  ModelInfo info = model.info();
  std::printf("model:     %s\n", path.c_str());
  std::printf("producer:  %s %s\n", info.producer_name.empty() ? "(none)" : info.producer_name.c_str(),
              info.producer_version.c_str());
  std::printf("ir:        %lld\n", static_cast<long long>(info.ir_version));
  std::string opsets;
  for (auto& [domain, version] : info.opsets)
    opsets += (opsets.empty() ? "" : ", ") + (domain.empty() ? std::string("ai.onnx") : domain) + " " + std::to_string(version);
  std::printf("opsets:    %s\n", opsets.c_str());
  std::printf("inputs:\n");
  for (auto& p : info.inputs) std::printf("  %-24s %-8s %s\n", p.name.c_str(), p.dtype.c_str(), dims_str(p.dims).c_str());
  std::printf("outputs:\n");
  for (auto& p : info.outputs) std::printf("  %-24s %-8s %s\n", p.name.c_str(), p.dtype.c_str(), dims_str(p.dims).c_str());
  std::printf("nodes (%zu):\n", info.nodes.size());
  for (auto& n : info.nodes)
    std::printf("  %-24s %s-%d  (%s) -> (%s)\n", n.name.c_str(), n.op_type.c_str(), n.version,
                join(n.inputs, ", ").c_str(), join(n.outputs, ", ").c_str());
  std::printf("initializers (%zu):\n", info.initializers.size());
  for (auto& i : info.initializers)
    std::printf("  %-24s %-14s %12s  %s\n", i.name.c_str(), shape_str(i.shape).c_str(), thousands(i.count).c_str(),
                i.trainable ? "trainable" : "not trainable");
  std::printf("parameters: %s total, %s trainable\n", thousands(info.total_params).c_str(),
              thousands(info.trainable_params).c_str());
  return 0;
}

// Per-sample dims of the model's input as declared, -1 where symbolic.
std::vector<int64_t> sample_dims(const ModelInfo::Port& p) {
  std::vector<int64_t> dims;
  for (size_t i = 1; i < p.dims.size(); ++i) {
    const std::string& d = p.dims[i];
    bool digits = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
    dims.push_back(digits ? std::stoll(d) : -1);
  }
  return dims;
}

Tensor slice_rows(const Tensor& x, int64_t begin, int64_t end) {
  int64_t row = x.numel() / x.shape[0];
  Tensor t;
  t.shape = x.shape;
  t.shape[0] = end - begin;
  t.f32.assign(x.f32.begin() + begin * row, x.f32.begin() + end * row);
  return t;
}

int cmd_run(const std::string& path, const std::string& data, const std::string& out, int threads, int64_t batch,
            const std::string& x_key) {
  Model model = Model::load(path);
  ModelInfo info = model.info();
  if (info.inputs.size() != 1)
    throw Error(path + ": run feeds one input from --data, but the model has " + std::to_string(info.inputs.size()));
  // The features' key: --input-key, else the input's own name, else x.
  std::vector<std::string> keys = x_key.empty() ? std::vector<std::string>{info.inputs[0].name, "x"}
                                                : std::vector<std::string>{x_key};
  Dataset d = load_dataset(data, Split::Test, keys);
  fit_features(d, info.inputs[0].name, sample_dims(info.inputs[0]));
  InferenceSession session(model, SessionOptions{threads});
  const int64_t n = d.x.shape[0];
  std::map<std::string, Tensor> outputs;
  for (int64_t b = 0; b < n; b += batch) {
    auto res = session.run({{info.inputs[0].name, slice_rows(d.x, b, std::min(n, b + batch))}});
    for (auto& [name, t] : res) {
      Tensor& all = outputs[name];
      if (all.shape.empty()) {
        all.shape = t.shape;
        all.shape[0] = 0;
      }
      all.shape[0] += t.shape[0];
      all.f32.insert(all.f32.end(), t.f32.begin(), t.f32.end());
    }
  }
  save_npz(out, outputs);
  std::printf("ran %lld samples through %s; wrote %s (%s)\n", static_cast<long long>(n), path.c_str(), out.c_str(),
              join(model.output_names(), ", ").c_str());
  // With labels and a (N, C) output, say how the model does: the main job's quick check.
  const Tensor& y0 = outputs[model.output_names()[0]];
  if (d.has_y() && d.y.dtype == DType::Int64 && y0.shape.size() == 2) {
    int64_t c = y0.shape[1], right = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = y0.f32.data() + i * c;
      right += (std::max_element(row, row + c) - row) == d.y.i64[i];
    }
    std::printf("accuracy: %.4f on %lld labelled samples\n", double(right) / double(n), static_cast<long long>(n));
  }
  return 0;
}


// SIGINT/SIGTERM during training: the step under way finishes, then the model trained so far is written.
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
struct Progress {
  bool tty = isatty(STDERR_FILENO) != 0;
  void show(int epoch, int epochs, size_t done, size_t total, double loss, double elapsed) const {
    if (!tty) return;
    const int width = 30;
    int filled = total ? static_cast<int>(width * done / total) : width;
    double eta = done ? elapsed * double(total - done) / double(done) : 0;
    std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %zu/%zu loss %.4f ETA %.0fs", epoch, epochs,
                 std::string(static_cast<size_t>(filled), '=').c_str(), std::string(static_cast<size_t>(width - filled), ' ').c_str(),
                 done, total, loss, eta);
    std::fflush(stderr);
  }
  void clear() const {
    if (tty) std::fprintf(stderr, "\r\033[K");
  }
};

// --log FILE.jsonl: one JSON object per step and per epoch, kept in memory and written (atomically) when training
// ends or is interrupted, so a failed run leaves no half log behind.
struct JsonLog {
  std::string path, lines;
  void add(const nlohmann::json& j) {
    if (!path.empty()) lines += j.dump() + "\n";
  }
  void write() const {
    if (!path.empty()) save_text(path, lines);
  }
};

struct TrainArgs {
  std::string model, data, out, val, loss, target_key = "y", x_key, log;
  bool in_place = false, no_shuffle = false;
  int64_t batch = 32, epochs = 1, steps = 0;
  uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> freeze;
  OptimizerConfig opt;
  std::string precision = "f32";
};

Dataset load_for(const Model& model, const std::string& spec, Split split, const std::string& x_key,
                 const std::string& y_key) {
  ModelInfo info = model.info();
  if (info.inputs.size() != 1)
    throw Error(model.path() + ": the data feeds one input, but the model has " + std::to_string(info.inputs.size()));
  std::vector<std::string> keys = x_key.empty() ? std::vector<std::string>{info.inputs[0].name, "x"}
                                                : std::vector<std::string>{x_key};
  Dataset d = load_dataset(spec, split, keys, y_key);
  fit_features(d, info.inputs[0].name, sample_dims(info.inputs[0]));
  return d;
}

std::string describe(const EvalResult& r) {
  char buf[96];
  if (r.classification)
    std::snprintf(buf, sizeof buf, "loss %.4f, accuracy %.4f", r.loss, r.accuracy());
  else
    std::snprintf(buf, sizeof buf, "loss %.6f", r.loss);
  return buf;
}

int cmd_train(const TrainArgs& a) {
  if (a.batch < 1) throw Error("--batch-size must be at least 1, got " + std::to_string(a.batch));
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const std::string out = a.in_place ? a.model : a.out;
  Model::check_writable(out);
  JsonLog log{a.log, {}};
  if (!a.log.empty()) Model::check_writable(a.log);
  Model model = Model::load(a.model);
  TrainOptions opts;
  opts.loss = a.loss;
  opts.optimizer = a.opt;
  opts.freeze = a.freeze;
  opts.threads = a.threads;
  opts.precision = a.precision;
  opts.seed = a.seed;
  TrainingSession session(model, opts);
  if (a.precision == "bf16" && session.precision() != "bf16")
    std::fprintf(stderr, "onnxtrain: --precision bf16: this CPU has no native bf16 (avx512_bf16); training in f32\n");
  Dataset train = load_for(model, a.data, Split::Train, a.x_key, a.target_key);
  check_trainable(train, session.classes());
  Dataset val;
  if (!a.val.empty()) {
    val = load_for(model, a.val, Split::Test, a.x_key, a.target_key);
    check_trainable(val, session.classes());
  }
  const int64_t n = train.x.shape[0];
  const int64_t per_epoch = (n + a.batch - 1) / a.batch;
  const int64_t epochs = a.steps > 0 ? (a.steps + per_epoch - 1) / per_epoch : a.epochs;
  std::printf("training %s on %s: %lld samples, %s loss, %s, batch %lld, %lld epoch%s%s\n", a.model.c_str(),
              a.data.c_str(), static_cast<long long>(n), session.loss_name().c_str(), a.opt.name.c_str(),
              static_cast<long long>(a.batch), static_cast<long long>(epochs), epochs == 1 ? "" : "s",
              session.precision() == "bf16" ? ", bf16" : "");
  std::fflush(stdout);

  std::mt19937_64 rng(a.seed);
  std::vector<int64_t> order(static_cast<size_t>(n));
  Tensor xb, yb;
  Progress progress;
  int64_t step = 0;
  float last_finite = NAN;
  for (int64_t e = 1; e <= epochs; ++e) {
    std::iota(order.begin(), order.end(), 0);
    if (!a.no_shuffle)  // Fisher-Yates with our own draw, so a seed means the same order everywhere
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = 0; b < n && (a.steps == 0 || step < a.steps) && !g_stop_signal; b += a.batch) {
      const int64_t end = std::min(n, b + a.batch);
      gather(train, order, static_cast<size_t>(b), static_cast<size_t>(end), xb, yb);
      int64_t hits = 0;
      float loss = session.train_step(xb, yb, &hits);
      ++step;
      if (!std::isfinite(loss)) {
        progress.clear();
        char buf[64];
        std::snprintf(buf, sizeof buf, "%g", double(last_finite));
        throw Error("training diverged: the loss became " + std::string(std::isnan(loss) ? "NaN" : "Inf") + " at step " +
                    std::to_string(step) + " (epoch " + std::to_string(e) + "); the last finite loss was " + buf +
                    ". Nothing was written; try a lower --lr");
      }
      last_finite = loss;
      loss_sum += double(loss) * double(end - b);
      correct += hits;
      seen += end - b;
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!a.log.empty()) {
        nlohmann::json j = {{"type", "step"}, {"epoch", e}, {"step", step}, {"loss", loss}, {"batch", end - b},
                            {"lr", a.opt.lr >= 0 ? a.opt.lr : (a.opt.name == "sgd" ? 0.01 : 0.001)},
                            {"samples_per_s", double(seen) / elapsed}};
        if (train.y.dtype == DType::Int64) j["accuracy"] = double(hits) / double(end - b);
        log.add(j);
      }
      progress.show(static_cast<int>(e), static_cast<int>(epochs), static_cast<size_t>(end), static_cast<size_t>(n),
                    loss_sum / double(seen), elapsed);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.clear();
    if (g_stop_signal) {
      model.save(out);
      log.write();
      std::fprintf(stderr,
                   "onnxtrain: interrupted by %s after step %lld (epoch %lld of %lld, %lld of %lld samples); the "
                   "model trained so far was written to %s. Resuming is not supported yet: train %s further to "
                   "continue from its weights (the optimizer state and data order start afresh).\n",
                   g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(step),
                   static_cast<long long>(e), static_cast<long long>(epochs), static_cast<long long>(seen),
                   static_cast<long long>(n), out.c_str(), out.c_str());
      return 128 + g_stop_signal;
    }
    nlohmann::json ej = {{"type", "epoch"}, {"epoch", e}, {"loss", loss_sum / double(seen)}, {"samples_per_s", double(seen) / secs}};
    std::printf("epoch %lld/%lld: loss %.4f", static_cast<long long>(e), static_cast<long long>(epochs), loss_sum / double(seen));
    if (train.y.dtype == DType::Int64) {
      std::printf(", accuracy %.4f", double(correct) / double(seen));
      ej["accuracy"] = double(correct) / double(seen);
    }
    if (!a.val.empty()) {
      EvalResult v = session.evaluate(val.x, val.y);
      std::printf(", val %s", describe(v).c_str());
      ej["val_loss"] = v.loss;
      if (v.classification) ej["val_accuracy"] = v.accuracy();
    }
    std::printf(", %.0f samples/s\n", double(seen) / secs);
    log.add(ej);
    std::fflush(stdout);
  }
  model.save(out);
  log.write();
  std::printf("wrote %s%s\n", out.c_str(), a.log.empty() ? "" : (" and " + a.log).c_str());
  return 0;
}

int cmd_eval(const std::string& path, const std::string& data, const std::string& loss, const std::string& x_key,
             const std::string& y_key, int threads, int64_t batch) {
  Model model = Model::load(path);
  TrainOptions options;
  options.loss = loss;
  options.threads = threads;
  TrainingSession session(model, options);
  Dataset d = load_for(model, data, Split::Test, x_key, y_key);
  check_trainable(d, session.classes());
  EvalResult r = session.evaluate(d.x, d.y, batch);
  std::printf("%s on %s (%lld samples): %s\n", path.c_str(), data.c_str(), static_cast<long long>(r.count),
              describe(r).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"onnxtrain: train and run ONNX models on CPU (oneDNN)", "onnxtrain"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "onnxtrain 0.1.0");

  std::string model_path;
  bool list_ops = false;
  auto* info = app.add_subcommand("info", "Describe a model: producer, opsets, inputs, outputs, nodes, parameters");
  auto* info_model = info->add_option("MODEL", model_path, "The .onnx file");
  info->add_flag("--ops", list_ops, "List the supported ops instead: opset ranges and whether each has a gradient")
      ->excludes(info_model);

  std::string data, out, x_key;
  int threads = 0;
  int64_t batch = 256;
  auto* run = app.add_subcommand("run", "Run a model's forward pass over a data set and write its outputs to .npz");
  run->add_option("MODEL", model_path, "The .onnx file")->required();
  run->add_option("--data", data, "Inputs: an .npz (key = input name, or x), .npy, idx3 file, or fashion-mnist")->required();
  run->add_option("--out", out, "Where to write the outputs (.npz, keyed by output name)")->required();
  run->add_option("--threads", threads, "Threads (default: the machine's cores)")->check(CLI::PositiveNumber);
  run->add_option("--batch-size", batch, "Samples per forward pass (default 256)")->check(CLI::PositiveNumber);
  run->add_option("--input-key", x_key, "The .npz key of the features (default: the input's name, else x)");

  TrainArgs ta;
  auto* train = app.add_subcommand("train", "Train a model's initializers and write the model back with new weights");
  train->add_option("MODEL", ta.model, "The .onnx file")->required();
  train->add_option("--data", ta.data, "Training data: .npz (x, y), an idx3 file, or fashion-mnist")->required();
  auto* out_opt = train->add_option("--out", ta.out, "Where to write the trained model");
  auto* inplace = train->add_flag("--in-place", ta.in_place, "Rewrite MODEL itself");
  out_opt->excludes(inplace);
  train->add_option("--loss", ta.loss, "cross-entropy | nll | bce | mse (default from the head: Softmax cross-entropy, LogSoftmax nll, Sigmoid bce)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  train->add_option("--optimizer", ta.opt.name, "sgd | adam | adamw (default sgd)")->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  train->add_option("--lr", ta.opt.lr, "Learning rate (default: sgd 0.01, adam and adamw 0.001)");
  train->add_option("--momentum", ta.opt.momentum, "SGD momentum (default 0)");
  train->add_option("--dampening", ta.opt.dampening, "SGD dampening (default 0)");
  train->add_flag("--nesterov", ta.opt.nesterov, "SGD Nesterov momentum");
  train->add_option("--weight-decay", ta.opt.weight_decay, "Weight decay (default 0; adamw 0.01)");
  train->add_option("--beta1", ta.opt.beta1, "Adam beta1 (default 0.9)");
  train->add_option("--beta2", ta.opt.beta2, "Adam beta2 (default 0.999)");
  train->add_option("--eps", ta.opt.eps, "Adam eps (default 1e-8)");
  train->add_option("--batch-size", ta.batch, "Samples per step (default 32)");
  auto* epochs_opt = train->add_option("--epochs", ta.epochs, "Passes over the data (default 1)")->check(CLI::PositiveNumber);
  train->add_option("--steps", ta.steps, "Train this many batches in all, across epochs")->check(CLI::PositiveNumber)->excludes(epochs_opt);
  train->add_flag("--no-shuffle", ta.no_shuffle, "Batches in file order (default: a new seeded permutation each epoch)");
  train->add_option("--seed", ta.seed, "Shuffling seed (default 0)");
  train->add_option("--val", ta.val, "Validation data, evaluated after each epoch (fashion-mnist: its test split)");
  train->add_option("--freeze", ta.freeze, "An initializer not to train (repeatable)");
  train->add_option("--input-key", ta.x_key, "The .npz key of the features (default: the input's name, else x)");
  train->add_option("--target-key", ta.target_key, "The .npz key of the labels or targets (default y)");
  train->add_option("--threads", ta.threads, "Threads (default: the machine's cores)")->check(CLI::PositiveNumber);
  train->add_option("--log", ta.log, "Write a JSON object per step and per epoch to this .jsonl file");
  train->add_option("--precision", ta.precision, "f32 | bf16: bf16 GEMMs with f32 master weights, where the CPU has avx512_bf16 (default f32)")
      ->check(CLI::IsMember({"f32", "bf16"}));

  std::string eval_loss, eval_y = "y";
  auto* eval = app.add_subcommand("eval", "Loss and accuracy of a model on a data set");
  eval->add_option("MODEL", model_path, "The .onnx file")->required();
  eval->add_option("--data", data, "Test data: .npz (x, y), an idx3 file, or fashion-mnist (its test split)")->required();
  eval->add_option("--loss", eval_loss, "cross-entropy | nll | bce | mse (default from the head)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  eval->add_option("--input-key", x_key, "The .npz key of the features (default: the input's name, else x)");
  eval->add_option("--target-key", eval_y, "The .npz key of the labels or targets (default y)");
  eval->add_option("--threads", threads, "Threads (default: the machine's cores)")->check(CLI::PositiveNumber);
  eval->add_option("--batch-size", batch, "Samples per forward pass (default 256)")->check(CLI::PositiveNumber);

  try {
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands([&](CLI::App* c) { return c->check_name(argv[1]); }).empty())
      throw CLI::ExtrasError("unknown command '" + std::string(argv[1]) + "' (commands: info, run, train, eval)",
                             CLI::ExitCodes::ExtrasError);
    app.parse(argc, argv);
    if (*train && ta.out.empty() && !ta.in_place) throw CLI::ValidationError("--out", "train needs --out OUT.onnx or --in-place");
    if (*info && !list_ops && model_path.empty()) throw CLI::RequiredError("MODEL (or --ops)");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::string cmd = app.get_subcommands().empty() ? "" : " " + app.get_subcommands()[0]->get_name();
    std::fprintf(stderr, "onnxtrain%s: usage error: %s (see 'onnxtrain%s --help')\n", cmd.c_str(),
                 msg.substr(0, msg.find('\n')).c_str(), cmd.c_str());
    return 2;
  }
  try {
    if (*info && list_ops) return cmd_ops();
    if (*info) return cmd_info(model_path);
    if (*run) return cmd_run(model_path, data, out, threads, batch, x_key);
    if (*train) return cmd_train(ta);
    if (*eval) return cmd_eval(model_path, data, eval_loss, x_key, eval_y, threads, batch);
  } catch (const onnxtrain::Error& e) {
    std::fprintf(stderr, "onnxtrain: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnxtrain: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
