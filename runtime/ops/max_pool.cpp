// MaxPool: Y = the maximum of each window of X (N, C, D1..Dr), r = 1 to 3: kernel_shape, strides, pads or auto_pad,
// dilations and ceil_mode (from opset 10), and the optional Indices output (from 8, int64, flattened, storage_order 1
// column-major). float32 through oneDNN pooling, double, float16 and (from 12) int8 and uint8 through a host loop.
// The gradient routes dY to each window's first maximum, through the argmax oneDNN keeps in a training graph's extra
// output. The window and kernels are pooling.cpp's.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Beyond ONNX's outputs: the argmax of a training forward (Y's shape), for the backward.
constexpr size_t kWorkspace = 2;

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, X");
  if (n.outputs.empty() || n.outputs[0] < 0 || n.outputs.size() > kWorkspace + 1)
    g.fail(n, "expected Y and optionally Indices");
  if (n.version < 8 && n.outputs.size() > 1 && n.outputs[1] >= 0) g.fail(n, "output Indices is there from opset 8");
  if (n.version < 10 && (n.has("dilations") || n.has("ceil_mode")))
    g.fail(n, "dilations and ceil_mode are attributes from opset 10");
  const int64_t order = n.attr_i("storage_order", 0);
  if (order != 0 && order != 1) g.fail(n, "storage_order must be 0 or 1, got " + std::to_string(order));
}

void types(ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0 || n.outputs.empty() || n.outputs[0] < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  const bool small_ints = x.dtype == DType::Int8 || x.dtype == DType::UInt8;
  if (!x.tensor || !(x.dtype == DType::Float32 || x.dtype == DType::Float64 || x.dtype == DType::Float16 ||
                     (small_ints && n.version >= 12)))
    g.fail(n, "X '" + x.name + "' is " + g.type_of(n.inputs[0]) +
                  "; MaxPool takes float, double and float16 (and int8, uint8 from opset 12)");
  g.values[n.outputs[0]].dtype = x.dtype;
  if (n.outputs.size() > 1 && n.outputs[1] >= 0) g.values[n.outputs[1]].dtype = DType::Int64;
}

int output(const ir::Node& n, size_t k) { return k < n.outputs.size() ? n.outputs[k] : -1; }

// Indices only where the model asks for them: autodiff's placeholder for output 1 (made so that the workspace can be
// output 2) is float32.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const int indices = output(n, 1);
  const bool wanted = indices >= 0 && ctx.graph().values[indices].dtype == DType::Int64;
  pool_forward(ctx, n, steps, output(n, kWorkspace), wanted ? indices : -1);
}

// Y = max over each window: dX[i] = sum of dY over the windows whose (first) maximum i is.
void gradient(GradBuilder& b, const ir::Node& n) { pool_gradient(b, n, output(n, kWorkspace)); }

}  // namespace

extern const OpDef kMaxPool{
    .type = "MaxPool",
    .versions = {1, 8, 10, 11, 12},
    .check = check,
    .infer = pool_infer,
    .forward = forward,
    .gradient = gradient,
    .grad_outputs = kWorkspace + 1,
    .reference = pool_reference,
    .types = types,
    .layouts = true,
    // Strides that do not divide, pads, dilations, ceil mode, 1-D and 3-D.
    .cases = {{.opset = 1, .shapes = {{2, 3, 7, 6}}, .attrs = {{"kernel_shape", attr({3, 2})}}},
              {.opset = 8,
               .shapes = {{1, 2, 9, 8}},
               .attrs = {{"kernel_shape", attr({3, 3})}, {"strides", attr({2, 3})}, {"pads", attr({1, 0, 2, 1})}}},
              {.opset = 10,
               .shapes = {{1, 3, 8, 7}},
               .attrs = {{"kernel_shape", attr({2, 3})},
                         {"dilations", attr({2, 1})},
                         {"strides", attr({2, 2})},
                         {"ceil_mode", attr(1)}}},
              {.opset = 11,
               .shapes = {{2, 2, 9}},
               .attrs = {{"kernel_shape", attr({3})}, {"strides", attr({2})}, {"auto_pad", attr_string("SAME_UPPER")}}},
              {.opset = 12,
               .shapes = {{1, 2, 4, 5, 3}},
               .attrs = {{"kernel_shape", attr({2, 2, 2})}, {"pads", attr({1, 0, 0, 0, 1, 1})}}}}};

}  // namespace onnxtrain::ops
