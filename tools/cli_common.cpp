// What the CLI's commands share: fitting a data set to a model's input, and describing a result.
#include "tools/cli_common.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "onnxtrain/error.h"

namespace onnxtrain::cli {

namespace {

// A declared dim as a number: "784" -> 784; a symbol ("batch") or "?" -> -1.
int64_t dim_value(const std::string& d) {
  const bool digits = !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
  return digits ? std::stoll(d) : -1;
}

}  // namespace

std::vector<int64_t> sample_dims(const ModelInfo::Port& p) {
  std::vector<int64_t> dims;
  for (size_t i = 1; i < p.dims.size(); ++i) dims.push_back(dim_value(p.dims[i]));
  return dims;
}

ModelInfo::Port input_port(const Model& model, const std::string& name) {
  for (const ModelInfo::Port& p : model.info().inputs)
    if (p.name == name) return p;
  throw Error(model.path() + ": the model has no input '" + name + "'");
}

Dataset load_for(const Model& model, const std::vector<std::string>& inputs, const std::string& spec, Split split,
                 const std::string& x_key, const std::string& y_key) {
  std::vector<InputSpec> specs;
  std::string names;
  for (const std::string& name : inputs) {
    const ModelInfo::Port port = input_port(model, name);
    if (port.kind != Value::Kind::Tensor)
      throw Error(model.path() + ": input '" + name + "' is " + port.dtype +
                  "; data files feed tensors (InferenceSession::run_values takes sequences and optionals)");
    InputSpec in{port.name, DType::Float32, sample_dims(port)};
    bool known = false;
    for (int t = 0; t <= static_cast<int>(DType::Float64); ++t)
      if (port.dtype == dtype_name(static_cast<DType>(t))) in.dtype = static_cast<DType>(t), known = true;
    if (!known)
      throw Error(model.path() + ": input '" + name + "' is " + port.dtype + ", which data files cannot feed");
    specs.push_back(std::move(in));
    names += (names.empty() ? "" : ", ") + name;
  }
  if (specs.size() > 1 && !x_key.empty())
    throw Error("--input-key names the array of a model's only input, and " + model.path() + " has " +
                std::to_string(specs.size()) + " (" + names + "), each read from the .npz under its own name");
  const std::vector<std::string> keys = x_key.empty()
                                            ? std::vector<std::string>{specs.empty() ? "x" : specs[0].name, "x"}
                                            : std::vector<std::string>{x_key};
  return load_inputs(spec, split, specs, keys, y_key);
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

Dataset load_data(const Model& model, const std::vector<std::string>& inputs, const std::string& spec, Split split,
                  const std::string& x_key, const LabelArgs& labels, bool needed) {
  std::string y_key = labels.target_key;
  if (ends_with(spec, ".csv")) y_key = !labels.target_col.empty() ? labels.target_col : needed ? kLastColumn : "";
  Dataset d = load_for(model, inputs, spec, split, x_key, y_key);
  if (!labels.labels.empty()) load_labels(d, labels.labels);
  return d;
}

void check_target_col(const CLI::App& cmd, const std::vector<std::string>& data) {
  if (cmd.count("--target-col") == 0) return;
  for (const std::string& d : data)
    if (ends_with(d, ".csv")) return;
  throw CLI::ValidationError("--target-col", "names a column of .csv data, and " + data[0] + " is not a .csv file");
}

void check_labels_for(const std::string& labels_option, const std::string& labels, const std::string& data) {
  if (!labels.empty() && (ends_with(data, ".npz") || ends_with(data, ".csv") || data == "fashion-mnist"))
    throw CLI::ValidationError(labels_option, "gives the labels of .npy or idx features; " + data +
                                                  " holds its own (--target-key or --target-col names them)");
}

std::string flag_names(std::string text) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"TrainOptions::loss", "--loss"},
      {"TrainOptions::output", "--output"},
      {"TrainOptions::freeze_batchnorm", "--freeze-batchnorm"},
      {"TrainOptions::freeze", "--freeze"},
      {"TrainOptions::train_only", "--train-only"},
      {"TrainOptions::precision", "--precision"},
      {"TrainOptions::threads", "--threads"},
      {"TrainOptions::seed", "--seed"},
      {"TrainOptions::class_weights", "--class-weights"},
      {"TrainOptions::label_smoothing", "--label-smoothing"},
      {"TrainOptions::ignore_index", "--ignore-index"},
      {"TrainOptions::clip_grad_norm", "--clip-grad-norm"},
      {"TrainOptions::clip_grad_value", "--clip-grad-value"},
      {"TrainerOptions::accumulate", "--accumulate"},
      {"OptimizerConfig::kind", "--optimizer"},
      {"OptimizerConfig::lr", "--lr"},
      {"OptimizerConfig::momentum", "--momentum"},
      {"OptimizerConfig::dampening", "--dampening"},
      {"OptimizerConfig::nesterov", "--nesterov"},
      {"OptimizerConfig::weight_decay", "--weight-decay"},
      {"OptimizerConfig::beta1", "--beta1"},
      {"OptimizerConfig::beta2", "--beta2"},
      {"OptimizerConfig::eps", "--eps"},
      {"TrainerOptions::batch_size", "--batch-size"},
      {"TrainerOptions::epochs", "--epochs"},
      {"TrainerOptions::steps", "--steps"},
      {"TrainerOptions::val_every", "--val-every"},
      {"TrainerOptions::checkpoint_every", "--checkpoint-every"},
      {"TrainerOptions::checkpoint_dir", "--checkpoint"},
      {"TrainerOptions::resume_from", "--resume"},
      {"GradcheckOptions::eps", "--eps"},
      {"GradcheckOptions::tolerance", "--tolerance"},
      {"GradcheckOptions::elements", "--elements"},
      {"evaluate: top_k", "--top-k"},
      {"(load_labels)", "(--labels FILE.npy; --val-labels for --val)"},
      {"TrainerOptions::schedule", "--lr-schedule"},
      {"TrainerOptions::save_best", "--save-best"},
      {"TrainerOptions::monitor", "--save-best"},
      {"TrainerOptions::early_stopping", "--early-stopping"},
      {"TrainerOptions::min_delta", "--min-delta"},
      {"LrSchedule::kind", "--lr-schedule"},
      {"LrSchedule::step_size", "--lr-step-size"},
      {"LrSchedule::milestones", "--lr-milestones"},
      {"LrSchedule::gamma", "--lr-gamma"},
      {"LrSchedule::min_lr", "--lr-min"},
      {"LrSchedule::warmup_steps", "--warmup-steps"},
      {"LrSchedule::factor", "--plateau-factor"},
      {"LrSchedule::patience", "--plateau-patience"},
      {"LrSchedule::threshold_abs", "--plateau-threshold-mode"},
      {"LrSchedule::threshold", "--plateau-threshold"},
      {"LrSchedule::cooldown", "--plateau-cooldown"},
      {"LrSchedule::plateau_min_lr", "--plateau-min-lr"}};
  for (const auto& [api, flag] : kFlags) {
    const std::string from = api;
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + std::strlen(flag)))
      text.replace(at, from.size(), flag);
  }
  return text;
}

std::string describe(const EvalResult& r) {
  char buf[96];
  if (r.classification)
    std::snprintf(buf, sizeof buf, "loss %.4f, accuracy %.4f", r.loss, r.accuracy());
  else
    std::snprintf(buf, sizeof buf, "loss %.6f", r.loss);
  return buf;
}

}  // namespace onnxtrain::cli
