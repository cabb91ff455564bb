// The op registry: one explicit list of what onnxtrain supports. An op missing here is refused at load with
// its node, op type and opset named.
#include <algorithm>
#include <stdexcept>
#include <utility>

#include "runtime/ops/op.h"

namespace onnxtrain::ops {

// Each op file defines its OpDef.
extern const OpDef kGemm;
extern const OpDef kLeakyRelu;
extern const OpDef kRelu;
extern const OpDef kSoftmax;
extern const OpDef kSigmoid;
extern const OpDef kTanh;
extern const OpDef kLogSoftmax;
extern const OpDef kIdentity;
extern const OpDef kFlatten;
extern const OpDef kTranspose;
extern const OpDef kMatMul;
extern const OpDef kAdd;
extern const OpDef kReshape;
extern const OpDef kDropout;
extern const OpDef kSqueeze;
extern const OpDef kUnsqueeze;
// Internal ops that autodiff emits: backward kernels, fan-out sums and losses.
extern const OpDef kReduceToShape;
extern const OpDef kReluGrad;
extern const OpDef kSoftmaxGrad;
extern const OpDef kSum;
extern const OpDef kSoftmaxCrossEntropyLoss;
extern const OpDef kMSELoss;
extern const OpDef kSigmoidGrad;
extern const OpDef kTanhGrad;
extern const OpDef kReshapeLike;
extern const OpDef kInsertAxis;
extern const OpDef kNLLLoss;
extern const OpDef kBCELoss;
extern const OpDef kSigmoidBCELoss;
extern const OpDef kDropoutGrad;

namespace {

// Mutable only through replace_gradient_for_testing; everything else sees it const, through all_ops().
std::vector<OpDef>& registry() {
  static std::vector<OpDef> ops = {
      // ONNX ops, read from model files.
      kGemm,
      kLeakyRelu,
      kRelu,
      kSoftmax,
      kSigmoid,
      kTanh,
      kLogSoftmax,
      kIdentity,
      kFlatten,
      kTranspose,
      kMatMul,
      kAdd,
      kReshape,
      kDropout,
      kSqueeze,
      kUnsqueeze,
      // Internal.
      kReduceToShape,
      kReluGrad,
      kSoftmaxGrad,
      kSum,
      kSoftmaxCrossEntropyLoss,
      kMSELoss,
      kSigmoidGrad,
      kTanhGrad,
      kReshapeLike,
      kInsertAxis,
      kNLLLoss,
      kBCELoss,
      kSigmoidBCELoss,
      kDropoutGrad,
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

void infer_shapes(ir::Graph& g) {
  std::vector<bool> ranked(g.values.size(), true);
  for (int i : g.inputs) ranked[i] = g.values[i].has_declared || !g.values[i].shape.empty();
  for (const ir::Node& n : g.nodes) {
    std::vector<ir::Shape> in;
    bool known = true;
    for (int i : n.inputs) {
      in.push_back(i >= 0 ? g.values[i].shape : ir::Shape{});
      known = known && (i < 0 || ranked[i]);
    }
    std::vector<ir::Shape> out;
    if (known) out = find_op(n.op_type)->infer(g, n, in);
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      int o = n.outputs[k];
      if (o < 0) continue;
      ranked[o] = known && k < out.size();
      if (ranked[o] && !ir::within_limits(out[k]))
        g.fail(n, "output '" + g.values[o].name + "' would be " + ir::shape_str(out[k]) + ", more than " +
                      std::to_string(ir::kMaxElements) + " elements");
      if (ranked[o] && out[k].size() > ir::kMaxRank)
        g.fail(n, ir::rank_error("output '" + g.values[o].name + "' " + ir::shape_str(out[k]), out[k].size()));
      if (ranked[o]) g.values[o].shape = out[k];
    }
  }
}

}  // namespace onnxtrain::ops
