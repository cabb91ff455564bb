// Clip: Y = min(max(X, min), max), elementwise (so Y = max everywhere when min > max, as numpy's clip). Before
// opset 11 the bounds are the attributes min and max; from 11 they are the optional scalar inputs 1 and 2, read
// when the step runs, so a constant, a fed input and a trainable parameter are alike (absent: no bound). Float32
// through oneDNN (eltwise clip for attribute bounds, binary max/min for input bounds); the other dtypes (float16
// and double from 1, integers from 12, bfloat16 from 13) through a host loop, which only selects, and do not train.
// The gradient is PyTorch's hardtanh's: dX = dY where min < X < max, 0 at the bounds; a bound that trains gets
// torch.clamp's: dmin = sum(dY where X < min and min < max), dmax = sum(dY where X > max or max < min).
#include <cfloat>
#include <cstdint>
#include <cstring>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

namespace dc = dnnl_compat;

// The attribute bounds before opset 11, with ONNX's defaults: numeric_limits<float>::lowest() and max().
float attr_min(const ir::Node& n) { return n.attr_f("min", -FLT_MAX); }
float attr_max(const ir::Node& n) { return n.attr_f("max", FLT_MAX); }
bool bounds_are_inputs(const ir::Node& n) { return n.version >= 11; }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input X is required");
  const size_t most = bounds_are_inputs(n) ? 3 : 1;
  if (n.inputs.size() > most)
    g.fail(n, "expected at most " + std::to_string(most) + " input" + (most > 1 ? "s" : "") + " at opset " +
                  std::to_string(g.opset) + ", found " + std::to_string(n.inputs.size()) +
                  (most == 1 ? " (min and max are attributes before opset 11)" : ""));
  if (bounds_are_inputs(n) && (n.has("min") || n.has("max")))
    g.fail(n, "min and max are inputs from opset 11, not attributes");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

// X: any shape; min, max: one element each (a scalar); Y: X's shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  for (size_t k = 1; k < 3 && k < in.size(); ++k) {
    if (n.input(k) < 0) continue;
    int64_t count = 1;
    for (int64_t d : in[k]) count *= d;
    if (count < 0) continue;  // unknown until data arrives
    if (count != 1 || in[k].size() > std::max<size_t>(in[0].size(), 1))
      g.fail(n, std::string(k == 1 ? "min" : "max") + " must be a scalar, found shape " + ir::shape_str(in[k]));
  }
  return {in[0]};
}

// The dtypes of X, min, max and Y (all one) by opset: float16, float32, float64 from 1; the integers from 12;
// bfloat16 from 13. Before 11 only float32 and float64, whose attribute bounds are floats.
void types(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  const DType d = x.dtype;
  const bool fp = d == DType::Float32 || d == DType::Float64 || d == DType::Float16;
  const int since = !x.tensor || d == DType::Bool ? 0 : fp ? 1 : d == DType::BFloat16 ? 13 : 12;
  if (since == 0) g.fail(n, "input '" + x.name + "' is " + g.type_of(n.inputs[0]) + "; Clip takes numeric tensors");
  if (n.version < since)
    g.fail(n, "input '" + x.name + "' is " + dtype_name(d) + ", which Clip takes from opset " + std::to_string(since) +
                  " (this is opset " + std::to_string(g.opset) + ")");
  if (!bounds_are_inputs(n) && d == DType::Float16)
    g.fail(n, "input '" + x.name + "' is float16: onnxtrain clips float16 from opset 11, where the bounds are inputs");
  for (size_t k = 1; k < 3; ++k)
    if (n.input(k) >= 0 && g.values[n.inputs[k]].dtype != d)
      g.fail(n, std::string(k == 1 ? "min '" : "max '") + g.values[n.inputs[k]].name + "' is " +
                    g.type_of(n.inputs[k]) + " but X '" + x.name + "' is " + dtype_name(d));
  g.values[n.outputs[0]].dtype = d;
}

// The order of float16 and bfloat16 values as integers: sign-magnitude bits to a signed key (-0 and +0 equal).
int32_t half_key(uint16_t h) { return h & 0x8000u ? -int32_t(h & 0x7fffu) : int32_t(h); }

