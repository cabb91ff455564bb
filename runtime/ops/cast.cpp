// Cast: Y = X converted to the dtype `to` (a TensorProto type: a name string at opset 1, an int from 6), between the
// numeric types and bool: floats to integers truncate toward 0, integers wrap as numpy's astype does, bool is x != 0
// and gives 0 or 1. float16 rounds to nearest even; bfloat16 truncates, as ONNX's node tests (and its reference)
// make it. `saturate` (opset 19) concerns float8 alone, which onnxtrain has not, so it is read and changes nothing.
// No string tensors. Shape inference, the fold of known integers cast to an integer type, the forward kernel (a host
// loop), its double reference and the gradient rule: dX = dY for a float32 to float32 cast, none otherwise.
#include <cstring>
#include <string>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// TensorProto's data types, by number and (Cast-1) by name; false for string, complex and the float8s.
bool dtype_from(const ir::Attr& a, DType* d) {
  static const std::pair<const char*, DType> kNames[] = {
      {"FLOAT", DType::Float32},    {"UINT8", DType::UInt8},    {"INT8", DType::Int8},     {"UINT16", DType::UInt16},
      {"INT16", DType::Int16},      {"INT32", DType::Int32},    {"INT64", DType::Int64},   {"BOOL", DType::Bool},
      {"FLOAT16", DType::Float16},  {"DOUBLE", DType::Float64}, {"UINT32", DType::UInt32}, {"UINT64", DType::UInt64},
      {"BFLOAT16", DType::BFloat16}};
  static const int kNumbers[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 16};
  for (size_t k = 0; k < std::size(kNames); ++k)
    if ((a.kind == ir::Attr::Int && a.i == kNumbers[k]) || (a.kind == ir::Attr::String && a.s == kNames[k].first)) {
      *d = kNames[k].second;
      return true;
    }
  return false;
}

DType to_of(const ir::Node& n) {
  DType d = DType::Float32;
  dtype_from(n.attrs.at("to"), &d);
  return d;
}

bool is_float(DType d) {
  return d == DType::Float32 || d == DType::Float64 || d == DType::Float16 || d == DType::BFloat16;
}

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 19 && n.has("saturate")) g.fail(n, "attribute saturate comes at opset 19");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  auto it = n.attrs.find("to");
  if (it == n.attrs.end()) g.fail(n, "attribute to is required");
  const ir::Attr& to = it->second;
  if (n.version < 6 ? to.kind != ir::Attr::String : to.kind != ir::Attr::Int)
    g.fail(n,
           std::string("attribute to must be ") + (n.version < 6 ? "a type name at opset 1" : "an int from opset 6"));
  DType d;
  if (!dtype_from(to, &d))
    g.fail(n, "cannot cast to " + (to.kind == ir::Attr::String ? to.s : "type " + std::to_string(to.i)) +
                  "; Cast converts between the numeric types and bool (no strings)");
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; Cast takes tensors");
  g.values[n.outputs[0]].dtype = d;
}

// An integer (or bool) element as int64, uint64 by its bits; and one stored in dtype d, wrapping.
int64_t int_at(DType d, const void* p, size_t i) {
  auto at = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, static_cast<const uint8_t*>(p) + i * sizeof(v), sizeof(v));
    return static_cast<int64_t>(v);
  };
  switch (d) {
    case DType::Int64: return at(int64_t{});
    case DType::UInt64: return at(uint64_t{});
    case DType::Int32: return at(int32_t{});
    case DType::UInt32: return at(uint32_t{});
    case DType::Int16: return at(int16_t{});
    case DType::UInt16: return at(uint16_t{});
    case DType::Int8: return at(int8_t{});
    case DType::Bool: return at(uint8_t{}) != 0;
    default: return at(uint8_t{});
  }
}
void put_int(DType d, void* p, size_t i, int64_t v) {
  auto put = [&](auto x) { std::memcpy(static_cast<uint8_t*>(p) + i * sizeof(x), &x, sizeof(x)); };
  switch (d) {
    case DType::Int64: return put(v);
    case DType::UInt64: return put(static_cast<uint64_t>(v));
    case DType::Int32: return put(static_cast<int32_t>(v));
    case DType::UInt32: return put(static_cast<uint32_t>(v));
    case DType::Int16: return put(static_cast<int16_t>(v));
    case DType::UInt16: return put(static_cast<uint16_t>(v));
    case DType::Int8: return put(static_cast<int8_t>(v));
    case DType::Bool: return put(static_cast<uint8_t>(v != 0));
    default: return put(static_cast<uint8_t>(v));
  }
}

