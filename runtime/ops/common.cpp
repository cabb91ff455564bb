// Helpers the op files share: arity checks, shape rules (unary, broadcasting, softmax axes), copies, the elementwise
// kernels whose gradient oneDNN computes from the output, the references' broadcasting, and the arithmetic ops'
// checks, dtypes, kernels and folding, with the float16 and bfloat16 conversions. No op is defined here.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {

void check_unary(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, found " + std::to_string(n.inputs.size()));
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void no_check(const ir::Graph&, const ir::Node&) {}

dnnl::memory::desc elementwise_layout(CompileCtx& ctx, const std::vector<int>& inputs, int out) {
  if (ctx.may_block(out))
    for (int v : inputs)
      if (const dnnl::memory::desc* md = v >= 0 ? ctx.layout(v) : nullptr; md && ctx.shape(v) == ctx.shape(out)) {
        ctx.set_layout(out, *md);
        return *md;
      }
  return dnnl_compat::plain(ctx.shape(out));
}

dnnl::memory written(CompileCtx& ctx, int out, const dnnl::memory::desc& md, std::vector<Step>& after) {
  const dnnl::memory::desc* stored = ctx.layout(out);
  const dnnl::memory::desc own = stored ? *stored : dnnl_compat::plain_like(md);
  if (own == md) return ctx.view(out, md);
  dnnl::memory tmp = ctx.scratch(md);
  after.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), md, own)),
                   {{DNNL_ARG_SRC, tmp}, {DNNL_ARG_DST, ctx.view(out, own)}}});
  return tmp;
}

void copy_step(CompileCtx& ctx, int from, int to, std::vector<Step>& steps) {
  if (const dnnl::memory::desc* md = ctx.layout(from)) {  // the reorder back to row-major is the copy
    const auto plain = dnnl_compat::plain(ctx.shape(from));
    steps.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), *md, plain)),
                     {{DNNL_ARG_SRC, ctx.view(from, *md)}, {DNNL_ARG_DST, ctx.view(to, plain)}}});
    return;
  }
  int64_t n = static_cast<int64_t>(dtype_size(ctx.graph().values[from].dtype));
  for (int64_t d : ctx.shape(from)) n *= d;
  auto md = dnnl_compat::bytes(n);  // bytes, whatever the dtype
  steps.push_back({dnnl::reorder(dnnl_compat::reorder(ctx.engine(), md, md)),
                   {{DNNL_ARG_SRC, ctx.view(from, md)}, {DNNL_ARG_DST, ctx.view(to, md)}}});
}

AxesArg axes_arg(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  AxesArg a;
  if (n.version < 13) {
    auto it = n.attrs.find("axes");
    a.given = it != n.attrs.end();
    if (a.given) a.axes = it->second.ints;
    return a;
  }
  a.given = n.input(1) >= 0;
  if (!a.given) return a;
  // A fed input (or a shape chain): known once its values are bound, when a plan is made.
  const std::vector<int64_t>* values = in.ints(1);
  a.known = values != nullptr;
  if (a.known) a.axes = *values;
  return a;
}

std::vector<int64_t> normalize_axes(const ir::Graph& g, const ir::Node& n, std::vector<int64_t> axes, size_t rank,
                                    const char* what) {
  const int64_t r = static_cast<int64_t>(rank);
  for (int64_t& a : axes) {
    if (a < -r || a >= r)
      g.fail(n, "axis " + std::to_string(a) + " is out of range for " + what + " of rank " + std::to_string(rank));
    if (a < 0) a += r;
  }
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    g.fail(n, "axes " + ir::shape_str(axes) + " name an axis more than once");
  return axes;
}

void tensor_type_of_first(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check refuses it
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor) g.fail(n, "input '" + x.name + "' is " + x.type_name + "; " + n.op_type + " takes tensors");
  ir::Value& y = g.values[n.outputs[0]];
  y.dtype = x.dtype;
  y.tensor = true;
  y.type_name = x.type_name;
}

void shape_only_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  copy_step(ctx, n.inputs[0], n.outputs[0], steps);
}

// Y = X's elements in row-major order, in the shape infer gave out[0].
void shape_only_reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
                          std::vector<RefTensor>& out) {
  out[0].data = in[0]->data;
}

// Y = X in another shape; dX = dY reshaped to X's shape.
bool shape_only_fold(const ir::Graph&, const ir::Node&, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  if (!in.ints(0)) return false;
  out[0] = *in.ints(0);
  return true;
}

