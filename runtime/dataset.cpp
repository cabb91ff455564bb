// Data sets by name: file formats come from the data readers; this file only picks files, pairs features with
// labels, scales Fashion-MNIST to [0,1] and fits sample shapes to the model's input.
#include "onnxtrain/dataset.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
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

Dataset read_dataset(const std::string& spec, Split split, const std::vector<std::string>& x_keys,
                     const std::string& y_key) {
  Dataset d;
  d.source = spec;
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
    auto xi = arrays.end();
    std::string tried;
    for (const std::string& k : x_keys) {
      if (xi == arrays.end()) xi = arrays.find(k);
      tried += (tried.empty() ? "'" : " or '") + k + "'";
    }
    if (xi == arrays.end()) throw Error(spec + ": no features array " + tried);
    d.x = std::move(xi->second);
    auto yi = arrays.find(y_key);
    if (yi != arrays.end() && yi->second.shape.empty())  // else taken for "no labels" (Dataset::has_y)
      throw Error(spec + ": '" + y_key +
                  "' is 0-d (a scalar); it needs one label or target per sample, shape (N) or "
                  "(N, ...)");
    if (yi != arrays.end()) d.y = std::move(yi->second);
  } else if (ends_with(spec, ".npy")) {
    d.x = load_npy(spec);
  } else if (spec.find("idx3") != std::string::npos) {
    d.x = load_idx(spec);
    std::string labels = labels_for(spec);
    if (exists(labels)) d.y = load_idx(labels);
  } else {
    throw Error(spec + ": unknown data format (expected fashion-mnist, .npz, .npy or an idx3 images file)");
  }
  if (d.x.dtype != DType::Float32) {
    // Integer features (uint8 images in an npz) are taken as values; only the dtype changes.
    d.x.f32.assign(d.x.i64.begin(), d.x.i64.end());
    d.x.i64.clear();
    d.x.dtype = DType::Float32;
  }
  if (d.x.shape.empty()) throw Error(spec + ": the features are a scalar, expected (N, ...)");
  if (d.has_y() && d.y.shape[0] != d.x.shape[0])
    throw Error(spec + ": " + std::to_string(d.x.shape[0]) + " feature rows but " + std::to_string(d.y.shape[0]) +
                " labels");
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

void fit_features(Dataset& d, const std::string& input_name, const std::vector<int64_t>& sample_dims) {
  std::vector<int64_t> have(d.x.shape.begin() + 1, d.x.shape.end());
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
    throw Error(d.source + ": samples of shape " + shape_str(have) + " do not fit model input '" + input_name +
                "' of sample shape " + shape_str(sample_dims));
  }
  if (have_n != want_n)
    throw Error(d.source + ": samples of shape " + shape_str(have) + " (" + std::to_string(have_n) +
                " values) do not fit model input '" + input_name + "' of sample shape " + shape_str(sample_dims) +
                " (" + std::to_string(want_n) + " values)");
  d.x.shape.resize(1);
  d.x.shape.insert(d.x.shape.end(), sample_dims.begin(), sample_dims.end());
}

void check_trainable(const Dataset& d, int64_t classes) {
  const int64_t n = d.x.shape.empty() ? 0 : d.x.shape[0];
  if (n == 0) throw Error(d.source + ": the data set is empty");
  if (!d.has_y()) throw Error(d.source + ": no labels or targets (an .npz needs 'y' beside the features)");
  const int64_t row = d.x.numel() / n;
  for (size_t i = 0; i < d.x.f32.size(); ++i)
    if (!std::isfinite(d.x.f32[i]))
      throw Error(d.source + ": feature " + std::to_string(i % row) + " of sample " + std::to_string(i / row) + " is " +
                  std::to_string(d.x.f32[i]));
  if (d.y.dtype == DType::Int64) {
    for (int64_t i = 0; i < static_cast<int64_t>(d.y.i64.size()); ++i) {
      int64_t l = d.y.i64[i];
      if (l < 0 || (classes > 0 && l >= classes))
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
    // One float per sample for a model of classes > 1 outputs: class labels stored as floats. Each must name a class.
    if (classes > 1 && d.y.shape.size() == 1)
      for (size_t i = 0; i < d.y.f32.size(); ++i) {
        const float l = d.y.f32[i];
        if (l < 0 || l != std::floor(l) || l >= float(classes)) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%g", double(l));
          throw Error(d.source + ": label " + buf + " of sample " + std::to_string(i) + " is not a class index for " +
                      std::to_string(classes) + " classes (0 to " + std::to_string(classes - 1) + ")");
        }
      }
  }
}

}  // namespace onnxtrain
