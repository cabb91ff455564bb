// onnxtrain::Tensor: a dense, row-major host tensor used at the public API (inputs, outputs, data files).
// It holds float32 features or int64 labels; it is not the runtime's internal buffer type.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace onnxtrain {

enum class DType { Float32, Int64 };

const char* dtype_name(DType t);

struct Tensor {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;  // row-major dims; {} is a scalar
  std::vector<float> f32;      // the data when dtype == Float32, numel() elements
  std::vector<int64_t> i64;    // the data when dtype == Int64, numel() elements

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
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
};

// "(2,3,4)": how shapes are written in every message.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace onnxtrain
