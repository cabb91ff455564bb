// Data sets by name: file formats come from the data readers; this file only picks files, pairs features with
// labels, scales Fashion-MNIST to [0,1], finds each model input's array, and fits sample shapes and dtypes to the
// model's inputs.
#include "onnxtrain/dataset.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

void scale_pixels(Tensor& x) {
  for (float& v : x.f32) v /= 255.f;
}

// MNIST naming: train-images-idx3-ubyte[.gz] pairs with train-labels-idx1-ubyte[.gz].
std::string labels_for(const std::string& images) {
  std::string l = images;
  for (auto [from, to] : {std::pair<std::string, std::string>{"images", "labels"}, {"idx3", "idx1"}}) {
    auto pos = l.rfind(from);
    if (pos != std::string::npos) l.replace(pos, from.size(), to);
  }
  return l;
}

// "a, b, y": an .npz's arrays, for messages.
std::string keys_of(const std::map<std::string, Tensor>& arrays) {
  std::string s;
  for (const auto& [k, t] : arrays) s += (s.empty() ? "" : ", ") + k;
  return s;
}

// The labels or targets under y_key, if the file has them.
void take_y(Dataset& d, std::map<std::string, Tensor>& arrays, const std::string& y_key) {
  auto yi = arrays.find(y_key);
  if (yi != arrays.end() && yi->second.shape.empty())  // else taken for "no labels" (Dataset::has_y)
    throw Error(d.source + ": '" + y_key +
                "' is 0-d (a scalar); it needs one label or target per sample, shape (N) or "
                "(N, ...)");
  if (yi != arrays.end()) d.y = std::move(yi->second);
  d.y_name = "array '" + y_key + "'";
}

std::vector<std::string> names_of(const std::map<std::string, Tensor>& arrays) {
  std::vector<std::string> v;
  for (const auto& [k, t] : arrays) v.push_back(k);
  return v;
}

// The features and labels as the readers give them (float32, or integers as int64), the features found under the
// first of x_keys present in an .npz (*key: the one found). input: the model input they are for, named in messages
// ("" for none).
Dataset read_raw(const std::string& spec, Split split, const std::vector<std::string>& x_keys, const std::string& y_key,
                 const std::string& input, std::string* key) {
  Dataset d;
  d.source = spec;
  *key = "";
  if (spec == "fashion-mnist") {
    std::string stem = std::string(kFashionDir) + (split == Split::Train ? "/train" : "/t10k");
    std::string images = stem + "-images-idx3-ubyte.gz";
    if (!exists(images))
      throw Error("fashion-mnist: " + images +
                  " not found; install Debian's dataset-fashion-mnist (scripts/setup.sh does)");
    d.x = load_idx(images);
    d.y = load_idx(stem + "-labels-idx1-ubyte.gz");
    scale_pixels(d.x);
  } else if (ends_with(spec, ".npz")) {
    auto arrays = load_npz(spec);
    d.arrays = names_of(arrays);
    auto xi = arrays.end();
    std::string tried;
    for (const std::string& k : x_keys) {
      if (xi == arrays.end()) xi = arrays.find(k);
      tried += (tried.empty() ? "'" : " or '") + k + "'";
    }
    if (xi == arrays.end())
      throw Error(spec + ": no " +
                  (input.empty() ? "features array " + tried : "array " + tried + " for model input '" + input + "'") +
                  "; the file has: " + keys_of(arrays));
    *key = xi->first;
    d.x = std::move(xi->second);
    arrays.erase(xi);  // an input named as the targets' key (ONNX's node tests have inputs named y) takes the array
    take_y(d, arrays, y_key);
  } else if (ends_with(spec, ".npy")) {
    d.x = load_npy(spec);
  } else if (ends_with(spec, ".csv")) {
    CsvTable t = load_csv(spec, y_key);
    d.x = std::move(t.x);
    if (!t.target.empty()) {
      d.y = std::move(t.y);
      d.y_name = "column '" + t.target + "'";
      d.y_untyped = true;
    }
  } else if (spec.find("idx3") != std::string::npos) {
    d.x = load_idx(spec);
    std::string labels = labels_for(spec);
    if (exists(labels)) d.y = load_idx(labels), d.y_name = labels;
  } else {
    throw Error(spec + ": unknown data format (expected fashion-mnist, .npz, .npy, .csv or an idx3 images file)");
  }
  return d;
}

