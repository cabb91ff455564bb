// onnxtrain::Tensor: a dense, row-major host tensor used at the public API (inputs, outputs, data files), and
// onnxtrain::Value, a graph input or output that may also be an ONNX sequence or optional. Not the runtime's
// internal buffer type.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace onnxtrain {

// The ONNX tensor element types onnxtrain carries. Training and every op but Add, Identity, Squeeze and Unsqueeze
// compute in Float32; the others pass through Identity, Squeeze and Unsqueeze and are added by Add, as ONNX defines
// them.
enum class DType {
  Float32,
  Int64,
  UInt8,
  Int8,
  UInt16,
  Int16,
  Int32,
  UInt32,
  UInt64,
  Bool,
  Float16,
  BFloat16,
  Float64
};

const char* dtype_name(DType t);  // "float32", "uint8", ...
size_t dtype_size(DType t);       // bytes per element

struct Tensor {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;  // row-major dims; {} is a scalar
  std::vector<float> f32;      // the data when dtype == Float32, numel() elements
  std::vector<int64_t> i64;    // the data when dtype == Int64, numel() elements
  std::vector<uint8_t> bytes;  // the data for every other dtype: numel() elements of dtype_size() bytes, native order

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // The element bytes wherever this dtype keeps them, and how many there are.
  const void* data() const;
  void* data();
  size_t data_bytes() const;

  static Tensor f32_of(std::vector<int64_t> shape, std::vector<float> data) {
    Tensor t;
    t.dtype = DType::Float32;
    t.shape = std::move(shape);
    t.f32 = std::move(data);
    return t;
  }
  static Tensor i64_of(std::vector<int64_t> shape, std::vector<int64_t> data) {
    Tensor t;
    t.dtype = DType::Int64;
    t.shape = std::move(shape);
    t.i64 = std::move(data);
    return t;
  }
  // A tensor of any other dtype from its element bytes (numel() * dtype_size(dtype) of them).
  static Tensor bytes_of(DType dtype, std::vector<int64_t> shape, std::vector<uint8_t> data) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes = std::move(data);
    return t;
  }
};

// A graph input or output of any ONNX type onnxtrain carries: a tensor, a sequence of values, or an optional one.
// Only Identity takes sequences and optionals (InferenceSession::run_values); everything else computes on tensors.
struct Value {
  enum class Kind { Tensor, Sequence, Optional };
  Kind kind = Kind::Tensor;
  Tensor tensor;                // Kind::Tensor
  std::vector<Value> elements;  // Sequence: its elements in order; Optional: none (empty) or one

  static Value of(Tensor t) {
    Value v;
    v.tensor = std::move(t);
    return v;
  }
};

// "(2,3,4)": how shapes are written in every message.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace onnxtrain
