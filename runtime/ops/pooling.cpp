// What MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool share: the window each reads (pool_spec), the
// forward kernel (oneDNN pooling for float32; a host loop for the other dtypes MaxPool takes, and for its Indices), the
// double reference, the gradient rule and PoolGrad, the backward kernel (oneDNN pooling backward; max pooling's reads
// the forward's workspace). Each op's attributes and versions stay in its own file.
#include <cmath>
#include <limits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {

namespace dc = dnnl_compat;

namespace {
// The pool a node computes: its own op type, or for PoolGrad the forward's (attribute pool_of).
std::string pool_type(const ir::Node& n) {
  if (n.op_type != "PoolGrad") return n.op_type;
  auto it = n.attrs.find("pool_of");
  return it == n.attrs.end() ? std::string() : it->second.s;
}
}  // namespace

PoolSpec pool_spec(const ir::Graph& g, const ir::Node& n, const Shape& x) {
  if (x.size() < 3 || x.size() > 5) g.fail(n, "X must be (N, C, D1[, D2[, D3]]), got " + ir::shape_str(x));
  const size_t r = x.size() - 2;
  const std::string type = pool_type(n);
  PoolSpec p;
  if (type == "GlobalAveragePool" || type == "GlobalMaxPool") {
    p.alg = type == "GlobalMaxPool" ? dc::Pool::Max : dc::Pool::AvgExcludePadding;
    p.w.kernel.assign(x.begin() + 2, x.end());
    p.w.strides.assign(r, 1);
    p.w.dilations.assign(r, 1);
    p.w.pad_begin.assign(r, 0);
    p.w.pad_end.assign(r, 0);
    p.w.out.assign(r, 1);
    return p;
  }
  if (!n.has("kernel_shape")) g.fail(n, "attribute kernel_shape is required");
  const std::vector<int64_t> kernel = ints_attr(g, n, "kernel_shape", r, 1);
  const bool ceil_mode = n.attr_i("ceil_mode", 0) != 0;
  p.w = window_of(g, n, x, kernel, ceil_mode);
  p.alg = type == "MaxPool"                       ? dc::Pool::Max
          : n.attr_i("count_include_pad", 0) != 0 ? dc::Pool::AvgIncludePadding
                                                  : dc::Pool::AvgExcludePadding;
  // oneDNN reads the window off the padding: a ceil-mode output past the explicit padding becomes more padding after.
  p.pad_r = p.w.pad_end;
  for (size_t i = 0; i < r; ++i) {
    if (x[2 + i] == ir::kUnknown) continue;
    const int64_t span = (kernel[i] - 1) * p.w.dilations[i] + 1;
    const int64_t reach = (p.w.out[i] - 1) * p.w.strides[i] + span - x[2 + i] - p.w.pad_begin[i];
    if (reach > p.pad_r[i]) {
      // Counted padding ends at the explicit pads (PyTorch's divisor); oneDNN's would count the extra too.
      if (p.alg == dc::Pool::AvgIncludePadding)
        g.fail(n, "count_include_pad with ceil_mode windows that reach past the pads is not supported");
      p.pad_r[i] = reach;
    }
  }
  return p;
}

namespace {

dc::ConvShape conv_shape(const PoolSpec& p) {
  dc::ConvShape c;
  c.strides.assign(p.w.strides.begin(), p.w.strides.end());
  for (int64_t d : p.w.dilations) c.dilates.push_back(d - 1);
  c.pad_l.assign(p.w.pad_begin.begin(), p.w.pad_begin.end());
  const std::vector<int64_t>& pr = p.pad_r.empty() ? p.w.pad_end : p.pad_r;
  c.pad_r.assign(pr.begin(), pr.end());
  return c;
}

// Spatial sizes padded to three axes of size 1, so that one loop nest covers 1-D to 3-D.
struct Dims3 {
  int64_t X[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1}, P[3] = {0, 0, 0},
          E[3] = {0, 0, 0};  // E: the explicit padding after, where counted padding ends
  int64_t planes = 1;        // N * C
};
Dims3 dims3(const PoolSpec& p, const Shape& x, const Shape& y) {
  Dims3 d;
  d.planes = x[0] * x[1];
  for (size_t i = 0; i + 2 < x.size(); ++i) {
    d.X[i] = x[2 + i], d.O[i] = y[2 + i], d.K[i] = p.w.kernel[i], d.S[i] = p.w.strides[i];
    d.D[i] = p.w.dilations[i], d.P[i] = p.w.pad_begin[i], d.E[i] = p.w.pad_end[i];
  }
  return d;
}

// For each output element: visit(plane, output index, input index or -1 for padding, in_padded_region) over its window
// in row-major order, then done(plane, output index).
template <class Visit, class Done>
void each_window(const Dims3& d, Visit visit, Done done) {
  for (int64_t pl = 0; pl < d.planes; ++pl)
    for (int64_t o0 = 0; o0 < d.O[0]; ++o0)
      for (int64_t o1 = 0; o1 < d.O[1]; ++o1)
        for (int64_t o2 = 0; o2 < d.O[2]; ++o2) {
          const int64_t out = ((pl * d.O[0] + o0) * d.O[1] + o1) * d.O[2] + o2;
          for (int64_t q0 = 0; q0 < d.K[0]; ++q0)
            for (int64_t q1 = 0; q1 < d.K[1]; ++q1)
              for (int64_t q2 = 0; q2 < d.K[2]; ++q2) {
                const int64_t i[3] = {o0 * d.S[0] - d.P[0] + q0 * d.D[0], o1 * d.S[1] - d.P[1] + q1 * d.D[1],
                                      o2 * d.S[2] - d.P[2] + q2 * d.D[2]};
                bool inside = true, counted = true;
                for (int a = 0; a < 3; ++a) {
                  inside = inside && i[a] >= 0 && i[a] < d.X[a];
                  counted = counted && i[a] >= -d.P[a] && i[a] < d.X[a] + d.E[a];
                }
                visit(pl, out, inside ? ((pl * d.X[0] + i[0]) * d.X[1] + i[1]) * d.X[2] + i[2] : int64_t{-1}, counted);
              }
          done(pl, out);
        }
}

}  // namespace