// Integer features (uint8 images in an npz) are taken as values for a float32 input; only the dtype changes.
void to_float(Tensor& x) {
  if (x.dtype == DType::Float32) return;
  x.f32.assign(x.i64.begin(), x.i64.end());
  x.i64.clear();
  x.dtype = DType::Float32;
}

// Each of t's int64 values as a T in its bytes, refused by name when one lies outside [lo, hi].
template <typename T>
void narrow(Tensor& t, DType to, int64_t lo, int64_t hi, const std::string& what) {
  std::vector<uint8_t> bytes(t.i64.size() * sizeof(T));
  for (size_t i = 0; i < t.i64.size(); ++i) {
    const int64_t v = t.i64[i];
    if (v < lo || v > hi)
      throw Error(what + " holds " + std::to_string(v) + " at element " + std::to_string(i) + ", outside " +
                  dtype_name(to) + "'s range " + std::to_string(lo) + " to " + std::to_string(hi));
    const T e = static_cast<T>(v);
    std::memcpy(bytes.data() + i * sizeof(T), &e, sizeof(T));
  }
  t.i64.clear();
  t.i64.shrink_to_fit();
  t.bytes = std::move(bytes);
  t.dtype = to;
}

// t, as the readers give it, in the dtype of model input `in`. what: "<file>: array 'k'", for messages.
void convert(Tensor& t, const InputSpec& in, const std::string& what) {
  const std::string for_input = " for model input '" + in.name + "' (" + dtype_name(in.dtype) + ")";
  switch (in.dtype) {
    case DType::Float32: to_float(t); return;
    case DType::Float16:
    case DType::BFloat16:
    case DType::Float64:
      throw Error(what + for_input + ": data files feed float32, integer and bool inputs, not " + dtype_name(in.dtype));
    default: break;
  }
  if (t.dtype == DType::Float32)
    throw Error(what + " holds floating-point values" + for_input + "; store it as integers (np.int64, np.uint8, ...)");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  switch (in.dtype) {
    case DType::Int64: return;
    case DType::UInt8: return narrow<uint8_t>(t, in.dtype, 0, 255, what + for_input);
    case DType::Int8: return narrow<int8_t>(t, in.dtype, -128, 127, what + for_input);
    case DType::UInt16: return narrow<uint16_t>(t, in.dtype, 0, 65535, what + for_input);
    case DType::Int16: return narrow<int16_t>(t, in.dtype, -32768, 32767, what + for_input);
    case DType::Int32: return narrow<int32_t>(t, in.dtype, INT32_MIN, INT32_MAX, what + for_input);
    case DType::UInt32: return narrow<uint32_t>(t, in.dtype, 0, UINT32_MAX, what + for_input);
    case DType::UInt64: return narrow<uint64_t>(t, in.dtype, 0, kMax, what + for_input);
    case DType::Bool: return narrow<uint8_t>(t, in.dtype, 0, 1, what + for_input);
    default: return;
  }
}

// Reshapes t's samples to sample_dims when the element counts agree (fit_features).
void fit(Tensor& t, const std::string& source, const std::string& input_name, const std::vector<int64_t>& sample_dims) {
  std::vector<int64_t> have(t.shape.begin() + 1, t.shape.end());
  int64_t have_n = 1, want_n = 1;
  bool known = true;
  for (int64_t v : have) have_n *= v;
  for (int64_t v : sample_dims) {
    if (v < 0) known = false;
    want_n *= v;
  }
  if (have == sample_dims) return;
  if (!known) {
    if (have.size() == sample_dims.size()) return;  // the executor checks what it can
    throw Error(source + ": samples of shape " + shape_str(have) + " do not fit model input '" + input_name +
                "' of sample shape " + shape_str(sample_dims));
  }
  if (have_n != want_n)
    throw Error(source + ": samples of shape " + shape_str(have) + " (" + std::to_string(have_n) +
                " values) do not fit model input '" + input_name + "' of sample shape " + shape_str(sample_dims) +
                " (" + std::to_string(want_n) + " values)");
  t.shape.resize(1);
  t.shape.insert(t.shape.end(), sample_dims.begin(), sample_dims.end());
}

