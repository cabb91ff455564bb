// Add: Y = A + B with numpy broadcasting (from opset 7; before it, B broadcasts to A only with broadcast = 1 and
// no axis). The forward kernels (oneDNN binary add for float32, a host loop with numpy's arithmetic for the other
// dtypes), its double reference, its fold over known integers (shape chains) and the gradient rule: each input's
// gradient is dY summed over the axes along which it was broadcast (ReduceToShape, gemm.cpp). Only float32 trains.
// The checks, shapes, dtypes and loops it shares with Sub, Mul and Div are in common.cpp.
#include <type_traits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Integers wrap around as numpy's do (computed on uint64_t, no signed overflow); floats add.
template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}

// A, B: shapes that broadcast to Y. float32 through oneDNN's binary add; other dtypes a host loop.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  if (d == DType::Float32) return binary_forward(ctx, n, steps, dnnl_compat::Binary::Add);
  broadcast_host_step(ctx, n, steps, same_type_loop(d, [](auto a, auto b) { return add(a, b); }));
}

// Y[i] = A[a(i)] + B[b(i)], a(i) and b(i) the index i broadcast back to A's and B's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  binary_reference(in, out, [](double a, double b) { return a + b; });
}

// Y = A + B over known integers (a shape chain's sums).
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  return binary_fold(g, n, in, out, [](int64_t a, int64_t b) { return add(a, b); });
}

// Y = A + B; dA = dY summed to A's shape, dB = dY summed to B's shape.
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  for (size_t k = 0; k < 2; ++k)
    if (b.needs(n, k)) b.set_dX(n, k, b.emit("ReduceToShape", {dY, n.inputs[k]}));
}

}  // namespace

extern const OpDef kAdd{
    .type = "Add",
    .versions = {1, 6, 7, 13, 14},
    .check = check_binary,
    .infer = binary_infer,
    .fold = fold,
    .forward = forward,
    .gradient = gradient,
    .reference = reference,
    .types = binary_types,
    .layouts = true,  // Y = A + B of one shape in a blocked input's layout (a residual block's skip)
    // Before 7 only B broadcasts, to A, and only with broadcast = 1; from 7 numpy broadcasting, both ways.
    .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}},
              {.opset = 6, .shapes = {{3, 5}, {5}}, .attrs = {{"broadcast", attr(1)}}},
              {.opset = 7, .shapes = {{3, 1}, {1, 5}}},
              {.opset = 13, .shapes = {{2, 3, 4}, {3, 1}}},
              {.opset = 14, .shapes = {{1}, {2, 7}}}}};

}  // namespace onnxtrain::ops
