// Pow: Y = X ^ E elementwise, with numpy broadcasting from opset 7 (before it, E broadcasts to X only with
// broadcast = 1). From opset 12 the exponent may have another dtype than the base (integers of any width, floats), and
// Y has the base's. The forward kernels (oneDNN eltwise_pow for a float32 base raised to a constant scalar, host loops
// with numpy's semantics otherwise), its double reference and the gradient rule with its backward kernel PowGrad,
// whose values at X = 0 and E = 0 follow PyTorch's pow_backward. Only float32 trains.
#include <cmath>
#include <limits>
#include <type_traits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// The storage of a float16 and a bfloat16 element, as tags for the typed loops.
struct Half {
  uint16_t bits;
};
struct BF16 {
  uint16_t bits;
};

template <typename T>
double to_double(T v) {
  if constexpr (std::is_same_v<T, Half>) {
    return half_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, BF16>) {
    return bf16_to_float(v.bits);
  } else {
    return static_cast<double>(v);
  }
}

// A result back in the base's dtype: floats rounded to nearest; integers truncated toward zero, as numpy's astype
// does, and out of range or NaN giving the integer's minimum, as x86's conversion (numpy's) does.
template <typename T>
T from_double(double r) {
  if constexpr (std::is_same_v<T, Half>) {
    return Half{float_to_half(static_cast<float>(r))};
  } else if constexpr (std::is_same_v<T, BF16>) {
    return BF16{float_to_bf16(static_cast<float>(r))};
  } else if constexpr (std::is_integral_v<T>) {
    const double t = std::trunc(r);
    if (!(t >= static_cast<double>(std::numeric_limits<T>::min()) &&
          t < -2.0 * static_cast<double>(std::numeric_limits<T>::min())))
      return std::numeric_limits<T>::min();
    return static_cast<T>(t);
  } else {
    return static_cast<T>(r);
  }
}

// An integer base to an integer exponent, as numpy's: repeated squaring that wraps around (on uint64_t). A negative
// exponent, which numpy refuses, gives what onnxruntime's truncated std::pow does: 1 / x^-e toward zero.
template <typename T, typename E>
T int_pow(T x, E e) {
  if constexpr (std::is_signed_v<E>) {
    if (e < 0) {
      if (x == 1) return T{1};
      if constexpr (std::is_signed_v<T>)
        if (x == -1) return e % 2 ? x : T{1};
      return T{0};
    }
  }
  uint64_t base = static_cast<uint64_t>(x), r = 1, k = static_cast<uint64_t>(e);
  for (; k; k >>= 1, base *= base)
    if (k & 1) r *= base;
  return static_cast<T>(r);
}

// X ^ E for a base of type T and an exponent of type E. Floats compute in float where numpy does (both at most
// 32-bit floats or narrow integers) and in double where it promotes to float64.
template <typename T, typename E>
T power(T x, E e) {
  if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
    return int_pow(x, e);
  } else {
    constexpr bool wide = std::is_same_v<T, double> || std::is_same_v<E, double> ||
                          (std::is_integral_v<E> && sizeof(E) >= 4) || std::is_integral_v<T>;
    if constexpr (wide) {
      return from_double<T>(std::pow(to_double(x), to_double(e)));
    } else {
      return from_double<T>(std::pow(static_cast<float>(to_double(x)), static_cast<float>(to_double(e))));
    }
  }
}

