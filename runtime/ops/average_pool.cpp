// AveragePool: Y = the mean of each window of X (N, C, D1..Dr), r = 1 to 3: kernel_shape, strides, pads or auto_pad,
// count_include_pad (from opset 7: the explicit pads count in the divisor), ceil_mode (from 10) and dilations (from
// 19). oneDNN pooling forward and backward; the window and kernels are pooling.cpp's.
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.inputs.size() != 1 || n.input(0) < 0) g.fail(n, "expected 1 input, X");
  if (n.outputs.size() != 1 || n.outputs[0] < 0) g.fail(n, "expected 1 output");
  if (n.version < 7 && n.has("count_include_pad")) g.fail(n, "count_include_pad is an attribute from opset 7");
  if (n.version < 10 && n.has("ceil_mode")) g.fail(n, "ceil_mode is an attribute from opset 10");
  if (n.version < 19 && n.has("dilations")) g.fail(n, "dilations is an attribute from opset 19");
}

void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) { pool_forward(ctx, n, steps, -1, -1); }

// Y = sum over each window / its count: dX[i] = sum of dY / count over the windows that cover i.
void gradient(GradBuilder& b, const ir::Node& n) { pool_gradient(b, n, -1); }

}  // namespace

extern const OpDef kAveragePool{
    .type = "AveragePool",
    .versions = {1, 7, 10, 11, 19},
    .check = check,
    .infer = pool_infer,
    .forward = forward,
    .gradient = gradient,
    .reference = pool_reference,
    .layouts = true,
    // Pads counted and not, ceil mode, auto_pad, dilations, 1-D and 3-D.
    .cases = {
        {.opset = 1, .shapes = {{2, 3, 7, 6}}, .attrs = {{"kernel_shape", attr({3, 2})}, {"pads", attr({1, 1, 1, 1})}}},
        {.opset = 7,
         .shapes = {{1, 2, 9, 8}},
         .attrs = {{"kernel_shape", attr({3, 3})},
                   {"strides", attr({2, 3})},
                   {"pads", attr({1, 0, 2, 1})},
                   {"count_include_pad", attr(1)}}},
        {.opset = 10,
         .shapes = {{1, 3, 8, 7}},
         .attrs = {{"kernel_shape", attr({2, 3})}, {"strides", attr({3, 2})}, {"ceil_mode", attr(1)}}},
        {.opset = 11,
         .shapes = {{2, 2, 9}},
         .attrs = {{"kernel_shape", attr({3})}, {"strides", attr({2})}, {"auto_pad", attr_string("SAME_LOWER")}}},
        {.opset = 19,
         .shapes = {{1, 2, 7, 5, 4}},
         .attrs = {{"kernel_shape", attr({2, 2, 2})}, {"dilations", attr({2, 1, 1})}}}}};

}  // namespace onnxtrain::ops
