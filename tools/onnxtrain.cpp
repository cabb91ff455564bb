// onnxtrain: the command line, a thin layer over the public API (include/onnxtrain/). Commands: info, run, train,
// eval, gradcheck, test (train's loop is in train_cmd.cpp, gradcheck's report in gradcheck_cmd.cpp). Everything that
// computes lives in the library.
// Every failure is one line on stderr and a non-zero exit: 1 for bad models or data, 2 for bad usage.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "onnxtrain/backend_test.h"
#include "onnxtrain/checkpoint.h"
#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/files.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "tools/cli_checks.h"
#include "tools/cli_common.h"
#include "tools/cli_usage.h"
#include "tools/gradcheck_cmd.h"
#include "tools/omp_spin.h"
#include "tools/run_cmd.h"
#include "tools/train_cmd.h"

namespace {

using namespace onnxtrain;
using namespace onnxtrain::cli;

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string dims_str(const std::vector<std::string>& dims) { return "(" + join(dims, ",") + ")"; }

std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<size_t>(i), 1, ',');  // not "," (-Wrestrict)
  return s;
}

// One line an op; the test scripts read it (tests/conformance, tests/fuzz), so its columns stay as they are.
int cmd_ops() {
  std::printf("%-12s %-8s %-9s %s\n", "op", "opsets", "gradient", "versions");
  for (const OpSupport& op : supported_ops()) {
    std::vector<std::string> versions;
    for (int v : op.versions) versions.push_back(std::to_string(v));
    std::printf("%-12s %d-%-6d %-9s %s\n", op.op_type.c_str(), op.first_opset, op.last_opset,
                op.gradient ? "yes" : "no", join(versions, ",").c_str());
  }
  return 0;
}

// loaded: the model loads and runs; otherwise info is Model::describe's, and the ops onnxtrain lacks are marked.
void print_info(const std::string& path, const ModelInfo& info, bool loaded) {
  std::printf("model:     %s\n", path.c_str());
  std::printf("producer:  %s %s\n", info.producer_name.empty() ? "(none)" : info.producer_name.c_str(),
              info.producer_version.c_str());
  std::printf("ir:        %lld\n", static_cast<long long>(info.ir_version));
  std::string opsets;
  for (auto& [domain, version] : info.opsets)
    opsets += (opsets.empty() ? "" : ", ") + (domain.empty() ? std::string("ai.onnx") : domain) + " " +
              std::to_string(version);
  std::printf("opsets:    %s\n", opsets.c_str());
  std::printf("inputs:\n");
  // A sequence or optional has no dims to print.
  auto port = [](const ModelInfo::Port& p) {
    std::printf("  %-24s %-8s %s\n", p.name.c_str(), p.dtype.c_str(),
                p.kind == Value::Kind::Tensor ? dims_str(p.dims).c_str() : "");
  };
  for (auto& p : info.inputs) port(p);
  std::printf("outputs:\n");
  for (auto& p : info.outputs) port(p);
  std::printf("nodes (%zu):\n", info.nodes.size());
  for (auto& n : info.nodes)
    std::printf("  %-24s %s  (%s) -> (%s)%s\n", n.name.c_str(),
                (n.version > 0 ? n.op_type + "-" + std::to_string(n.version) : n.op_type).c_str(),
                join(n.inputs, ", ").c_str(), join(n.outputs, ", ").c_str(), n.supported ? "" : "  NOT SUPPORTED");
  std::printf("initializers (%zu):\n", info.initializers.size());
  for (auto& i : info.initializers)
    std::printf("  %-24s %-8s %-14s %12s%s\n", i.name.c_str(), i.dtype.c_str(), shape_str(i.shape).c_str(),
                i.count >= 0 ? thousands(i.count).c_str() : "?",
                !loaded       ? ""
                : i.trainable ? "  trainable"
                              : "  not trainable");
  if (!info.untied.empty()) {
    std::printf("untied (%zu): initializers the exporter had tied, trained and saved as their own\n",
                info.untied.size());
    for (auto& u : info.untied) std::printf("  %-24s was Identity(%s)\n", u.name.c_str(), u.from.c_str());
  }
  if (loaded)
    std::printf("parameters: %s total, %s trainable\n", thousands(info.total_params).c_str(),
                thousands(info.trainable_params).c_str());
}

