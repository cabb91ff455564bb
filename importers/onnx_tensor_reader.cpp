// Reads serialized TensorProto, SequenceProto and OptionalProto files (ONNX test data sets) into host Tensors and
// Values, in the dtype they hold. It checks each declared size against the data present before copying; it does
// not read external data.
#include <onnx/onnx-data_pb.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

// No file may nest sequences and optionals deeper than this (a hostile file could recurse the stack away).
constexpr int kMaxDepth = 16;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// The raw_data or typed field of t as n elements of T, stored little-endian in out (n * sizeof(T) bytes).
template <typename T, typename Field>
void values(const std::string& path, const onnx::TensorProto& t, const Field& field, size_t n, void* out) {
  if (t.has_raw_data()) {
    if (t.raw_data().size() != n * sizeof(T))
      throw Error(path + ": raw_data has " + std::to_string(t.raw_data().size()) + " bytes, its shape needs " +
                  std::to_string(n * sizeof(T)));
    if (n) std::memcpy(out, t.raw_data().data(), n * sizeof(T));  // an empty vector's data() may be null
    return;
  }
  if (static_cast<size_t>(field.size()) != n)
    throw Error(path + ": holds " + std::to_string(field.size()) + " values, its shape needs " + std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    // Narrow types sit in int32_data, float16 and bfloat16 as their bit patterns: keep the low bytes.
    const T v = static_cast<T>(field.Get(static_cast<int>(i)));
    std::memcpy(static_cast<char*>(out) + i * sizeof(T), &v, sizeof(T));
  }
}

Tensor tensor_of(const std::string& path, const onnx::TensorProto& t) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) throw Error(path + ": external data is not read here");
  Tensor out;
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 32))
      throw Error(path + ": declares an invalid or oversized shape");
    out.shape.push_back(d);
  }
  const size_t count = static_cast<size_t>(n);
  auto bytes = [&](DType d) {
    out.dtype = d;
    out.bytes.resize(count * dtype_size(d));
    return static_cast<void*>(out.bytes.data());
  };
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: out.f32.resize(count); values<float>(path, t, t.float_data(), count, out.f32.data()); break;
    case onnx::TensorProto::INT64:
      out.dtype = DType::Int64;
      out.i64.resize(count);
      values<int64_t>(path, t, t.int64_data(), count, out.i64.data());
      break;
    case onnx::TensorProto::DOUBLE: values<double>(path, t, t.double_data(), count, bytes(DType::Float64)); break;
    case onnx::TensorProto::INT32: values<int32_t>(path, t, t.int32_data(), count, bytes(DType::Int32)); break;
    case onnx::TensorProto::INT16: values<int16_t>(path, t, t.int32_data(), count, bytes(DType::Int16)); break;
    case onnx::TensorProto::INT8: values<int8_t>(path, t, t.int32_data(), count, bytes(DType::Int8)); break;
    case onnx::TensorProto::UINT8: values<uint8_t>(path, t, t.int32_data(), count, bytes(DType::UInt8)); break;
    case onnx::TensorProto::UINT16: values<uint16_t>(path, t, t.int32_data(), count, bytes(DType::UInt16)); break;
    case onnx::TensorProto::BOOL: values<uint8_t>(path, t, t.int32_data(), count, bytes(DType::Bool)); break;
    case onnx::TensorProto::FLOAT16: values<uint16_t>(path, t, t.int32_data(), count, bytes(DType::Float16)); break;
    case onnx::TensorProto::BFLOAT16: values<uint16_t>(path, t, t.int32_data(), count, bytes(DType::BFloat16)); break;
    case onnx::TensorProto::UINT32: values<uint32_t>(path, t, t.uint64_data(), count, bytes(DType::UInt32)); break;
    case onnx::TensorProto::UINT64: values<uint64_t>(path, t, t.uint64_data(), count, bytes(DType::UInt64)); break;
    default:
      throw Error(path + ": data type " + std::to_string(t.data_type()) + " is not a numeric or bool tensor type");
  }
  return out;
}

Value value_of(const std::string& path, const onnx::SequenceProto& s, int depth);
Value value_of(const std::string& path, const onnx::OptionalProto& o, int depth);

Value value_of(const std::string& path, const onnx::SequenceProto& s, int depth) {
  if (depth > kMaxDepth) throw Error(path + ": sequences and optionals nest deeper than " + std::to_string(kMaxDepth));
  Value v;
  v.kind = Value::Kind::Sequence;
  switch (s.elem_type()) {
    case onnx::SequenceProto::TENSOR:
      for (const auto& t : s.tensor_values()) v.elements.push_back(Value::of(tensor_of(path, t)));
      break;
    case onnx::SequenceProto::SEQUENCE:
      for (const auto& e : s.sequence_values()) v.elements.push_back(value_of(path, e, depth + 1));
      break;
    case onnx::SequenceProto::OPTIONAL:
      for (const auto& e : s.optional_values()) v.elements.push_back(value_of(path, e, depth + 1));
      break;
    default:
      throw Error(path + ": a sequence of element type " + std::to_string(s.elem_type()) +
                  " (onnxtrain reads sequences of tensors, sequences and optionals)");
  }
  return v;
}

Value value_of(const std::string& path, const onnx::OptionalProto& o, int depth) {
  if (depth > kMaxDepth) throw Error(path + ": sequences and optionals nest deeper than " + std::to_string(kMaxDepth));
  Value v;
  v.kind = Value::Kind::Optional;
  if (o.has_tensor_value()) v.elements.push_back(Value::of(tensor_of(path, o.tensor_value())));
  else if (o.has_sequence_value()) v.elements.push_back(value_of(path, o.sequence_value(), depth + 1));
  else if (o.has_optional_value()) v.elements.push_back(value_of(path, o.optional_value(), depth + 1));
  else if (o.has_sparse_tensor_value() || o.has_map_value())
    throw Error(path + ": an optional of a sparse tensor or a map (onnxtrain reads tensors, sequences and optionals)");
  return v;  // none of them: an optional without a value
}

}  // namespace

Tensor load_onnx_tensor(const std::string& path, std::string* name) {
  onnx::TensorProto t;
  if (!t.ParseFromString(read_file(path))) throw Error(path + ": not a serialized ONNX TensorProto");
  Tensor out = tensor_of(path, t);
  if (name) *name = t.name();
  return out;
}

Value load_onnx_value(const std::string& path, Value::Kind kind) {
  const std::string bytes = read_file(path);
  if (kind == Value::Kind::Tensor) return Value::of(load_onnx_tensor(path));
  if (kind == Value::Kind::Sequence) {
    onnx::SequenceProto s;
    if (!s.ParseFromString(bytes)) throw Error(path + ": not a serialized ONNX SequenceProto");
    return value_of(path, s, 0);
  }
  onnx::OptionalProto o;
  if (!o.ParseFromString(bytes)) throw Error(path + ": not a serialized ONNX OptionalProto");
  return value_of(path, o, 0);
}

}  // namespace onnxtrain