void shape_only_gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReshapeLike", {dY, n.inputs[0]}));
}

std::vector<Shape> same_as_first(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[0]}; }

int normalize_axis(const ir::Graph& g, const ir::Node& n, int64_t axis, size_t rank) {
  int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= std::max<int64_t>(r, 1))
    g.fail(n, "axis " + std::to_string(axis) + " is out of range for an input of rank " + std::to_string(rank));
  return static_cast<int>(axis < 0 ? axis + r : axis);
}

Shape broadcast(const ir::Graph& g, const ir::Node& n, const Shape& a, const Shape& b, size_t trailing) {
  const size_t r = std::max(a.size(), b.size());
  Shape y(r);
  for (size_t i = 0; i + trailing < r; ++i) {
    int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1, db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    if (da != 1 && db != 1 && da != ir::kUnknown && db != ir::kUnknown && da != db)
      g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " do not broadcast");
    y[i] = da == 1 ? db : da;
  }
  return y;
}

Shape padded(Shape s, size_t rank) {
  while (s.size() < rank) s.insert(s.begin(), 1);
  return s;
}

// x: right-aligned to y (rank(x) <= rank(y)), each dim 1 or y's. Walks y's index (odometer) and x's offset with it.
std::vector<int64_t> broadcast_offsets(const Shape& x_in, const Shape& y) {
  const Shape x = padded(x_in, y.size());
  int64_t count = 1;
  for (int64_t d : y) count *= d;
  std::vector<int64_t> stride(x.size()), idx(y.size(), 0), out(static_cast<size_t>(count));
  for (int64_t i = static_cast<int64_t>(x.size()) - 1, s = 1; i >= 0; --i) stride[i] = x[i] == 1 ? 0 : s, s *= x[i];
  int64_t off = 0;
  for (int64_t e = 0; e < count; ++e) {
    out[static_cast<size_t>(e)] = off;
    for (size_t d = y.size(); d-- > 0;) {
      off += stride[d];
      if (++idx[d] < y[d]) break;
      off -= stride[d] * idx[d];
      idx[d] = 0;
    }
  }
  return out;
}

int64_t softmax_axis(const ir::Node& n) { return n.attr_i("axis", n.version < 13 ? 1 : -1); }

std::vector<Shape> softmax_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  if (in[0].empty()) g.fail(n, "input must have rank >= 1, found a scalar");
  normalize_axis(g, n, softmax_axis(n), in[0].size());
  return {in[0]};
}

// Before 13 the input is coerced to 2-D at axis (default 1); from 13 normalized along axis (default -1).
std::vector<OpCase> softmax_cases() {
  return {{.opset = 1, .shapes = {{2, 3, 4}}},
          {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(0)}}},
          {.opset = 1, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(2)}}},
          {.opset = 11, .shapes = {{3, 5}}},
          {.opset = 11, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(-1)}}},
          {.opset = 13, .shapes = {{2, 3, 4}}},
          {.opset = 13, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(0)}}},
          {.opset = 13, .shapes = {{2, 3, 4}}, .attrs = {{"axis", attr(-2)}}}};
}

void eltwise_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f, float alpha,
                     float beta) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_forward(dnnl_compat::eltwise(ctx.engine(), md, f, alpha, beta)),
                   {{DNNL_ARG_SRC, ctx.view(n.inputs[0], md)}, {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
}

void eltwise_backward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f, float alpha,
                      float beta, bool from_dst) {
  auto md = dnnl_compat::plain(ctx.shape(n.inputs[0]));
  steps.push_back({dnnl::eltwise_backward(dnnl_compat::eltwise_backward(ctx.engine(), md, f, alpha, beta, from_dst)),
                   {{DNNL_ARG_DIFF_DST, ctx.view(n.inputs[0], md)},
                    {from_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, ctx.view(n.inputs[1], md)},
                    {DNNL_ARG_DIFF_SRC, ctx.view(n.outputs[0], md)}}});
}

int64_t count_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::vector<int64_t> row_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  for (int64_t i = static_cast<int64_t>(s.size()) - 1, k = 1; i >= 0; --i) st[i] = k, k *= s[i];
  return st;
}

