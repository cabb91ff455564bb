// `onnxtrain run`'s work without its files: a data set through a model's forward pass in batches, each output
// gathered along the batch axis in its own dtype, and the accuracy on labels. The fuzz target fuzz_run calls it too.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/dataset.h"
#include "onnxtrain/model.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain::cli {

// The model's inputs that run feeds from --data: every one, each a tensor (of any dtype data files hold). Throws Error
// naming the model and the input otherwise.
std::vector<ModelInfo::Port> run_inputs(const Model& model);

struct RunResult {
  std::map<std::string, Tensor> outputs;  // every graph output, keyed by name
  int64_t samples = 0;
  // With int64 labels and a float32 first output of (samples, C), C > 0: how many argmaxes hit the label.
  bool has_accuracy = false;
  int64_t right = 0;
};

// Runs d through the model, batch samples at a time (or the batch the first input fixes): x feeds d.x_name (or, when
// that is empty, the model's only input, fitted here to its shape), and each of d.more the input it is keyed by; every
// input's rows are batched together. An output whose dim 0 follows the batch's sample count, other dims fixed, is
// concatenated along dim 0. Any other output (0-d, (3, N), a constant) is kept as it is when the data fits one batch
// and refused by name otherwise: concatenating it would write a file whose rows are not samples. Throws Error naming
// the model or the data.
RunResult run_dataset(Model& model, Dataset d, int64_t batch, int threads);

}  // namespace onnxtrain::cli
