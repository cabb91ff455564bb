// Where: Y = condition ? X : Y_else, elementwise with numpy broadcasting of all three; condition bool, X and Y_else
// one dtype, any. Shape inference, the forward kernel (a host loop over broadcast index maps made with the plan), its
// double reference and the gradient rule: dX = dY where the condition holds, dY_else = dY where it does not, each
// summed over the axes along which it was broadcast (WhereGrad, then ReduceToShape). The condition gets no gradient.
#include <cstring>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0)
    g.fail(n, "expected inputs condition, X and Y");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0 || n.outputs.size() != 1 ||
      n.outputs[0] < 0)
    return;  // check's
  const ir::Value &c = g.values[n.inputs[0]], &x = g.values[n.inputs[1]], &y = g.values[n.inputs[2]];
  if (!c.tensor || c.dtype != DType::Bool)
    g.fail(n, "condition '" + c.name + "' is " + g.type_of(n.inputs[0]) + "; Where takes a bool condition");
  if (!x.tensor || !y.tensor || x.dtype != y.dtype)
    g.fail(n,
           "X '" + x.name + "' is " + g.type_of(n.inputs[1]) + " but Y '" + y.name + "' is " + g.type_of(n.inputs[2]));
  g.values[n.outputs[0]].dtype = x.dtype;
}

// condition, X, Y: shapes that broadcast together; out: the broadcast shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  return {broadcast(g, n, broadcast(g, n, in[0], in[1]), in[2])};
}

// out[e] = c[c_at[e]] ? X[x_at[e]] : Y[y_at[e]], the maps broadcasting each input to out.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& ys = ctx.shape(n.outputs[0]);
  const size_t width = dtype_size(ctx.graph().values[n.outputs[0]].dtype);
  const std::vector<int64_t> c_at = broadcast_offsets(ctx.shape(n.inputs[0]), ys);
  const std::vector<int64_t> x_at = broadcast_offsets(ctx.shape(n.inputs[1]), ys);
  const std::vector<int64_t> y_at = broadcast_offsets(ctx.shape(n.inputs[2]), ys);
  dnnl::memory c = bytes_view(ctx, n.inputs[0]), x = bytes_view(ctx, n.inputs[1]), y = bytes_view(ctx, n.inputs[2]),
               out = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=]() {
    const auto* C = static_cast<const uint8_t*>(c.get_data_handle());
    const auto *X = static_cast<const uint8_t*>(x.get_data_handle()),
               *Y = static_cast<const uint8_t*>(y.get_data_handle());
    auto* O = static_cast<uint8_t*>(out.get_data_handle());
    for (size_t e = 0; e < c_at.size(); ++e)
      std::memcpy(O + e * width, C[c_at[e]] ? X + x_at[e] * width : Y + y_at[e] * width, width);
  };
  steps.push_back(std::move(s));
}

// out[i] = c[c(i)] ? X[x(i)] : Y[y(i)], each index broadcast back to its input's shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  const std::vector<int64_t> c_at = broadcast_offsets(in[0]->shape, out[0].shape);
  const std::vector<int64_t> x_at = broadcast_offsets(in[1]->shape, out[0].shape);
  const std::vector<int64_t> y_at = broadcast_offsets(in[2]->shape, out[0].shape);
  for (size_t e = 0; e < out[0].data.size(); ++e)
    out[0].data[e] = in[0]->data[c_at[e]] != 0 ? in[1]->data[x_at[e]] : in[2]->data[y_at[e]];
}

// out = c ? X : Y; dX = sum to X's shape of (c ? dout : 0), dY = sum to Y's shape of (c ? 0 : dout).
void gradient(GradBuilder& b, const ir::Node& n) {
  const int dout = b.dY(n, 0);
  if (dout < 0) return;
  for (size_t k = 1; k < 3; ++k)
    if (b.needs(n, k)) {
      const int masked = b.emit("WhereGrad", {n.inputs[0], dout}, {{"keep", ir::Attr::of(k == 1 ? 1 : 0)}});
      b.set_dX(n, k, b.emit("ReduceToShape", {masked, n.inputs[k]}));
    }
}

// WhereGrad(c, dout) -> dout where c == keep, else 0: dout's shape.
std::vector<Shape> grad_infer(const ir::Graph&, const ir::Node&, const InferInputs& in) { return {in[1]}; }

void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const std::vector<int64_t> c_at = broadcast_offsets(ctx.shape(n.inputs[0]), ctx.shape(n.inputs[1]));
  const bool keep = n.attr_i("keep", 1) != 0;
  dnnl::memory c = bytes_view(ctx, n.inputs[0]), d = bytes_view(ctx, n.inputs[1]), out = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=]() {
    const auto* C = static_cast<const uint8_t*>(c.get_data_handle());
    const float* D = static_cast<const float*>(d.get_data_handle());
    float* O = static_cast<float*>(out.get_data_handle());
    for (size_t e = 0; e < c_at.size(); ++e) O[e] = (C[c_at[e]] != 0) == keep ? D[e] : 0.f;
  };
  steps.push_back(std::move(s));
}

}  // namespace

extern const OpDef kWhere{
    .type = "Where",
    .versions = {9, 16},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = types,
    // All three the same shape; each broadcast along other axes, so that both gradients are reduced.
    .cases = {{.opset = 9,
               .shapes = {{3, 4}, {3, 4}},
               .typed = {{0, DType::Bool, {3, 4}, {1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}}}},
              {.opset = 16,
               .shapes = {{2, 1, 3}, {4, 1}},
               .typed = {{0, DType::Bool, {1, 4, 3}, {1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1}}}},
              {.opset = 16, .shapes = {{5}, {2, 5}}, .typed = {{0, DType::Bool, {2, 1}, {0, 1}}}}}};
extern const OpDef kWhereGrad{.type = "WhereGrad",
                              .versions = {1},
                              .check = no_check,
                              .infer = grad_infer,
                              .forward = grad_forward,
                              .internal = true};

}  // namespace onnxtrain::ops