dnnl::memory bytes_view(CompileCtx& ctx, int v) {
  const int64_t n = count_of(ctx.shape(v)) * static_cast<int64_t>(dtype_size(ctx.graph().values[v].dtype));
  return ctx.view(v, dnnl_compat::bytes(std::max<int64_t>(n, 1)));
}

void gather_step(CompileCtx& ctx, int from, int to, std::vector<int64_t> at, std::vector<Step>& steps) {
  const size_t width = dtype_size(ctx.graph().values[from].dtype);
  dnnl::memory x = bytes_view(ctx, from), y = bytes_view(ctx, to);
  Step s;
  s.host = [x, y, width, at = std::move(at)]() {
    const auto* X = static_cast<const uint8_t*>(x.get_data_handle());
    auto* Y = static_cast<uint8_t*>(y.get_data_handle());
    if (width == 4) {  // float32 and int32, the common case, as whole words
      const auto* X4 = reinterpret_cast<const uint32_t*>(X);
      auto* Y4 = reinterpret_cast<uint32_t*>(Y);
      for (size_t e = 0; e < at.size(); ++e) Y4[e] = X4[at[e]];
      return;
    }
    for (size_t e = 0; e < at.size(); ++e) std::memcpy(Y + e * width, X + at[e] * width, width);
  };
  steps.push_back(std::move(s));
}

namespace {
float from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  return x;
}
}  // namespace

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0) {  // zero or subnormal: man * 2^-24
    const float f = std::ldexp(static_cast<float>(man), -24);
    return sign ? -f : f;
  }
  return from_bits(sign | (exp == 0x1f ? 0x7f800000u | (man << 13) : ((exp + 112) << 23) | (man << 13)));
}

uint16_t float_to_half(float f) {
  const uint32_t x = to_bits(f) & 0x7fffffffu;
  const uint16_t sign = static_cast<uint16_t>((to_bits(f) >> 16) & 0x8000u);
  if (x > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (x >= 0x47800000u) return sign | 0x7c00u;  // >= 2^16: infinity
  if (x < 0x38800000u)                          // below 2^-14: a subnormal half, m * 2^-24, m rounded to even
    return sign | static_cast<uint16_t>(std::nearbyint(std::fabs(f) * 16777216.f));
  const uint32_t r = x - 0x38000000u;  // the exponent rebiased from 127 to 15
  return sign | static_cast<uint16_t>((r + 0xfffu + ((r >> 13) & 1u)) >> 13);
}

float bf16_to_float(uint16_t h) { return from_bits(uint32_t(h) << 16); }

uint16_t float_to_bf16(float f) {
  const uint32_t x = to_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN stays NaN
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

void check_binary(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 2 || n.input(0) < 0 || n.input(1) < 0) g.fail(n, "expected inputs A and B");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 7 && n.has("axis")) g.fail(n, "broadcasting along an explicit axis (opset < 7) is not supported");
}

// A, B: shapes that broadcast; Y: the broadcast shape.
std::vector<Shape> binary_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape &a = in[0], &b = in[1];
  const bool legacy_exact = n.version < 7 && n.attr_i("broadcast", 0) == 0;
  if (legacy_exact && a != b)
    g.fail(n, "A " + ir::shape_str(a) + " and B " + ir::shape_str(b) + " differ and broadcast = 0");
  Shape y = broadcast(g, n, a, b);
  if (n.version < 7 && y != a)
    g.fail(n, "B " + ir::shape_str(b) + " must broadcast to A " + ir::shape_str(a) + " before opset 7");
  return {y};
}

void binary_types(ir::Graph& g, const ir::Node& n) {
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
      g.fail(n,
             "input '" + v->name + "' is " + g.type_of(g.find(v->name)) + "; " + n.op_type + " takes numeric tensors");
    if (n.version < since)
      g.fail(n, "input '" + v->name + "' is " + dtype_name(d) + ", which " + n.op_type + " takes from opset " +
                    std::to_string(since) + " (this is opset " + std::to_string(g.opset) + ")");
  }
  if (a.dtype != b.dtype)
    g.fail(n, "A '" + a.name + "' is " + dtype_name(a.dtype) + " but B '" + b.name + "' is " + dtype_name(b.dtype));
  g.values[n.outputs[0]].dtype = a.dtype;
}

