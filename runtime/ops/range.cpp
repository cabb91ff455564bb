// Range: Y = (start, start + delta, start + 2*delta, ...) up to limit (excluded), three scalars of one dtype (float,
// double, int16, int32, int64). The length depends on the values, so they must be known when a plan is made: constants,
// fed inputs (bound with the plan) or a shape chain (torch.arange(x.size(1)) for position ids). Shape inference, the
// fold of integer ranges, the forward kernel (a host fill), its double reference. No gradient: torch.arange has none.
#include <cmath>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

bool integral(DType d) { return d == DType::Int64 || d == DType::Int32 || d == DType::Int16; }

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0)
    g.fail(n, "expected 3 inputs, start, limit and delta");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 3 || n.input(0) < 0 || n.input(1) < 0 || n.input(2) < 0 || n.outputs.size() != 1 ||
      n.outputs[0] < 0)
    return;  // check's
  const DType d = g.values[n.inputs[0]].dtype;
  const char* names[] = {"start", "limit", "delta"};
  for (size_t k = 0; k < 3; ++k) {
    const ir::Value& v = g.values[n.inputs[k]];
    if (!v.tensor || !(integral(v.dtype) || v.dtype == DType::Float32 || v.dtype == DType::Float64))
      g.fail(n, std::string(names[k]) + " '" + v.name + "' is " + g.type_of(n.inputs[k]) +
                    "; Range takes float, double, int16, int32 or int64");
    if (v.dtype != d)
      g.fail(n, std::string(names[k]) + " '" + v.name + "' is " + g.type_of(n.inputs[k]) + " but start is " +
                    g.type_of(n.inputs[0]));
  }
  g.values[n.outputs[0]].dtype = d;
}

// start, limit, delta as doubles when all three are known; false otherwise. Each must be one value.
bool bounds(const ir::Graph& g, const ir::Node& n, const InferInputs& in, double v[3]) {
  const char* names[] = {"start", "limit", "delta"};
  const bool ints = integral(g.values[n.inputs[0]].dtype);
  for (size_t k = 0; k < 3; ++k) {
    if (count_of(in[k]) != 1) g.fail(n, std::string(names[k]) + " must be a scalar, got " + ir::shape_str(in[k]));
    if (ints ? !in.ints(k) : !in.reals(k)) return false;
    v[k] = ints ? double((*in.ints(k))[0]) : (*in.reals(k))[0];
  }
  return true;
}

// The length, as ONNX defines it and ONNX Runtime computes it: the difference in the inputs' type, then
// ceil(diff / delta) in double; 0 for a range that runs the other way.
int64_t length(const ir::Graph& g, const ir::Node& n, const double v[3]) {
  const DType d = g.values[n.inputs[0]].dtype;
  if (v[2] == 0) g.fail(n, "delta is 0");
  const double diff = d == DType::Float32 ? double(float(v[1]) - float(v[0])) : v[1] - v[0];
  const double steps = std::ceil(diff / v[2]);
  if (!(steps < double(ir::kMaxElements)))  // NaN too
    g.fail(n, "the range from " + std::to_string(v[0]) + " to " + std::to_string(v[1]) + " by " + std::to_string(v[2]) +
                  " has too many elements");
  return steps > 0 ? static_cast<int64_t>(steps) : 0;
}

// start, limit, delta: scalars (or one-element tensors); Y: (length).
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  double v[3];
  if (!bounds(g, n, in, v)) return {{ir::kUnknown}};
  return {{length(g, n, v)}};
}

// An integer range (position ids from a shape chain): its values, Y[i] = start + i*delta.
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  double v[3];
  if (!integral(g.values[n.inputs[0]].dtype) || !bounds(g, n, in, v)) return false;
  const int64_t count = length(g, n, v), start = (*in.ints(0))[0], delta = (*in.ints(2))[0];
  out[0].resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[0][static_cast<size_t>(i)] = start + i * delta;
  return true;
}

// Y[i] = start + i*delta, computed in double and stored in Y's type, as torch.arange computes a float range (not by
// repeated addition, which drifts); read from the inputs at run time, which the plan's length was made for.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const size_t count = static_cast<size_t>(count_of(ctx.shape(n.outputs[0])));
  if (count == 0) return;
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  dnnl::memory start = bytes_view(ctx, n.inputs[0]), delta = bytes_view(ctx, n.inputs[2]),
               y = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=]() {
    const double a = element_as_double(d, start.get_data_handle(), 0),
                 b = element_as_double(d, delta.get_data_handle(), 0);
    void* Y = y.get_data_handle();
    for (size_t i = 0; i < count; ++i) store_double(d, Y, i, a + double(i) * b);
  };
  steps.push_back(std::move(s));
}

// Y[i] = start + i*delta.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  for (size_t i = 0; i < out[0].data.size(); ++i) out[0].data[i] = in[0]->data[0] + double(i) * in[2]->data[0];
}

}  // namespace

extern const OpDef kRange{
    .type = "Range",
    .versions = {11},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .int_inputs = {0, 1, 2},
    .real_inputs = true,
    .reference = reference,
    .types = types,
    // Up and down, each integer type, an empty range, and one-element tensors as PyTorch's exporter may write them.
    .cases = {{.opset = 11,
               .shapes = {},
               .typed = {{0, DType::Int64, {}, {0}}, {1, DType::Int64, {}, {7}}, {2, DType::Int64, {}, {1}}}},
              {.opset = 11,
               .shapes = {},
               .typed = {{0, DType::Int32, {}, {10}}, {1, DType::Int32, {}, {-3}}, {2, DType::Int32, {}, {-4}}}},
              {.opset = 13,
               .shapes = {},
               .typed = {{0, DType::Int16, {}, {2}}, {1, DType::Int16, {}, {2}}, {2, DType::Int16, {}, {3}}}},
              {.opset = 17,
               .shapes = {},
               .typed = {{0, DType::Int64, {1}, {-5}}, {1, DType::Int64, {1}, {6}}, {2, DType::Int64, {1}, {4}}}}}};

}  // namespace onnxtrain::ops
