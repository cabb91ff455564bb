// Reverse walk from the loss: each forward node whose outputs received gradients asks its op's gradient rule for
// backward nodes; a value with several consumers has its gradients summed by a Sum node. A head that only the loss
// reads fuses with it and leaves the training graph: Softmax with cross-entropy and LogSoftmax with nll (both become
// SoftmaxCrossEntropyLoss on the head's input, gradient (p - onehot) / N), Sigmoid with bce (SigmoidBCELoss on the
// logits, gradient (p - t) / E). mse fuses with nothing.
#include "runtime/autodiff/autodiff.h"

#include <algorithm>
#include <map>

#include "onnxtrain/error.h"
#include "runtime/ops/op.h"

namespace onnxtrain::autodiff {
namespace {

// The head producing out when it is op_type and read by nothing but the loss; a (Log)Softmax must also normalize the
// class axis of a 2-D input.
const ir::Node* fusable_head(const ir::Graph& g, int out, const std::string& op_type) {
  const ir::Value& v = g.values[out];
  if (v.producer < 0 || !v.consumers.empty()) return nullptr;
  const ir::Node& s = g.nodes[v.producer];
  if (s.op_type != op_type) return nullptr;
  if (op_type == "Sigmoid") return &s;
  const ir::Shape& x = g.values[s.inputs[0]].shape;
  if (x.size() != 2) return nullptr;
  const int64_t axis = ops::softmax_axis(s);
  return (axis == 1 || axis == -1) ? &s : nullptr;
}

class Builder : public ops::GradBuilder {
 public:
  Builder(ir::Graph& g, std::vector<bool> requires_grad) : g_(g), rg_(std::move(requires_grad)) {}

  const ir::Graph& graph() const override { return g_; }
  const ops::Shape& shape(int v) const override { return g_.values[v].shape; }

  int dY(const ir::Node& n, size_t k) override { return k < n.outputs.size() ? total(n.outputs[k]) : -1; }
  bool needs(const ir::Node& n, size_t k) const override {
    int i = n.input(static_cast<int>(k));
    return i >= 0 && rg_[i];
  }
  void set_dX(const ir::Node& n, size_t k, int grad) override { contrib_[n.inputs[k]].push_back(grad); }
  void add(int value, int grad) { contrib_[value].push_back(grad); }

  int emit(const std::string& op_type, const std::vector<int>& inputs, std::map<std::string, ir::Attr> attrs) override {
    return emit_n(op_type, inputs, std::move(attrs), 1)[0];
  }
  std::vector<int> emit_n(const std::string& op_type, const std::vector<int>& inputs,
                          std::map<std::string, ir::Attr> attrs, size_t outputs) override {
    const ops::OpDef* op = ops::find_op(op_type);
    ir::Node n;
    n.name = "grad" + std::to_string(g_.nodes.size()) + "/" + op_type;
    n.op_type = op_type;
    n.version = op->versions.back();
    n.inputs = inputs;
    n.attrs = std::move(attrs);
    n.backward = true;
    for (size_t k = 0; k < outputs; ++k) {
      ir::Value out;
      out.name = n.name + ":" + std::to_string(k);
      out.backward = true;
      n.outputs.push_back(g_.add_value(out));
      rg_.push_back(false);
    }
    g_.nodes.push_back(std::move(n));
    return g_.nodes.back().outputs;
  }

  // The gradient of value: its one contribution, or the Sum of several (emitted once).
  int total(int value) {
    auto it = contrib_.find(value);
    if (it == contrib_.end() || it->second.empty()) return -1;
    if (it->second.size() > 1) {
      std::vector<int> parts = it->second;
      it->second = {emit("Sum", parts, {})};
    }
    return contrib_[value][0];
  }

