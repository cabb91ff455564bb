// Model: load through the importer, describe, and save through the exporter. The parameters stay in the IR graph,
// where sessions read and train them in place.
#include "onnxtrain/model.h"

#include <algorithm>

#include "exporters/onnx_exporter.h"
#include "onnxtrain/error.h"
#include "onnxtrain/tensor.h"
#include "runtime/model_impl.h"
#include "runtime/ops/op.h"

namespace onnxtrain {

std::vector<OpSupport> supported_ops() {
  std::vector<OpSupport> out;
  for (const ops::OpDef& op : ops::all_ops())
    if (!op.internal)
      out.push_back({op.type, op.versions.front(), ops::kMaxOpset, op.gradient != nullptr, op.versions});
  // Folded into a constant value at load, by the importer, at every version: no op of the registry.
  out.push_back({"Constant", 1, ops::kMaxOpset, false, {1}});
  return out;
}

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path) {
  onnx_io::Imported in = onnx_io::import_model(path);
  auto impl = std::make_unique<Impl>();
  impl->graph = std::move(in.graph);
  impl->source = std::move(in.source);
  impl->meta = std::move(in.meta);
  return Model(std::move(impl));
}

int64_t ModelInfo::Port::fixed_batch() const {
  if (dims.empty()) return 0;
  const std::string& d = dims[0];
  const bool digits = !d.empty() && d.size() <= 18 && d.find_first_not_of("0123456789") == std::string::npos;
  return digits ? std::stoll(d) : 0;
}

ModelInfo Model::describe(const std::string& path) { return onnx_io::describe_model(path); }

void Model::save(const std::string& path, const files::Inputs& inputs) const {
  onnx_io::export_model(*impl_->source, impl_->graph, path, inputs);
}

std::vector<std::string> Model::check_save(const std::string& path, const files::Inputs& inputs) const {
  return onnx_io::check_export(*impl_->source, path, inputs);
}

std::vector<std::string> Model::files() const { return onnx_io::model_files(*impl_->source); }

void Model::load_weights(const std::string& path) {
  const Model other = load(path);
  const ir::Graph& from = other.impl_->graph;
  ir::Graph& to = impl_->graph;
  struct Copy {
    size_t from, to, count;
  };  // checked whole before anything is copied
  std::vector<Copy> copies;
  for (const ir::Value& v : to.values) {
    if (v.kind != ir::ValueKind::Parameter) continue;
    auto it = std::find_if(from.values.begin(), from.values.end(),
                           [&](const ir::Value& w) { return w.kind == ir::ValueKind::Parameter && w.name == v.name; });
    if (it == from.values.end()) throw Error(path + ": has no initializer '" + v.name + "'");
    if (it->shape != v.shape)
      throw Error(path + ": initializer '" + v.name + "' is " + shape_str(it->shape) + ", expected " +
                  shape_str(v.shape));
    copies.push_back(
        {it->offset, v.offset, static_cast<size_t>(from.numel(static_cast<int>(it - from.values.begin())))});
  }
  const auto params = [](const ir::Graph& g) {
    return std::count_if(g.values.begin(), g.values.end(),
                         [](const ir::Value& w) { return w.kind == ir::ValueKind::Parameter; });
  };
  if (params(from) != params(to))
    throw Error(path + ": has initializers that " + to.source + " does not; it is not a copy of that model");
  for (const Copy& c : copies) std::copy_n(from.params.data() + c.from, c.count, to.params.data() + c.to);
  ++to.params_version;
}

void Model::check_writable(const std::string& path) { files::check_output(path); }

const std::string& Model::path() const { return impl_->graph.source; }

ModelInfo Model::info() const {
  ModelInfo info = impl_->meta;
  const ir::Graph& g = impl_->graph;
  for (const ir::Node& n : g.nodes) {
    ModelInfo::NodeInfo ni{n.name, n.op_type, n.version, {}, {}};
    for (int i : n.inputs) ni.inputs.push_back(i >= 0 ? g.values[i].name : "");
    for (int o : n.outputs) ni.outputs.push_back(o >= 0 ? g.values[o].name : "");
    info.nodes.push_back(std::move(ni));
  }
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ir::Value& val = g.values[v];
    if (!val.initializer) continue;
    int64_t count = g.numel(static_cast<int>(v));
    if (val.kind != ir::ValueKind::Parameter) {  // integers and other dtypes: listed, never trained or counted
      info.initializers.push_back(
          {val.name, val.shape, count, false, val.type_name.empty() ? dtype_name(val.dtype) : val.type_name});
      continue;
    }
    // Trainable: a float parameter some node reads (TrainOptions::freeze can hold some back), but state such as
    // BatchNormalization's running statistics, which training updates without an optimizer.
    bool trainable = !val.consumers.empty() && !ops::is_state(g, static_cast<int>(v));
    info.initializers.push_back({val.name, val.shape, count, trainable, "float32"});
    info.total_params += count;
    if (trainable) info.trainable_params += count;
  }
  return info;
}

std::vector<std::string> Model::input_names() const {
  std::vector<std::string> names;
  for (int i : impl_->graph.inputs) names.push_back(impl_->graph.values[i].name);
  return names;
}

std::vector<std::string> Model::output_names() const {
  std::vector<std::string> names;
  for (int o : impl_->graph.outputs) names.push_back(impl_->graph.values[o].name);
  return names;
}

}  // namespace onnxtrain
