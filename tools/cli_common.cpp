// What the CLI's commands share: fitting a data set to a model's input, and describing a result.
#include "tools/cli_common.h"

#include <cstdio>

#include "onnxtrain/error.h"

namespace onnxtrain::cli {

std::vector<int64_t> sample_dims(const ModelInfo::Port& p) {
  std::vector<int64_t> dims;
  for (size_t i = 1; i < p.dims.size(); ++i) {
    const std::string& d = p.dims[i];
    bool digits = !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
    dims.push_back(digits ? std::stoll(d) : -1);
  }
  return dims;
}

int64_t fixed_batch(const ModelInfo::Port& p) {
  if (p.dims.empty()) return 0;
  const std::string& d = p.dims[0];
  const bool digits = !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
  return digits ? std::stoll(d) : 0;
}

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


}  // namespace onnxtrain::cli
