// Div: Y = A / B with numpy broadcasting (from opset 7; before it, B broadcasts to A only with broadcast = 1). The
// forward kernels (oneDNN binary div for float32, a host loop for the other dtypes: integer quotients truncated toward
// zero, as onnxruntime computes them and as PyTorch's exporter assumes when it writes `a // b` as Div plus a fix-up
// for negative operands; float16 and bfloat16 rounded as numpy), its double reference, its fold over known integers
// (a shape chain's `dim // heads`) and the gradient rule. Only float32 trains.
#include <limits>
#include <type_traits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Integers: truncated toward zero; x / 0 is 0 (numpy's result, where C++ has none) and the one overflowing quotient,
// min / -1, wraps to min as numpy's does. Floats: IEEE division.
template <typename T>
T div(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>)
      if (b == -1) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
    return static_cast<T>(a / b);
  } else {
    return a / b;
  }
}

// A, B: shapes that broadcast to Y. float32 through oneDNN's binary div; other dtypes a host loop.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  if (d == DType::Float32) return binary_forward(ctx, n, steps, dnnl_compat::Binary::Div);
  broadcast_host_step(ctx, n, steps, same_type_loop(d, [](auto a, auto b) { return div(a, b); }));
}

// Y[i] = A[a(i)] / B[b(i)], a(i) and b(i) the index i broadcast back to A's and B's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  binary_reference(in, out, [](double a, double b) { return a / b; });
}

// Y = A / B over known integers, truncated (a head size, dim // heads).
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  return binary_fold(g, n, in, out, [](int64_t a, int64_t b) { return div(a, b); });
}

// Y = A / B; dA = dY / B summed to A's shape, dB = -dY * A / B^2 = -dY * (Y / B) summed to B's shape (PyTorch's
// div backward computes it in that order).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  const int A = n.inputs[0], B = n.inputs[1], Y = n.outputs[0];
  if (b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReduceToShape", {b.emit("Div", {dY, B}), A}));
  if (b.needs(n, 1))
    b.set_dX(n, 1,
             b.emit("ReduceToShape", {b.emit("Mul", {dY, b.emit("Div", {Y, B})}), B}, {{"scale", ir::Attr::of(-1.f)}}));
}

}  // namespace

extern const OpDef kDiv{.type = "Div",
                        .versions = {1, 6, 7, 13, 14},
                        .check = check_binary,
                        .infer = binary_infer,
                        .fold = fold,
                        .forward = forward,
                        .gradient = gradient,
                        .reference = reference,
                        .types = binary_types,
                        // Before 7 only B broadcasts, to A, and only with broadcast = 1; from 7 numpy broadcasting,
                        // both ways, A broadcast alone too.
                        .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}},
                                  {.opset = 6, .shapes = {{3, 5}, {5}}, .attrs = {{"broadcast", attr(1)}}},
                                  {.opset = 7, .shapes = {{3, 1}, {1, 5}}},
                                  {.opset = 13, .shapes = {{2, 3, 4}, {3, 1}}},
                                  {.opset = 14, .shapes = {{1}, {2, 7}}},
                                  {.opset = 14, .shapes = {{7}, {3, 2, 7}}}}};

}  // namespace onnxtrain::ops