// Y[i] = min(max(X[i], lo), hi) for the bounds given (nullptr: none); NaN stays NaN. less(a, b): a < b.
template <typename T, typename Less>
void clip_loop(const T* x, T* y, size_t count, const T* lo, const T* hi, Less less) {
  for (size_t i = 0; i < count; ++i) {
    T v = x[i];
    if (lo && less(v, *lo)) v = *lo;
    if (hi && less(*hi, v)) v = *hi;
    y[i] = v;
  }
}

// Dtypes other than float32: the bounds read from their buffers when the step runs (attributes before 11).
void typed_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  auto bytes_of = [&](int v) {
    int64_t count = static_cast<int64_t>(dtype_size(d));
    for (int64_t s : ctx.shape(v)) count *= s;
    return ctx.view(v, dc::bytes(count));
  };
  size_t count = 1;
  for (int64_t s : ctx.shape(n.inputs[0])) count *= static_cast<size_t>(s);
  dnnl::memory x = bytes_of(n.inputs[0]), y = bytes_of(n.outputs[0]);
  const bool inputs = bounds_are_inputs(n);
  dnnl::memory lo = inputs && n.input(1) >= 0 ? bytes_of(n.inputs[1]) : dnnl::memory();
  dnnl::memory hi = inputs && n.input(2) >= 0 ? bytes_of(n.inputs[2]) : dnnl::memory();
  const double attr_lo = attr_min(n), attr_hi = attr_max(n);  // float64 before 11
  Step s;
  s.host = [=]() {
    const void* X = x.get_data_handle();
    void* Y = y.get_data_handle();
    const void* L = lo ? lo.get_data_handle() : nullptr;
    const void* H = hi ? hi.get_data_handle() : nullptr;
    auto plain = [&](auto zero) {
      using T = decltype(zero);
      clip_loop<T>(static_cast<const T*>(X), static_cast<T*>(Y), count, static_cast<const T*>(L),
                   static_cast<const T*>(H), [](T a, T b) { return a < b; });
    };
    auto half = [&](uint16_t nan_above) {
      clip_loop<uint16_t>(static_cast<const uint16_t*>(X), static_cast<uint16_t*>(Y), count,
                          static_cast<const uint16_t*>(L), static_cast<const uint16_t*>(H),
                          [nan_above](uint16_t a, uint16_t b) {
                            if ((a & 0x7fffu) > nan_above || (b & 0x7fffu) > nan_above) return false;
                            return half_key(a) < half_key(b);
                          });
    };
    switch (d) {
      case DType::Float64:
        if (!inputs)
          return clip_loop<double>(static_cast<const double*>(X), static_cast<double*>(Y), count, &attr_lo, &attr_hi,
                                   [](double a, double b) { return a < b; });
        return plain(double{});
      case DType::Int64: return plain(int64_t{});
      case DType::Int32: return plain(int32_t{});
      case DType::Int16: return plain(int16_t{});
      case DType::Int8: return plain(int8_t{});
      case DType::UInt64: return plain(uint64_t{});
      case DType::UInt32: return plain(uint32_t{});
      case DType::UInt16: return plain(uint16_t{});
      case DType::UInt8: return plain(uint8_t{});
      case DType::Float16: return half(0x7c00u);
      case DType::BFloat16: return half(0x7f80u);
      case DType::Float32:
      case DType::Bool: return;  // oneDNN's; refused by types
    }
  };
  steps.push_back(std::move(s));
}

// A bound's desc: one element, of X's rank, so that oneDNN's binary broadcasts it.
dnnl::memory::desc bound_md(const Shape& x) { return dc::plain(Shape(std::max<size_t>(x.size(), 1), 1)); }

