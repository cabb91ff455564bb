// Dropout: in training, Y = X * mask / (1 - ratio) with a random mask keeping each element with probability
// 1 - ratio, hashed from (seed, node, step, element) so that no generator state outlives a step; in run and eval,
// Y = X and the mask is all ones. The ratio comes from the attribute (before opset 12, default 0.5) or a constant
// input (12 on). Shape inference, the forward kernel, its double reference (inference only), the gradient rule and
// DropoutGrad, dX = dY * mask / (1 - ratio) (dX = dY in a run that does not train, where Y = X).
// Host loops: oneDNN has no random primitive. The mask is bool from opset 10, as ONNX declares it (float 0/1 before,
// and where autodiff adds a mask the model left off, which no one else reads).
#include <algorithm>
#include <functional>
#include <string>

#include "runtime/exec/dnnl_compat.h"
#include "runtime/ops/op.h"

namespace onnxtrain::ops {
namespace {

// splitmix64's finalizer: a bijective 64-bit mix whose outputs pass as independent uniform draws.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The ratio input (opset 12 on) when it is fed at run time rather than constant.
int runtime_ratio(const ir::Graph& g, const ir::Node& n) {
  int r = n.version >= 12 ? n.input(1) : -1;
  if (r < 0) return -1;
  const ir::ValueKind k = g.values[r].kind;
  return k == ir::ValueKind::Constant || k == ir::ValueKind::Parameter ? -1 : r;
}

// The ratio when it is known before running: the attribute, a constant input, or the default 0.5.
float ratio_of(const ir::Graph& g, const ir::Node& n) {
  if (n.version < 12) return n.attr_f("ratio", 0.5f);
  int r = n.input(1);
  if (r < 0 || runtime_ratio(g, n) >= 0) return 0.5f;
  if (g.values[r].dtype != DType::Float32 || g.numel(r) != 1)
    g.fail(n, "ratio '" + g.values[r].name + "' must be one float32 value, got " + g.type_of(r) + " " +
                  ir::shape_str(g.values[r].shape));
  return g.param(r)[0];
}

void check(const ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0) g.fail(n, "input data is required");
  if (n.outputs.empty() || n.outputs[0] < 0) g.fail(n, "output is required");
  float r = ratio_of(g, n);
  if (!(r >= 0.f && r < 1.f)) g.fail(n, "ratio " + std::to_string(r) + " is outside [0, 1)");
}

// X: any shape; Y and mask: the same.
std::vector<Shape> infer(const ir::Graph&, const ir::Node& n, const InferInputs& in) {
  return std::vector<Shape>(std::max<size_t>(n.outputs.size(), 1), in[0]);
}

// Y = X * mask / (1 - ratio) while training, else Y = X (mask = 1).
void forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& xs = ctx.shape(n.inputs[0]);
  int64_t E = 1;
  for (int64_t d : xs) E *= d;
  auto md = dnnl_compat::plain(xs);
  dnnl::memory x = ctx.view(n.inputs[0], md), y = ctx.view(n.outputs[0], md);
  const bool has_mask = n.outputs.size() > 1 && n.outputs[1] >= 0;
  const bool bool_mask = has_mask && ctx.graph().values[n.outputs[1]].dtype == DType::Bool;
  const auto mask_md = bool_mask ? dnnl_compat::bytes(E) : md;
  dnnl::memory mask = has_mask ? ctx.view(n.outputs[1], mask_md) : ctx.scratch(md);
  const float fixed_ratio = ratio_of(ctx.graph(), n);
  const int fed = runtime_ratio(ctx.graph(), n);
  dnnl::memory ratio_mem = fed >= 0 ? ctx.view(fed, dnnl_compat::plain({})) : dnnl::memory();
  const bool* training = ctx.training();
  // Each element's draw is a hash of (seed, node, step, element): the same seed gives the same masks, whichever
  // plan (batch size) runs the step, and resuming at step t needs only t.
  const uint64_t node_key = mix(ctx.seed() * 1000003 + std::hash<std::string>()(n.name));
  const uint64_t* step = ctx.step();
  Step s;
  s.host = [=]() {
    const float* X = static_cast<const float*>(x.get_data_handle());
    float* Y = static_cast<float*>(y.get_data_handle());
    void* M = mask.get_data_handle();
    const auto keep = [&](int64_t e, bool k) {
      if (bool_mask)
        static_cast<uint8_t*>(M)[e] = k;
      else
        static_cast<float*>(M)[e] = k ? 1.f : 0.f;
    };
    const float ratio = fed >= 0 ? *static_cast<const float*>(ratio_mem.get_data_handle()) : fixed_ratio;
    const float scale = 1.f / (1.f - ratio);
    if (!*training || ratio == 0.f) {
      for (int64_t e = 0; e < E; ++e) Y[e] = X[e], keep(e, true);
      return;
    }
    const uint64_t key = mix(node_key ^ mix(*step + 0x632be59bd9b4e019ull));
    for (int64_t e = 0; e < E; ++e) {
      const float u = float(mix(key + uint64_t(e) * 0x9e3779b97f4a7c15ull) >> 40) * 0x1p-24f;  // uniform in [0, 1)
      keep(e, u >= ratio);
      Y[e] = X[e] * (u >= ratio ? 1.f : 0.f) * scale;  // as torch: X * mask * scale (a dropped -x gives -0)
    }
  };
  steps.push_back(std::move(s));
}

