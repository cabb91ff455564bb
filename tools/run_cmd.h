// `onnxtrain run`'s work without its files: a data set through a model's forward pass in batches, each output
// gathered along the batch axis in its own dtype, and the accuracy on labels. The fuzz target fuzz_run calls it too.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "onnxtrain/dataset.h"
#include "onnxtrain/model.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain::cli {

// The model's input that run feeds from --data: its only one, float32. Throws Error naming the model otherwise.
ModelInfo::Port run_input(const Model& model);

struct RunResult {
  std::map<std::string, Tensor> outputs;  // every graph output, keyed by name
  int64_t samples = 0;
  // With int64 labels and a float32 first output of (samples, C), C > 0: how many argmaxes hit the label.
  bool has_accuracy = false;
  int64_t right = 0;
};

// Runs d (features fitted here to the model's input) through the model, batch samples at a time (or the batch the
// input fixes). An output whose dim 0 follows the batch's sample count, other dims fixed, is concatenated along
// dim 0. Any other output (0-d, (3, N), a constant) is kept as it is when the data fits one batch and refused by
// name otherwise: concatenating it would write a file whose rows are not samples. Throws Error naming the model or
// the data.
RunResult run_dataset(Model& model, Dataset d, int64_t batch, int threads);

}  // namespace onnxtrain::cli