// The sample counts of the features, every other input and the labels agree, and no features are a scalar.
void check_rows(const Dataset& d) {
  const std::string& spec = d.source;
  if (d.x.shape.empty()) throw Error(spec + ": the features are a scalar, expected (N, ...)");
  for (const auto& [name, t] : d.more) {
    if (t.shape.empty()) throw Error(spec + ": array '" + name + "' is a scalar, expected (N, ...)");
    if (t.shape[0] != d.x.shape[0])
      throw Error(spec + ": " + std::to_string(d.x.shape[0]) + " rows for input '" + d.x_name + "' but " +
                  std::to_string(t.shape[0]) + " for input '" + name + "'");
  }
  if (d.has_y() && d.y.shape[0] != d.x.shape[0])
    throw Error(spec + ": " + std::to_string(d.x.shape[0]) + " feature rows but " + std::to_string(d.y.shape[0]) +
                " labels");
}

Dataset read_dataset(const std::string& spec, Split split, const std::vector<std::string>& x_keys,
                     const std::string& y_key) {
  std::string key;
  Dataset d = read_raw(spec, split, x_keys, y_key, "", &key);
  to_float(d.x);
  check_rows(d);
  return d;
}

Dataset read_inputs(const std::string& spec, Split split, const std::vector<InputSpec>& inputs,
                    const std::vector<std::string>& x_keys, const std::string& y_key) {
  if (inputs.empty()) throw Error(spec + ": the model has no input to feed");
  Dataset d;
  if (inputs.size() == 1) {
    std::string key;
    d = read_raw(spec, split, x_keys, y_key, inputs[0].name, &key);
    convert(d.x, inputs[0], spec + (key.empty() ? ": the features" : ": array '" + key + "'"));
  } else {
    std::string names;
    for (const InputSpec& in : inputs) names += (names.empty() ? "" : ", ") + in.name;
    if (!ends_with(spec, ".npz"))
      throw Error(spec + ": the model has " + std::to_string(inputs.size()) + " inputs (" + names +
                  "); feed them from an .npz that holds each under its input's name");
    auto arrays = load_npz(spec);
    d.source = spec;
    d.arrays = names_of(arrays);
    for (const InputSpec& in : inputs)
      if (!arrays.count(in.name))
        throw Error(spec + ": no array '" + in.name + "' for model input '" + in.name +
                    "' (the model's inputs: " + names + "); the file has: " + keys_of(arrays));
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor& t = i == 0 ? d.x : d.more[inputs[i].name];
      t = std::move(arrays.at(inputs[i].name));
      arrays.erase(inputs[i].name);  // an input named as the targets' key takes the array
      convert(t, inputs[i], spec + ": array '" + inputs[i].name + "'");
    }
    take_y(d, arrays, y_key);
  }
  d.x_name = inputs[0].name;
  check_rows(d);
  fit(d.x, spec, inputs[0].name, inputs[0].sample_dims);
  for (size_t i = 1; i < inputs.size(); ++i)
    fit(d.more.at(inputs[i].name), spec, inputs[i].name, inputs[i].sample_dims);
  return d;
}

}  // namespace

Dataset load_dataset(const std::string& spec, Split split, const std::vector<std::string>& x_keys,
                     const std::string& y_key) {
  // The readers refuse what their headers declare beyond the memory available and name the file when they run out
  // anyway; running out here (converting integer features) names the data set, not "internal error: std::bad_alloc".
  try {
    return read_dataset(spec, split, x_keys, y_key);
  } catch (const std::bad_alloc&) {
    throw Error(spec + ": ran out of memory while loading the data set");
  }
}

Dataset load_inputs(const std::string& spec, Split split, const std::vector<InputSpec>& inputs,
                    const std::vector<std::string>& x_keys, const std::string& y_key) {
  try {
    return read_inputs(spec, split, inputs, x_keys, y_key);
  } catch (const std::bad_alloc&) {
    throw Error(spec + ": ran out of memory while loading the data set");
  }
}

void load_labels(Dataset& d, const std::string& path) {
  Tensor y = load_npy(path);
  if (y.shape.empty()) throw Error(path + ": the labels are 0-d (a scalar); they need one per sample, (N) or (N, ...)");
  if (y.shape[0] != d.samples())
    throw Error(path + ": " + std::to_string(y.shape[0]) + " labels for the " + std::to_string(d.samples()) +
                " samples of " + d.source);
  d.y = std::move(y);
  d.y_name = path;
  d.y_untyped = false;
}

