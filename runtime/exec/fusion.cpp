// Gemm + Relu/LeakyRelu fusion: see fusion.h.
#include "runtime/exec/fusion.h"

#include <algorithm>

#include "runtime/ops/op.h"

namespace onnxtrain {

void fuse_activations(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  for (ir::Node& gemm : g.nodes) {
    if (gemm.op_type != "Gemm" || gemm.has("onnxtrain.relu_slope")) continue;
    const int pre = gemm.outputs[0];
    const ir::Value& v = g.values[pre];
    if (v.is_output || v.consumers.size() != 1) continue;
    const int k = v.consumers[0];
    const ir::Node& act = g.nodes[k];
    const ops::OpDef* def = ops::find_op(act.op_type);
    if (!def || !def->rectifier_slope) continue;
    const float slope = def->rectifier_slope(act);
    gemm.attrs["onnxtrain.relu_slope"] = ir::Attr::of(slope);
    gemm.outputs[0] = act.outputs[0];
    dead[k] = true;
  }
  std::vector<ir::Node> kept;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (!dead[k]) kept.push_back(std::move(g.nodes[k]));
  g.nodes = std::move(kept);
  // The pre-activation values no node produces now are left unused; finalize relinks producers and consumers.
  for (ir::Value& v : g.values) v.producer = -1;
  g.finalize();
}

}  // namespace onnxtrain

namespace onnxtrain {
namespace {

// The one node reading v, when v is read by exactly one node of that type and is no graph output.
const ir::Node* sole_reader(const ir::Graph& g, int v, const char* op_type) {
  const ir::Value& val = g.values[v];
  if (val.is_output || val.consumers.size() != 1) return nullptr;
  const ir::Node& n = g.nodes[val.consumers[0]];
  return n.op_type == op_type ? &n : nullptr;
}

// A float32 constant holding one value.
bool scalar_constant(const ir::Graph& g, int v, float* out) {
  if (v < 0) return false;
  const ir::Value& val = g.values[v];
  if (val.kind != ir::ValueKind::Constant || val.integer || val.dtype != DType::Float32 || g.numel(v) != 1)
    return false;
  *out = g.param(v)[0];
  return true;
}

// The other input of a two-input node, given one of them.
int other_input(const ir::Node& n, int v) {
  if (n.inputs.size() != 2) return -1;
  return n.inputs[0] == v ? n.inputs[1] : n.inputs[1] == v ? n.inputs[0] : -1;
}

// A ReduceMean with keepdims over the trailing axes of x (rank dims): how many, 0 when it is not such a one.
int trailing_mean_axes(const ir::Graph& g, const ir::Node& n, size_t rank) {
  if (n.op_type != "ReduceMean" || n.attr_i("keepdims", 1) != 1) return 0;
  std::vector<int64_t> axes;
  if (n.has("axes"))
    axes = n.attrs.at("axes").ints;
  else if (n.input(1) >= 0 && g.values[n.inputs[1]].kind == ir::ValueKind::Constant && g.values[n.inputs[1]].integer)
    axes = g.values[n.inputs[1]].ints;
  if (axes.empty() || rank == 0) return 0;
  for (int64_t& a : axes)
    if (a < 0) a += static_cast<int64_t>(rank);
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] != static_cast<int64_t>(rank - axes.size() + i)) return 0;
  return static_cast<int>(axes.size());
}

// weight or bias: a stored tensor whose shape is x's last `count` dims, all known.
bool affine_operand(const ir::Graph& g, int v, const ir::Shape& x, int count) {
  if (v < 0) return false;
  const ir::Value& val = g.values[v];
  if (val.kind != ir::ValueKind::Parameter && val.kind != ir::ValueKind::Constant) return false;
  if (val.dtype != DType::Float32 || val.integer) return false;
  const ir::Shape normalized(x.end() - count, x.end());
  for (int64_t d : normalized)
    if (d == ir::kUnknown) return false;
  return val.shape == normalized;
}

}  // namespace

void fuse_layer_norm(ir::Graph& g) {
  std::vector<bool> dead(g.nodes.size(), false);
  std::vector<ir::Node> added;
  const auto index = [&](const ir::Node* n) { return static_cast<size_t>(n - g.nodes.data()); };
  for (const ir::Node& mean : g.nodes) {
    if (mean.op_type != "ReduceMean" || mean.inputs.empty() || mean.inputs[0] < 0) continue;
    const int x = mean.inputs[0];
    const ir::Shape& xs = g.values[x].shape;
    const int count = trailing_mean_axes(g, mean, xs.size());
    if (count == 0) continue;
    const ir::Node* sub = sole_reader(g, mean.outputs[0], "Sub");
    if (!sub || sub->inputs.size() != 2 || sub->inputs[0] != x || sub->inputs[1] != mean.outputs[0]) continue;
    const int d = sub->outputs[0];
    const ir::Value& dv = g.values[d];
    if (dv.is_output || dv.consumers.size() != 2) continue;
    const ir::Node *pow = nullptr, *div = nullptr;
    for (int c : dv.consumers) (g.nodes[c].op_type == "Pow" ? pow : div) = &g.nodes[c];
    float two = 0, eps = 0;
    if (!pow || !div || div->op_type != "Div" || pow->input(0) != d || !scalar_constant(g, pow->input(1), &two) ||
        two != 2.f || div->input(0) != d)
      continue;
    const ir::Node* var = sole_reader(g, pow->outputs[0], "ReduceMean");
    if (!var || trailing_mean_axes(g, *var, xs.size()) != count) continue;
    const ir::Node* add = sole_reader(g, var->outputs[0], "Add");
    if (!add || !scalar_constant(g, other_input(*add, var->outputs[0]), &eps)) continue;
    const ir::Node* sqrt = sole_reader(g, add->outputs[0], "Sqrt");
    if (!sqrt || sole_reader(g, sqrt->outputs[0], "Div") != div || div->input(1) != sqrt->outputs[0]) continue;
    const ir::Node* mul = sole_reader(g, div->outputs[0], "Mul");
    if (!mul) continue;
    const int weight = other_input(*mul, div->outputs[0]);
    if (!affine_operand(g, weight, xs, count)) continue;
    const ir::Node* shift = sole_reader(g, mul->outputs[0], "Add");
    const int bias = shift ? other_input(*shift, mul->outputs[0]) : -1;
    if (!affine_operand(g, bias, xs, count)) shift = nullptr;
    ir::Node ln;
    ln.name = mean.name + "/fused_layer_norm";
    ln.op_type = "LayerNormalization";
    ln.version = 17;
    ln.inputs = {x, weight};
    if (shift) ln.inputs.push_back(bias);
    ln.outputs = {(shift ? shift : mul)->outputs[0]};
    ln.attrs["axis"] = ir::Attr::of(int64_t{-count});
    ln.attrs["epsilon"] = ir::Attr::of(eps);
    for (const ir::Node* n : {&mean, sub, pow, var, add, sqrt, div, mul, shift})
      if (n) dead[index(n)] = true;
    added.push_back(std::move(ln));
  }
  if (added.empty()) return;
  std::vector<ir::Node> kept;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (!dead[k]) kept.push_back(std::move(g.nodes[k]));
  for (ir::Node& n : added) kept.push_back(std::move(n));
  g.nodes = std::move(kept);
  for (ir::Value& v : g.values) v.producer = -1;
  g.finalize();  // orders the fused nodes among the others
}

}  // namespace onnxtrain
