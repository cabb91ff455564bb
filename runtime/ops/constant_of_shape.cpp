// ConstantOfShape: Y = a tensor of the shape its integer input gives, every element `value` (a one-element tensor
// attribute, float32 0 by default; its dtype is Y's). The shape is known when a plan is made. Shape inference, the
// fold of an integer fill (a shape chain), the forward kernel (a fill), its double reference. No gradient: it reads
// no float data.
#include <cstring>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// The fill: value's dtype and bytes, float32 0 when absent.
ir::Attr value_of(const ir::Node& n) {
  auto it = n.attrs.find("value");
  return it != n.attrs.end() ? it->second : tensor_attr(DType::Float32, 0.0);
}

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, the shape");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  const ir::Attr v = value_of(n);
  if (v.kind != ir::Attr::Tensor || v.raw.size() != dtype_size(v.dtype))
    g.fail(n, "attribute value must be a tensor of one element");
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0 || n.outputs.size() != 1 || n.outputs[0] < 0) return;  // check's
  const ir::Attr v = value_of(n);
  if (v.kind == ir::Attr::Tensor) g.values[n.outputs[0]].dtype = v.dtype;
}

// shape: (k) int64, known; Y: shape.
std::vector<Shape> infer(const ir::Graph& g, const ir::Node& n, const InferInputs& in) {
  const std::vector<int64_t>* shape = in.ints(0);
  if (!shape) {
    if (in[0].size() != 1 || in[0][0] == ir::kUnknown) return {};
    return {Shape(static_cast<size_t>(in[0][0]), ir::kUnknown)};
  }
  for (int64_t d : *shape)
    if (d < 0) g.fail(n, "shape " + ir::shape_str(*shape) + " has a negative dim");
  if (!ir::within_limits(*shape)) g.fail(n, "shape " + ir::shape_str(*shape) + " has too many elements");
  return {*shape};
}

// An integer or bool fill of a known shape: its values.
bool fold(const ir::Graph&, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  const ir::Attr v = value_of(n);
  const bool integral =
      v.dtype != DType::Float32 && v.dtype != DType::Float64 && v.dtype != DType::Float16 && v.dtype != DType::BFloat16;
  if (!in.ints(0) || !integral || count_of(*in.ints(0)) > (int64_t(1) << 16)) return false;
  out[0].assign(static_cast<size_t>(count_of(*in.ints(0))),
                static_cast<int64_t>(element_as_double(v.dtype, v.raw.data(), 0)));
  return true;
}

// Y[i] = value, for each element: one fill per run, since Y is an activation like any other.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const ir::Attr v = value_of(n);
  const size_t count = static_cast<size_t>(count_of(ctx.shape(n.outputs[0]))), width = v.raw.size();
  if (count == 0) return;
  dnnl::memory y = bytes_view(ctx, n.outputs[0]);
  Step s;
  s.host = [=, raw = v.raw]() {
    auto* Y = static_cast<uint8_t*>(y.get_data_handle());
    for (size_t i = 0; i < count; ++i) std::memcpy(Y + i * width, raw.data(), width);
  };
  steps.push_back(std::move(s));
}

// Y[i] = value.
void reference(const ir::Graph&, const ir::Node& n, const std::vector<const RefTensor*>&, std::vector<RefTensor>& out) {
  const ir::Attr v = value_of(n);
  std::fill(out[0].data.begin(), out[0].data.end(), element_as_double(v.dtype, v.raw.data(), 0));
}

}  // namespace

extern const OpDef kConstantOfShape{
    .type = "ConstantOfShape",
    .versions = {9, 20, 21},
    .check = check,
    .infer = infer,
    .fold = fold,
    .forward = forward,
    .int_inputs = {0},
    .reference = reference,
    .types = types,
    // The default fill (float32 0), a float fill, an int64 fill (which folds), a scalar and an empty shape.
    .cases = {{.opset = 9, .shapes = {}, .ints = {{2, 3}}},
              {.opset = 9, .shapes = {}, .attrs = {{"value", tensor_attr(DType::Float32, 1.5)}}, .ints = {{4}}},
              {.opset = 20, .shapes = {}, .attrs = {{"value", tensor_attr(DType::Int64, 7)}}, .ints = {{3, 1, 2}}},
              {.opset = 21, .shapes = {}, .attrs = {{"value", tensor_attr(DType::Float32, -2)}}, .ints = {{}}},
              {.opset = 21, .shapes = {}, .ints = {{2, 0}}}}};

}  // namespace onnxtrain::ops
