// Add: Y = A + B with numpy broadcasting (from opset 7; before it, B broadcasts to A only with broadcast = 1 and
// no axis). Shape inference, the types each opset takes, the forward kernels (oneDNN binary add for float32, a host
// loop with numpy's arithmetic for the other dtypes), its double reference and the gradient rule: each input's
// gradient is dY summed over the axes along which it was broadcast (ReduceToShape, gemm.cpp). Only float32 trains.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs A and B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 7 && n.has("axis")) g.fail(n, "broadcasting along an explicit axis (opset < 7) is not supported");
}

// A, B: shapes that broadcast; Y: the broadcast shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &a = in[0], &b = in[1];
  const bool legacy_exact = n.version < 7 && n.attr_i("broadcast", 0) == 0;
  if (legacy_exact && a != b)
    g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " differ and broadcast = 0");
  Shape y = broadcast(g, n, a, b);
  if (n.version < 7 && y != a)
    g.fail(n, "B " + ir::shape_str(b) + " must broadcast to A " + ir::shape_str(a) + " before opset 7");
  return {y};
}

// The dtypes of A, B and Y (all one) by opset: float16, float32, float64 from 1; int32, int64, uint32, uint64 from 6;
// bfloat16 from 13; int8, int16, uint8, uint16 from 14.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0)
    return;  // check's
  const ir::Value &a = g.values[n.inputs[0]], &b = g.values[n.inputs[1]];
  for (const ir::Value* v : {&a, &b}) {
    const DType d = v->dtype;
    const int since = !v->tensor || d == DType::Bool                                                       ? 0
                      : d == DType::Float32 || d == DType::Float16 || d == DType::Float64                  ? 1
                      : d == DType::Int32 || d == DType::Int64 || d == DType::UInt32 || d == DType::UInt64 ? 6
                      : d == DType::BFloat16                                                               ? 13
                                                                                                           : 14;
    if (since == 0)
      g.fail(n, "input '" + v->name + "' is " + g.type_of(g.find(v->name)) + "; Add takes numeric tensors");
    if (n.version < since)
      g.fail(n, "input '" + v->name + "' is " + dtype_name(d) + ", which Add takes from opset " +
                    std::to_string(since) + " (this is opset " + std::to_string(g.opset) + ")");
  }
  if (a.dtype != b.dtype)
    g.fail(n, "A '" + a.name + "' is " + dtype_name(a.dtype) + " but B '" + b.name + "' is " + dtype_name(b.dtype));
  g.values[n.outputs[0]].dtype = a.dtype;
}

// float16 and bfloat16 as numpy and PyTorch add them: widened to float32, added, rounded to nearest even
// (half_to_float and the others, common.cpp).
template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {  // wraps around as numpy's does, without signed overflow
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

// Y[i] = A[a_at[i]] + B[b_at[i]] over the broadcast index, for dtypes oneDNN has no binary add for.
template <typename T, typename Elem>
void add_loop(const void* a, const void* b, void* y, const std::vector<int64_t>& a_at, const std::vector<int64_t>& b_at,
              Elem elem) {
  const T *A = static_cast<const T*>(a), *B = static_cast<const T*>(b);
  T* Y = static_cast<T*>(y);
  for (size_t i = 0; i < a_at.size(); ++i) Y[i] = elem(A[a_at[i]], B[b_at[i]]);
}

void typed_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  auto bytes_of = [&](int v) {
    int64_t count = static_cast<int64_t>(dtype_size(d));
    for (int64_t s : ctx.shape(v)) count *= s;
    return ctx.view(v, dnnl_compat::bytes(count));
  };
  dnnl::memory a = bytes_of(n.inputs[0]), b = bytes_of(n.inputs[1]), y = bytes_of(n.outputs[0]);
  const Shape& ys = ctx.shape(n.outputs[0]);
  const std::vector<int64_t> a_at = broadcast_offsets(ctx.shape(n.inputs[0]), ys);
  const std::vector<int64_t> b_at = broadcast_offsets(ctx.shape(n.inputs[1]), ys);
  Step s;
  s.host = [=]() {
    const void *A = a.get_data_handle(), *B = b.get_data_handle();
    void* Y = y.get_data_handle();
    auto plain = [&](auto zero) { add_loop<decltype(zero)>(A, B, Y, a_at, b_at, add<decltype(zero)>); };
    switch (d) {
      case DType::Int64: return plain(int64_t{});
      case DType::Int32: return plain(int32_t{});
      case DType::Int16: return plain(int16_t{});
      case DType::Int8: return plain(int8_t{});
      case DType::UInt64: return plain(uint64_t{});
      case DType::UInt32: return plain(uint32_t{});
      case DType::UInt16: return plain(uint16_t{});
      case DType::UInt8: return plain(uint8_t{});
      case DType::Float64: return plain(double{});
      case DType::Float16:
        return add_loop<uint16_t>(A, B, Y, a_at, b_at, [](uint16_t p, uint16_t q) {
          return float_to_half(half_to_float(p) + half_to_float(q));
        });
      case DType::BFloat16:
        return add_loop<uint16_t>(A, B, Y, a_at, b_at, [](uint16_t p, uint16_t q) {
          return float_to_bf16(bf16_to_float(p) + bf16_to_float(q));
        });
      case DType::Float32:
      case DType::Bool: return;  // oneDNN's; refused by types
    }
  };
  steps.push_back(std::move(s));
}