// Calls f with a value of the C++ type that stores an element of d: a base's dtype (float or int32/int64), or with
// exponent, any numeric one.
template <class F>
void with_type(DType d, bool exponent, F&& f) {
  if (!exponent && d != DType::Int32 && d != DType::Int64 && d != DType::Float64 && d != DType::Float32 &&
      d != DType::Float16 && d != DType::BFloat16)
    return;  // refused by types
  switch (d) {
    case DType::Int64: return f(int64_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int16: return f(int16_t{});
    case DType::Int8: return f(int8_t{});
    case DType::UInt64: return f(uint64_t{});
    case DType::UInt32: return f(uint32_t{});
    case DType::UInt16: return f(uint16_t{});
    case DType::UInt8: return f(uint8_t{});
    case DType::Float64: return f(double{});
    case DType::Float32: return f(float{});
    case DType::Float16: return f(Half{});
    case DType::BFloat16: return f(BF16{});
    case DType::Bool: return;  // refused by types
  }
}

// The dtypes: X and E one of float16, float32, float64 before opset 12; from 12 X float16, float32, float64, int32 or
// int64 (bfloat16 from 13) and E any numeric dtype (bfloat16 from 15). Y: X's dtype.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0)
    return;  // check's
  const ir::Value &x = g.values[n.inputs[0]], &e = g.values[n.inputs[1]];
  auto since = [&](const ir::Value& v, bool base) {
    const DType d = v.dtype;
    if (!v.tensor || d == DType::Bool) return 0;
    if (d == DType::Float32 || d == DType::Float16 || d == DType::Float64) return 1;
    if (d == DType::BFloat16) return base ? 13 : 15;
    if (d == DType::Int32 || d == DType::Int64) return 12;
    return base ? 0 : 12;
  };
  for (const ir::Value* v : {&x, &e}) {
    const int s = since(*v, v == &x);
    if (s == 0)
      g.fail(n, "input '" + v->name + "' is " + g.type_of(g.find(v->name)) + "; Pow takes " +
                    (v == &x ? "float and int32/int64 bases" : "numeric exponents"));
    if (n.version < s)
      g.fail(n, "input '" + v->name + "' is " + dtype_name(v->dtype) + ", which Pow takes " +
                    (v == &x ? "as a base" : "as an exponent") + " from opset " + std::to_string(s) +
                    " (this is opset " + std::to_string(g.opset) + ")");
  }
  if (n.version < 12 && x.dtype != e.dtype)
    g.fail(n, "X '" + x.name + "' is " + dtype_name(x.dtype) + " but Y '" + e.name + "' is " + dtype_name(e.dtype) +
                  "; the exponent may differ in type from opset 12");
  g.values[n.outputs[0]].dtype = x.dtype;
}

// The exponent's value where it is a float32 Constant scalar (x ** 2 as PyTorch exports it): oneDNN's eltwise then
// computes the power.
bool constant_scalar(const ir::Graph& g, int v, float& e) {
  const ir::Value& val = g.values[v];
  if (val.kind != ir::ValueKind::Constant || val.dtype != DType::Float32) return false;
  int64_t count = 1;
  for (int64_t d : val.shape) count *= d;
  if (count != 1) return false;
  e = g.param(v)[0];
  return true;
}

// X, E: shapes that broadcast to Y.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const DType dx = g.values[n.inputs[0]].dtype, de = g.values[n.inputs[1]].dtype;
  float e = 0;
  if (dx == DType::Float32 && constant_scalar(g, n.inputs[1], e)) {  // Y = 1 * X^e, X of Y's shape
    auto md = dnnl_compat::plain(ctx.shape(n.outputs[0]));
    steps.push_back({dnnl::eltwise_forward(dnnl_compat::pow(ctx.engine(), md, 1.f, e)),
                     {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
    return;
  }
  BroadcastLoop loop;
  with_type(dx, false, [&](auto x0) {
    with_type(de, true, [&](auto e0) {
      using T = decltype(x0);
      using E = decltype(e0);
      loop = [](const void* a, const void* b, void* y, const std::vector<int64_t>& a_at,
                const std::vector<int64_t>& b_at) {
        broadcast_loop<T, E, T>(a, b, y, a_at, b_at, [](T p, E q) { return power(p, q); });
      };
    });
  });
  broadcast_host_step(ctx, n, steps, loop);
}

// Y[i] = X[a(i)] ^ E[b(i)], a(i) and b(i) the index i broadcast back to X's and E's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  binary_reference(in, out, [](double x, double e) { return std::pow(x, e); });
}

// Y = X^E; dX = dY * E * X^(E-1), 0 where E = 0; dE = dY * Y * log(X), 0 where X = 0 and E >= 0 (PyTorch's
// pow_backward_self and pow_backward_exponent). Each computed at Y's shape (PowGrad), then summed to its input's.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const std::vector<int> in = {dY, n.inputs[0], n.inputs[1], n.outputs[0]};
  for (int k = 0; k < 2; ++k)
    if (b.needs(n, k))
      b.set_dX(n, k, b.emit("ReduceToShape", {b.emit("PowGrad", in, {{"wrt", ir::Attr::of(k)}}), n.inputs[k]}));
}

// PowGrad(dY, X, E, Y) -> dX or dE at Y's shape (wrt 0 or 1), as gradient() writes them. All float32.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[0]}; }