// A, B: shapes that broadcast to Y. oneDNN's binary reads src0 at Y's full shape and broadcasts src1 only.
void binary_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Binary op) {
  using dnnl_compat::Binary;
  const Shape& y = ctx.shape(n.outputs[0]);
  const int a = n.inputs[0], b = n.inputs[1];
  if (ctx.shape(a) == y && ctx.shape(b) == y) {  // no broadcast: in the layout of an input stored blocked (a skip)
    const auto md = elementwise_layout(ctx, {a, b}, n.outputs[0]);
    steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), op, md, md, md)),
                     {{DNNL_ARG_SRC_0, ctx.input(a, md)},
                      {DNNL_ARG_SRC_1, ctx.input(b, md)},
                      {DNNL_ARG_DST, ctx.view(n.outputs[0], md)}}});
    return;
  }
  auto y_md = dnnl_compat::plain(y);
  dnnl::memory out = ctx.view(n.outputs[0], y_md);
  auto step = [&](Binary o, dnnl::memory src0, int v) {
    auto md1 = dnnl_compat::plain(padded(ctx.shape(v), y.size()));
    steps.push_back({dnnl::binary(dnnl_compat::binary(ctx.engine(), o, y_md, md1, y_md)),
                     {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, ctx.view(v, md1)}, {DNNL_ARG_DST, out}}});
  };
  if (padded(ctx.shape(a), y.size()) == y) return step(op, ctx.view(a, y_md), b);
  const bool commutes = op == Binary::Add || op == Binary::Mul;
  if (commutes && padded(ctx.shape(b), y.size()) == y) return step(op, ctx.view(b, y_md), a);
  // A broadcasts ((3,1) op (1,4), or (4) - (3,4)): Y = 0 + A, then Y = Y op B in place.
  step(Binary::Add, ctx.constant(y_md, 0.f), a);
  step(op, out, b);
}

void binary_reference(const std::vector<const RefTensor*>& in, std::vector<RefTensor>& out,
                      double (*f)(double, double)) {
  const std::vector<int64_t> a_at = broadcast_offsets(in[0]->shape, out[0].shape);
  const std::vector<int64_t> b_at = broadcast_offsets(in[1]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e) out[0].data[e] = f(in[0]->data[a_at[e]], in[1]->data[b_at[e]]);
}

void broadcast_host_step(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, BroadcastLoop loop) {
  const ir::Graph& g = ctx.graph();
  auto bytes_of = [&](int v) {
    int64_t count = static_cast<int64_t>(dtype_size(g.values[v].dtype));
    for (int64_t s : ctx.shape(v)) count *= s;
    return ctx.view(v, dnnl_compat::bytes(count));
  };
  dnnl::memory a = bytes_of(n.inputs[0]), b = bytes_of(n.inputs[1]), y = bytes_of(n.outputs[0]);
  const Shape& ys = ctx.shape(n.outputs[0]);
  const std::vector<int64_t> a_at = broadcast_offsets(ctx.shape(n.inputs[0]), ys);
  const std::vector<int64_t> b_at = broadcast_offsets(ctx.shape(n.inputs[1]), ys);
  Step s;
  s.host = [=]() { loop(a.get_data_handle(), b.get_data_handle(), y.get_data_handle(), a_at, b_at); };
  steps.push_back(std::move(s));
}

bool binary_fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out,
                 int64_t (*f)(int64_t, int64_t)) {
  const DType d = g.values[n.outputs[0]].dtype;
  if (d == DType::Float32 || d == DType::Float16 || d == DType::BFloat16 || d == DType::Float64 || d == DType::Bool)
    return false;
  const std::vector<int64_t>*a = in.ints(0), *b = in.ints(1);
  if (!a || !b) return false;
  const Shape y = broadcast(g, n, in[0], in[1]);
  if (std::find(y.begin(), y.end(), ir::kUnknown) != y.end()) return false;
  const std::vector<int64_t> a_at = broadcast_offsets(in[0], y), b_at = broadcast_offsets(in[1], y);
  out[0].resize(a_at.size());
  for (size_t i = 0; i < a_at.size(); ++i) out[0][i] = f((*a)[a_at[i]], (*b)[b_at[i]]);
  return true;
}

int reduction_axes_input_since(const ir::Node& n) { return n.op_type == "ReduceSum" ? 13 : 18; }