// A model that does not load is still described as far as its file goes, and then refused: the description on
// stdout, the reason on stderr, exit 1. A file that is not ONNX at all gets the load's error alone.
int cmd_info(const std::string& path) {
  try {
    Model model = Model::load(path);
    print_info(path, model.info(), true);
    return 0;
  } catch (const Error& refused) {
    ModelInfo described;
    try {
      described = Model::describe(path);
    } catch (const Error&) {
      throw refused;
    }
    print_info(path, described, false);
    std::fflush(stdout);
    throw;
  }
}

// The key --write-labels writes the data's labels under, beside the outputs.
constexpr const char* kLabelsKey = "labels";

int cmd_run(const std::string& path, const std::string& data, const std::string& out, int threads, int64_t batch,
            const std::string& x_key, const LabelArgs& labels, bool write_labels) {
  Model model = Model::load(path);
  // --out may be none of the files the run reads (the model's external data included), checked before the work.
  files::Inputs inputs;
  for (const std::string& f : model.files()) inputs.add(f, f == model.files()[0] ? "MODEL" : "MODEL's external data");
  if (data != "fashion-mnist") inputs.add(data, "--data");
  files::check_output(out, "--out", inputs);
  // Before the data: a model run cannot feed needs no data read.
  std::vector<std::string> names;
  for (const ModelInfo::Port& p : run_inputs(model)) names.push_back(p.name);
  // Every input's array: one input's under --input-key, else its own name, else x; several under their names.
  Dataset d = load_data(model, names, data, Split::Test, x_key, labels, false);
  // A CSV's targets are class labels when the first output scores classes, (N, C > 1), as run's accuracy reads them.
  const std::vector<ModelInfo::Port> outs = model.info().outputs;
  const bool scores = !outs.empty() && outs[0].dims.size() == 2 && sample_dims(outs[0])[0] > 1;
  fit_targets(d, scores);
  if (write_labels) {
    if (!d.has_y())
      throw Error("--write-labels: " + data + " has no labels" +
                  (labels.target_key != "y" || data.size() < 4 || data.compare(data.size() - 4, 4, ".npz") != 0
                       ? ""
                       : " (no array 'y'; --target-key names another)") +
                  (data.size() >= 4 && data.compare(data.size() - 4, 4, ".csv") == 0
                       ? " (--target-col names its column)"
                       : ""));
    for (const std::string& o : model.output_names())
      if (o == kLabelsKey)
        throw Error("--write-labels: the model has an output named '" + o + "', the key the labels would take");
  } else if (labels.target_key != "y" && !d.has_y()) {
    check_trainable(d, 0);  // a --target-key the file lacks: one line listing its arrays
  }
  Tensor y = write_labels ? d.y : Tensor();
  RunResult r = run_dataset(model, std::move(d), batch, threads);
  if (write_labels) r.outputs[kLabelsKey] = std::move(y);
  save_npz(out, r.outputs, inputs);
  std::printf("ran %lld samples through %s; wrote %s (%s%s)\n", static_cast<long long>(r.samples), path.c_str(),
              out.c_str(), join(model.output_names(), ", ").c_str(), write_labels ? ", labels" : "");
  if (r.has_accuracy)
    std::printf("accuracy: %.4f on %lld labelled samples\n", double(r.right) / double(r.samples),
                static_cast<long long>(r.samples));
  return 0;
}

// eval's options beyond run's.
struct EvalArgs {
  std::string loss, output;
  LabelArgs labels;
  int64_t top_k = 1;
  bool json = false;
};