 private:
  ir::Graph& g_;
  std::vector<bool> rg_;
  std::map<int, std::vector<int>> contrib_;
};

}  // namespace

Loss parse_loss(const std::string& name) {
  if (name == "cross-entropy") return Loss::CrossEntropy;
  if (name == "nll") return Loss::NLL;
  if (name == "bce") return Loss::BCE;
  if (name == "mse") return Loss::MSE;
  throw Error("TrainOptions::loss: unknown loss '" + name + "' (expected cross-entropy, nll, bce or mse)");
}

const char* loss_name(Loss loss) {
  switch (loss) {
    case Loss::CrossEntropy: return "cross-entropy";
    case Loss::NLL: return "nll";
    case Loss::BCE: return "bce";
    default: return "mse";
  }
}

Loss default_loss(const ir::Graph& g) {
  int out = g.outputs[0];
  int p = g.values[out].producer;
  const std::string head = p >= 0 ? g.nodes[p].op_type : "";
  if (head == "Softmax") return Loss::CrossEntropy;
  if (head == "LogSoftmax") return Loss::NLL;
  if (head == "Sigmoid") return Loss::BCE;
  g.fail("output '" + g.values[out].name + "' comes from no Softmax, LogSoftmax or Sigmoid, so the loss cannot be " +
         "guessed: choose it with TrainOptions::loss (cross-entropy, nll, bce or mse)");
}

namespace {

// A frozen name (TrainOptions::freeze) must be a float initializer of the model.
void check_frozen(const ir::Graph& g, const std::set<std::string>& frozen) {
  for (const std::string& name : frozen) {
    int id = g.find(name);
    if (id < 0 || g.values[id].kind != ir::ValueKind::Parameter)
      throw Error("TrainOptions::freeze: the model has no float initializer named '" + name + "'");
  }
}

// Which values depend on a trainable parameter (and so want a gradient), by value id. A node such a value reaches
// must have a gradient rule.
std::vector<bool> requires_grad(const ir::Graph& g, const std::set<std::string>& frozen) {
  std::vector<bool> rg(g.values.size(), false);
  for (size_t v = 0; v < g.values.size(); ++v)
    rg[v] = g.values[v].kind == ir::ValueKind::Parameter && !frozen.count(g.values[v].name) &&
            !g.values[v].consumers.empty() && !ops::is_state(g, static_cast<int>(v));
  // Only float32 tensors carry gradients: an integer output (Shape of an activation, a mask) depends on the
  // parameters through no derivative, so a node whose outputs are all integers needs no rule.
  const auto differentiable = [&](int v) {
    return v >= 0 && g.values[v].tensor && g.values[v].dtype == DType::Float32 && !g.values[v].integer;
  };
  for (const ir::Node& n : g.nodes) {
    bool any = false;
    for (int i : n.inputs) any = any || (i >= 0 && rg[i]);
    any = any && std::any_of(n.outputs.begin(), n.outputs.end(), differentiable);
    if (any && !ops::find_op(n.op_type)->gradient)
      g.fail(n, "has no gradient rule, so the parameters before it cannot be trained");
    for (int o : n.outputs)
      if (o >= 0) rg[o] = any && differentiable(o);
  }
  return rg;
}

// Outputs a gradient rule reads but the model left off (Dropout's mask) get values of their own, which want no
// gradient.
void add_rule_outputs(ir::Graph& g, std::vector<bool>& rg) {
  for (ir::Node& n : g.nodes) {
    const size_t need = ops::find_op(n.op_type)->grad_outputs;
    for (size_t k = 0; k < need; ++k) {
      if (k < n.outputs.size() && n.outputs[k] >= 0) continue;
      ir::Value v;
      v.name = n.name + ":output" + std::to_string(k);
      v.producer = static_cast<int>(&n - g.nodes.data());
      n.outputs.resize(std::max(n.outputs.size(), k + 1), -1);
      n.outputs[k] = g.add_value(v);
      rg.push_back(false);  // a mask is not differentiated
    }
  }
}

// The graph input fed with the labels (as float) or targets; it wants no gradient.
int add_target(ir::Graph& g, std::vector<bool>& rg) {
  ir::Value target;
  target.name = "onnxtrain:target";
  target.kind = ir::ValueKind::Input;
  const int id = g.add_value(target);
  g.inputs.push_back(id);
  rg.push_back(false);
  return id;
}

// The loss op for loss, and what it reads. A head that only the loss reads fuses with it and leaves the training
// graph (accuracy then reads the logits, whose argmax is the same): the head's node is erased, one forward node less.
struct LossOp {
  std::string op;  // the loss node's op type
  int read;        // the value it reads: the model's output, or the fused head's input
};
LossOp fuse_head(ir::Graph& g, Loss loss, Training& t, size_t& forward_nodes) {
  static const std::map<Loss, std::pair<const char*, const char*>> kHeads = {
      // loss: (fusable head, fused loss op)
      {Loss::CrossEntropy, {"Softmax", "SoftmaxCrossEntropyLoss"}},
      {Loss::NLL, {"LogSoftmax", "SoftmaxCrossEntropyLoss"}},
      {Loss::BCE, {"Sigmoid", "SigmoidBCELoss"}},
  };
  static const std::map<Loss, const char*> kUnfused = {{Loss::CrossEntropy, "SoftmaxCrossEntropyLoss"},
                                                       {Loss::NLL, "NLLLoss"},
                                                       {Loss::BCE, "BCELoss"},
                                                       {Loss::MSE, "MSELoss"}};
  LossOp l{kUnfused.at(loss), t.scores};
  auto head = kHeads.find(loss);
  if (head == kHeads.end()) return l;
  if (const ir::Node* s = fusable_head(g, t.scores, head->second.first)) {
    l.op = head->second.second;
    l.read = s->inputs[0];
    t.fused_softmax = true;
    const int head_out = t.scores;
    t.scores = l.read;
    g.nodes.erase(g.nodes.begin() + g.values[head_out].producer);
    --forward_nodes;
    g.values[head_out].is_output = false;
    g.outputs.erase(std::find(g.outputs.begin(), g.outputs.end(), head_out));
  } else if (loss == Loss::CrossEntropy && g.values[t.scores].producer >= 0 &&
             g.nodes[g.values[t.scores].producer].op_type == "Softmax") {
    g.fail("cross-entropy needs the final Softmax over the class axis of (N, C) scores, read by nothing else");
  }
  return l;
}

// The scalar input the loss divides its sum by: fed per run, so that the parts of an accumulated step, and the batches
// of an evaluation, share the whole batch's normalizer.
int add_normalizer(ir::Graph& g, std::vector<bool>& rg) {
  ir::Value v;
  v.name = "onnxtrain:normalizer";
  v.kind = ir::ValueKind::Input;
  const int id = g.add_value(v);
  g.inputs.push_back(id);
  rg.push_back(false);
  return id;
}

// The loss node: outputs (loss, gradient of what it reads), the latter seeding the reverse walk.
void add_loss_node(ir::Graph& g, Loss loss, const LossOp& l, Training& t, Builder& b, const LossSettings& s) {
  ir::Node ln;
  ln.name = "loss/" + std::string(loss_name(loss));
  ln.op_type = l.op;
  ln.version = 1;
  ln.inputs = {l.read, t.target};
  if (t.normalizer >= 0) ln.inputs.push_back(t.normalizer);
  if (!s.weights.empty()) {
    ir::Attr w;
    w.kind = ir::Attr::Floats;
    w.floats = s.weights;
    ln.attrs["weights"] = w;
  }
  if (s.label_smoothing != 0) ln.attrs["label_smoothing"] = ir::Attr::of(static_cast<float>(s.label_smoothing));
  ln.attrs["ignore_index"] = ir::Attr::of(s.ignore_index);
  ir::Value lv, dv;
  lv.name = "onnxtrain:loss";
  dv.name = "d" + g.values[l.read].name;
  dv.backward = true;
  t.loss = g.add_value(lv);
  int dread = g.add_value(dv);
  ln.outputs = {t.loss, dread};
  g.nodes.push_back(ln);
  b.add(l.read, dread);
}

// Reverse walk over the forward nodes: each that has an input wanting a gradient emits its rule's backward nodes.
// Each node is copied: emitting may grow g.nodes.
void walk_backward(ir::Graph& g, Builder& b, size_t forward_nodes) {
  for (size_t k = forward_nodes; k-- > 0;) {
    ir::Node n = g.nodes[k];
    bool wants = false;
    for (size_t i = 0; i < n.inputs.size(); ++i) wants = wants || b.needs(n, i);
    // A node without a rule here has only integer outputs (requires_grad refused the others): Shape of an activation.
    const ops::GradientFn rule = ops::find_op(n.op_type)->gradient;
    if (wants && rule) rule(b, n);
  }
}

// Each trainable parameter's gradient becomes one value of its own, named d<param>, for the executor's gradient
// buffer: the sum of its contributions, or a ReduceToShape copy of it when that value is already another parameter's
// gradient or is not a backward value. rg: requires_grad's flags, one per value from before the loss node.
void collect_gradients(ir::Graph& g, const std::vector<bool>& rg, Builder& b, Training& t) {
  for (size_t v = 0; v < rg.size() && v < g.values.size(); ++v) {
    if (g.values[v].kind != ir::ValueKind::Parameter || !rg[v]) continue;
    int grad = b.total(static_cast<int>(v));
    if (grad < 0) continue;
    if (g.values[grad].grad_of >= 0 || !g.values[grad].backward)
      grad = b.emit("ReduceToShape", {grad, static_cast<int>(v)}, {});
    g.values[grad].grad_of = static_cast<int>(v);
    g.values[grad].name = "d" + g.values[v].name;
    t.trainable.push_back(static_cast<int>(v));
  }
}

}  // namespace

namespace {

// A state buffer (a running statistic) that is also read where it would be trained (the scale beside it, when an
// exporter merged equal initializers): the forward pass would rewrite the scale, or the scale would go untrained, so
// it is refused.
void check_state_untied(const ir::Graph& g) {
  for (const ir::Node& n : g.nodes) {
    const ops::OpDef* op = ops::find_op(n.op_type);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int v = n.inputs[k];
      if (std::find(op->state_inputs.begin(), op->state_inputs.end(), static_cast<int>(k)) != op->state_inputs.end()) {
        // State a node computes (an Identity of an initializer the exporter merged it with) has nowhere to be
        // written back, and may follow a parameter that trains.
        if (v >= 0 && g.values[v].producer >= 0)
          g.fail(n, "running statistic '" + g.values[v].name + "' is computed by " +
                        g.nodes[g.values[v].producer].label() +
                        ", not an initializer of its own; training needs it as one");
        continue;
      }
      if (v < 0 || g.values[v].kind != ir::ValueKind::Parameter) continue;
      if (ops::is_state(g, v))
        g.fail(n,
               "initializer '" + g.values[v].name +
                   "' is both a running statistic that training updates and a parameter read here (an export "
                   "that merged equal initializers?); training needs the running statistics in initializers of their "
                   "own");
    }
  }
}

}  // namespace

Training add_training(ir::Graph& g, Loss loss, const std::set<std::string>& frozen, const LossSettings& settings) {
  check_frozen(g, frozen);
  check_state_untied(g);
  std::vector<bool> rg = requires_grad(g, frozen);
  add_rule_outputs(g, rg);
  Training t;
  t.scores = g.outputs[0];
  if (!rg[t.scores]) g.fail("no trainable parameter reaches output '" + g.values[t.scores].name + "'");
  t.target = add_target(g, rg);
  if (settings.fed_normalizer) t.normalizer = add_normalizer(g, rg);
  size_t forward_nodes = g.nodes.size();
  Builder b(g, rg);
  const LossOp l = fuse_head(g, loss, t, forward_nodes);
  add_loss_node(g, loss, l, t, b, settings);
  walk_backward(g, b, forward_nodes);
  collect_gradients(g, rg, b, t);
  g.finalize();
  return t;
}

}  // namespace onnxtrain::autodiff
