// Named data sets for the CLI and library: an .npz/.npy file, an MNIST idx pair, or "fashion-mnist" (Debian's
// dataset-fashion-mnist). Features come back float32, labels int64. It does not batch or shuffle.
#pragma once
#include <string>
#include <vector>

#include "onnxtrain/tensor.h"

namespace onnxtrain {

struct Dataset {
  std::string source;  // what was loaded, for messages
  Tensor x;            // (N, ...) float32 features
  Tensor y;            // (N) int64 labels or (N, ...) float32 targets; empty when the file has none
  bool has_y() const { return !y.shape.empty(); }
};

enum class Split { Train, Test };

// spec: "fashion-mnist" (the given split, scaled to [0,1]); an .npz whose features are under the first of x_keys
// present and whose labels (optional) are under y_key; an .npy of features; or IMAGES.idx[.gz] whose labels are
// found by the MNIST naming rule (images -> labels, idx3 -> idx1).
Dataset load_dataset(const std::string& spec, Split split, const std::vector<std::string>& x_keys = {"x"},
                     const std::string& y_key = "y");

// Reshapes x's samples to the model input's per-sample dims when the element counts agree, e.g. (N,28,28) to
// (N,784). Throws Error naming the input when they cannot agree. sample_dims may hold -1 for unknown dims.
void fit_features(Dataset& d, const std::string& input_name, const std::vector<int64_t>& sample_dims);

// Refuses data that cannot train: no samples, NaN or Inf features or targets, labels that are negative or not below
// classes (when classes > 0), and float (N) targets for classes > 1 that are not whole class indices. The Error names
// the data set, the sample and the value.
void check_trainable(const Dataset& d, int64_t classes);

}  // namespace onnxtrain
