// InferenceSession: maps named host tensors (and, through run_values, sequences and optionals) onto the executor's
// inputs, runs the forward pass, and copies the outputs out. Recompiles only when the input shapes change.
#include "onnxtrain/session.h"

#include <cstring>

#include "onnxtrain/error.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/fusion.h"
#include "runtime/model_impl.h"

namespace onnxtrain {

namespace {

// "sequence(float32)" for messages, from a value the caller gave (an empty sequence or optional says "()").
std::string describe(const Value& v) {
  if (v.kind == Value::Kind::Tensor) return dtype_name(v.tensor.dtype);
  const std::string inner = v.elements.empty() ? "" : describe(v.elements[0]);
  return (v.kind == Value::Kind::Sequence ? "sequence(" : "optional(") + inner + ")";
}

// Whether v is of the ONNX type named as type_str writes it ("optional(sequence(float32))").
bool matches(const std::string& type, const Value& v) {
  auto inner = [&](const char* prefix) {
    return type.substr(std::strlen(prefix), type.size() - std::strlen(prefix) - 1);
  };
  if (type.rfind("sequence(", 0) == 0) {
    if (v.kind != Value::Kind::Sequence) return false;
    for (const Value& e : v.elements)
      if (!matches(inner("sequence("), e)) return false;
    return true;
  }
  if (type.rfind("optional(", 0) == 0)
    return v.kind == Value::Kind::Optional && v.elements.size() <= 1 &&
           (v.elements.empty() || matches(inner("optional("), v.elements[0]));
  return v.kind == Value::Kind::Tensor && (type == "?" || type == dtype_name(v.tensor.dtype)) &&
         v.tensor.data_bytes() == static_cast<size_t>(v.tensor.numel()) * dtype_size(v.tensor.dtype);
}

}  // namespace

// The session runs its own copy of the model's graph (fused for speed) and reads the model's parameters in place.
struct InferenceSession::Impl {
  ir::Graph g;
  Executor ex;
  static ir::Graph fused(const ir::Graph& model) {
    ir::Graph g = model;
    fuse_patterns(g, model.params.data());
    fold_zero_pad(g, model.params.data());
    g.params.clear();
    fuse_layer_norm(g);
    fuse_activations(g);
    return g;
  }
  explicit Impl(ir::Graph& model) : g(fused(model)), ex(g, model.params.data(), model.params.size()) {
    ex.freeze_weights(&model.params_version);
  }

  // The graph value fed under name: a graph input or a feedable parameter; -1 for a key that names neither.
  int fed_id(const std::string& name) const {
    int id = g.find(name);
    if (id < 0 || (g.values[id].kind != ir::ValueKind::Input && !g.values[id].feedable)) return -1;
    return id;
  }

  // Checks the fed tensors against the model, selects the plan for their shapes and binds them in place.
  void bind(const std::map<int, const Tensor*>& fed) {
    std::map<int, ir::Shape> shapes;
    for (auto& [id, t] : fed) {
      ir::Value& v = g.values[id];
      if (v.integer || v.real) {  // read when the plan is made (a shape): its values are the plan's key
        bind_plan_values(g, v, *t, shapes[id]);
        continue;
      }
      if (t->dtype != v.dtype)
        g.fail("input '" + v.name + "' is " + dtype_name(v.dtype) + " but the data is " + dtype_name(t->dtype));
      if (t->data_bytes() != static_cast<size_t>(t->numel()) * dtype_size(t->dtype))
        g.fail("input '" + v.name + "' has " + std::to_string(t->data_bytes() / dtype_size(t->dtype)) +
               " values for shape " + shape_str(t->shape));
      shapes[id] = t->shape;
    }
    ex.prepare(shapes);
    for (auto& [id, t] : fed)
      if (t->data_bytes() > 0) ex.bind_input(id, t->data());  // an empty vector's data() may be null
  }

  // Output o, a tensor, copied out of the executor in its dtype.
  Tensor tensor_out(int o) {
    const ir::Value& v = g.values[o];
    Tensor t;
    t.dtype = v.dtype;
    t.shape = ex.shape(o);
    const size_t n = static_cast<size_t>(t.numel());
    const void* p = ex.bytes(o);
    if (t.dtype == DType::Float32)
      t.f32.assign(static_cast<const float*>(p), static_cast<const float*>(p) + n);
    else if (t.dtype == DType::Int64)
      t.i64.assign(static_cast<const int64_t*>(p), static_cast<const int64_t*>(p) + n);
    else
      t.bytes.assign(static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n * dtype_size(t.dtype));
    return t;
  }

  // The graph input a sequence or optional output is: only Identity passes them on, so its chain leads to one.
  int source_of(int v) const {
    while (g.values[v].producer >= 0) v = g.nodes[g.values[v].producer].inputs[0];
    return v;
  }
};

InferenceSession::InferenceSession(Model& model, SessionOptions options)
    : impl_(std::make_unique<Impl>(model.impl().graph)) {
  set_threads(options.threads);
}

InferenceSession::~InferenceSession() = default;

std::map<std::string, Tensor> InferenceSession::run(const std::map<std::string, Tensor>& inputs) {
  Impl& m = *impl_;
  ir::Graph& g = m.g;
  for (int v : g.inputs)
    if (!g.values[v].tensor)
      g.fail("input '" + g.values[v].name + "' is " + g.type_of(v) + "; feed it through run_values");
  for (int v : g.outputs)
    if (!g.values[v].tensor)
      g.fail("output '" + g.values[v].name + "' is " + g.type_of(v) + "; read it through run_values");
  std::map<int, const Tensor*> fed;
  for (auto& [name, t] : inputs)
    if (int id = m.fed_id(name); id >= 0) fed[id] = &t;
  if (g.inputs.size() == 1 && !fed.count(g.inputs[0]) && inputs.count("x")) fed[g.inputs[0]] = &inputs.at("x");
  m.bind(fed);
  m.ex.run();
  std::map<std::string, Tensor> out;
  for (int o : g.outputs) out[g.values[o].name] = m.tensor_out(o);
  return out;
}

std::map<std::string, Value> InferenceSession::run_values(const std::map<std::string, Value>& inputs) {
  Impl& m = *impl_;
  ir::Graph& g = m.g;
  std::map<int, const Tensor*> fed;
  std::map<int, const Value*> carried;  // sequences and optionals, handed to the outputs they become
  for (auto& [name, v] : inputs) {
    const int id = m.fed_id(name);
    if (id < 0) continue;
    const ir::Value& gv = g.values[id];
    if (gv.tensor && v.kind == Value::Kind::Tensor) {
      fed[id] = &v.tensor;
      continue;
    }
    if (!matches(g.type_of(id), v))
      g.fail("input '" + gv.name + "' is " + g.type_of(id) + " but the value given is " + describe(v));
    carried[id] = &v;
  }
  for (int v : g.inputs)
    if (!g.values[v].tensor && !carried.count(v)) g.fail("input '" + g.values[v].name + "' was not given any data");
  m.bind(fed);
  m.ex.run();
  std::map<std::string, Value> out;
  for (int o : g.outputs)
    out[g.values[o].name] = g.values[o].tensor ? Value::of(m.tensor_out(o)) : *carried.at(m.source_of(o));
  return out;
}

}  // namespace onnxtrain
