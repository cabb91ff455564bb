// ONNX backend-test folders, run as onnx.backend.test.runner runs them: model.onnx, then each test_data_set_*'s
// input_<i>.pb fed to the graph's i-th input and output_<i>.pb compared with its i-th output. The files are read by
// load_onnx_value (importers/onnx_tensor_reader.cpp); the model runs through an InferenceSession. Nothing is written.
#include "onnxtrain/backend_test.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"

namespace fs = std::filesystem;

namespace onnxtrain {
namespace {

// Element k of t as a double, whatever its dtype (float16 and bfloat16 decoded here, apart from the runtime's code, so
// that a wrong conversion there cannot hide in the comparison).
double element(const Tensor& t, size_t k) {
  auto at = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, t.bytes.data() + k * sizeof(v), sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.dtype) {
    case DType::Float32: return t.f32[k];
    case DType::Int64: return static_cast<double>(t.i64[k]);
    case DType::UInt8:
    case DType::Bool: return at(uint8_t{});
    case DType::Int8: return at(int8_t{});
    case DType::UInt16: return at(uint16_t{});
    case DType::Int16: return at(int16_t{});
    case DType::Int32: return at(int32_t{});
    case DType::UInt32: return at(uint32_t{});
    case DType::UInt64: return at(uint64_t{});
    case DType::Float64: return at(double{});
    case DType::Float16: {
      const auto h = static_cast<uint16_t>(at(uint16_t{}));
      const int e = (h >> 10) & 31, m = h & 1023;
      const double mag = e == 31 ? (m ? NAN : INFINITY) : e ? std::ldexp(1024 + m, e - 25) : std::ldexp(m, -24);
      return h & 0x8000 ? -mag : mag;
    }
    case DType::BFloat16: {
      const uint32_t bits = static_cast<uint32_t>(at(uint16_t{})) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
  }
  return NAN;
}

bool floating(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

// An element for messages: int64 exactly, the others as doubles.
std::string element_str(const Tensor& t, size_t k) {
  return t.dtype == DType::Int64 ? std::to_string(t.i64[k]) : num(element(t, k));
}

const char* kind_name(Value::Kind k) {
  return k == Value::Kind::Tensor ? "tensor" : k == Value::Kind::Sequence ? "sequence" : "optional";
}

// The files named prefix<i>.pb in dir, counted as the runner counts them (a glob of prefix*.pb).
size_t count_pb(const fs::path& dir, const std::string& prefix) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    n += name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + 3 && name.compare(name.size() - 3, 3, ".pb") == 0;
  }
  return n;
}

// test_data_set_<k> in numeric order (test_data_set_10 after _9).
std::vector<std::string> data_sets(const fs::path& dir) {
  std::vector<std::string> sets;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename();
    if (name.rfind("test_data_set", 0) == 0 && e.is_directory()) sets.push_back(name);
  }
  std::sort(sets.begin(), sets.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return sets;
}

std::string names(const std::vector<ModelInfo::Port>& ports) {
  std::string s;
  for (const ModelInfo::Port& p : ports) s += (s.empty() ? "" : ", ") + p.name;
  return s;
}

void run_folder(const std::string& dir, const BackendTestOptions& o, BackendTestResult& r) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    r.failure = dir + ": no such folder";
    return;
  }
  if (!fs::is_directory(dir, ec)) {
    r.failure = dir + ": not a folder (a backend test is a folder holding model.onnx and test_data_set_*/)";
    return;
  }
  const fs::path root(dir);
  if (!fs::exists(root / "model.onnx", ec)) {
    r.failure = dir + ": no model.onnx (a backend test is a folder holding model.onnx and test_data_set_*/)";
    return;
  }
  Model model = Model::load((root / "model.onnx").string());
  const ModelInfo info = model.info();
  const std::vector<std::string> sets = data_sets(root);
  if (sets.empty()) {
    r.failure = dir + ": no test_data_set_* folder beside model.onnx";
    return;
  }
  InferenceSession session(model, SessionOptions{o.threads});
  for (const std::string& set : sets) {
    const fs::path sd = root / set;
    const size_t ins = count_pb(sd, "input_"), outs = count_pb(sd, "output_");
    if (ins != info.inputs.size()) {
      r.failure = sd.string() + ": holds " + std::to_string(ins) + " input_*.pb, the model has " +
                  std::to_string(info.inputs.size()) + " inputs (" + names(info.inputs) + ")";
      return;
    }
    if (outs != info.outputs.size()) {
      r.failure = sd.string() + ": holds " + std::to_string(outs) + " output_*.pb, the model has " +
                  std::to_string(info.outputs.size()) + " outputs (" + names(info.outputs) + ")";
      return;
    }
    // ONNX 1.12's generators store bfloat16 tensors as uint16 (the same bits): read as the model declares them.
    const auto as_declared = [](Value v, const std::string& dtype) {
      if (dtype == "bfloat16" && v.kind == Value::Kind::Tensor && v.tensor.dtype == DType::UInt16)
        v.tensor.dtype = DType::BFloat16;
      return v;
    };
    std::map<std::string, Value> inputs;
    for (size_t i = 0; i < info.inputs.size(); ++i)
      inputs[info.inputs[i].name] =
          as_declared(load_onnx_value((sd / ("input_" + std::to_string(i) + ".pb")).string(), info.inputs[i].kind),
                      info.inputs[i].dtype);
    std::map<std::string, Value> got;
    try {
      got = session.run_values(inputs);
    } catch (const Error& e) {
      r.failure = sd.string() + ": " + e.what();
      return;
    }
    for (size_t k = 0; k < info.outputs.size(); ++k) {
      const std::string& name = info.outputs[k].name;
      const Value want =
          as_declared(load_onnx_value((sd / ("output_" + std::to_string(k) + ".pb")).string(), info.outputs[k].kind),
                      info.outputs[k].dtype);
      const std::string differs = compare_values(got.at(name), want, set + " output '" + name + "'", o, &r);
      if (!differs.empty()) {
        r.failure = dir + ": " + differs;
        return;
      }
    }
    ++r.sets;
  }
}

}  // namespace

