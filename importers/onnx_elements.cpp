// Decodes a TensorProto's elements of any carried dtype into native bytes (see onnx_elements.h).
#include "importers/onnx_elements.h"

#include <cstring>

namespace onnxtrain::onnx_io {
namespace {

// n values of field, each cast to T (narrow types keep the low bytes: int32_data holds int8..uint16, bool, and
// float16/bfloat16 as their bit patterns), stored one after another in out.
template <typename T, typename Field>
std::string copy_field(const Field& field, size_t n, void* out) {
  if (static_cast<size_t>(field.size()) != n)
    return "holds " + std::to_string(field.size()) + " values but its shape needs " + std::to_string(n);
  for (size_t i = 0; out && i < n; ++i) {
    const T v = static_cast<T>(field.Get(static_cast<int>(i)));
    std::memcpy(static_cast<char*>(out) + i * sizeof(T), &v, sizeof(T));
  }
  return "";
}

}  // namespace

bool dtype_of(int t, DType* out) {
  switch (t) {
    case onnx::TensorProto::FLOAT: *out = DType::Float32; return true;
    case onnx::TensorProto::INT64: *out = DType::Int64; return true;
    case onnx::TensorProto::UINT8: *out = DType::UInt8; return true;
    case onnx::TensorProto::INT8: *out = DType::Int8; return true;
    case onnx::TensorProto::UINT16: *out = DType::UInt16; return true;
    case onnx::TensorProto::INT16: *out = DType::Int16; return true;
    case onnx::TensorProto::INT32: *out = DType::Int32; return true;
    case onnx::TensorProto::UINT32: *out = DType::UInt32; return true;
    case onnx::TensorProto::UINT64: *out = DType::UInt64; return true;
    case onnx::TensorProto::BOOL: *out = DType::Bool; return true;
    case onnx::TensorProto::FLOAT16: *out = DType::Float16; return true;
    case onnx::TensorProto::BFLOAT16: *out = DType::BFloat16; return true;
    case onnx::TensorProto::DOUBLE: *out = DType::Float64; return true;
    default: return false;
  }
}

std::string read_elements(const onnx::TensorProto& t, DType d, size_t n, void* out) {
  const size_t bytes = n * dtype_size(d);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != bytes)
      return "raw_data has " + std::to_string(t.raw_data().size()) + " bytes but its shape needs " +
             std::to_string(bytes);
    if (bytes && out) std::memcpy(out, t.raw_data().data(), bytes);  // an empty field's data() may be null
    return "";
  }
  switch (d) {
    case DType::Float32: return copy_field<float>(t.float_data(), n, out);
    case DType::Float64: return copy_field<double>(t.double_data(), n, out);
    case DType::Int64: return copy_field<int64_t>(t.int64_data(), n, out);
    case DType::UInt32: return copy_field<uint32_t>(t.uint64_data(), n, out);
    case DType::UInt64: return copy_field<uint64_t>(t.uint64_data(), n, out);
    case DType::Int32: return copy_field<int32_t>(t.int32_data(), n, out);
    case DType::Int16: return copy_field<int16_t>(t.int32_data(), n, out);
    case DType::Int8: return copy_field<int8_t>(t.int32_data(), n, out);
    case DType::UInt8:
    case DType::Bool: return copy_field<uint8_t>(t.int32_data(), n, out);
    case DType::UInt16:
    case DType::Float16:
    case DType::BFloat16: return copy_field<uint16_t>(t.int32_data(), n, out);
  }
  return "has an unknown dtype";
}

}  // namespace onnxtrain::onnx_io