std::vector<Shape> pool_infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const PoolSpec p = pool_spec(g, n, in[0]);
  Shape y = {in[0][0], in[0][1]};
  y.insert(y.end(), p.w.out.begin(), p.w.out.end());
  return std::vector<Shape>(std::max<size_t>(n.outputs.size(), 1), y);
}

void pool_reference(const ir::Graph& g, const ir::Node& n, const std::vector<const RefTensor*>& in,
                    std::vector<RefTensor>& out) {
  const RefTensor& x = *in[0];
  RefTensor& y = out[0];
  const PoolSpec p = pool_spec(g, n, x.shape);
  const Dims3 d = dims3(p, x.shape, y.shape);
  double acc = 0;
  int64_t count = 0;
  const bool max = p.alg == dc::Pool::Max;
  each_window(
      d,
      [&](int64_t, int64_t, int64_t at, bool counted) {
        if (at >= 0) acc = max ? (count == 0 ? x.data[at] : std::max(acc, x.data[at])) : acc + x.data[at];
        count += max ? at >= 0 : p.alg == dc::Pool::AvgIncludePadding ? counted : at >= 0;
      },
      [&](int64_t, int64_t out) {
        y.data[out] = max ? (count ? acc : -std::numeric_limits<double>::infinity()) : count ? acc / double(count) : 0;
        acc = 0;
        count = 0;
      });
}

void pool_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps, int workspace, int indices) {
  const ir::Graph& g = ctx.graph();
  const Shape &xs = ctx.shape(n.inputs[0]), &ys = ctx.shape(n.outputs[0]);
  const PoolSpec p = pool_spec(g, n, xs);
  const DType dtype = g.values[n.inputs[0]].dtype;
  if (dtype == DType::Float32) {
    // In X's layout where it is blocked (a convolution's), Y then in the one oneDNN picks for it.
    const dnnl::memory::desc* blocked = ctx.layout(n.inputs[0]);
    const bool block = blocked && ctx.may_block(n.outputs[0]);
    const auto x = block ? *blocked : dc::plain(xs), y = dc::plain(ys);
    const bool training = workspace >= 0;
    const auto pd =
        dc::pool_forward(ctx.engine(), p.alg, conv_shape(p), p.w.kernel, x, block ? dc::any_like(y) : y, training);
    if (block) ctx.set_layout(n.outputs[0], pd.dst_desc());
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, ctx.input(n.inputs[0], x)},
                                                  {DNNL_ARG_DST, ctx.view(n.outputs[0], pd.dst_desc())}};
    if (training && p.alg == dc::Pool::Max) {
      // The argmax, stored in its desc (which tells PoolGrad the layouts this ran in; its slot grows where they pad).
      const dnnl::memory::desc ws = pd.workspace_desc();
      ctx.set_layout(workspace, ws);
      args[DNNL_ARG_WORKSPACE] = ctx.view(workspace, ws);
    }
    steps.push_back({dc::pool_fwd(pd), std::move(args)});
  }
  if (dtype == DType::Float32 && indices < 0) return;
  // The other dtypes (MaxPool's double, float16, int8, uint8), and Indices: the first maximum of each window, in
  // row-major window order, as PyTorch and ONNX Runtime pick it; Indices flatten X, column-major within a plane for
  // storage_order 1.
  const Dims3 d = dims3(p, xs, ys);
  const bool column_major = n.attr_i("storage_order", 0) != 0;
  dnnl::memory x = bytes_view(ctx, n.inputs[0]), y = bytes_view(ctx, n.outputs[0]);
  dnnl::memory ix = indices >= 0 ? bytes_view(ctx, indices) : dnnl::memory();
  const bool write_y = dtype != DType::Float32;
  Step s;
  s.host = [=]() {
    const void* X = x.get_data_handle();
    void* Y = y.get_data_handle();
    auto* I = indices >= 0 ? static_cast<int64_t*>(ix.get_data_handle()) : nullptr;
    double best = 0;
    int64_t at_best = -1;
    each_window(
        d,
        [&](int64_t, int64_t, int64_t at, bool) {
          if (at < 0) return;
          const double v = element_as_double(dtype, X, static_cast<size_t>(at));
          if (at_best < 0 || v > best || std::isnan(v)) best = v, at_best = at;
        },
        [&](int64_t pl, int64_t out) {
          if (write_y) store_double(dtype, Y, static_cast<size_t>(out), at_best >= 0 ? best : -INFINITY);
          if (I && at_best >= 0) {
            const int64_t plane = d.X[0] * d.X[1] * d.X[2], within = at_best - pl * plane;
            // Column-major: the spatial index with its axes reversed.
            int64_t c[3] = {within / (d.X[1] * d.X[2]), within / d.X[2] % d.X[1], within % d.X[2]};
            const int r = static_cast<int>(xs.size()) - 2;
            int64_t flat = 0;
            if (column_major)
              for (int a = r - 1; a >= 0; --a) flat = flat * d.X[a] + c[a];
            I[out] = pl * plane + (column_major ? flat : within);
          }
          at_best = -1;
        });
  };
  steps.push_back(std::move(s));
}

