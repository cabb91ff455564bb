// One input's bytes through the public loaders, written to files in a private temporary folder (the loaders take
// paths). Only onnxtrain::Error counts as a refusal; any other exception or signal is left to the caller to catch.
#include "tests/fuzz/fuzz_entries.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "runtime/model_impl.h"  // the loaded weights, to compare a saved model with the one it was saved from
#include "tools/cli_common.h"
#include "tools/run_cmd.h"

namespace onnxtrain::fuzz {
namespace {

namespace fs = std::filesystem;

// A folder of this process's own (in /dev/shm when there is one: the exporter fsyncs every file it writes), with
// in/ for the input and out/ for what is saved; both start empty for every input, so no input sees another's files.
class Scratch {
 public:
  static Scratch& get() {
    static Scratch s;
    return s;
  }
  std::string in, out;

  void reset() {
    for (const std::string& d : {in, out}) {
      fs::remove_all(d);
      fs::create_directory(d);
    }
  }
  std::string write(const std::string& name, const uint8_t* data, size_t size) {
    std::string path = in + "/" + name;
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!f) throw std::runtime_error(path + ": cannot write the fuzz input");
    return path;
  }

 private:
  Scratch() {
    std::error_code ec;
    std::string base = fs::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : fs::temp_directory_path().string();
    std::string tmpl = base + "/onnxtrain-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error(tmpl + ": cannot make a temporary folder: " + std::strerror(errno));
    root_ = tmpl;
    in = root_ + "/in";
    out = root_ + "/out";
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
};

// Runs f as one step: ok, or refused with an onnxtrain::Error. Any other exception goes on to the caller.
template <typename F>
bool step(std::vector<Outcome>& out, const std::string& name, F&& f) {
  try {
    f();
    out.push_back({name, true, ""});
    return true;
  } catch (const Error& e) {
    out.push_back({name, false, e.what()});
    return false;
  }
}

// Everything the file declared, as one comparable text.
std::string describe(const ModelInfo& m) {
  std::ostringstream s;
  s << m.producer_name << '|' << m.producer_version << '|' << m.ir_version << '\n';
  for (const auto& [domain, version] : m.opsets) s << "opset " << domain << ' ' << version << '\n';
  for (const auto* ports : {&m.inputs, &m.outputs})
    for (const auto& p : *ports) {
      s << "port " << p.name << ' ' << p.dtype;
      for (const auto& d : p.dims) s << ' ' << d;
      s << '\n';
    }
  for (const auto& n : m.nodes) {
    s << "node " << n.name << ' ' << n.op_type << ' ' << n.version << " in";
    for (const auto& i : n.inputs) s << ' ' << i;
    s << " out";
    for (const auto& o : n.outputs) s << ' ' << o;
    s << '\n';
  }
  for (const auto& i : m.initializers)
    s << "init " << i.name << ' ' << shape_str(i.shape) << ' ' << i.trainable << '\n';
  s << m.total_params << ' ' << m.trainable_params << '\n';
  return s.str();
}

// a was saved and b loaded from that file: the same description and bitwise the same weights, or a Violation.
void check_same(const Model& a, const Model& b) {
  if (describe(a.info()) != describe(b.info()))
    throw Violation("the saved model describes itself differently:\n" + describe(a.info()) + "---\n" +
                    describe(b.info()));
  const ir::Graph &ga = a.impl().graph, &gb = b.impl().graph;
  for (size_t v = 0; v < ga.values.size(); ++v) {
    if (ga.values[v].kind != ir::ValueKind::Parameter) continue;
    const int w = gb.find(ga.values[v].name);
    if (w < 0 || gb.values[w].kind != ir::ValueKind::Parameter || gb.values[w].shape != ga.values[v].shape)
      throw Violation("the saved model lost initializer '" + ga.values[v].name + "' or changed its shape");
    const size_t n = static_cast<size_t>(ga.numel(static_cast<int>(v)));
    if (std::memcmp(ga.param(static_cast<int>(v)), gb.param(w), n * sizeof(float)) != 0)
      throw Violation("the saved model has other values for initializer '" + ga.values[v].name + "'");
  }
}

// What `train` does with a data set after loading it (the fashion MLP's input is 784 wide, 10 classes).
void use_dataset(std::vector<Outcome>& out, const std::string& what, const Dataset& d) {
  Dataset fitted;  // fit_features reads and rewrites only the shape: no copy of the data
  fitted.source = d.source;
  fitted.x.shape = d.x.shape;
  step(out, "fit_features(" + what + ")", [&] { fit_features(fitted, "input", {784}); });
  step(out, "check_trainable(" + what + ")", [&] { check_trainable(d, 10); });
}

// n samples for the input: its declared per-sample dims, unknown ones 2, or (n, 3) when they are many (a declared
// (N, 100000) input has no small data set; fit_features then refuses); with labels 0, 1, 2, ... when labelled.
Dataset small_dataset(const ModelInfo::Port& in, int64_t n, bool labelled) {
  Dataset d;
  d.source = "fuzz-data-" + std::to_string(n) + (labelled ? "-labelled" : "");
  d.x.shape = {n};
  int64_t row = 1;
  for (int64_t dim : cli::sample_dims(in)) {
    d.x.shape.push_back(dim < 0 ? 2 : dim);
    row *= d.x.shape.back();
    if (row > 4096) {
      d.x.shape = {n, 3};
      break;
    }
  }
  d.x.f32.resize(static_cast<size_t>(d.x.numel()));
  for (size_t i = 0; i < d.x.f32.size(); ++i) d.x.f32[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5) * 0.25f;
  if (labelled) {
    d.y = Tensor::i64_of({n}, {});
    for (int64_t i = 0; i < n; ++i) d.y.i64.push_back(i % 3);
  }
  return d;
}

// An output's elements as int64, for the integer dtypes that load_npz reads back as Int64.
bool as_int64(const Tensor& t, std::vector<int64_t>& v) {
  const size_t n = static_cast<size_t>(t.numel());
  v.resize(n);
  for (size_t i = 0; i < n; ++i) switch (t.dtype) {
      case DType::Int64: v[i] = t.i64[i]; break;
      case DType::Int32: {
        int32_t e;
        std::memcpy(&e, t.bytes.data() + 4 * i, 4);
        v[i] = e;
        break;
      }
      case DType::Int8: v[i] = static_cast<int8_t>(t.bytes[i]); break;
      case DType::UInt8: v[i] = t.bytes[i]; break;
      case DType::Bool: v[i] = t.bytes[i] != 0; break;
      default: return false;
    }
  return true;
}

// r's outputs saved to an .npz and loaded back: the same names and shapes, and the same elements for float32 and
// the integer dtypes NumPy files carry (load_npz may refuse the others, as it says).
void check_round_trip(const std::string& path, const cli::RunResult& r) {
  save_npz(path, r.outputs);
  std::map<std::string, Tensor> back;
  try {
    back = load_npz(path);
  } catch (const Error&) {
    for (const auto& [name, t] : r.outputs) {
      std::vector<int64_t> ignored;
      if (t.dtype == DType::Float32 || as_int64(t, ignored))
        throw Violation("an .npz of outputs NumPy reads does not load back: output '" + name + "'");
    }
    return;  // a float16, uint16, ... output: load_npz refuses the file by design
  }
  if (back.size() != r.outputs.size()) throw Violation("the saved .npz holds another number of outputs");
  for (const auto& [name, t] : r.outputs) {
    auto it = back.find(name);
    if (it == back.end() || it->second.shape != t.shape)
      throw Violation("output '" + name + "' " + shape_str(t.shape) + " came back from the .npz otherwise");
    std::vector<int64_t> want;
    // Bitwise for float32 (NaNs included); memcmp only over elements, as it takes no null pointer.
    const bool same =
        t.dtype == DType::Float32
            ? it->second.f32.size() == t.f32.size() &&
                  (t.f32.empty() || std::memcmp(it->second.f32.data(), t.f32.data(), t.f32.size() * 4) == 0)
        : as_int64(t, want) ? it->second.i64 == want
                            : true;  // float16, float64 narrowed, ...: the shape is what it keeps
    if (!same) throw Violation("output '" + name + "' came back from the .npz with other values");
  }
}

// What run promises of its result, beyond not crashing: every output present, accuracy only over a (N, C) row each.
void check_result(const Model& model, const cli::RunResult& r) {
  for (const std::string& name : model.output_names())
    if (!r.outputs.count(name)) throw Violation("run_dataset lost output '" + name + "'");
  if (r.has_accuracy) {
    const Tensor& y0 = r.outputs.at(model.output_names()[0]);
    if (y0.dtype != DType::Float32 || y0.shape.size() != 2 || y0.shape[0] != r.samples || r.right > r.samples)
      throw Violation("an accuracy over output " + shape_str(y0.shape) + " for " + std::to_string(r.samples) +
                      " samples");
  }
}

}  // namespace

std::vector<Outcome> run_run(const uint8_t* data, size_t size) {
  Scratch& s = Scratch::get();
  s.reset();
  const std::string path = s.write("model.onnx", data, size);
  std::vector<Outcome> out;
  std::unique_ptr<Model> model;
  if (!step(out, "Model::load", [&] { model = std::make_unique<Model>(Model::load(path)); })) return out;
  ModelInfo::Port in;
  if (!step(out, "run_input", [&] { in = cli::run_inputs(*model)[0]; })) return out;
  // (samples, batch, labelled): one uneven split, one batch, equal batches (the pass of another size), and 1 sample.
  const struct {
    int64_t n, batch;
    bool labelled;
  } runs[] = {{5, 2, false}, {4, 4, true}, {4, 2, true}, {1, 3, true}};
  for (const auto& c : runs) {
    const std::string what = "run_dataset(" + std::to_string(c.n) + " in batches of " + std::to_string(c.batch) +
                             (c.labelled ? ", labelled)" : ")");
    cli::RunResult r;
    if (!step(out, what, [&] { r = cli::run_dataset(*model, small_dataset(in, c.n, c.labelled), c.batch, 1); }))
      continue;
    check_result(*model, r);
    step(out, "save_npz(" + what + ")", [&] { check_round_trip(s.out + "/out.npz", r); });
  }
  return out;
}

std::vector<Outcome> run_model(const uint8_t* data, size_t size) {
  Scratch& s = Scratch::get();
  s.reset();
  const std::string path = s.write("model.onnx", data, size);
  std::vector<Outcome> out;
  std::unique_ptr<Model> model;
  // What `onnxtrain info` falls back to when the load refuses: any file gets a description or one Error.
  step(out, "Model::describe", [&] { (void)Model::describe(path); });
  if (!step(out, "Model::load", [&] {
        model = std::make_unique<Model>(Model::load(path));
        (void)model->info();
        (void)model->input_names();
        (void)model->output_names();
      }))
    return out;
  // Saved elsewhere under another name, so that no external data location of the input can name the saved file.
  const std::string saved = s.out + "/saved.onnx";
  if (!step(out, "Model::save", [&] { model->save(saved); })) return out;
  try {
    const Model again = Model::load(saved);
    check_same(*model, again);
    out.push_back({"Model::load(saved)", true, ""});
  } catch (const Error& e) {
    throw Violation(std::string("the model loaded and saved, but the saved file does not load: ") + e.what());
  }
  return out;
}

std::vector<Outcome> run_npy(const uint8_t* data, size_t size) {
  Scratch& s = Scratch::get();
  s.reset();
  std::vector<Outcome> out;
  for (const char* name : {"data.npy", "data.npz"}) {
    const std::string path = s.write(name, data, size);
    const std::string what = std::string("load_dataset(") + (name + 4) + ")";
    Dataset d;
    if (step(out, what, [&] { d = load_dataset(path, Split::Train, {"x", "input"}, "y"); }))
      use_dataset(out, name + 4, d);
  }
  return out;
}

std::vector<Outcome> run_idx(const uint8_t* data, size_t size) {
  Scratch& s = Scratch::get();
  s.reset();
  const std::string path = s.write("fuzz-images-idx3-ubyte", data, size);
  std::vector<Outcome> out;
  Dataset d;
  if (step(out, "load_dataset(idx)", [&] { d = load_dataset(path, Split::Train); })) use_dataset(out, "idx", d);
  return out;
}

std::vector<Outcome> run_csv(const uint8_t* data, size_t size) {
  Scratch& s = Scratch::get();
  s.reset();
  const std::string path = s.write("data.csv", data, size);
  std::vector<Outcome> out;
  for (const char* target : {kLastColumn, ""}) {
    Dataset d;
    if (!step(out, std::string("load_dataset(csv, ") + (*target ? "last column" : "no target") + ")",
              [&] { d = load_dataset(path, Split::Train, {"x"}, target); }))
      continue;
    Dataset regression = d;
    step(out, "fit_targets(csv, regression)", [&] { fit_targets(regression, false); });
    if (step(out, "fit_targets(csv, classes)", [&] { fit_targets(d, true); })) use_dataset(out, "csv", d);
  }
  return out;
}

std::vector<std::string> bad_messages(const std::vector<Outcome>& outcomes) {
  std::vector<std::string> bad;
  for (const Outcome& o : outcomes)
    if (!o.ok &&
        (o.error.empty() || o.error.find('\n') != std::string::npos || o.error.find('\r') != std::string::npos))
      bad.push_back(o.step + ": '" + o.error + "'");
  return bad;
}

}  // namespace onnxtrain::fuzz
