// The op registry, built from the one list of what onnxtrain supports (op_list.h). An op missing there is refused
// at load with its node, op type and opset named.
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {

// Each op file defines its OpDef; op_list.h names them, a line each.
#define ONNXTRAIN_OP(def) extern const OpDef def;
#include "runtime/ops/op_list.h"
#undef ONNXTRAIN_OP

namespace {

// Mutable only through replace_gradient_for_testing; everything else sees it const, through all_ops().
std::vector<OpDef>& registry() {
  static std::vector<OpDef> ops = {
#define ONNXTRAIN_OP(def) def,
#include "runtime/ops/op_list.h"
#undef ONNXTRAIN_OP
  };
  return ops;
}

}  // namespace

const std::vector<OpDef>& all_ops() { return registry(); }

GradientFn replace_gradient_for_testing(const char* type, GradientFn rule) {
  for (OpDef& op : registry())
    if (std::string(type) == op.type) return std::exchange(op.gradient, rule);
  throw std::invalid_argument(std::string("replace_gradient_for_testing: no op ") + type);
}

const OpDef* find_op(const std::string& type) {
  for (const OpDef& op : all_ops())
    if (type == op.type) return &op;
  return nullptr;
}

bool is_state(const ir::Graph& g, int value) {
  const ir::Value& v = g.values[value];
  if (v.kind != ir::ValueKind::Parameter) return false;
  for (int c : v.consumers) {
    const ir::Node& n = g.nodes[c];
    for (int k : find_op(n.op_type)->state_inputs)
      if (n.input(k) == value) return true;
  }
  return false;
}

std::string supported_ops() {
  std::string s;
  for (const OpDef& op : all_ops()) {
    if (op.internal) continue;
    if (!s.empty()) s += ", ";
    s += std::string(op.type) + " (opsets " + std::to_string(op.versions.front()) + "-" + std::to_string(kMaxOpset) +
         (op.gradient ? ", trainable through" : ", no gradient") + ")";
  }
  return s;
}

}  // namespace onnxtrain::ops

namespace onnxtrain::ops {

void infer_types(ir::Graph& g) {
  for (const ir::Node& n : g.nodes) {
    const OpDef* op = find_op(n.op_type);
    if (op->types) {
      op->types(g, n);
      continue;
    }
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int i = n.inputs[k];
      if (i < 0 || op->int_input(k)) continue;
      const ir::Value& v = g.values[i];
      if (!v.tensor || v.dtype != DType::Float32)
        g.fail(n, "input '" + v.name + "' is " + g.type_of(i) + "; " + n.op_type + " computes on float32 tensors");
    }
  }
}

std::vector<const std::vector<int64_t>*> known_values(const ir::Graph& g, bool bound) {
  std::vector<const std::vector<int64_t>*> values(g.values.size(), nullptr);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ir::Value& val = g.values[v];
    if (val.integer && (val.kind == ir::ValueKind::Constant || (bound && val.kind == ir::ValueKind::Input)))
      values[v] = &val.ints;
  }
  return values;
}

std::vector<Shape> infer_node(const ir::Graph& g, const ir::Node& n, const std::vector<Shape>& shapes,
                              std::vector<const std::vector<int64_t>*>& values,
                              std::vector<std::vector<int64_t>>& folded) {
  const OpDef* op = find_op(n.op_type);
  InferInputs in;
  for (int i : n.inputs) {
    in.push_back(i >= 0 ? shapes[i] : Shape{});
    in.known.push_back(i >= 0 ? values[i] : nullptr);
    // A float Constant's values, or a fed input's once bound (empty before).
    const bool real =
        i >= 0 && g.values[i].real && (g.values[i].kind == ir::ValueKind::Constant || !g.values[i].reals.empty());
    in.known_reals.push_back(real ? &g.values[i].reals : nullptr);
  }
  std::vector<Shape> out = op->infer(g, n, in);
  std::vector<std::vector<int64_t>> out_values(n.outputs.size());
  if (op->fold && op->fold(g, n, in, out_values))
    for (size_t k = 0; k < n.outputs.size(); ++k)
      if (const int o = n.outputs[k]; o >= 0) {
        folded[o] = std::move(out_values[k]);
        values[o] = &folded[o];
      }
  return out;
}

void infer_shapes(ir::Graph& g) {
  std::vector<bool> ranked(g.values.size(), true);
  for (int i : g.inputs) ranked[i] = g.values[i].has_declared || !g.values[i].shape.empty();
  std::vector<const std::vector<int64_t>*> values = known_values(g, false);
  std::vector<std::vector<int64_t>> folded(g.values.size());
  std::vector<Shape> shapes(g.values.size());
  for (size_t v = 0; v < g.values.size(); ++v) shapes[v] = g.values[v].shape;
  for (const ir::Node& n : g.nodes) {
    bool known = true;
    for (int i : n.inputs) known = known && (i < 0 || ranked[i]);
    std::vector<ir::Shape> out;
    if (known) out = infer_node(g, n, shapes, values, folded);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      int o = n.outputs[k];
      if (o < 0) continue;
      ranked[o] = known && k < out.size();
      if (ranked[o] && !ir::within_limits(out[k]))
        g.fail(n, "output '" + g.values[o].name + "' would be " + ir::shape_str(out[k]) + ", more than " +
                      std::to_string(ir::kMaxElements) + " elements");
      if (ranked[o] && out[k].size() > ir::kMaxRank)
        g.fail(n, ir::rank_error("output '" + g.values[o].name + "' " + ir::shape_str(out[k]), out[k].size()));
      if (ranked[o]) g.values[o].shape = shapes[o] = out[k];
    }
  }
}

}  // namespace onnxtrain::ops
