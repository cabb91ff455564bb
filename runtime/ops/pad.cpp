// Pad: Y = X padded (or, for negative pads, cropped) by pads = [x1_begin, ..., x1_end, ...] along every axis (or
// `axes`, from opset 18), any dtype. Modes: constant (the value attribute before opset 11, the optional
// constant_value input from 11; 0 by default), reflect, edge, and wrap (from 19). Pads are attributes before 11
// (`paddings` at 1) and an integer input from 11, known when the plan is made. Shape inference, the forward kernel
// (an index map made with the plan), its double reference and the gradient rule: dX[i] = the sum of dY over the
// elements read from X[i] (PadGrad, a host loop over the same map).
#include <cstring>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

std::string mode_of(const ir::Node& n) {
  auto it = n.attrs.find("mode");
  return it == n.attrs.end() || it->second.s.empty() ? "constant" : it->second.s;
}

// The forward node's version, which PadGrad carries as an attribute (its own is 1).
int64_t version_of(const ir::Node& n) { return n.op_type == "PadGrad" ? n.attr_i("pad_version", 1) : n.version; }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  const std::string mode = mode_of(n);
  if (mode != "constant" && mode != "reflect" && mode != "edge" && !(mode == "wrap" && n.version >= 19))
    g.fail(n, "mode '" + mode + "' is not constant, reflect, edge" + (n.version >= 19 ? " or wrap" : ""));
  if (n.version < 11) {
    if (n.inputs.size() > 1) g.fail(n, "pads are an attribute before opset 11, not an input");
    if (!n.has(n.version < 2 ? "paddings" : "pads"))
      g.fail(n, std::string("attribute ") + (n.version < 2 ? "paddings" : "pads") + " is required");
  } else {
    if (n.input(1) < 0) g.fail(n, "input pads is required");
    if (n.inputs.size() > (n.version >= 18 ? 4u : 3u)) g.fail(n, "too many inputs");
  }
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  if (n.version >= 11 && n.input(2) >= 0 && g.values[n.inputs[2]].dtype != x.dtype)
    g.fail(n, "constant_value '" + g.values[n.inputs[2]].name + "' is " + g.type_of(n.inputs[2]) + " but data is " +
                  g.type_of(n.inputs[0]));
  g.values[n.outputs[0]].dtype = x.dtype;
  g.values[n.outputs[0]].tensor = x.tensor;
}

// Pads before and after each axis of a rank-r X, or false while the pads (or axes) input is unknown. get(k) gives
// integer input k's values.
template <class Get>
bool pads_of(const ir::Graph& g, const ir::Node& n, size_t r, Get get, std::vector<int64_t>& begin,
             std::vector<int64_t>& end) {
  const int64_t version = version_of(n);
  std::vector<int64_t> pads, axes;
  if (version < 11) {
    pads = n.attrs.at(version < 2 ? "paddings" : "pads").ints;
  } else {
    const std::vector<int64_t>* p = get(1);
    const std::vector<int64_t>* a = n.input(3) >= 0 ? get(3) : nullptr;
    if (!p || (n.input(3) >= 0 && !a)) return false;
    pads = *p;
    if (a) axes = *a;
  }
  if (axes.empty())
    for (size_t i = 0; i < r; ++i) axes.push_back(static_cast<int64_t>(i));
  if (pads.size() != 2 * axes.size())
    g.fail(n, "pads holds " + std::to_string(pads.size()) + " values for " + std::to_string(axes.size()) +
                  " axes; it needs two an axis");
  begin.assign(r, 0), end.assign(r, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int a = normalize_axis(g, n, axes[i], r);
    begin[a] = pads[i], end[a] = pads[axes.size() + i];
  }
  return true;
}

// data: any shape; pads: 2 * (rank or axes); Y: each axis grown by its pads (a negative pad crops).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const Shape& x = in[0];
  std::vector<int64_t> b, e;
  if (!pads_of(
          g, n, x.size(), [&](size_t k) { return in.ints(k); }, b, e))
    return {Shape(x.size(), ir::kUnknown)};
  Shape y = x;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == ir::kUnknown) continue;
    y[i] = x[i] + b[i] + e[i];
    if (y[i] < 0)
      g.fail(n, "pads " + std::to_string(b[i]) + ", " + std::to_string(e[i]) + " crop axis " + std::to_string(i) +
                    " of " + std::to_string(x[i]) + " below nothing");
    const std::string mode = mode_of(n);
    if (x[i] == 0 && y[i] > 0 && mode != "constant")
      g.fail(n, "mode " + mode + " cannot pad axis " + std::to_string(i) + ", which is empty");
    if (mode == "reflect" && (b[i] >= x[i] || e[i] >= x[i]) && y[i] > x[i] && x[i] > 0)
      g.fail(n, "reflect pads of axis " + std::to_string(i) + " must be smaller than its " + std::to_string(x[i]));
  }
  return {y};
}

