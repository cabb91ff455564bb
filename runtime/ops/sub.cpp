// Sub: Y = A - B with numpy broadcasting (from opset 7; before it, B broadcasts to A only with broadcast = 1). The
// forward kernels (oneDNN binary sub for float32, a host loop with numpy's wraparound and its float16 and bfloat16
// rounding for the other dtypes), its double reference, its fold over known integers (shape chains) and the gradient
// rule: dY, and -dY, summed over the broadcast axes. Only float32 trains.
#include <type_traits>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// Integers wrap around as numpy's do (the difference on uint64_t, truncated: no signed overflow); floats subtract.
template <typename T>
T sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  } else {
    return a - b;
  }
}

// A, B: shapes that broadcast to Y. float32 through oneDNN's binary sub; other dtypes a host loop.
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const DType d = ctx.graph().values[n.outputs[0]].dtype;
  if (d == DType::Float32) return binary_forward(ctx, n, steps, dnnl_compat::Binary::Sub);
  broadcast_host_step(ctx, n, steps, same_type_loop(d, [](auto a, auto b) { return sub(a, b); }));
}

// Y[i] = A[a(i)] - B[b(i)], a(i) and b(i) the index i broadcast back to A's and B's shapes. Y: the broadcast shape.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  binary_reference(in, out, [](double a, double b) { return a - b; });
}

// Y = A - B over known integers.
bool fold(const ir::Graph& g, const ir::Node& n, const InferInputs& in, std::vector<std::vector<int64_t>>& out) {
  return binary_fold(g, n, in, out, [](int64_t a, int64_t b) { return sub(a, b); });
}

// Y = A - B; dA = dY summed to A's shape, dB = -dY summed to B's shape (ReduceToShape's scale -1).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  if (b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReduceToShape", {dY, n.inputs[0]}));
  if (b.needs(n, 1)) b.set_dX(n, 1, b.emit("ReduceToShape", {dY, n.inputs[1]}, {{"scale", ir::Attr::of(-1.f)}}));
}

}  // namespace

extern const OpDef kSub{.type = "Sub",
                        .versions = {1, 6, 7, 13, 14},
                        .check = check_binary,
                        .infer = binary_infer,
                        .fold = fold,
                        .forward = forward,
                        .gradient = gradient,
                        .reference = reference,
                        .types = binary_types,
                        // Before 7 only B broadcasts, to A, and only with broadcast = 1; from 7 numpy broadcasting,
                        // both ways, A broadcast alone too (the kernel then broadcasts A into Y first).
                        .cases = {{.opset = 1, .shapes = {{3, 5}, {3, 5}}},
                                  {.opset = 6, .shapes = {{3, 5}, {5}}, .attrs = {{"broadcast", attr(1)}}},
                                  {.opset = 7, .shapes = {{3, 1}, {1, 5}}},
                                  {.opset = 13, .shapes = {{2, 3, 4}, {3, 1}}},
                                  {.opset = 14, .shapes = {{1}, {2, 7}}},
                                  {.opset = 14, .shapes = {{7}, {3, 2, 7}}}}};

}  // namespace onnxtrain::ops