// NaN (a class with no samples) as JSON's null.
nlohmann::json number(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

// eval's result as one JSON object: what the text shows, and the confusion matrix whatever the classes.
nlohmann::json eval_json(const std::string& path, const std::string& data, const std::string& loss,
                         const EvalResult& r) {
  nlohmann::json j = {{"model", path}, {"data", data}, {"samples", r.count}, {"loss_name", loss}, {"loss", r.loss}};
  if (r.classification) {
    j["accuracy"] = r.accuracy();
    j["classes"] = r.classes;
    if (!r.confusion.empty() && r.top_k > 1) {
      j["top_k"] = r.top_k;
      j["top_k_accuracy"] = r.top_k_accuracy();
    }
    nlohmann::json per = nlohmann::json::array(), matrix = nlohmann::json::array();
    for (double a : r.per_class_accuracy()) per.push_back(number(a));
    for (int64_t c = 0; c < r.classes; ++c)
      matrix.push_back(
          std::vector<int64_t>(r.confusion.begin() + c * r.classes, r.confusion.begin() + (c + 1) * r.classes));
    j["per_class_accuracy"] = per;
    j["confusion_matrix"] = matrix;  // rows: the label; columns: the prediction
  }
  if (r.regression) {
    j["mse"] = r.mse;
    j["mae"] = r.mae;
    j["r2"] = r.r2;
  }
  return j;
}

// Up to this many classes, the text shows the per-class accuracy and the confusion matrix (--json always has them).
constexpr int64_t kPrintedClasses = 20;

void print_eval(const std::string& path, const std::string& data, const EvalResult& r) {
  std::printf("%s on %s (%lld samples): %s", path.c_str(), data.c_str(), static_cast<long long>(r.count),
              describe(r).c_str());
  if (r.classification && r.top_k > 1)
    std::printf(", top-%lld accuracy %.4f", static_cast<long long>(r.top_k), r.top_k_accuracy());
  if (r.regression) std::printf(", mse %.6g, mae %.6g, r2 %.6f", r.mse, r.mae, r.r2);
  std::printf("\n");
  if (!r.classification || r.confusion.empty()) return;
  if (r.classes > kPrintedClasses) {
    std::printf("%lld classes: the per-class accuracy and the confusion matrix are in --json\n",
                static_cast<long long>(r.classes));
    return;
  }
  const std::vector<double> per = r.per_class_accuracy();
  std::printf("per-class accuracy:");
  for (int64_t c = 0; c < r.classes; ++c)
    std::isnan(per[c]) ? std::printf("%s %lld: n/a", c ? "," : "", static_cast<long long>(c))
                       : std::printf("%s %lld: %.4f", c ? "," : "", static_cast<long long>(c), per[c]);
  std::printf("\nconfusion matrix (rows: label, columns: predicted):\n");
  int width = 3;
  for (int64_t v : r.confusion) width = std::max(width, static_cast<int>(std::to_string(v).size()));
  std::printf("%*s", width + 1, "");
  for (int64_t c = 0; c < r.classes; ++c) std::printf(" %*lld", width, static_cast<long long>(c));
  std::printf("\n");
  for (int64_t l = 0; l < r.classes; ++l) {
    std::printf("%*lld ", width, static_cast<long long>(l));
    for (int64_t c = 0; c < r.classes; ++c)
      std::printf(" %*lld", width, static_cast<long long>(r.confusion[l * r.classes + c]));
    std::printf("\n");
  }
}

// extra: cross-entropy's options (class weights, label smoothing, ignore_index), as train takes them.
int cmd_eval(const std::string& path, const std::string& data, const EvalArgs& a, const std::string& x_key, int threads,
             int64_t batch, const TrainOptions& extra) {
  Model model = Model::load(path);
  TrainOptions options = extra;
  options.loss = loss_named(a.loss);
  options.output = a.output;
  options.threads = threads;
  TrainingSession session(model, options);
  Dataset d = load_data(model, session.inputs(), data, Split::Test, x_key, a.labels, true);
  fit_targets(d, session.class_labels());
  check_trainable(d, session.classes(), session.ignore_index());
  if (session.loss_from_labels() && d.y.dtype == DType::Int64)
    std::fprintf(stderr,
                 "onnxtrain: note: output '%s' comes from no Softmax, LogSoftmax or Sigmoid and the labels are int64 "
                 "classes, so the loss is cross-entropy on its logits (--loss chooses another)\n",
                 session.output().c_str());
  EvalResult r = session.evaluate(d, batch, a.top_k);
  if (a.json)
    std::printf("%s\n", eval_json(path, data, session.loss_name(), r).dump().c_str());
  else
    print_eval(path, data, r);
  return 0;
}

// `onnxtrain test DIR...`: each ONNX backend-test folder run and compared as onnx's runner does (run_backend_test),
// one line each with its worst difference, then a summary. Exit 1 when one fails. Writes nothing.
int cmd_test(const std::vector<std::string>& dirs, const BackendTestOptions& o) {
  size_t failed = 0;
  for (const std::string& dir : dirs) {
    const BackendTestResult r = run_backend_test(dir, o);
    if (!r.pass) {
      ++failed;
      std::printf("FAIL  %s\n", r.failure.c_str());
    } else if (r.compared > 0) {
      std::printf("PASS  %s: %d set%s, worst difference %.3g (%.3g of the tolerance) at %s\n", dir.c_str(), r.sets,
                  r.sets == 1 ? "" : "s", r.worst, r.worst_rel, r.worst_at.c_str());
    } else {
      std::printf("PASS  %s: %d set%s, outputs equal (no float elements)\n", dir.c_str(), r.sets,
                  r.sets == 1 ? "" : "s");
    }
    std::fflush(stdout);
  }
  std::printf("%zu passed, %zu failed, of %zu folder%s (rtol %g, atol %g)\n", dirs.size() - failed, failed, dirs.size(),
              dirs.size() == 1 ? "" : "s", o.rtol, o.atol);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The product is the file written, not the text printed: a closed stdout (`| head -1`) must not kill the run.
  // Writes to it then fail with EPIPE, which printing ignores.
  signal(SIGPIPE, SIG_IGN);
  bound_openmp_spinning(argv);  // may start this program again, with GOMP_SPINCOUNT set (see tools/omp_spin.h)
  CLI::App app{"onnxtrain: train and run ONNX models on CPU (oneDNN)", "onnxtrain"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "onnxtrain 0.1.0");

  std::string model_path;
  bool list_ops = false;
  auto* info = app.add_subcommand("info", "Describe a model: producer, opsets, inputs, outputs, nodes, parameters");
  auto* info_model = info->add_option("MODEL", model_path, "The .onnx file");
  info->add_flag("--ops", list_ops, "List the supported ops instead: opset ranges and whether each has a gradient")
      ->excludes(info_model);
  int info_threads = 0;  // accepted as every command accepts it; info loads the model and computes nothing
  info->add_option("--threads", info_threads, "Accepted as by every command; info runs no kernels")
      ->check(cli::kThreads);

  std::string data, out, x_key;
  int threads = 0;
  int64_t batch = 256;
  auto* run = app.add_subcommand("run", "Run a model's forward pass over a data set and write its outputs to .npz");
  run->add_option("MODEL", model_path, "The .onnx file")->required();
  run->add_option("--data", data, "Inputs: an .npz (key = input name, or x), .npy, .csv, idx3 file, or fashion-mnist")
      ->required();
  run->add_option("--out", out,
                  "Where to write the outputs (.npz, keyed by output name; batches concatenated along dim 0)")
      ->required();
  run->add_option("--threads", threads, "Threads (default: the machine's cores)")->check(cli::kThreads);
  run->add_option("--batch-size", batch, "Samples per forward pass (default 256)")->check(cli::kPositive);
  run->add_option("--input-key", x_key, "The .npz key of the features (default: the input's name, else x)");
  LabelArgs run_labels;
  bool write_labels = false;
  run->add_option("--target-key", run_labels.target_key, "The .npz key of the labels (default y)");
  run->add_option("--target-col", run_labels.target_col,
                  "The .csv column of the labels (default: none; every column is a feature)");
  run->add_option("--labels", run_labels.labels, "The labels of .npy or idx features, as an .npy");
  run->add_flag("--write-labels", write_labels, "Also write the data's labels into OUT.npz, under 'labels'");

  TrainArgs ta;
  auto* train = add_train_command(app, ta);

  EvalArgs ea;
  auto* eval = app.add_subcommand("eval", "Loss and metrics of a model on a data set");
  eval->add_option("MODEL", model_path, "The .onnx file")->required();
  eval->add_option(
          "--data", data,
          "Test data: .npz (x, y), .csv, .npy (with --labels), an idx3 file, or fashion-mnist (its test split)")
      ->required();
  eval->add_option("--loss", ea.loss, "cross-entropy | nll | bce | mse (default from the head)")
      ->check(CLI::IsMember({"cross-entropy", "nll", "bce", "mse"}));
  eval->add_option("--output", ea.output,
                   "The output the loss reads, for a model with several (default: its only one)");
  eval->add_option("--input-key", x_key, "The .npz key of the features (default: the input's name, else x)");
  eval->add_option("--target-key", ea.labels.target_key, "The .npz key of the labels or targets (default y)");
  eval->add_option("--target-col", ea.labels.target_col,
                   "The .csv column of the labels or targets (default: the last)");
  eval->add_option("--labels", ea.labels.labels, "The labels of .npy or idx features, as an .npy");
  eval->add_option("--top-k", ea.top_k, "Also count a label among the K highest scores as a hit (default 1)")
      ->check(cli::whole_number(1, 1u << 30, "from 1"));
  eval->add_flag("--json", ea.json, "Write the result as one JSON object on stdout (with the confusion matrix)");
  eval->add_option("--threads", threads, "Threads (default: the machine's cores)")->check(cli::kThreads);
  eval->add_option("--batch-size", batch, "Samples per forward pass (default 256)")->check(cli::kPositive);
  TrainOptions eval_extra;
  std::string eval_weights;
  eval->add_option("--class-weights", eval_weights,
                   "Cross-entropy and nll class weights: an .npy of one float per class, or a list 1,2,0.5");
  eval->add_option("--label-smoothing", eval_extra.label_smoothing, "Cross-entropy label smoothing, 0 to 1 (default 0)")
      ->check(cli::kNonNegative);
  eval->add_option("--ignore-index", eval_extra.ignore_index,
                   "Cross-entropy and nll skip targets with this label (default -100, as torch)");

  GradcheckArgs ga;
  auto* gradcheck = add_gradcheck_command(app, ga);

  std::vector<std::string> test_dirs;
  BackendTestOptions to;
  auto* test = app.add_subcommand("test",
                                  "Run ONNX backend-test folders (model.onnx beside test_data_set_*/input_*.pb and "
                                  "output_*.pb) as onnx's runner does; exit 1 if one fails");
  test->add_option("DIR", test_dirs, "Backend-test folders")->required();
  test->add_option("--rtol", to.rtol, "Relative tolerance for float outputs (default 1e-3)")->check(cli::kNonNegative);
  test->add_option("--atol", to.atol, "Absolute tolerance for float outputs (default 1e-7)")->check(cli::kNonNegative);
  test->add_option("--threads", to.threads, "Threads (default: the machine's cores)")->check(cli::kThreads);

  std::string help_topic;
  auto* help = app.add_subcommand("help", "Show the help of onnxtrain, or of a command: onnxtrain help train");
  help->add_option("COMMAND", help_topic, "The command");

  // The underscore spellings PyTorch scripts use (--batch_size), for every option.
  const std::vector<std::string> args = dashed_options(std::vector<std::string>(argv + 1, argv + argc));
  std::vector<std::string> commands;
  for (const CLI::App* c : app.get_subcommands([](CLI::App*) { return true; })) commands.push_back(c->get_name());
  std::string command_list;
  for (const std::string& c : commands) command_list += (command_list.empty() ? "" : ", ") + c;
  const auto did_you_mean = [](const std::string& near) { return near.empty() ? "" : "; did you mean " + near + "?"; };
  try {
    // Before the command only --help and --version: anything else is a slip, named (CLI11 would say only that a
    // command is required).
    if (!args.empty() && args[0].size() > 1 && args[0][0] == '-' && args[0] != "--help" && args[0] != "-h" &&
        args[0] != "--version") {
      const std::string name = args[0].substr(0, args[0].find('='));
      std::string owners;
      for (const CLI::App* c : app.get_subcommands([](CLI::App*) { return true; }))
        if (c->get_option_no_throw(name)) owners += (owners.empty() ? "" : ", ") + c->get_name();
      throw CLI::ExtrasError(
          owners.empty()
              ? "unknown option " + name + did_you_mean(closest(name, {"--help", "--version"})) +
                    " (commands: " + command_list + ")"
              : name + " is an option of " + owners + "; give the command first: onnxtrain COMMAND " + name + " ...",
          CLI::ExitCodes::ExtrasError);
    }
    if (!args.empty() && args[0][0] != '-' &&
        app.get_subcommands([&](CLI::App* c) { return c->check_name(args[0]); }).empty())
      throw CLI::ExtrasError("unknown command '" + args[0] + "'" + did_you_mean(closest(args[0], commands)) +
                                 " (commands: " + command_list + ")",
                             CLI::ExitCodes::ExtrasError);
    try {
      app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
    } catch (const CLI::ExtrasError&) {
      // An unknown option, named with the nearest the command has.
      CLI::App* cmd = app.get_subcommands().empty() ? &app : app.get_subcommands()[0];
      for (const std::string& extra : cmd->remaining()) {
        if (extra.size() < 2 || extra[0] != '-') continue;
        const std::string name = extra.substr(0, extra.find('='));
        throw CLI::ExtrasError("unknown option " + name + did_you_mean(closest(name, option_names(*cmd))),
                               CLI::ExitCodes::ExtrasError);
      }
      throw;
    }
    if (*help) {
      if (help_topic.empty()) return std::printf("%s", app.help().c_str()), 0;
      const auto found = app.get_subcommands([&](CLI::App* c) { return c->check_name(help_topic); });
      if (found.empty())
        throw CLI::ValidationError("COMMAND", "no command '" + help_topic + "'" +
                                                  did_you_mean(closest(help_topic, commands)) +
                                                  " (commands: " + command_list + ")");
      return std::printf("%s", found[0]->help("onnxtrain").c_str()), 0;
    }
    // --resume DIR: the options not given are those the checkpoint's run was started with.
    if (*train && !ta.resume.empty()) {
      const std::string stored = CheckpointDir::stored_command(ta.resume);
      if (!stored.empty()) {
        const std::vector<std::string> merged =
            with_stored_arguments(*train, std::vector<std::string>(args.begin() + 1, args.end()), stored);
        std::vector<std::string> again = {"train"};
        again.insert(again.end(), merged.begin(), merged.end());
        ta = TrainArgs{};
        app.clear();
        app.parse(std::vector<std::string>(again.rbegin(), again.rend()));
      }
    }
    for (CLI::App* cmd : app.get_subcommands()) threads_from_environment(*cmd);
    if (*train) ta.command = given_arguments(*train, {"--resume", "--help"});
    if (*train) check_train_usage(*train, ta);
    if (*run) {
      check_npz_key(*run, "--input-key", {data});
      check_npz_key(*run, "--target-key", {data});
      check_target_col(*run, {data});
      check_labels_for("--labels", run_labels.labels, data);
      check_distinct_outputs({{"--out", out}}, {{"MODEL", model_path}, {"--data", data}});
    }
    if (*eval) {
      check_npz_key(*eval, "--input-key", {data});
      check_npz_key(*eval, "--target-key", {data});
      if (eval_extra.label_smoothing > 1)
        throw CLI::ValidationError("--label-smoothing",
                                   "must be between 0 and 1, got " + std::to_string(eval_extra.label_smoothing));
      const bool npy = eval_weights.size() > 4 && eval_weights.compare(eval_weights.size() - 4, 4, ".npy") == 0;
      if (!eval_weights.empty() && !npy) eval_extra.class_weights = class_weights_of(eval_weights);  // a list: usage
      check_target_col(*eval, {data});
      check_labels_for("--labels", ea.labels.labels, data);
    }
    if (*gradcheck) {
      check_npz_key(*gradcheck, "--input-key", {ga.data});
      check_npz_key(*gradcheck, "--target-key", {ga.data});
    }
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
    if (*run) return cmd_run(model_path, data, out, threads, batch, x_key, run_labels, write_labels);
    if (*train) return cmd_train(ta, std::vector<std::string>(argv, argv + argc));
    if (*eval) {
      if (eval_extra.class_weights.empty() && !eval_weights.empty())
        eval_extra.class_weights = class_weights_of(eval_weights);  // the .npy, read as data
      return cmd_eval(model_path, data, ea, x_key, threads, batch, eval_extra);
    }
    if (*gradcheck) return cmd_gradcheck(ga);
    if (*test) return cmd_test(test_dirs, to);
  } catch (const onnxtrain::Error& e) {
    std::fprintf(stderr, "onnxtrain: error: %s\n", flag_names(e.what()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onnxtrain: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