// For each element of Y (shape y), the element of X (shape x) it is, or -1 for the constant.
std::vector<int64_t> index_map(const std::string& mode, const Shape& x, const Shape& y, const std::vector<int64_t>& b) {
  const size_t r = x.size();
  const int64_t count = count_of(y);
  std::vector<int64_t> at(static_cast<size_t>(count));
  const std::vector<int64_t> xs = row_strides(x);
  std::vector<int64_t> idx(r, 0);  // the output index, walked in row-major order
  for (int64_t e = 0; e < count; ++e) {
    int64_t src = 0;
    for (size_t a = 0; a < r && src >= 0; ++a) {
      int64_t i = idx[a] - b[a];
      const int64_t d = x[a];
      if (i < 0 || i >= d) {
        if (mode == "constant") {
          src = -1;
          break;
        }
        if (mode == "edge") i = i < 0 ? 0 : d - 1;
        if (mode == "wrap") i = ((i % d) + d) % d;
        if (mode == "reflect") {
          const int64_t period = 2 * (d - 1);
          i = period == 0 ? 0 : ((i % period) + period) % period;
          if (i >= d) i = period - i;
        }
      }
      src += i * xs[a];
    }
    at[static_cast<size_t>(e)] = src;
    for (size_t a = r; a-- > 0;) {
      if (++idx[a] < y[a]) break;
      idx[a] = 0;
    }
  }
  return at;
}

std::vector<int64_t> plan_map(CompileCtx& ctx, const ir::Node& n, const Shape& x, const Shape& y) {
  std::vector<int64_t> b, e;
  // PadGrad(dY, X, pads, axes) holds the forward's pads (its input 1) at 2; axes stay at 3.
  const bool grad = n.op_type == "PadGrad";
  const auto get = [&](size_t k) {
    const int v = n.input(grad && k == 1 ? 2 : k);
    return v >= 0 ? ctx.ints(v) : nullptr;
  };
  if (!pads_of(ctx.graph(), n, x.size(), get, b, e))
    ctx.graph().fail(n, "pads (and axes) must be known when the plan is made, as constants or a shape chain");
  return index_map(mode_of(n), x, y, b);
}

// Y[e] = X[at[e]], or the constant where at[e] is -1 (constant_value's element, read each run; or `value`; or 0).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape &xs = ctx.shape(n.inputs[0]), &ys = ctx.shape(n.outputs[0]);
  const std::vector<int64_t> at = plan_map(ctx, n, xs, ys);
  if (at.empty()) return;
  const DType d = ctx.graph().values[n.inputs[0]].dtype;
  const size_t width = dtype_size(d);
  std::vector<uint8_t> fill(width, 0);
  if (n.version < 11) store_double(d, fill.data(), 0, n.attr_f("value", 0.f));
  const bool fed_value = n.version >= 11 && n.input(2) >= 0 && count_of(ctx.shape(n.inputs[2])) > 0;
  dnnl::memory x = bytes_view(ctx, n.inputs[0]), y = bytes_view(ctx, n.outputs[0]);
  dnnl::memory v = fed_value ? bytes_view(ctx, n.inputs[2]) : dnnl::memory();
  Step s;
  s.host = [=, fill = std::move(fill)]() {
    const auto* X = static_cast<const uint8_t*>(x.get_data_handle());
    auto* Y = static_cast<uint8_t*>(y.get_data_handle());
    const uint8_t* c = fed_value ? static_cast<const uint8_t*>(v.get_data_handle()) : fill.data();
    for (size_t e = 0; e < at.size(); ++e) std::memcpy(Y + e * width, at[e] >= 0 ? X + at[e] * width : c, width);
  };
  steps.push_back(std::move(s));
}

void reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  std::vector<std::vector<int64_t>> ints(in.size());
  for (size_t k = 0; k < in.size(); ++k)
    if (in[k])
      for (double d : in[k]->data) ints[k].push_back(static_cast<int64_t>(d));
  std::vector<int64_t> b, e;
  pads_of(
      g, n, in[0]->shape.size(), [&](size_t k) { return k < in.size() && in[k] ? &ints[k] : nullptr; }, b, e);
  const std::vector<int64_t> at = index_map(mode_of(n), in[0]->shape, out[0].shape, b);
  const double c = n.version < 11 ? n.attr_f("value", 0.f) : in.size() > 2 && in[2] ? in[2]->data[0] : 0.0;
  for (size_t i = 0; i < at.size(); ++i) out[0].data[i] = at[i] >= 0 ? in[0]->data[at[i]] : c;
}

// Y[e] = X[at[e]], or c where at[e] = -1: dX[i] = the sum of dY[e] over the e with at[e] = i (edge and reflect read
// an element several times); dc = the sum of dY over the padding.
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dY = b.dY(n, 0);
  const bool dc = n.version >= 11 && n.input(2) >= 0 && b.needs(n, 2);
  if (dY < 0 || !(b.needs(n, 0) || dc)) return;
  std::map<std::string, ir::Attr> attrs = n.attrs;
  attrs["pad_version"] = attr(static_cast<int64_t>(n.version));
  std::vector<int> in = {dY, n.inputs[0]};
  if (n.version >= 11) in.push_back(n.inputs[1]), in.push_back(n.input(3));
  const std::vector<int> d = b.emit_n("PadGrad", in, std::move(attrs), dc ? 2 : 1);
  if (b.needs(n, 0)) b.set_dX(n, 0, d[0]);
  if (dc) b.set_dX(n, 2, d[1]);
}

// PadGrad(dY, X[, pads, axes]) -> dX: X's shape[, dc: a scalar]. X is read for its shape alone.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  if (n.outputs.size() > 1) return {in[1], {}};
  return {in[1]};
}

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape &xs = ctx.shape(n.inputs[1]), &ys = ctx.shape(n.inputs[0]);
  const std::vector<int64_t> at = plan_map(ctx, n, xs, ys);
  const size_t count = static_cast<size_t>(count_of(xs));
  dnnl::memory dy = bytes_view(ctx, n.inputs[0]), dx = bytes_view(ctx, n.outputs[0]);
  const bool dc = n.outputs.size() > 1 && n.outputs[1] >= 0;
  dnnl::memory dcm = dc ? bytes_view(ctx, n.outputs[1]) : dnnl::memory();
  Step s;
  s.host = [=]() {
    const auto* DY = static_cast<const float*>(dy.get_data_handle());
    auto* DX = static_cast<float*>(dx.get_data_handle());
    std::fill(DX, DX + count, 0.f);
    float c = 0.f;
    for (size_t e = 0; e < at.size(); ++e)
      if (at[e] >= 0)
        DX[at[e]] += DY[e];
      else
        c += DY[e];
    if (dc) *static_cast<float*>(dcm.get_data_handle()) = c;
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kPad{
    .type = "Pad",
    .versions = {1, 2, 11, 13, 18, 19, 21},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .int_inputs = {1, 3},
    .reference = reference,
    .types = types,
    // Each mode, a crop, a constant of its own, the axes input.
    .cases = {
        {.opset = 1, .shapes = {{2, 3}}, .attrs = {{"paddings", attr({1, 0, 2, 1})}, {"value", attr(1.5f)}}},
        {.opset = 2, .shapes = {{3, 4}}, .attrs = {{"pads", attr({1, 2, 2, 1})}, {"mode", attr_string("reflect")}}},
        {.opset = 11, .shapes = {{2, 3, 4}}, .attrs = {{"mode", attr_string("edge")}}, .ints = {{0, 1, 2, 1, 3, 0}}},
        {.opset = 13, .shapes = {{3, 5}, {}}, .ints = {{-1, 2, 1, 2}}},
        {.opset = 18,
         .shapes = {{2, 3, 4}, {}},
         .attrs = {{"mode", attr_string("reflect")}},
         .ints = {{2, 1, 3, 2}, {2, 1}}},
        {.opset = 19, .shapes = {{2, 5}}, .attrs = {{"mode", attr_string("wrap")}}, .ints = {{1, 7, 0, 3}}},
        {.opset = 21, .shapes = {{1, 2, 3, 3}}, .ints = {{0, 0, 1, 1, 0, 0, 1, 1}}}}};
extern const OpDef kPadGrad{.type = "PadGrad",
                            .versions = {1},
                            .check = no_check,
                            .infer = grad_infer,
                            .forward = grad_forward,
                            .internal = true,
                            .int_inputs = {2, 3}};

}  // namespace onnxtrain::ops