// Element i of X (dtype from) converted into Y (dtype to).
void convert(DType from, const void* x, DType to, void* y, size_t i) {
  if (!is_float(from) && !is_float(to)) return put_int(to, y, i, int_at(from, x, i));
  const double v = from == DType::UInt64 ? static_cast<double>(static_cast<uint64_t>(int_at(from, x, i)))
                                         : element_as_double(from, x, i);
  if (to == DType::BFloat16) {  // truncated: the high half of the float32's bits (a NaN kept quiet)
    const float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint16_t h = static_cast<uint16_t>(bits >> 16) | (f != f ? 0x40u : 0u);
    std::memcpy(static_cast<uint8_t*>(y) + 2 * i, &h, 2);
    return;
  }
  if (!is_float(to) && to != DType::Bool) return put_int(to, y, i, static_cast<int64_t>(v));
  store_double(to, y, i, v);
}

// X: any shape; Y: the same.
std::vector<Shape> infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[0]}; }

// Known integers cast to an integer type or bool (a shape chain's Cast to int64).
bool fold(const ir::Graph&, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  const DType to = to_of(n);
  if (!in.ints(0) || is_float(to)) return false;
  for (int64_t v : *in.ints(0)) {
    int64_t w = 0;
    put_int(to, &w, 0, v);
    out[0].push_back(int_at(to, &w, 0));
  }
  return true;
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const DType from = g.values[n.inputs[0]].dtype, to = g.values[n.outputs[0]].dtype;
  if (from == to) return copy_step(ctx, n.inputs[0], n.outputs[0], steps);
  dnnl::memory x = bytes_view(ctx, n.inputs[0]), y = bytes_view(ctx, n.outputs[0]);
  const size_t count = static_cast<size_t>(count_of(ctx.shape(n.inputs[0])));
  Step s;
  s.host = [=]() {
    const void* X = x.get_data_handle();
    void* Y = y.get_data_handle();
    if (from == DType::UInt8 && to == DType::Float32) {  // an image fed as bytes: the common case, kept tight
      const auto* in = static_cast<const uint8_t*>(X);
      float* out = static_cast<float*>(Y);
      for (size_t i = 0; i < count; ++i) out[i] = in[i];
      return;
    }
    for (size_t i = 0; i < count; ++i) convert(from, X, to, Y, i);
  };
  steps.push_back(std::move(s));
}

// Y[i] = the value X[i] takes in dtype to, read back as a double. Values arrive as doubles in X's dtype.
void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const DType from = g.values[n.inputs[0]].dtype, to = g.values[n.outputs[0]].dtype;
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    const double v = in[0]->data[e];
    if (is_float(from) && (to == DType::Float32 || to == DType::Float64)) {  // exact in the double reference
      out[0].data[e] = v;
      continue;
    }
    uint8_t x[8] = {}, y[8] = {};
    if (is_float(from))
      store_double(from, x, 0, v);
    else
      put_int(from, x, 0, static_cast<int64_t>(v));
    convert(from, x, to, y, 0);
    out[0].data[e] = element_as_double(to, y, 0);
  }
}

// Y = X in float32 both; dX = dY. Other casts have no gradient (only float32 trains).
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  const ir::Graph& g = b.graph();
  if (dY < 0 || !b.needs(n, 0) || g.values[n.inputs[0]].dtype != DType::Float32 ||
      g.values[n.outputs[0]].dtype != DType::Float32)
    return;
  b.set_dX(n, 0, b.emit("Identity", {dY}));
}

}  // namespace

extern const OpDef kCast{
    .type = "Cast",
    .versions = {1, 6, 9, 13, 19, 21},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // `to` by name at 1, by number from 6; float32 to float32 (the one that trains), to integers (truncated), to
    // float16, from uint8 (an image) and from bool.
    .cases = {{.opset = 1, .shapes = {{3, 4}}, .attrs = {{"to", attr_string("FLOAT")}}},
              {.opset = 6, .shapes = {{2, 5}}, .attrs = {{"to", attr(6)}}},
              {.opset = 9, .shapes = {{7}}, .attrs = {{"to", attr(10)}}},
              {.opset = 13,
               .shapes = {},
               .attrs = {{"to", attr(1)}},
               .typed = {{0, DType::UInt8, {2, 3}, {0, 1, 7, 128, 254, 255}}}},
              {.opset = 19, .shapes = {{2, 3}}, .attrs = {{"to", attr(1)}, {"saturate", attr(1)}}},
              {.opset = 21, .shapes = {}, .attrs = {{"to", attr(1)}}, .typed = {{0, DType::Bool, {4}, {1, 0, 0, 1}}}},
              {.opset = 21, .shapes = {{3, 3}}, .attrs = {{"to", attr(9)}}}}};

}  // namespace onnxtrain::ops