// X: any shape; min, max: scalars; Y: X's shape.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  if (ctx.graph().values[n.outputs[0]].dtype != DType::Float32) return typed_forward(ctx, n, steps);
  const Shape& x = ctx.shape(n.inputs[0]);
  auto md = dc::plain(x);
  dnnl::memory X = ctx.view(n.inputs[0], md), Y = ctx.view(n.outputs[0], md);
  if (!bounds_are_inputs(n)) {
    // oneDNN refuses alpha > beta; numpy's answer there is max everywhere, which clip(max, max) gives.
    const float hi = attr_max(n), lo = std::min(attr_min(n), hi);
    steps.push_back({dnnl::eltwise_forward(dc::activation(ctx.engine(), md, dc::Activation::Clip, lo, hi, false)),
                     {{DNNL_ARG_SRC, X}, {DNNL_ARG_DST, Y}}});
    return;
  }
  const int lo = n.input(1), hi = n.input(2);
  if (lo < 0 && hi < 0) return copy_step(ctx, n.inputs[0], n.outputs[0], steps);
  auto b = bound_md(x);
  if (lo >= 0 && hi >= 0) {  // Y = min(max(X, min), max): a binary max with a binary min post-op
    steps.push_back({dnnl::binary(dc::binary(ctx.engine(), dc::BinaryOp::Max, md, b, md, {{dc::BinaryOp::Min, b}})),
                     {{DNNL_ARG_SRC_0, X},
                      {DNNL_ARG_SRC_1, ctx.view(lo, b)},
                      {dc::binary_post_arg(0), ctx.view(hi, b)},
                      {DNNL_ARG_DST, Y}}});
    return;
  }
  steps.push_back({dnnl::binary(dc::binary(ctx.engine(), lo >= 0 ? dc::BinaryOp::Max : dc::BinaryOp::Min, md, b, md)),
                   {{DNNL_ARG_SRC_0, X}, {DNNL_ARG_SRC_1, ctx.view(lo >= 0 ? lo : hi, b)}, {DNNL_ARG_DST, Y}}});
}

// Y = min(max(X, min), max), the bounds from the inputs (from 11; absent: none) or the attributes.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const bool inputs = bounds_are_inputs(n);
  const RefTensor* lo = inputs && in.size() > 1 ? in[1] : nullptr;
  const RefTensor* hi = inputs && in.size() > 2 ? in[2] : nullptr;
  for (size_t e = 0; e < out[0].data.size(); ++e) {
    double v = in[0]->data[e];
    if (!inputs) v = std::min(std::max(v, double(attr_min(n))), double(attr_max(n)));
    if (lo) v = std::max(v, lo->data[0]);
    if (hi) v = std::min(v, hi->data[0]);
    out[0].data[e] = v;
  }
}

// Y = min(max(X, min), max); dX = dY where min < X < max (0 at the bounds, as torch's hardtanh); dmin = sum(dY where
// X < min and min < max); dmax = sum(dY where X > max or max < min) (torch.clamp's, whose tensor bounds train).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const bool inputs = bounds_are_inputs(n);
  std::vector<int> in = {dY, n.inputs[0], inputs ? n.input(1) : -1, inputs ? n.input(2) : -1};
  auto grad = [&](int64_t wrt) {
    std::map<std::string, ir::Attr> attrs = {{"wrt", ir::Attr::of(wrt)}};
    if (!inputs) {
      const float hi = attr_max(n);
      attrs["min"] = ir::Attr::of(std::min(attr_min(n), hi));
      attrs["max"] = ir::Attr::of(hi);
    }
    return b.emit("ClipGrad", in, attrs);
  };
  if (b.needs(n, 0)) b.set_dX(n, 0, grad(0));
  for (size_t k = 1; k < 3 && inputs; ++k)
    if (n.input(k) >= 0 && b.needs(n, k))
      b.set_dX(n, k, b.emit("ReduceToShape", {grad(static_cast<int64_t>(k)), n.inputs[k]}));
}

