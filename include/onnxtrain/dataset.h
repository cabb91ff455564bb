// Named data sets for the CLI and library: an .npz/.npy file, an MNIST idx pair, or "fashion-mnist" (Debian's
// dataset-fashion-mnist). Features come back float32 (or, loaded for a model's inputs, in each input's dtype), labels
// int64. It does not batch or shuffle.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/tensor.h"

namespace onnxtrain {

struct Dataset {
  std::string source;  // what was loaded, for messages
  Tensor x;            // (N, ...) features: float32, or the dtype of the model input they were loaded for (load_inputs)
  Tensor y;            // (N) int64 labels or (N, ...) float32 targets; empty when the file has none
  // A model with several inputs (load_inputs): x feeds the input x_name, and the others' (N, ...) rows are in more,
  // keyed by input name, each in its input's dtype. Batching and shuffling take every input's rows together. x_name
  // empty: x feeds the model's only input (or the training session's input()).
  std::string x_name;
  std::map<std::string, Tensor> more;
  // Where y came from, or was looked for, for messages: "array 'y'", "column 'species'", "labels.npy"; and an .npz's
  // arrays, which a message about a missing one lists.
  std::string y_name;
  std::vector<std::string> arrays;
  // y was read from text (CSV), whose numbers carry no dtype: float32 until fit_targets types it.
  bool y_untyped = false;
  bool has_y() const { return !y.shape.empty(); }
  int64_t samples() const { return x.shape.empty() ? 0 : x.shape[0]; }
};

// A model input that data feeds: its name, dtype, and per-sample dims (its declared dims after the first, -1 where
// unknown).
struct InputSpec {
  std::string name;
  DType dtype = DType::Float32;
  std::vector<int64_t> sample_dims;
};

enum class Split { Train, Test };

// A CSV's target column, as y_key: a column's name, kLastColumn for the last one, or "" for none (every column a
// feature, as for a forward pass that needs no labels).
inline constexpr const char* kLastColumn = "<last column>";

// spec: "fashion-mnist" (the given split, scaled to [0,1]); an .npz whose features are under the first of x_keys
// present and whose labels (optional) are under y_key; an .npy of features (its labels from load_labels); a .csv
// with a header row, every cell a number, whose target column is y_key (kLastColumn: the last; see load_csv); or
// IMAGES.idx[.gz] whose labels are found by the MNIST naming rule (images -> labels, idx3 -> idx1).
Dataset load_dataset(const std::string& spec, Split split, const std::vector<std::string>& x_keys = {"x"},
                     const std::string& y_key = "y");

// spec loaded for a model's inputs. One input: its features are found as load_dataset finds them (the first of
// x_keys present). Several: spec must be an .npz holding each under its input's name (x_keys is not used). Each array
// is fitted to its input's sample dims (fit_features) and given its input's dtype: float32 inputs take float and
// integer arrays (integers as their values); integer and bool inputs take integer and bool arrays, in their own dtype,
// each value checked against the dtype's range; float arrays for them, and float16, bfloat16 and float64 inputs, are
// refused. Every Error is one line naming the file and the input; a missing array's lists the arrays the file has.
Dataset load_inputs(const std::string& spec, Split split, const std::vector<InputSpec>& inputs,
                    const std::vector<std::string>& x_keys, const std::string& y_key = "y");

// The labels (or targets) of d's samples from an .npy of their own (features from an .npy or idx file, whose own
// labels, if any, it replaces): int64 or float32 as load_npy gives them, one row per sample. Throws Error naming the
// file when the rows differ from d's samples.
void load_labels(Dataset& d, const std::string& path);

// Types targets read from text (y_untyped, a CSV's): when the loss reads class labels (class_labels:
// TrainingSession::class_labels(), cross-entropy or nll), each must be a whole number >= 0 and they become int64
// class labels; otherwise they stay float32 targets (bce's 0/1, mse's values). An Error names the file, the row
// (the header is row 1) and the column. Data from other files, whose dtype is stored, is left as it is.
void fit_targets(Dataset& d, bool class_labels);

// Reshapes x's samples to the model input's per-sample dims when the element counts agree, e.g. (N,28,28) to
// (N,784). Throws Error naming the input when they cannot agree. sample_dims may hold -1 for unknown dims.
void fit_features(Dataset& d, const std::string& input_name, const std::vector<int64_t>& sample_dims);

// Refuses data that cannot train: no samples, no labels (naming the array looked for and the arrays an .npz has),
// inputs of unequal sample counts, NaN or Inf features or targets, labels that are negative or not below classes
// (when classes > 0), and float (N) targets for classes > 1 (class labels are int64). The Error names the data set,
// the sample and the value. Labels equal to ignore_index (a TrainingSession's ignore_index()) are accepted: the loss
// skips them.
constexpr int64_t kNoIgnoredLabel = INT64_MIN;
void check_trainable(const Dataset& d, int64_t classes, int64_t ignore_index = kNoIgnoredLabel);

}  // namespace onnxtrain
