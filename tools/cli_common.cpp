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

Dataset load_for(const Model& model, const std::string& input, const std::string& spec, Split split,
                 const std::string& x_key, const std::string& y_key) {
  const ModelInfo::Port port = input_port(model, input);
  std::vector<std::string> keys =
      x_key.empty() ? std::vector<std::string>{port.name, "x"} : std::vector<std::string>{x_key};
  Dataset d = load_dataset(spec, split, keys, y_key);
  fit_features(d, port.name, sample_dims(port));
  return d;
}

std::string flag_names(std::string text) {
  static const std::pair<const char*, const char*> kFlags[] = {
      {"TrainOptions::loss", "--loss"},
      {"TrainOptions::output", "--output"},
      {"TrainOptions::freeze_batchnorm", "--freeze-batchnorm"},
      {"TrainOptions::freeze", "--freeze"},
      {"TrainOptions::precision", "--precision"},
      {"TrainOptions::threads", "--threads"},
      {"TrainOptions::seed", "--seed"},
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
      {"GradcheckOptions::elements", "--elements"}};
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