void check_reduction(const ir::Graph& g, const ir::Node& n) {
  const int since = reduction_axes_input_since(n);
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.version < since && n.inputs.size() > 1)
    g.fail(n, "axes is an attribute before opset " + std::to_string(since) + ", not an input");
  if (n.version >= since && n.has("axes"))
    g.fail(n, "axes is an input from opset " + std::to_string(since) + ", not an attribute");
  if (n.version < since && n.has("noop_with_empty_axes"))
    g.fail(n, "noop_with_empty_axes comes at opset " + std::to_string(since));
  if (n.inputs.size() > 2) g.fail(n, "expected at most 2 inputs, found " + std::to_string(n.inputs.size()));
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  const int64_t keep = n.attr_i("keepdims", 1), noop = n.attr_i("noop_with_empty_axes", 0);
  if (keep != 0 && keep != 1) g.fail(n, "keepdims must be 0 or 1, found " + std::to_string(keep));
  if (noop != 0 && noop != 1) g.fail(n, "noop_with_empty_axes must be 0 or 1, found " + std::to_string(noop));
}

ReducedAxes reduced_axes(const ir::Graph& g, const ir::Node& n, size_t rank, const std::vector<int64_t>* input) {
  ReducedAxes r;
  std::vector<int64_t> axes;
  if (n.version < reduction_axes_input_since(n)) {
    auto it = n.attrs.find("axes");
    if (it != n.attrs.end()) axes = it->second.ints;
  } else if (n.input(1) >= 0) {
    if (!input) {
      r.known = false;
      return r;
    }
    axes = *input;
  }
  if (axes.empty()) {
    if (n.attr_i("noop_with_empty_axes", 0) == 1) return r;  // Y = X
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  r.axes = normalize_axes(g, n, axes, rank, "the input");
  return r;
}

Shape kept_shape(const Shape& x, const std::vector<int64_t>& axes) {
  Shape k = x;
  for (int64_t a : axes) k[static_cast<size_t>(a)] = 1;
  return k;
}

// X: (d0, ..., dr-1); axes: (k) int64; Y: X's dims, those at the axes 1 (keepdims) or dropped.
std::vector<Shape> reduction_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const ReducedAxes r = reduced_axes(g, n, in[0].size(), in.ints(1));
  if (!r.known) return {};
  if (n.attr_i("keepdims", 1) == 1) return {kept_shape(in[0], r.axes)};
  Shape y;
  for (size_t i = 0; i < in[0].size(); ++i)
    if (!std::binary_search(r.axes.begin(), r.axes.end(), static_cast<int64_t>(i))) y.push_back(in[0][i]);
  return {y};
}

std::vector<int64_t> plan_axes(CompileCtx& ctx, const ir::Node& n) {
  const ir::Graph& g = ctx.graph();
  const std::vector<int64_t>* input = n.input(1) >= 0 ? known_values(g, true)[n.inputs[1]] : nullptr;
  const ReducedAxes r = reduced_axes(g, n, ctx.shape(n.inputs[0]).size(), input);
  if (!r.known) g.fail(n, "the axes input must be a constant or a fed input, not a computed value");
  return r.axes;
}