// A, B: shapes that broadcast to Y. float32 through oneDNN's binary add.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  if (ctx.graph().values[n.outputs[0]].dtype != DType::Float32) return typed_forward(ctx, n, steps);
  const Shape& y = ctx.shape(n.outputs[0]);
  auto y_md = dnnl_compat::plain(y);
  dnnl::memory out = ctx.view(n.outputs[0], y_md);
  int first = n.inputs[0], second = n.inputs[1];
  if (padded(ctx.shape(first), y.size()) != y) std::swap(first, second);  // binary add reads src0 at full shape
  auto add = [&](dnnl::memory src0, const dnnl::memory::desc& md0, int v) {
    auto md1 = dnnl_compat::plain(padded(ctx.shape(v), y.size()));
    steps.push_back({dnnl::binary(dnnl_compat::binary_add(ctx.engine(), md0, md1, y_md)),
                     {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, ctx.view(v, md1)}, {DNNL_ARG_DST, out}}});
  };
  if (padded(ctx.shape(first), y.size()) == y) return add(ctx.view(first, y_md), y_md, second);
  // Both broadcast ((3,1) + (1,4)): Y = (0 + A) + B.
  add(ctx.constant(y_md, 0.f), y_md, first);
  add(out, y_md, second);
}

// Y[i] = A[a(i)] + B[b(i)], a(i) and b(i) the index i broadcast back to A's and B's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const std::vector<int64_t> a_at = broadcast_offsets(in[0]->shape, out[0].shape);
  const std::vector<int64_t> b_at = broadcast_offsets(in[1]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = in[0]->data[a_at[e]] + in[1]->data[b_at[e]];
}

// Y = A + B; dA = dY summed to A's shape, dB = dY summed to B's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  for (size_t k = 0; k < 2; ++k)
    if (b.needs(n, k)) b.set_dX(n, k, b.emit("ReduceToShape", {dY, n.inputs[k]}));
}

}  // namespace

extern const OpDef kAdd{
    .type = "Add",
    .versions = {1, 6, 7, 13, 14},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // Before 7 only B broadcasts, to A, and only with broadcast = 1; from 7 numpy broadcasting, both ways.
    .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}},
              {.opset = 6, .shapes = {{3, 5}, {5}}, .attrs = {{"broadcast", attr(1)}}},
              {.opset = 7, .shapes = {{3, 1}, {1, 5}}},
              {.opset = 13, .shapes = {{2, 3, 4}, {3, 1}}},
              {.opset = 14, .shapes = {{1}, {2, 7}}}}};

}  // namespace onnxtrain::ops