// Dropout at inference: Y = X and mask = 1. Only that: a training mask is drawn by the kernel, so gradcheck runs both
// sides with Dropout as the identity. X: any shape; Y and mask: the same.
void reference(const ir::Graph&, const ir::Node&, const std::vector<const RefTensor*>& in,
               std::vector<RefTensor>& out) {
  out[0].data = in[0]->data;
  if (out.size() > 1) std::fill(out[1].data.begin(), out[1].data.end(), 1.0);
}

// Y = X * mask / (1 - ratio); dX = dY * mask / (1 - ratio).
void gradient(GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY < 0 || !b.needs(n, 0)) return;
  if (runtime_ratio(b.graph(), n) >= 0) b.graph().fail(n, "ratio must be a constant to train through Dropout");
  b.set_dX(n, 0,
           b.emit("DropoutGrad", {dY, n.outputs[1]}, {{"scale", ir::Attr::of(1.f / (1.f - ratio_of(b.graph(), n)))}}));
}

// DropoutGrad(dY, mask) -> dY * mask * scale while training; in a run that does not train the forward was Y = X
// (mask all ones), so dX = dY. dY: any shape; mask: the same; dX: the same.
void grad_forward(CompileCtx& ctx, const ir::Node& n, std::vector<Step>& steps) {
  const Shape& s = ctx.shape(n.inputs[0]);
  int64_t E = 1;
  for (int64_t d : s) E *= d;
  auto md = dnnl_compat::plain(s);
  const bool bool_mask = ctx.graph().values[n.inputs[1]].dtype == DType::Bool;
  dnnl::memory dy = ctx.view(n.inputs[0], md), dx = ctx.view(n.outputs[0], md);
  dnnl::memory m = ctx.view(n.inputs[1], bool_mask ? dnnl_compat::bytes(E) : md);
  const float train_scale = n.attr_f("scale", 1.f);
  const bool* training = ctx.training();
  Step st;
  st.host = [=]() {
    const float* DY = static_cast<const float*>(dy.get_data_handle());
    const void* M = m.get_data_handle();
    float* DX = static_cast<float*>(dx.get_data_handle());
    const float scale = *training ? train_scale : 1.f;
    for (int64_t e = 0; e < E; ++e) {
      const bool kept = bool_mask ? static_cast<const uint8_t*>(M)[e] != 0 : static_cast<const float*>(M)[e] != 0.f;
      DX[e] = DY[e] * (kept ? 1.f : 0.f) * scale;
    }
  };
  steps.push_back(std::move(st));
}

// Y has X's type (float32); the mask is bool from opset 10 (Dropout-7's T, float, before).
void types(ir::Graph& g, const ir::Node& n) {
  if (n.input(0) < 0 || n.outputs.empty() || n.outputs[0] < 0) return;  // check's
  const ir::Value& x = g.values[n.inputs[0]];
  if (!x.tensor || x.dtype != DType::Float32)
    g.fail(n, "input '" + x.name + "' is " + g.type_of(n.inputs[0]) + "; Dropout computes on float32 tensors");
  if (n.outputs.size() > 1 && n.outputs[1] >= 0)
    g.values[n.outputs[1]].dtype = n.version >= 10 ? DType::Bool : DType::Float32;
}

}  // namespace

extern const OpDef kDropout{
    .type = "Dropout",
    .versions = {1, 6, 7, 10, 12, 13},
    .check = check,
    .infer = infer,
    .forward = forward,
    .gradient = gradient,
    .int_inputs = {2},
    .grad_outputs = 2,
    .reference = reference,
    .types = types,
    // Outside training, where the tests run it: Y = X at every ratio. is_test before 7; the ratio input from 12.
    .cases = {{.opset = 1, .shapes = {{3, 5}}, .attrs = {{"is_test", attr(1)}, {"ratio", attr(0.3f)}}},
              {.opset = 6, .shapes = {{2, 7, 3}}, .attrs = {{"is_test", attr(1)}}},
              {.opset = 7, .shapes = {{3, 5}}, .attrs = {{"ratio", attr(0.2f)}}},
              {.opset = 10, .shapes = {{13}}},
              {.opset = 12, .shapes = {{2, 7, 3}}},
              {.opset = 13, .shapes = {{3, 5}}}}};
extern const OpDef kDropoutGrad{.type = "DropoutGrad",
                                .versions = {1},
                                .check = no_check,
                                .infer = same_as_first,
                                .forward = grad_forward,
                                .internal = true};

}  // namespace onnxtrain::ops