// X: (d0, ..., dr-1); Y seen in X's rank, a 1 at each reduced axis.
void reduction_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Reduction op) {
  const Shape& x = ctx.shape(n.inputs[0]);
  const Shape k = kept_shape(x, plan_axes(ctx, n));
  auto x_md = dnnl_compat::plain(x), k_md = dnnl_compat::plain(k);
  dnnl::memory src = ctx.view(n.inputs[0], x_md), dst = ctx.view(n.outputs[0], k_md);
  if (k == x) {  // nothing reduced (or only dims of 1), which oneDNN's reduction refuses: Y = X, or |X|
    if (op == dnnl_compat::Reduction::L2)
      steps.push_back(
          {dnnl::eltwise_forward(dnnl_compat::abs(ctx.engine(), x_md)), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
    else
      copy_step(ctx, n.inputs[0], n.outputs[0], steps);
    return;
  }
  steps.push_back({dnnl::reduction(dnnl_compat::reduction(ctx.engine(), op, x_md, k_md)),
                   {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}});
}

// Sum, mean, max (from -inf), sqrt of the sum of squares, over the elements of X that reduce to each element of Y.
void reduction_reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                         std::vector<RefTensor>& out, dnnl_compat::Reduction op) {
  using dnnl_compat::Reduction;
  std::vector<int64_t> input;
  if (in.size() > 1 && in[1])
    for (double v : in[1]->data) input.push_back(static_cast<int64_t>(v));
  const Shape& x = in[0]->shape;
  const ReducedAxes r = reduced_axes(g, n, x.size(), in.size() > 1 && in[1] ? &input : nullptr);
  const Shape k = kept_shape(x, r.axes);
  const std::vector<int64_t> at = broadcast_offsets(k, x);  // the element of Y each element of X reduces to
  std::vector<double>& y = out[0].data;
  std::fill(y.begin(), y.end(), op == Reduction::Max ? -INFINITY : 0.0);
  for (size_t e = 0; e < at.size(); ++e) {
    const double v = in[0]->data[e];
    double& t = y[static_cast<size_t>(at[e])];
    t = op == Reduction::Max ? std::max(t, v) : op == Reduction::L2 ? t + v * v : t + v;
  }
  const double count = y.empty() ? 1.0 : static_cast<double>(at.size() / y.size());
  for (double& t : y) t = op == Reduction::Mean ? t / count : op == Reduction::L2 ? std::sqrt(t) : t;
}

std::vector<OpCase> reduction_cases(int input_since) {
  std::vector<OpCase> cases = {
      {.opset = 1, .shapes = {{3, 4, 5}}, .attrs = {{"axes", attr({1})}}},
      {.opset = 1, .shapes = {{3, 4, 5}}, .attrs = {{"keepdims", attr(0)}}},
      {.opset = 11, .shapes = {{3, 4, 5}}, .attrs = {{"axes", attr({-1, 0})}, {"keepdims", attr(0)}}}};
  if (input_since > 13) cases.push_back({.opset = 13, .shapes = {{2, 3, 7}}, .attrs = {{"axes", attr({-2})}}});
  const int at = input_since;
  cases.push_back({.opset = at, .shapes = {{2, 3, 7}}, .ints = {{-2}}});
  cases.push_back({.opset = at, .shapes = {{2, 3, 7}}, .attrs = {{"keepdims", attr(0)}}, .ints = {{0, 2}}});
  cases.push_back({.opset = at, .shapes = {{2, 3, 7}}});
  cases.push_back({.opset = at, .shapes = {{2, 3, 7}}, .attrs = {{"noop_with_empty_axes", attr(1)}}});
  return cases;
}

std::vector<int64_t> grad_axes(GradBuilder& b, const ir::Node& n) {
  const ir::Graph& g = b.graph();
  const std::vector<int64_t>* input = n.input(1) >= 0 ? known_values(g, false)[n.inputs[1]] : nullptr;
  const ReducedAxes r = reduced_axes(g, n, b.shape(n.inputs[0]).size(), input);
  if (!r.known) g.fail(n, "training needs the axes as a constant, not a fed or computed value");
  return r.axes;
}

void eltwise_backward_from_dst(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, dnnl_compat::Eltwise f) {
  eltwise_backward(ctx, n, steps, f, 0.f, 0.f, true);
}

ir::Attr tensor_attr(DType d, double v) {
  ir::Attr a;
  a.kind = ir::Attr::Tensor;
  a.dtype = d;
  a.ints = {1};
  a.raw.resize(dtype_size(d));
  store_double(d, a.raw.data(), 0, v);
  return a;
}

double element_as_double(DType d, const void* data, size_t i) {
  auto at = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, static_cast<const uint8_t*>(data) + i * sizeof(v), sizeof(v));
    return v;
  };
  switch (d) {
    case DType::Float32: return at(float{});
    case DType::Int64: return static_cast<double>(at(int64_t{}));
    case DType::UInt8: return at(uint8_t{});
    case DType::Bool: return at(uint8_t{}) != 0;
    case DType::Int8: return at(int8_t{});
    case DType::UInt16: return at(uint16_t{});
    case DType::Int16: return at(int16_t{});
    case DType::Int32: return at(int32_t{});
    case DType::UInt32: return at(uint32_t{});
    case DType::UInt64: return static_cast<double>(at(uint64_t{}));
    case DType::Float16: return half_to_float(at(uint16_t{}));
    case DType::BFloat16: return bf16_to_float(at(uint16_t{}));
    case DType::Float64: return at(double{});
  }
  return 0;
}