void fit_targets(Dataset& d, bool class_labels) {
  if (!d.y_untyped || !d.has_y()) return;
  d.y_untyped = false;
  if (!class_labels) return;
  Tensor labels = Tensor::i64_of(d.y.shape, std::vector<int64_t>(d.y.f32.size()));
  for (size_t i = 0; i < d.y.f32.size(); ++i) {
    const float v = d.y.f32[i];
    if (!(v >= 0) || v != std::floor(v) || v > 9.0e15f) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", double(v));
      throw Error(d.source + ": row " + std::to_string(i + 2) + ", " + d.y_name + ": " + buf +
                  " is not a class label (a whole number >= 0), and the loss reads class labels");
    }
    labels.i64[i] = static_cast<int64_t>(v);
  }
  d.y = std::move(labels);
}

void fit_features(Dataset& d, const std::string& input_name, const std::vector<int64_t>& sample_dims) {
  fit(d.x, d.source, input_name, sample_dims);
}

void check_trainable(const Dataset& d, int64_t classes, int64_t ignore_index) {
  const int64_t n = d.x.shape.empty() ? 0 : d.x.shape[0];
  if (n == 0) throw Error(d.source + ": the data set is empty");
  if (!d.has_y()) {
    std::string list;
    for (const std::string& k : d.arrays) list += (list.empty() ? "" : ", ") + k;
    if (!d.arrays.empty())
      throw Error(d.source + ": no " + (d.y_name.empty() ? "labels" : d.y_name) +
                  " for the labels or targets; the file has: " + list);
    if (ends_with(d.source, ".npy"))
      throw Error(d.source + ": an .npy holds features only; its labels come from an .npy of their own (load_labels)");
    throw Error(d.source + ": no labels or targets");
  }
  for (const auto& [name, t] : d.more)
    if (t.shape.empty() || t.shape[0] != n)
      throw Error(d.source + ": " + std::to_string(n) + " samples for input '" + d.x_name + "' but " +
                  (t.shape.empty() ? std::string("a scalar") : std::to_string(t.shape[0])) + " for input '" + name +
                  "'");
  // Float features must be finite (integers are); with several inputs, the message names the input.
  const auto finite = [&](const Tensor& x, const std::string& input) {
    const int64_t row = x.numel() / n;
    for (size_t i = 0; i < x.f32.size(); ++i)
      if (!std::isfinite(x.f32[i]))
        throw Error(d.source + ": " + (input.empty() ? "" : "input '" + input + "': ") + "feature " +
                    std::to_string(i % row) + " of sample " + std::to_string(i / row) + " is " +
                    std::to_string(x.f32[i]));
  };
  finite(d.x, d.more.empty() ? "" : d.x_name);
  for (const auto& [name, t] : d.more) finite(t, name);
  if (d.y.dtype == DType::Int64) {
    for (int64_t i = 0; i < static_cast<int64_t>(d.y.i64.size()); ++i) {
      int64_t l = d.y.i64[i];
      if (l != ignore_index && (l < 0 || (classes > 0 && l >= classes)))
        throw Error(d.source + ": label " + std::to_string(l) + " of sample " + std::to_string(i) + " is out of range" +
                    (classes > 0
                         ? " for " + std::to_string(classes) + " classes (0 to " + std::to_string(classes - 1) + ")"
                         : ""));
    }
  } else {
    const int64_t yrow = d.y.numel() / n;
    for (size_t i = 0; i < d.y.f32.size(); ++i)
      if (!std::isfinite(d.y.f32[i]))
        throw Error(d.source + ": target " + std::to_string(i % yrow) + " of sample " + std::to_string(i / yrow) +
                    " is " + std::to_string(d.y.f32[i]));
    // One float per sample for a model of classes > 1 outputs: class labels stored as floats, which torch's losses
    // refuse too. Taken as labels, they trained without an accuracy; refused, naming where they are.
    if (classes > 1 && d.y.shape.size() == 1)
      throw Error(d.source + ": " + (d.y_name.empty() ? std::string("the labels") : d.y_name) +
                  " holds float32 (N) labels for a model of " + std::to_string(classes) +
                  " classes: class labels are int64 (store them with y.astype(np.int64)); float targets for bce or "
                  "mse have the output's shape (N, " +
                  std::to_string(classes) + ")");
  }
}

}  // namespace onnxtrain
