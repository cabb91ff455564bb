// Small helpers for the public Tensor type: names of dtypes and the one way shapes are printed in messages.
#include "onnxtrain/tensor.h"

namespace onnxtrain {

const char* dtype_name(DType t) { return t == DType::Float32 ? "float32" : "int64"; }

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

}  // namespace onnxtrain