void store_double(DType d, void* data, size_t i, double v) {
  auto put = [&](auto x) { std::memcpy(static_cast<uint8_t*>(data) + i * sizeof(x), &x, sizeof(x)); };
  switch (d) {
    case DType::Float32: return put(static_cast<float>(v));
    case DType::Int64: return put(static_cast<int64_t>(v));
    case DType::UInt8: return put(static_cast<uint8_t>(static_cast<int64_t>(v)));
    case DType::Bool: return put(static_cast<uint8_t>(v != 0));
    case DType::Int8: return put(static_cast<int8_t>(static_cast<int64_t>(v)));
    case DType::UInt16: return put(static_cast<uint16_t>(static_cast<int64_t>(v)));
    case DType::Int16: return put(static_cast<int16_t>(static_cast<int64_t>(v)));
    case DType::Int32: return put(static_cast<int32_t>(static_cast<int64_t>(v)));
    case DType::UInt32: return put(static_cast<uint32_t>(static_cast<int64_t>(v)));
    case DType::UInt64: return put(v < 0 ? static_cast<uint64_t>(static_cast<int64_t>(v)) : static_cast<uint64_t>(v));
    case DType::Float16: return put(float_to_half(static_cast<float>(v)));
    case DType::BFloat16: return put(float_to_bf16(static_cast<float>(v)));
    case DType::Float64: return put(v);
  }
}

// An Ints attribute, or `count` copies of dflt when absent; its length must be count.
std::vector<int64_t> ints_attr(const ir::Graph& g, const ir::Node& n, const char* name, size_t count, int64_t dflt) {
  auto it = n.attrs.find(name);
  if (it == n.attrs.end()) return std::vector<int64_t>(count, dflt);
  if (it->second.kind != ir::Attr::Ints || it->second.ints.size() != count)
    g.fail(n, std::string("attribute ") + name + " must hold " + std::to_string(count) + " integers, got " +
                  ir::shape_str(it->second.ints));
  return it->second.ints;
}

static std::string auto_pad_of(const ir::Node& n) {
  auto it = n.attrs.find("auto_pad");
  return it == n.attrs.end() || it->second.s.empty() ? "NOTSET" : it->second.s;
}

Window window_of(const ir::Graph& g, const ir::Node& n, const Shape& x, const std::vector<int64_t>& kernel,
                 bool ceil_mode) {
  const size_t r = kernel.size();
  Window w;
  w.kernel = kernel;
  w.strides = ints_attr(g, n, "strides", r, 1);
  w.dilations = ints_attr(g, n, "dilations", r, 1);
  const std::vector<int64_t> pads = ints_attr(g, n, "pads", 2 * r, 0);
  const std::string auto_pad = auto_pad_of(n);
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" && auto_pad != "VALID")
    g.fail(n, "auto_pad '" + auto_pad + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  w.pad_begin.assign(r, 0);
  w.pad_end.assign(r, 0);
  w.out.assign(r, ir::kUnknown);
  for (size_t i = 0; i < r; ++i) {
    const int64_t s = w.strides[i], d = w.dilations[i], k = kernel[i], in = x[2 + i];
    if (s < 1 || d < 1) g.fail(n, "strides and dilations must be positive");
    if (k != ir::kUnknown && k < 1) g.fail(n, "kernel_shape must be positive, got " + ir::shape_str(kernel));
    if (auto_pad == "NOTSET") {
      w.pad_begin[i] = pads[i];
      w.pad_end[i] = pads[r + i];
      if (pads[i] < 0 || pads[r + i] < 0) g.fail(n, "pads must be >= 0, got " + ir::shape_str(pads));
    }
    if (in == ir::kUnknown || k == ir::kUnknown) continue;
    const int64_t span = (k - 1) * d + 1;  // the kernel's extent with its dilation
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      // out = ceil(in / s), padded by what that takes; the odd element goes at the end (UPPER) or the start (LOWER).
      w.out[i] = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (w.out[i] - 1) * s + span - in);
      w.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end[i] = total - w.pad_begin[i];
      continue;
    }
    const int64_t padded = in + w.pad_begin[i] + w.pad_end[i];
    if (padded < span)
      g.fail(n, "the kernel spans " + std::to_string(span) + " along spatial axis " + std::to_string(i) +
                    " but X, padded, has " + std::to_string(padded));
    w.out[i] = (padded - span + (ceil_mode ? s - 1 : 0)) / s + 1;
    // As PyTorch and ONNX Runtime: a ceil-mode window must start inside X or its leading padding.
    if (ceil_mode && (w.out[i] - 1) * s >= in + w.pad_begin[i]) --w.out[i];
  }
  return w;
}

}  // namespace onnxtrain::ops
