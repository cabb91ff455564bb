// Reads serialized TensorProto, SequenceProto and OptionalProto files (ONNX test data sets) into host Tensors and
// Values, in the dtype they hold. It checks each declared size against the data present before copying; it does
// not read external data.
#include <onnx/onnx-data_pb.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

#include "importers/file_bytes.h"
#include "importers/onnx_elements.h"
#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

// No file may nest sequences and optionals deeper than this (a hostile file could recurse the stack away).
constexpr int kMaxDepth = 16;

std::string read_file(const std::string& path) { return io::file_bytes(path, io::kMaxProtobuf, "a TensorProto"); }

Tensor tensor_of(const std::string& path, const onnx::TensorProto& t) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL) throw Error(path + ": external data is not read here");
  Tensor out;
  if (!onnx_io::dtype_of(t.data_type(), &out.dtype))
    throw Error(path + ": data type " + std::to_string(t.data_type()) + " is not a numeric or bool tensor type");
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 32))
      throw Error(path + ": declares an invalid or oversized shape");
    out.shape.push_back(d);
  }
  const size_t count = static_cast<size_t>(n);
  if (std::string wrong = onnx_io::read_elements(t, out.dtype, count, nullptr); !wrong.empty())
    throw Error(path + ": " + wrong);
  if (out.dtype == DType::Float32)
    out.f32.resize(count);
  else if (out.dtype == DType::Int64)
    out.i64.resize(count);
  else
    out.bytes.resize(count * dtype_size(out.dtype));
  if (std::string wrong = onnx_io::read_elements(t, out.dtype, count, out.data()); !wrong.empty())
    throw Error(path + ": " + wrong);
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
  if (o.has_tensor_value())
    v.elements.push_back(Value::of(tensor_of(path, o.tensor_value())));
  else if (o.has_sequence_value())
    v.elements.push_back(value_of(path, o.sequence_value(), depth + 1));
  else if (o.has_optional_value())
    v.elements.push_back(value_of(path, o.optional_value(), depth + 1));
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