void pool_gradient(GradBuilder& b, const ir::Node& n, int workspace) {
  const int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  std::map<std::string, ir::Attr> attrs = n.attrs;
  attrs["pool_of"] = attr_string(n.op_type.c_str());
  std::vector<int> in = {dY, n.inputs[0]};
  if (workspace >= 0) in.push_back(workspace);
  b.set_dX(n, 0, b.emit("PoolGrad", in, std::move(attrs)));
}

namespace {

// PoolGrad(dY, X[, workspace]) -> dX: X's shape. X is read for its shape alone.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape &xs = ctx.shape(n.inputs[1]), &ys = ctx.shape(n.inputs[0]);
  const PoolSpec p = pool_spec(ctx.graph(), n, xs);
  // In the layouts the forward ran in: X's (input 1) where it is blocked and the forward kept Y blocked too, Y's
  // then as oneDNN picked it from X's. Max pooling's workspace desc says which it was; average pooling reads no
  // workspace, and any consistent pair of layouts will do.
  const dnnl::memory::desc* blocked = ctx.layout(n.inputs[1]);
  const auto c = conv_shape(p);
  const auto kernel = p.w.kernel;
  const auto make_hint = [&](bool block) {
    return dc::pool_forward(ctx.engine(), p.alg, c, kernel, block ? *blocked : dc::plain(xs),
                            block ? dc::any_layout({ys.begin(), ys.end()}) : dc::plain(ys), true);
  };
  const dnnl::memory::desc* ws = p.alg == dc::Pool::Max ? ctx.layout(n.inputs[2]) : nullptr;
  bool block = blocked && (ws ? make_hint(false).workspace_desc() != *ws : ctx.may_block(n.outputs[0]));
  const auto hint = make_hint(block);
  if (ws && hint.workspace_desc() != *ws) ctx.graph().fail(n, "the workspace of its forward has another layout");
  const auto pd = dc::pool_backward(ctx.engine(), p.alg, c, kernel, hint.src_desc(), hint.dst_desc(), hint);
  if (block && ctx.may_block(n.outputs[0])) ctx.set_layout(n.outputs[0], pd.diff_src_desc());
  std::vector<Step> after;
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_DIFF_DST, ctx.input(n.inputs[0], pd.diff_dst_desc())},
      {DNNL_ARG_DIFF_SRC, written(ctx, n.outputs[0], pd.diff_src_desc(), after)}};
  if (ws) args[DNNL_ARG_WORKSPACE] = ctx.view(n.inputs[2], *ws);
  steps.push_back({dc::pool_bwd(pd), std::move(args)});
  for (Step& st : after) steps.push_back(std::move(st));
}

}  // namespace

extern const OpDef kPoolGrad{.type = "PoolGrad",
                             .versions = {1},
                             .check = no_check,
                             .infer = grad_infer,
                             .forward = grad_forward,
                             .internal = true,
                             .layouts = true};

}  // namespace onnxtrain::ops
