// Reads one serialized TensorProto (ONNX test data sets) into a host Tensor. It checks the declared size against the
// data present before copying; it does not read external data.
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

template <typename Dst, typename Src>
void convert(const Src* src, size_t n, std::vector<Dst>& dst) {
  dst.resize(n);
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
}

// The raw_data or typed field of t as n elements of T.
template <typename T, typename Field>
std::vector<T> values(const std::string& path, const onnx::TensorProto& t, const Field& field, size_t n) {
  std::vector<T> out(n);
  if (t.has_raw_data()) {
    if (t.raw_data().size() != n * sizeof(T))
      throw Error(path + ": raw_data has " + std::to_string(t.raw_data().size()) + " bytes, its shape needs " +
                  std::to_string(n * sizeof(T)));
    if (n) std::memcpy(out.data(), t.raw_data().data(), n * sizeof(T));  // an empty vector's data() may be null
  } else {
    if (static_cast<size_t>(field.size()) != n)
      throw Error(path + ": holds " + std::to_string(field.size()) + " values, its shape needs " + std::to_string(n));
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(field.Get(static_cast<int>(i)));
  }
  return out;
}

}  // namespace

Tensor load_onnx_tensor(const std::string& path, std::string* name) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes)) throw Error(path + ": not a serialized ONNX TensorProto");
  if (t.data_location() == onnx::TensorProto::EXTERNAL) throw Error(path + ": external data is not read here");
  Tensor out;
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 32))
      throw Error(path + ": declares an invalid or oversized shape");
    out.shape.push_back(d);
  }
  size_t count = static_cast<size_t>(n);
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      out.f32 = values<float>(path, t, t.float_data(), count);
      break;
    case onnx::TensorProto::DOUBLE: {
      auto v = values<double>(path, t, t.double_data(), count);
      convert(v.data(), count, out.f32);
      break;
    }
    case onnx::TensorProto::INT64:
      out.dtype = DType::Int64;
      out.i64 = values<int64_t>(path, t, t.int64_data(), count);
      break;
    case onnx::TensorProto::INT32: {
      out.dtype = DType::Int64;
      auto v = values<int32_t>(path, t, t.int32_data(), count);
      convert(v.data(), count, out.i64);
      break;
    }
    case onnx::TensorProto::BOOL: {  // one byte each in raw_data, int32_data otherwise
      out.dtype = DType::Int64;
      if (t.has_raw_data()) {
        auto v = values<uint8_t>(path, t, t.int32_data(), count);
        convert(v.data(), count, out.i64);
      } else {
        auto v = values<int32_t>(path, t, t.int32_data(), count);
        convert(v.data(), count, out.i64);
      }
      break;
    }
    default:
      throw Error(path + ": data type " + std::to_string(t.data_type()) + " is not float32, float64, int64, int32 or bool");
  }
  if (name) *name = t.name();
  return out;
}

}  // namespace onnxtrain