std::string compare_values(const Value& got, const Value& want, const std::string& where, const BackendTestOptions& o,
                           BackendTestResult* stats) {
  if (got.kind != want.kind) return where + ": got a " + kind_name(got.kind) + ", expected a " + kind_name(want.kind);
  if (want.kind != Value::Kind::Tensor) {
    if (got.elements.size() != want.elements.size())
      return where + ": got " + std::to_string(got.elements.size()) + " elements, expected " +
             std::to_string(want.elements.size());
    for (size_t e = 0; e < want.elements.size(); ++e)
      if (std::string d =
              compare_values(got.elements[e], want.elements[e], where + "[" + std::to_string(e) + "]", o, stats);
          !d.empty())
        return d;
    return "";
  }
  const Tensor &g = got.tensor, &w = want.tensor;
  const bool mask = w.dtype == DType::Bool && g.dtype == DType::Float32;  // Dropout's mask (header)
  if (g.dtype != w.dtype && !mask) return where + ": got " + dtype_name(g.dtype) + ", expected " + dtype_name(w.dtype);
  if (g.shape != w.shape) return where + ": got shape " + shape_str(g.shape) + ", expected " + shape_str(w.shape);
  const size_t count = static_cast<size_t>(w.numel());
  if (g.data_bytes() != count * dtype_size(g.dtype) || w.data_bytes() != count * dtype_size(w.dtype))
    return where + ": holds another number of values than its shape " + shape_str(w.shape) + " says";
  if (!floating(w.dtype)) {  // integers and bools: exactly
    const size_t width = dtype_size(w.dtype);
    const auto *gb = static_cast<const uint8_t*>(g.data()), *wb = static_cast<const uint8_t*>(w.data());
    for (size_t k = 0; k < count; ++k)
      if (mask ? element(g, k) != element(w, k) : std::memcmp(gb + k * width, wb + k * width, width) != 0)
        return where + "[" + std::to_string(k) + "]: got " + element_str(g, k) + ", expected " + element_str(w, k);
    return "";
  }
  for (size_t k = 0; k < count; ++k) {
    const double gv = element(g, k), wv = element(w, k);
    if (std::isnan(gv) && std::isnan(wv)) continue;
    const double diff = gv == wv ? 0 : std::fabs(gv - wv);  // equal infinities differ by 0, not NaN
    const double bound = o.atol + o.rtol * std::fabs(wv);
    const std::string at = where + "[" + std::to_string(k) + "]";
    if (stats) {
      ++stats->compared;
      const double rel = bound > 0 ? diff / bound : (diff > 0 ? INFINITY : 0);
      if (stats->worst_at.empty() || diff > stats->worst || std::isnan(diff)) {
        stats->worst = diff;
        stats->worst_rel = rel;
        stats->worst_at = at;
      }
    }
    if (!(diff <= bound))
      return at + ": got " + num(gv) + ", expected " + num(wv) + " (difference " + num(diff) + " > atol + rtol * " +
             "|expected| = " + num(bound) + ")";
  }
  return "";
}

BackendTestResult run_backend_test(const std::string& dir, const BackendTestOptions& options) {
  BackendTestResult r;
  r.dir = dir;
  try {
    run_folder(dir, options, r);
  } catch (const Error& e) {
    r.failure = e.what();
  } catch (const std::bad_alloc&) {
    r.failure = dir + ": ran out of memory";
  } catch (const fs::filesystem_error& e) {
    r.failure = dir + ": " + e.code().message();
  }
  r.pass = r.failure.empty();
  return r;
}

}  // namespace onnxtrain