// dX for a constant scalar e: dY * (e * X^(e-1)) through oneDNN (eltwise_pow, binary mul), 0 for e = 0. Else a host
// loop over Y's index: oneDNN has no binary pow, nor a select for the E = 0 and X = 0 cases.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Graph& g = ctx.graph();
  const bool wrt_exponent = n.attr_i("wrt", 0) == 1;
  const Shape& ys = ctx.shape(n.inputs[0]);
  auto md = dnnl_compat::plain(ys);
  dnnl::memory out = ctx.view(n.outputs[0], md);
  float e = 0;
  if (!wrt_exponent && constant_scalar(g, n.inputs[2], e)) {
    if (e == 0.f) {
      steps.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), md, md)),
                       {{DNNL_ARG_SRC, ctx.constant(md, 0.f)}, {DNNL_ARG_DST, out}}});
      return;
    }
    dnnl::memory t = ctx.scratch(md);
    steps.push_back({dnnl::eltwise_forward(dnnl_compat::pow(ctx.engine(), md, e, e - 1.f)),
                     {{DNNL_ARG_SRC, ctx.view(n.inputs[1], md)}, {DNNL_ARG_DST, t}}});
    steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), dnnl_compat::Binary::Mul, md, md, md)),
                     {{DNNL_ARG_SRC_0, ctx.view(n.inputs[0], md)}, {DNNL_ARG_SRC_1, t}, {DNNL_ARG_DST, out}}});
    return;
  }
  auto view = [&](int v) {
    int64_t count = static_cast<int64_t>(dtype_size(g.values[v].dtype));
    for (int64_t d : ctx.shape(v)) count *= d;
    return ctx.view(v, dnnl_compat::bytes(count));
  };
  dnnl::memory dy = view(n.inputs[0]), x = view(n.inputs[1]), ex = view(n.inputs[2]), y = view(n.inputs[3]);
  // An exponent of another dtype (opset 12 on) is read as float; only dX flows then, E being no float32 to train.
  const DType de = g.values[n.inputs[2]].dtype;
  std::function<float(const void*, int64_t)> exponent = [](const void* p, int64_t i) {
    return static_cast<const float*>(p)[i];
  };
  if (de != DType::Float32)
    with_type(de, true, [&](auto zero) {
      using E = decltype(zero);
      exponent = [](const void* p, int64_t i) { return static_cast<float>(to_double(static_cast<const E*>(p)[i])); };
    });
  const std::vector<int64_t> x_at = broadcast_offsets(ctx.shape(n.inputs[1]), ys);
  const std::vector<int64_t> e_at = broadcast_offsets(ctx.shape(n.inputs[2]), ys);
  Step s;
  s.host = [=]() {
    const float *dY = static_cast<const float*>(dy.get_data_handle()),
                *X = static_cast<const float*>(x.get_data_handle());
    const void* E = ex.get_data_handle();
    const float* Y = static_cast<const float*>(y.get_data_handle());
    float* d = static_cast<float*>(out.get_data_handle());
    for (size_t i = 0; i < x_at.size(); ++i) {
      const float a = X[x_at[i]], p = exponent(E, e_at[i]);
      if (wrt_exponent)
        d[i] = a == 0.f && p >= 0.f ? 0.f : dY[i] * (Y[i] * std::log(a));
      else
        d[i] = p == 0.f ? 0.f : dY[i] * (p * std::pow(a, p - 1.f));
    }
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kPow{
    .type = "Pow",
    .versions = {1, 7, 12, 13, 15},
    .check = check_binary,
    .infer = binary_infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // Bases drawn positive, where X^E is real for every E. Before 7 E broadcasts to X only with broadcast = 1.
    .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}, .positive = true},
              {.opset = 1, .shapes = {{3, 5}, {5}}, .attrs = {{"broadcast", attr(1)}}, .positive = true},
              {.opset = 7, .shapes = {{3, 1}, {1, 5}}, .positive = true},
              {.opset = 12, .shapes = {{2, 3, 4}, {3, 1}}, .positive = true},
              {.opset = 13, .shapes = {{1}, {2, 7}}, .positive = true},
              {.opset = 15, .shapes = {{7}, {3, 2, 7}}, .positive = true}}};
extern const OpDef kPowGrad{.type = "PowGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = grad_infer,
                            .forward = grad_forward,
                            .internal = true};

}  // namespace onnxtrain::ops
