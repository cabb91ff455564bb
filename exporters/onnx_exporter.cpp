// IR -> ONNX file: the loaded ModelProto written back with only the float32 initializers' values replaced, each in
// the storage it came in (raw_data, float_data or its external file). Nothing else is touched, so a model loaded
// and saved untrained comes back byte for byte. Every file is written atomically.
#include <fstream>
#include <map>

#include "exporters/atomic_write.h"
#include "importers/onnx_importer.h"
#include "importers/onnx_source.h"
#include "onnxtrain/error.h"

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

}  // namespace

void export_model(const Source& src, const ir::Graph& graph, const std::string& path) {
  check_writable(path);
  onnx::ModelProto m = src.proto;
  onnx::GraphProto* gp = m.mutable_graph();
  const std::string out_dir = folder_of(path);
  const bool same_file = path == src.path;

  // External files: start from the original bytes (other tensors may live there too), then patch our regions.
  std::map<std::string, std::string> ext_bytes;   // original location -> new contents
  std::map<std::string, std::string> ext_rename;  // original location -> location in the written model
  for (const Source::Param& p : src.params) {
    onnx::TensorProto* t = gp->mutable_initializer(p.tensor);
    const float* values = graph.param(p.value);
    const size_t bytes = static_cast<size_t>(graph.numel(p.value)) * sizeof(float);
    if (t->data_location() == onnx::TensorProto::EXTERNAL) {
      std::string loc = ext_value(*t, "location", "");
      if (!ext_bytes.count(loc)) {
        ext_bytes[loc] = read_all(src.dir + "/" + loc);
        // Writing a new model beside the old one must not overwrite the old model's weights file.
        bool clobbers = !same_file && out_dir + "/" + loc == src.dir + "/" + loc;
        ext_rename[loc] = clobbers ? base_of(path) + ".data" + (ext_rename.empty() ? "" : std::to_string(ext_rename.size())) : loc;
      }
      size_t offset = std::stoull(ext_value(*t, "offset", "0"));
      ext_bytes[loc].replace(offset, bytes, reinterpret_cast<const char*>(values), bytes);
      if (ext_rename[loc] != loc)
        for (auto& kv : *t->mutable_external_data())
          if (kv.key() == "location") kv.set_value(ext_rename[loc]);
    } else if (t->has_raw_data()) {
      t->set_raw_data(values, bytes);
    } else {
      auto* fd = t->mutable_float_data();
      fd->Resize(static_cast<int>(graph.numel(p.value)), 0.f);
      std::copy(values, values + graph.numel(p.value), fd->begin());
    }
  }
  for (auto& [loc, bytes] : ext_bytes) atomic_write(out_dir + "/" + ext_rename[loc], bytes);

  std::string out;
  if (!m.SerializeToString(&out)) throw Error(path + ": cannot serialize the model (is it over 2 GiB?)");
  atomic_write(path, out);
}

}  // namespace onnxtrain::onnx_io
