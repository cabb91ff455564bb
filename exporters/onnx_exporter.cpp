// IR -> ONNX file: the loaded ModelProto written back with only the float32 initializers' values replaced, each in
// the storage it came in (raw_data, float_data or an external file). The one other change: an initializer the
// importer untied (Source::untied) is written as an initializer of its own and its Identity node dropped, as PyTorch
// would export the trained model. Nothing else is touched, so a model without such an Identity, loaded and saved
// untrained, comes back byte for byte. Every file goes through files::atomic_write.
#include <fstream>
#include <map>
#include <set>

#include "exporters/onnx_exporter.h"

#include "importers/onnx_source.h"
#include "runtime/ir/graph.h"
#include "onnxtrain/error.h"
#include "onnxtrain/files.h"

namespace onnxtrain::onnx_io {
namespace {

std::string folder_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}
std::string base_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot read external data to rewrite it");
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string ext_value(const onnx::TensorProto& t, const std::string& key, const std::string& dflt) {
  for (const auto& kv : t.external_data())
    if (kv.key() == key) return kv.value();
  return dflt;
}

// Where a save to path writes. Over the source itself (the same file, however spelled) each external file is
// rewritten where it is. Anywhere else the external files are named after the new model, OUT.data, OUT.data1, ...,
// beside it: never under the source's own names, which in the same folder would be the source's weights, and in
// another folder may be a stranger's file (weights/w.bin) or a folder that does not exist.
struct Plan {
  bool in_place = false;
  std::map<std::string, std::string> location;  // source location -> location in the written model
  std::vector<std::string> order;               // source locations, in the order they first appear
};

Plan plan_for(const Source& src, const std::string& path) {
  Plan plan;
  plan.in_place = files::same_target(path, src.path);
  // The files of the float32 parameters, which the importer confined to the model's folder and read. External data
  // of other tensors (kept, never read) stays as the file has it.
  for (const Source::Param& p : src.params) {
    const onnx::TensorProto& t = src.proto.graph().initializer(p.tensor);
    if (t.data_location() != onnx::TensorProto::EXTERNAL) continue;
    const std::string loc = ext_value(t, "location", "");
    if (plan.location.count(loc)) continue;
    const size_t k = plan.order.size();
    plan.location[loc] = plan.in_place ? loc : base_of(path) + ".data" + (k ? std::to_string(k) : "");
    plan.order.push_back(loc);
  }
  return plan;
}

// The source's files as inputs of the save: its model file and every external file, unless the save replaces them.
files::Inputs source_inputs(const Source& src, const Plan& plan, files::Inputs inputs) {
  if (!plan.in_place) {
    inputs.add(src.path, "source model");
    for (const std::string& loc : plan.order)
      inputs.add(src.dir + "/" + loc, "source model's external data '" + loc + "'");
  }
  return inputs;
}

}  // namespace

std::vector<std::string> model_files(const Source& src) {
  std::vector<std::string> out = {src.path};
  for (const std::string& loc : plan_for(src, src.path).order) out.push_back(src.dir + "/" + loc);
  return out;
}

std::vector<std::string> check_export(const Source& src, const std::string& path, const files::Inputs& given) {
  const Plan plan = plan_for(src, path);
  const files::Inputs inputs = source_inputs(src, plan, given);
  std::vector<std::string> targets = {files::check_output(path, "", inputs)};
  const std::string out_dir = plan.in_place ? src.dir : folder_of(path);
  for (const std::string& loc : plan.order) {
    const std::string dest = out_dir + "/" + plan.location.at(loc);
    targets.push_back(files::check_output(dest, base_of(path) + "'s external data", inputs));
  }
  return targets;
}

void export_model(const Source& src, const ir::Graph& graph, const std::string& path, const files::Inputs& given) {
  check_export(src, path, given);
  const Plan plan = plan_for(src, path);
  const files::Inputs inputs = source_inputs(src, plan, given);
  onnx::ModelProto m = src.proto;
  onnx::GraphProto* gp = m.mutable_graph();
  const std::string out_dir = plan.in_place ? src.dir : folder_of(path);

  // External files: start from the original bytes (other tensors may live there too), then patch our regions.
  std::map<std::string, std::string> ext_bytes;  // source location -> new contents
  for (const std::string& loc : plan.order) ext_bytes[loc] = read_all(src.dir + "/" + loc);
  for (const Source::Param& p : src.params) {
    onnx::TensorProto* t = gp->mutable_initializer(p.tensor);
    const float* values = graph.param(p.value);
    const size_t bytes = static_cast<size_t>(graph.numel(p.value)) * sizeof(float);
    if (t->data_location() == onnx::TensorProto::EXTERNAL) {
      const std::string loc = ext_value(*t, "location", "");
      const size_t offset = std::stoull(ext_value(*t, "offset", "0"));
      ext_bytes[loc].replace(offset, bytes, reinterpret_cast<const char*>(values), bytes);
    } else if (t->has_raw_data()) {
      t->set_raw_data(values, bytes);
    } else {
      auto* fd = t->mutable_float_data();
      fd->Resize(static_cast<int>(graph.numel(p.value)), 0.f);
      std::copy(values, values + graph.numel(p.value), fd->begin());
    }
  }
  for (const Source::Param& p : src.params)
    for (auto& kv : *gp->mutable_initializer(p.tensor)->mutable_external_data())
      if (kv.key() == "location") kv.set_value(plan.location.at(kv.value()));

  // Each untied parameter: a copy of the initializer its Identity read (dtype, dims, doc string), under the Identity's
  // output name, its values in raw_data; listed among the inputs where that one is (old exports). Then the Identity
  // nodes go.
  std::set<std::string> dropped;
  for (const Source::Untied& u : src.untied) {
    const onnx::TensorProto& from = src.proto.graph().initializer(u.from);
    onnx::TensorProto t = from;
    t.set_name(graph.values[u.value].name);
    t.clear_float_data();
    t.clear_external_data();
    t.clear_data_location();
    t.set_raw_data(graph.param(u.value), static_cast<size_t>(graph.numel(u.value)) * sizeof(float));
    *gp->add_initializer() = std::move(t);
    for (int i = 0; i < src.proto.graph().input_size(); ++i)
      if (src.proto.graph().input(i).name() == from.name()) {
        onnx::ValueInfoProto vi = src.proto.graph().input(i);
        vi.set_name(graph.values[u.value].name);
        *gp->add_input() = std::move(vi);
        break;
      }
    dropped.insert(u.node);
  }
  if (!dropped.empty()) {
    google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
    for (const onnx::NodeProto& n : gp->node())
      if (!(n.op_type() == "Identity" && n.output_size() == 1 && dropped.count(n.output(0)))) *kept.Add() = n;
    gp->mutable_node()->Swap(&kept);
  }

  std::string out;
  if (!m.SerializeToString(&out)) throw Error(path + ": cannot serialize the model (is it over 2 GiB?)");
  for (const std::string& loc : plan.order)
    files::atomic_write(out_dir + "/" + plan.location.at(loc), ext_bytes[loc], inputs);
  files::atomic_write(path, out, inputs);
}

}  // namespace onnxtrain::onnx_io