// ClipGrad(dY, X[, min, max]) -> wrt = 0: dX = dY where min < X < max; 1: dY where X < min and min < max; 2: dY where
// X > max or max < min (the last two summed to the bound's shape by a ReduceToShape after). Bounds from the inputs,
// or, without inputs, the attributes min <= max. dY, X: any shape; min, max: scalars; out: dY's shape.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  using dc::BinaryOp;
  const Shape& x = ctx.shape(n.inputs[1]);
  auto md = dc::plain(x), b = bound_md(x);
  dnnl::memory dY = ctx.view(n.inputs[0], md), X = ctx.view(n.inputs[1], md), out = ctx.view(n.outputs[0], md);
  const int lo = n.input(2), hi = n.input(3);
  const int64_t wrt = n.attr_i("wrt", 0);
  auto push = [&](BinaryOp op, dnnl::memory src0, const dnnl::memory::desc& md0, dnnl::memory src1,
                  std::vector<std::pair<BinaryOp, dnnl::memory>> post, dnnl::memory dst) {
    std::vector<std::pair<BinaryOp, dnnl::memory::desc>> post_md;
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}};
    for (size_t k = 0; k < post.size(); ++k) {
      post_md.emplace_back(post[k].first, post[k].second.get_desc());
      args[dc::binary_post_arg(static_cast<int>(k))] = post[k].second;
    }
    steps.push_back({dnnl::binary(dc::binary(ctx.engine(), op, md0, b, md0, post_md)), std::move(args)});
  };
  if (wrt == 0) {
    if (lo < 0 && hi < 0) {  // attribute bounds (before 11), or none
      const float alpha = n.attr_f("min", -FLT_MAX), beta = n.attr_f("max", FLT_MAX);
      steps.push_back(
          {dnnl::eltwise_backward(dc::activation_backward(ctx.engine(), md, dc::Activation::Clip, alpha, beta)),
           {{DNNL_ARG_DIFF_DST, dY}, {DNNL_ARG_SRC, X}, {DNNL_ARG_DIFF_SRC, out}}});
      return;
    }
    if (lo >= 0 && hi >= 0) {  // m = (X > min) * dY; dX = (X < max) * m
      dnnl::memory m = ctx.scratch(md);
      push(BinaryOp::Gt, X, md, ctx.view(lo, b), {{BinaryOp::Mul, dY}}, m);
      push(BinaryOp::Lt, X, md, ctx.view(hi, b), {{BinaryOp::Mul, m}}, out);
      return;
    }
    push(lo >= 0 ? BinaryOp::Gt : BinaryOp::Lt, X, md, ctx.view(lo >= 0 ? lo : hi, b), {{BinaryOp::Mul, dY}}, out);
    return;
  }
  const int self = wrt == 1 ? lo : hi, other = wrt == 1 ? hi : lo;
  const BinaryOp beyond = wrt == 1 ? BinaryOp::Lt : BinaryOp::Gt;  // X < min, X > max
  if (other < 0) return push(beyond, X, md, ctx.view(self, b), {{BinaryOp::Mul, dY}}, out);
  // c = (min < max) for dmin, (max < min) for dmax: a scalar, then out = (X beyond the bound) * c * dY for dmin,
  // max(X > max, c) * dY for dmax.
  dnnl::memory c = ctx.scratch(b);
  steps.push_back({dnnl::binary(dc::binary(ctx.engine(), BinaryOp::Lt, b, b, b)),
                   {{DNNL_ARG_SRC_0, ctx.view(wrt == 1 ? lo : hi, b)},
                    {DNNL_ARG_SRC_1, ctx.view(wrt == 1 ? hi : lo, b)},
                    {DNNL_ARG_DST, c}}});
  push(beyond, X, md, ctx.view(self, b), {{wrt == 1 ? BinaryOp::Mul : BinaryOp::Max, c}, {BinaryOp::Mul, dY}}, out);
}

}  // namespace

// Clip-1's consumed_inputs is a legacy hint about buffer reuse that changes no value: accepted and ignored.
extern const OpDef kClip{
    .type = "Clip",
    .versions = {1, 6, 11, 12, 13},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // Attribute bounds before 11 (both, one, the defaults); input bounds from 11 (both, min alone, none), which the
    // tests make trainable parameters.
    .cases = {{.opset = 1, .shapes = {{3, 5}}, .attrs = {{"min", attr(-0.5f)}, {"max", attr(0.7f)}}},
              {.opset = 6, .shapes = {{2, 7, 3}}, .attrs = {{"min", attr(-1.f)}}},
              {.opset = 6, .shapes = {{2, 7, 3}}},
              {.opset = 6, .shapes = {{3, 5}}, .attrs = {{"min", attr(0.5f)}, {"max", attr(-0.5f)}}},
              {.opset = 11, .shapes = {{3, 5}, {}, {}}},
              {.opset = 11, .shapes = {{13}, {}}},
              {.opset = 12, .shapes = {{2, 7, 3}, {}, {}}},
              {.opset = 13, .shapes = {{4, 1, 3}, {1}, {1}}},
              {.opset = 13, .shapes = {{13}}}}};
extern const OpDef kClipGrad{.type = "ClipGrad",
                             .versions = {1},
                             .check = no_check,
                             .infer = same_as_first,
                             .forward = grad_forward,
                             .internal = true};

}  // namespace onnxtrain::ops
