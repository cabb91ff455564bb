// Small helpers for the public Tensor type: names and sizes of dtypes, where a tensor's data is, and the one way
// shapes are printed in messages.
#include "onnxtrain/tensor.h"

namespace onnxtrain {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Int64: return "int64";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::UInt16: return "uint16";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::UInt32: return "uint32";
    case DType::UInt64: return "uint64";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Float64: return "float64";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::UInt8:
    case DType::Int8:
    case DType::Bool: return 1;
    case DType::UInt16:
    case DType::Int16:
    case DType::Float16:
    case DType::BFloat16: return 2;
    case DType::Float32:
    case DType::Int32:
    case DType::UInt32: return 4;
    case DType::Int64:
    case DType::UInt64:
    case DType::Float64: return 8;
  }
  return 1;
}

const void* Tensor::data() const {
  return dtype == DType::Float32 ? static_cast<const void*>(f32.data())
         : dtype == DType::Int64 ? static_cast<const void*>(i64.data())
                                 : static_cast<const void*>(bytes.data());
}
void* Tensor::data() { return const_cast<void*>(static_cast<const Tensor*>(this)->data()); }
size_t Tensor::data_bytes() const {
  return dtype == DType::Float32 ? f32.size() * 4 : dtype == DType::Int64 ? i64.size() * 8 : bytes.size();
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

}  // namespace onnxtrain
