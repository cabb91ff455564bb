// InferenceSession: maps named host tensors onto the executor's inputs, runs the forward pass, and copies the
// outputs out. Recompiles only when the input shapes change.
#include "onnxtrain/session.h"

#include "onnxtrain/error.h"
#include "runtime/exec/executor.h"
#include "runtime/exec/fusion.h"
#include "runtime/model_impl.h"

namespace onnxtrain {

// The session runs its own copy of the model's graph (fused for speed) and reads the model's parameters in place.
struct InferenceSession::Impl {
  ir::Graph g;
  Executor ex;
  static ir::Graph fused(const ir::Graph& model) {
    ir::Graph g = model;
    g.params.clear();
    fuse_activations(g);
    return g;
  }
  explicit Impl(ir::Graph& model) : g(fused(model)), ex(g, model.params.data(), model.params.size()) {
    ex.freeze_weights(&model.params_version);
  }
};

InferenceSession::InferenceSession(Model& model, SessionOptions options)
    : impl_(std::make_unique<Impl>(model.impl().graph)) {
  set_threads(options.threads);
}

InferenceSession::~InferenceSession() = default;

std::map<std::string, Tensor> InferenceSession::run(const std::map<std::string, Tensor>& inputs) {
  ir::Graph& g = impl_->g;
  std::map<int, const Tensor*> fed;
  for (auto& [name, t] : inputs) {
    int id = g.find(name);
    if (id < 0 || (g.values[id].kind != ir::ValueKind::Input && !g.values[id].feedable)) continue;
    fed[id] = &t;
  }
  if (g.inputs.size() == 1 && !fed.count(g.inputs[0]) && inputs.count("x")) fed[g.inputs[0]] = &inputs.at("x");
  std::map<int, ir::Shape> shapes;
  for (auto& [id, t] : fed) {
    ir::Value& v = g.values[id];
    if (v.integer) {  // a shape read when the plan is made, never data: its values are the plan's key
      if (t->dtype != DType::Int64 || t->shape.size() != 1 || static_cast<int64_t>(t->i64.size()) != t->numel())
        g.fail("input '" + v.name + "' must be a 1-D int64 tensor, got " + dtype_name(t->dtype) + " " + shape_str(t->shape));
      v.ints = t->i64;
      shapes[id] = t->i64;
      continue;
    }
    if (t->dtype != DType::Float32)
      g.fail("input '" + g.values[id].name + "' is float32 but the data is " + dtype_name(t->dtype));
    if (static_cast<int64_t>(t->f32.size()) != t->numel())
      g.fail("input '" + g.values[id].name + "' has " + std::to_string(t->f32.size()) + " values for shape " +
             shape_str(t->shape));
    shapes[id] = t->shape;
  }
  impl_->ex.prepare(shapes);
  for (auto& [id, t] : fed)
    if (!g.values[id].integer && !t->f32.empty())  // an empty vector's data() may be null
      impl_->ex.bind_input(id, t->f32.data());
  impl_->ex.run();
  std::map<std::string, Tensor> out;
  for (int o : g.outputs) {
    const ir::Shape& s = impl_->ex.shape(o);
    Tensor t;
    t.shape = s;
    t.f32.assign(impl_->ex.data(o), impl_->ex.data(o) + t.numel());
    out[g.values[o].name] = std::move(t);
  }
  return out;
}

}  // namespace onnxtrain
