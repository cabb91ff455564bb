// ONNX ModelProto -> IR. Honours each op version's semantics and type constraints through the op registry, reads
// float32 initializers from float_data, raw_data or confined external data (importers/external_data.h) and those of
// other dtypes from raw_data or their typed field, expands the model's local functions (importers/functions.h), and
// refuses anything else with one line naming the file, node and tensor. It does not execute or rewrite the graph.
#include "importers/onnx_importer.h"

#include <onnx/checker.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "importers/external_data.h"
#include "importers/file_bytes.h"
#include "importers/functions.h"
#include "importers/onnx_elements.h"
#include "importers/onnx_source.h"
#include "onnxtrain/error.h"
#include "runtime/ops/op.h"

namespace onnxtrain::onnx_io {
namespace {

// The newest IR and opset that Debian's onnx library (1.12) knows; newer models skip its checker.
constexpr int64_t kCheckerMaxIr = 8;
constexpr int64_t kCheckerMaxOpset = 17;
// No single tensor may claim more than this many elements (16 GiB of float32).
constexpr int64_t kMaxElements = ir::kMaxElements;
// Integer tensors are read as constants (shapes, flags) only up to this many elements.
constexpr int64_t kMaxIntConstant = int64_t(1) << 20;

std::string folder_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::string dtype_name(int t) {
  DType d;
  if (dtype_of(t, &d)) return onnxtrain::dtype_name(d);
  switch (t) {
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::COMPLEX64: return "complex64";
    case onnx::TensorProto::COMPLEX128: return "complex128";
    default: return "data type " + std::to_string(t);
  }
}

// An ONNX type as messages and `onnxtrain info` write it: "float32", "sequence(float32)", "optional(float32)".
std::string type_str(const onnx::TypeProto& t) {
  switch (t.value_case()) {
    case onnx::TypeProto::kTensorType:
      return t.tensor_type().has_elem_type() ? dtype_name(t.tensor_type().elem_type()) : "?";
    case onnx::TypeProto::kSequenceType: return "sequence(" + type_str(t.sequence_type().elem_type()) + ")";
    case onnx::TypeProto::kOptionalType: return "optional(" + type_str(t.optional_type().elem_type()) + ")";
    case onnx::TypeProto::kMapType:
      return "map(" + dtype_name(t.map_type().key_type()) + "," + type_str(t.map_type().value_type()) + ")";
    case onnx::TypeProto::kSparseTensorType:
      return "sparse_tensor(" + dtype_name(t.sparse_tensor_type().elem_type()) + ")";
    default: return "?";
  }
}

// A float attribute value as messages give it: "nan", "inf", "-inf".
std::string float_str(float v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", double(v));
  return b;
}

// A node's name as messages and `onnxtrain info` give it: its own, or "#k" for the k-th unnamed node.
std::string node_name(const onnx::NodeProto& np, int k) {
  return np.name().empty() ? "#" + std::to_string(k) : np.name();
}

using onnx_io::default_domain;  // a domain's test (importers/onnx_elements.h); a node's is below
bool default_domain(const onnx::NodeProto& np) { return default_domain(np.domain()); }

// The registered op a default-domain node runs as, or nullptr for an op onnxtrain lacks (or keeps internal).
const ops::OpDef* runnable_op(const onnx::NodeProto& np) {
  const ops::OpDef* op = default_domain(np) ? ops::find_op(np.op_type()) : nullptr;
  return op && !op->internal ? op : nullptr;
}

// The op version in effect at opset: the newest of op's versions not after it; 0 when the op starts later.
int version_at(const ops::OpDef& op, int64_t opset) {
  int version = 0;
  for (int v : op.versions)
    if (v <= opset) version = v;
  return version;
}

// A graph input or output as declared: name, type, and each dim as its value, its symbol, or "?".
ModelInfo::Port port_info(const onnx::ValueInfoProto& vi) {
  ModelInfo::Port p;
  p.name = vi.name();
  p.dtype = type_str(vi.type());
  p.kind = vi.type().has_sequence_type()   ? Value::Kind::Sequence
           : vi.type().has_optional_type() ? Value::Kind::Optional
                                           : Value::Kind::Tensor;
  if (vi.type().tensor_type().has_shape())
    for (const auto& d : vi.type().tensor_type().shape().dim())
      p.dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : (d.has_dim_param() ? d.dim_param() : "?"));
  return p;
}

class Importer {
 public:
  explicit Importer(const std::string& path) : external_(path, folder_of(path)) { g_.source = path; }

  Imported run() {
    auto src = std::make_shared<Source>();
    src->path = g_.source;
    src->dir = folder_of(g_.source);
    parse(src->proto);
    const onnx::ModelProto& m = src->proto;
    read_header(m);
    const onnx::GraphProto& gp = m.graph();
    read_initializers(gp, *src);
    read_inputs(gp);
    if (m.functions().empty())
      read_nodes(gp);
    else
      read_nodes(expand_functions(m, gp, g_));
    untie_identities(gp, *src);
    read_outputs(gp);
    g_.finalize();
    ops::infer_types(g_);  // first: checks may read constant inputs (Dropout's ratio), which must have their types
    for (const ir::Node& n : g_.nodes) ops::find_op(n.op_type)->check(g_, n);
    ops::infer_shapes(g_);
    run_checker(m);
    Imported out;
    out.graph = std::move(g_);
    out.source = std::move(src);
    out.meta = std::move(meta_);
    return out;
  }

 private:
  ir::Graph g_;
  ModelInfo meta_;
  std::string dir_;
  ExternalData external_;

  [[noreturn]] void fail(const std::string& what) const { g_.fail(what); }

  void parse(onnx::ModelProto& m) {
    const std::string bytes = io::file_bytes(g_.source, io::kMaxProtobuf, "an ONNX model");
    if (bytes.empty()) fail("the file is empty, not an ONNX model");
    if (!m.ParseFromString(bytes)) fail("not an ONNX model: the protobuf does not parse (truncated or corrupt?)");
    dir_ = folder_of(g_.source);
  }

  void read_header(const onnx::ModelProto& m) {
    if (!m.has_ir_version() || !m.has_graph())
      fail("not an ONNX model: no ir_version or no graph (is this an .onnx file?)");
    if (m.ir_version() < 3)
      fail("ir_version " + std::to_string(m.ir_version()) +
           " is not supported (onnxtrain reads ir_version 3 and later)");
    meta_.producer_name = m.producer_name();
    meta_.producer_version = m.producer_version();
    meta_.ir_version = m.ir_version();
    bool found = false;
    for (const auto& op : m.opset_import()) {
      meta_.opsets.emplace_back(op.domain(), op.version());
      if (default_domain(op.domain())) {
        found = true;
        if (op.version() < ops::kMinOpset || op.version() > ops::kMaxOpset)
          fail("default-domain opset " + std::to_string(op.version()) + " is not supported (onnxtrain reads opsets " +
               std::to_string(ops::kMinOpset) + " to " + std::to_string(ops::kMaxOpset) + ")");
        g_.opset = static_cast<int>(op.version());
      }
    }
    if (!found) fail("the model imports no default-domain opset");
  }

  // numel of dims, refusing negative dims, overflow and absurd sizes before anything is allocated.
  int64_t checked_numel(const std::string& what, const google::protobuf::RepeatedField<int64_t>& dims) const {
    int64_t n = 1;
    for (int64_t d : dims)
      if (d < 0) fail(what + " has a negative dimension " + std::to_string(d));
    if (static_cast<size_t>(dims.size()) > ir::kMaxRank) fail(ir::rank_error(what, dims.size()));
    // Its non-zero dims bounded too, or a 0 among them would let the others multiply past int64 downstream.
    if (!ir::within_limits(ir::Shape(dims.begin(), dims.end())))
      fail(what + " declares more than " + std::to_string(kMaxElements) + " elements");
    for (int64_t d : dims) n *= d;
    return n;
  }

  // Where a float32 tensor's data is, checked against the bytes actually present before anything is allocated for
  // it: its raw_data or float_data, or a region of an external file (ExternalData::locate).
  ExternalRef check_tensor_data(const std::string& what, const onnx::TensorProto& t, int64_t numel) {
    const size_t bytes = static_cast<size_t>(numel) * sizeof(float);
    ExternalRef ref;
    if (t.data_location() == onnx::TensorProto::EXTERNAL) {
      ref = external_.locate(what, t, bytes);
    } else if (t.has_raw_data()) {
      if (t.raw_data().size() != bytes)
        fail(what + ": raw_data has " + std::to_string(t.raw_data().size()) + " bytes but its shape needs " +
             std::to_string(bytes));
    } else if (t.float_data_size() != numel) {
      fail(what + ": float_data has " + std::to_string(t.float_data_size()) + " values but its shape needs " +
           std::to_string(numel));
    }
    return ref;
  }

  // Reads one float32 tensor's values into dst (numel floats), from where check_tensor_data found them.
  void read_tensor_data(const std::string& what, const onnx::TensorProto& t, const ExternalRef& ref, int64_t numel,
                        float* dst) const {
    const size_t bytes = static_cast<size_t>(numel) * sizeof(float);
    if (bytes == 0) return;  // an empty tensor: its fields' data() and dst may be null, which memcpy must not see
    if (!ref.path.empty()) {
      external_.read(what, ref, bytes, dst);
    } else if (t.has_raw_data()) {
      std::memcpy(dst, t.raw_data().data(), bytes);
    } else {
      std::memcpy(dst, t.float_data().data(), bytes);
    }
  }

  // A tensor of another dtype than float32 into v: its dtype, its element bytes (read_elements: from raw_data or its
  // typed field, checked against its shape) and, for integers small enough to be a shape, its values as int64.
  void read_typed(const std::string& what, const onnx::TensorProto& t, int64_t n, ir::Value& v) const {
    if (!dtype_of(t.data_type(), &v.dtype))
      fail(what + ": " + dtype_name(t.data_type()) + " tensors are not supported");
    const size_t width = dtype_size(v.dtype), count = static_cast<size_t>(n);
    if (std::string wrong = read_elements(t, v.dtype, count, nullptr); !wrong.empty()) fail(what + ": " + wrong);
    v.raw.resize(count * width);
    if (std::string wrong = read_elements(t, v.dtype, count, v.raw.data()); !wrong.empty()) fail(what + ": " + wrong);
    // int64, int32 and bool constants small enough to be a shape are also kept as values, for the ops that read
    // integers (a Reshape's shape, a Dropout's training_mode).
    if ((v.dtype == DType::Int64 || v.dtype == DType::Int32 || v.dtype == DType::Int16 || v.dtype == DType::Bool) &&
        n <= kMaxIntConstant) {
      v.integer = true;
      v.ints.resize(count);
      for (size_t i = 0; i < count; ++i) {
        const uint8_t* p = v.raw.data() + i * width;
        if (v.dtype == DType::Int64)
          std::memcpy(&v.ints[i], p, 8);
        else if (v.dtype == DType::Int32) {
          int32_t x;
          std::memcpy(&x, p, 4);
          v.ints[i] = x;
        } else
          v.ints[i] = *p != 0;
      }
    }
  }

  // Float attributes are hyper-parameters (Gemm's alpha, LeakyRelu's slope, a Constant's value_float): a NaN or an
  // infinity there is a broken file, not data, and would train "successfully" to NaN weights that a Relu hides from the
  // loss. Refused for every op and every FLOAT / FLOATS attribute, including those a function call passes to its body.
  // (A Constant's value tensor is data, NaN included, and is not checked.)
  void require_finite(const ir::Node& n, const onnx::AttributeProto& a) const {
    if (a.type() == onnx::AttributeProto::FLOAT && !std::isfinite(a.f()))
      g_.fail(n, "attribute " + a.name() + " is " + float_str(a.f()) + "; float attributes must be finite");
    if (a.type() == onnx::AttributeProto::FLOATS)
      for (int i = 0; i < a.floats_size(); ++i)
        if (!std::isfinite(a.floats(i)))
          g_.fail(n, "attribute " + a.name() + " has " + float_str(a.floats(i)) + " at index " + std::to_string(i) +
                         "; float attributes must be finite");
  }

  // A small tensor attribute (ConstantOfShape's value): its dims, dtype and element bytes, float32 ones included.
  void read_tensor_attr(const ir::Node& n, const onnx::AttributeProto& a, ir::Attr& at) const {
    const onnx::TensorProto& t = a.t();
    const std::string what = n.label() + ": attribute " + a.name();
    if (t.data_location() == onnx::TensorProto::EXTERNAL) g_.fail(n, "attribute " + a.name() + " has external data");
    const int64_t count = checked_numel(what, t.dims());
    if (count > kMaxIntConstant) g_.fail(n, "attribute " + a.name() + " has " + std::to_string(count) + " elements");
    at.kind = ir::Attr::Tensor;
    at.ints.assign(t.dims().begin(), t.dims().end());
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      at.dtype = DType::Float32;
      std::vector<float> f(static_cast<size_t>(count));
      const std::string wrong = read_elements(t, DType::Float32, f.size(), f.data());
      if (!wrong.empty()) fail(what + ": " + wrong);
      at.raw.resize(f.size() * sizeof(float));
      if (!f.empty()) std::memcpy(at.raw.data(), f.data(), at.raw.size());
      return;
    }
    ir::Value v;
    read_typed(what, t, count, v);
    at.dtype = v.dtype;
    at.raw = std::move(v.raw);
  }

  // A Constant node folded into a Constant value: from its value tensor or value_float(s) / value_int(s).
  void fold_constant(const onnx::NodeProto& np, const ir::Node& n) {
    if (np.output_size() != 1 || np.attribute_size() != 1) g_.fail(n, "expected one output and one value attribute");
    const onnx::AttributeProto& a = np.attribute(0);
    require_finite(n, a);
    ir::Value v;
    v.name = np.output(0);
    v.kind = ir::ValueKind::Constant;
    std::vector<float> floats;
    if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) {
      const onnx::TensorProto& t = a.t();
      const std::string what = n.label() + ": value";
      int64_t count = checked_numel(what, t.dims());
      v.shape.assign(t.dims().begin(), t.dims().end());
      if (t.data_type() == onnx::TensorProto::FLOAT) {
        const ExternalRef ref = check_tensor_data(what, t, count);
        floats.resize(static_cast<size_t>(count));
        read_tensor_data(what, t, ref, count, floats.data());
      } else if (t.data_location() != onnx::TensorProto::EXTERNAL && dtype_of(t.data_type(), &v.dtype)) {
        read_typed(what, t, count, v);
      } else {
        g_.fail(n, "value of " + dtype_name(t.data_type()) +
                       (t.data_location() == onnx::TensorProto::EXTERNAL ? " with external data" : "") +
                       " is not supported");
      }
    } else if (a.name() == "value_float") {
      floats = {a.f()};
    } else if (a.name() == "value_floats") {
      floats.assign(a.floats().begin(), a.floats().end());
      v.shape = {static_cast<int64_t>(floats.size())};
    } else if (a.name() == "value_int" || a.name() == "value_ints") {
      v.integer = true;
      v.dtype = DType::Int64;
      if (a.name() == "value_int")
        v.ints = {a.i()};
      else
        v.ints.assign(a.ints().begin(), a.ints().end()), v.shape = {static_cast<int64_t>(v.ints.size())};
      v.raw.resize(v.ints.size() * sizeof(int64_t));
      if (!v.ints.empty()) std::memcpy(v.raw.data(), v.ints.data(), v.raw.size());
    } else {
      g_.fail(n, "attribute '" + a.name() + "' is not supported (value, value_float(s), value_int(s))");
    }
    if (v.dtype == DType::Float32) {
      v.offset = g_.params.size();
      g_.params.resize(v.offset + (floats.size() + 15) / 16 * 16, 0.f);
      std::copy(floats.begin(), floats.end(), g_.params.begin() + static_cast<long>(v.offset));
    }
    if (g_.find(v.name) >= 0) g_.fail(n, "output '" + v.name + "' is already defined elsewhere");
    g_.add_value(std::move(v));
  }

  void read_initializers(const onnx::GraphProto& gp, Source& src) {
    std::vector<std::pair<int, int64_t>> floats;  // (tensor index, numel)
    std::vector<ExternalRef> refs;                // where each one's data is
    size_t total = 0;
    for (int k = 0; k < gp.initializer_size(); ++k) {
      const onnx::TensorProto& t = gp.initializer(k);
      std::string what = "initializer '" + t.name() + "'";
      if (t.name().empty()) fail("initializer #" + std::to_string(k) + " has no name");
      int64_t n = checked_numel(what, t.dims());
      ir::Value v;
      v.name = t.name();
      v.kind = ir::ValueKind::Parameter;
      v.initializer = true;
      v.shape.assign(t.dims().begin(), t.dims().end());
      if (t.data_type() != onnx::TensorProto::FLOAT) {
        // Other dtypes become constants, which only the ops that take them read (Add, Identity, Squeeze and
        // Unsqueeze as data; Reshape, Squeeze and Unsqueeze as a shape or axes). What onnxtrain cannot hold (strings,
        // complex, external data) is kept for the exporter as it is, and refused where a node reads it (see
        // read_nodes).
        v.kind = ir::ValueKind::Input;
        DType d;
        if (dtype_of(t.data_type(), &d) && t.data_location() != onnx::TensorProto::EXTERNAL) {
          v.kind = ir::ValueKind::Constant;
          read_typed(what, t, n, v);
        } else {
          unreadable_[t.name()] = t.data_location() == onnx::TensorProto::EXTERNAL
                                      ? dtype_name(t.data_type()) + " with external data"
                                      : dtype_name(t.data_type());
          v.type_name = dtype_name(t.data_type());  // for listings only: no node may read it
        }
        g_.add_value(std::move(v));
        continue;
      }
      // Its data must be there before the one buffer for all of them is allocated.
      refs.push_back(check_tensor_data(what, t, n));
      v.offset = total;
      total += (static_cast<size_t>(n) + 15) / 16 * 16;  // 64-byte aligned starts
      int id = g_.add_value(std::move(v));
      floats.emplace_back(k, n);
      src.params.push_back({k, id});
    }
    g_.params.assign(total, 0.f);
    for (size_t i = 0; i < floats.size(); ++i) {
      const onnx::TensorProto& t = gp.initializer(floats[i].first);
      read_tensor_data("initializer '" + t.name() + "'", t, refs[i], floats[i].second, g_.param(src.params[i].value));
    }
  }

  // port_info, with the declared shape checked (no negative dim) and recorded into v when given.
  ModelInfo::Port port_of(const onnx::ValueInfoProto& vi, ir::Value* v) {
    const auto& tt = vi.type().tensor_type();
    if (tt.has_shape()) {
      if (v) v->has_declared = true;
      for (const auto& d : tt.shape().dim()) {
        ir::Dim dim;
        if (d.has_dim_value() && d.dim_value() < 0)
          fail("'" + vi.name() + "' declares a negative dimension " + std::to_string(d.dim_value()));
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.symbol = d.dim_param();
        if (v) v->declared.push_back(dim);
      }
    }
    return port_info(vi);
  }

  void read_inputs(const onnx::GraphProto& gp) {
    for (const auto& vi : gp.input()) {
      int id = g_.find(vi.name());
      if (id >= 0 && g_.values[id].kind == ir::ValueKind::Parameter) {
        // An initializer listed among the inputs (ir_version < 4, keep_initializers_as_inputs): a parameter that
        // the user may still feed.
        g_.values[id].feedable = true;
        port_of(vi, nullptr);
        continue;
      }
      if (id >= 0) continue;  // a non-float initializer also listed as input
      ir::Value v;
      v.name = vi.name();
      v.kind = ir::ValueKind::Input;
      meta_.inputs.push_back(port_of(vi, &v));
      const auto& tt = vi.type().tensor_type();
      if (vi.type().has_sequence_type() || vi.type().has_optional_type()) {
        // Carried through Identity as the caller gave it (InferenceSession::run_values); no op computes on it.
        v.tensor = false;
        v.type_name = type_str(vi.type());
        g_.inputs.push_back(g_.add_value(std::move(v)));
        continue;
      }
      if (!vi.type().has_tensor_type())
        fail("input '" + vi.name() + "' is " + type_str(vi.type()) +
             "; onnxtrain takes tensors, sequences and optionals");
      if (!dtype_of(tt.elem_type(), &v.dtype))
        fail("input '" + vi.name() + "' is " + dtype_name(tt.elem_type()) + ", which onnxtrain does not carry");
      for (auto& d : v.declared) v.shape.push_back(d.value);
      if (v.shape.size() > ir::kMaxRank) fail(ir::rank_error("input '" + vi.name() + "'", v.shape.size()));
      if (!ir::within_limits(v.shape))
        fail("input '" + vi.name() + "' declares " + ir::shape_str(v.shape) + ", more than " +
             std::to_string(kMaxElements) + " elements");
      g_.inputs.push_back(g_.add_value(std::move(v)));
    }
  }

  // A model with ops onnxtrain lacks is refused at the first such node, and the message also counts the others by op
  // type, so that one run tells what a model needs ("the model also has Erf (1 node), Mul (2 nodes)").
  void refuse_unsupported_ops(const onnx::GraphProto& gp) const {
    int first = -1;
    std::map<std::string, int> others;  // op type -> nodes, after the first
    for (int k = 0; k < gp.node_size(); ++k) {
      const onnx::NodeProto& np = gp.node(k);
      if (!default_domain(np)) continue;  // refused by domain, node by node
      if (np.op_type() == "Constant" || runnable_op(np)) continue;
      if (first < 0)
        first = k;
      else
        ++others[np.op_type()];
    }
    if (first < 0) return;
    ir::Node n;
    n.name = node_name(gp.node(first), first);
    n.op_type = gp.node(first).op_type();
    std::string also;
    for (const auto& [type, count] : others)
      also += (also.empty() ? "; the model also has " : ", ") + type + " (" + std::to_string(count) +
              (count == 1 ? " node)" : " nodes)");
    g_.fail(n, "op " + n.op_type + " is not supported at opset " + std::to_string(g_.opset) + also +
                   "; supported: " + ops::supported_ops());
  }

  void read_nodes(const onnx::GraphProto& gp) {
    refuse_unsupported_ops(gp);
    // Outputs first, so that inputs can name values produced later in the file (a cycle is refused in finalize).
    std::vector<int> node_of(gp.node_size(), -1);  // proto node -> IR node; Constant nodes fold into values
    for (int k = 0; k < gp.node_size(); ++k) {
      const onnx::NodeProto& np = gp.node(k);
      ir::Node n;
      n.name = node_name(np, k);
      n.op_type = np.op_type();
      if (!default_domain(np))
        g_.fail(n, "domain '" + np.domain() +
                       "' is not supported; onnxtrain runs default-domain ops: " + ops::supported_ops());
      if (n.op_type == "Constant") {
        fold_constant(np, n);
        continue;
      }
      node_of[k] = static_cast<int>(g_.nodes.size());
      const ops::OpDef* op = runnable_op(np);
      if (!op)
        g_.fail(n, "op " + n.op_type + " is not supported at opset " + std::to_string(g_.opset) +
                       "; supported: " + ops::supported_ops());
      n.version = version_at(*op, g_.opset);
      if (n.version == 0)
        g_.fail(n, "op " + n.op_type + " does not exist at opset " + std::to_string(g_.opset) + " (it starts at " +
                       std::to_string(op->versions.front()) + ")");
      for (const auto& a : np.attribute()) {
        require_finite(n, a);
        ir::Attr at;
        switch (a.type()) {
          case onnx::AttributeProto::INT:
            at.kind = ir::Attr::Int;
            at.i = a.i();
            break;
          case onnx::AttributeProto::FLOAT:
            at.kind = ir::Attr::Float;
            at.f = a.f();
            break;
          case onnx::AttributeProto::INTS:
            at.kind = ir::Attr::Ints;
            at.ints.assign(a.ints().begin(), a.ints().end());
            break;
          case onnx::AttributeProto::FLOATS:
            at.kind = ir::Attr::Floats;
            at.floats.assign(a.floats().begin(), a.floats().end());
            break;
          case onnx::AttributeProto::STRING:
            at.kind = ir::Attr::String;
            at.s = a.s();
            break;
          case onnx::AttributeProto::TENSOR: read_tensor_attr(n, a, at); break;
          default: break;
        }
        n.attrs[a.name()] = at;
      }
      for (const std::string& o : np.output()) {
        if (o.empty()) {
          n.outputs.push_back(-1);
          continue;
        }
        if (g_.find(o) >= 0) g_.fail(n, "output '" + o + "' is already defined elsewhere");
        ir::Value v;
        v.name = o;
        n.outputs.push_back(g_.add_value(std::move(v)));
      }
      g_.nodes.push_back(std::move(n));
    }
    for (int k = 0; k < gp.node_size(); ++k) {
      if (node_of[k] < 0) continue;
      ir::Node& n = g_.nodes[node_of[k]];
      const ops::OpDef* op = ops::find_op(n.op_type);
      for (const std::string& i : gp.node(k).input()) {
        int id = i.empty() ? -1 : g_.find(i);
        if (!i.empty() && id < 0) g_.fail(n, "input '" + i + "' is not a graph input, an initializer or a node output");
        auto nf = unreadable_.find(i);
        const int slot = static_cast<int>(n.inputs.size());
        const bool wants_ints = op->int_input(static_cast<size_t>(slot));
        if (nf != unreadable_.end()) g_.fail(n, "input '" + i + "' is " + nf->second + ", which onnxtrain cannot read");
        if (wants_ints && id >= 0) {
          ir::Value& v = g_.values[id];
          const bool floating = v.dtype == DType::Float32 || v.dtype == DType::Float64;
          // An integer input read as a shape: its values are bound when the plan is made (Executor::prepare); a
          // float one too, where the op reads floats (Range's bounds).
          const bool integral = v.dtype == DType::Int64 || v.dtype == DType::Int32 || v.dtype == DType::Int16;
          if (v.kind == ir::ValueKind::Input && v.tensor && integral) v.integer = true;
          if (v.kind == ir::ValueKind::Input && v.tensor && floating && op->real_inputs) v.real = true;
          if (v.kind == ir::ValueKind::Constant && !v.integer && floating && op->real_inputs && !v.real) {
            v.real = true;
            const size_t count = static_cast<size_t>(g_.numel(id));
            for (size_t e = 0; e < count; ++e) {
              double x = 0;
              if (v.dtype == DType::Float32)
                x = g_.params[v.offset + e];
              else
                std::memcpy(&x, v.raw.data() + e * sizeof x, sizeof x);
              v.reals.push_back(x);
            }
          }
          // A node's output (a shape chain: Shape, Gather, Concat) is known once it folds, when a plan is made.
          if (!v.integer && !v.real && v.kind != ir::ValueKind::Activation)
            g_.fail(
                n,
                "input '" + i +
                    "' must be an integer tensor (an initializer, a Constant node, an int64 input or a shape chain)");
        }
        n.inputs.push_back(id);
      }
    }
  }

  // PyTorch's eval-mode export (1.13) merges initializers that hold equal values: the second is written as
  // Identity(first), so two zero biases become one tensor, and trained as written they would stay one where PyTorch
  // trains two. So an Identity (of the model's own graph, not of a function body) whose input is a float initializer
  // and whose output nodes read, and the graph does not output, becomes a parameter of its own, starting from the same
  // values, and the node goes; the exporter writes it back as an initializer of its own (Source::untied). One
  // initializer that several nodes read directly is real sharing (tied weights) and stays one parameter.
  void untie_identities(const onnx::GraphProto& gp, Source& src) {
    std::set<std::string> identities, outputs;  // top-level Identity outputs; graph outputs
    for (const auto& np : gp.node())
      if (default_domain(np) && np.op_type() == "Identity" && np.input_size() == 1 && np.output_size() == 1)
        identities.insert(np.output(0));
    for (const auto& vi : gp.output()) outputs.insert(vi.name());
    std::map<int, int> tensor_of;  // IR value of a float initializer -> its index among the initializers
    for (const Source::Param& p : src.params) tensor_of[p.value] = p.tensor;
    std::set<int> read;  // values some node reads
    for (const ir::Node& n : g_.nodes) read.insert(n.inputs.begin(), n.inputs.end());
    std::set<std::string> listed;  // graph inputs (initializers listed there too, in old exports)
    for (const auto& vi : gp.input()) listed.insert(vi.name());
    std::vector<ir::Node> kept;
    for (ir::Node& n : g_.nodes) {
      const int from = n.inputs.empty() ? -1 : n.inputs[0], to = n.outputs.empty() ? -1 : n.outputs[0];
      const bool untie = n.op_type == "Identity" && from >= 0 && to >= 0 && tensor_of.count(from) &&
                         identities.count(g_.values[to].name) && !outputs.count(g_.values[to].name) && read.count(to);
      if (!untie) {
        kept.push_back(std::move(n));
        continue;
      }
      const size_t count = static_cast<size_t>(g_.numel(from));
      const size_t offset = g_.params.size();
      g_.params.resize(offset + (count + 15) / 16 * 16, 0.f);  // 64-byte aligned, as read_initializers lays them out
      std::copy_n(g_.params.data() + g_.values[from].offset, count, g_.params.data() + offset);
      ir::Value& v = g_.values[to];
      v.kind = ir::ValueKind::Parameter;
      v.initializer = true;
      v.shape = g_.values[from].shape;
      v.offset = offset;
      v.feedable = listed.count(g_.values[from].name) != 0;  // listed among the inputs as its source is
      src.untied.push_back({tensor_of.at(from), to, v.name});
      meta_.untied.push_back({v.name, g_.values[from].name});
    }
    g_.nodes = std::move(kept);
  }

  void read_outputs(const onnx::GraphProto& gp) {
    if (gp.output_size() == 0) fail("the graph has no outputs");
    for (const auto& vi : gp.output()) {
      int id = g_.find(vi.name());
      if (id < 0) fail("graph output '" + vi.name() + "' is produced by no node");
      ir::Value& v = g_.values[id];
      meta_.outputs.push_back(port_of(vi, v.kind == ir::ValueKind::Activation ? &v : nullptr));
      v.is_output = true;
      g_.outputs.push_back(id);
    }
  }

  // onnx::checker where it knows the model's versions; newer models load on our own checks alone.
  void run_checker(const onnx::ModelProto& m) const {
    if (m.ir_version() > kCheckerMaxIr || g_.opset > kCheckerMaxOpset) return;
    for (const auto& op : m.opset_import())
      if (!default_domain(op.domain())) return;
    try {
      onnx::checker::CheckerContext ctx;
      ctx.set_ir_version(static_cast<int>(m.ir_version()));
      std::unordered_map<std::string, int> opsets;
      for (const auto& op : m.opset_import()) opsets[op.domain()] = static_cast<int>(op.version());
      ctx.set_opset_imports(opsets);
      ctx.set_model_dir(dir_);
      onnx::checker::LexicalScopeContext lex;
      onnx::checker::check_graph(m.graph(), ctx, lex);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      msg = msg.substr(0, msg.find('\n'));
      fail("onnx checker: " + msg);
    }
  }

  std::map<std::string, std::string> unreadable_;  // initializer -> what it is, for those no node may read
};

}  // namespace

Imported import_model(const std::string& path) { return Importer(path).run(); }

ModelInfo describe_model(const std::string& path) {
  onnx::ModelProto m;
  if (!m.ParseFromString(io::file_bytes(path, io::kMaxProtobuf, "an ONNX model")) || !m.has_graph())
    throw Error(path + ": not an ONNX model");
  ModelInfo info;
  info.producer_name = m.producer_name();
  info.producer_version = m.producer_version();
  info.ir_version = m.ir_version();
  int64_t opset = 0;
  for (const auto& op : m.opset_import()) {
    info.opsets.emplace_back(op.domain(), op.version());
    if (default_domain(op.domain())) opset = op.version();
  }
  const onnx::GraphProto& gp = m.graph();
  std::set<std::string> initialized;
  for (const auto& t : gp.initializer()) {
    ModelInfo::Initializer i;
    i.name = t.name();
    i.dtype = dtype_name(t.data_type());
    i.shape.assign(t.dims().begin(), t.dims().end());
    i.count = 1;
    for (int64_t d : i.shape)
      if (d < 0 || __builtin_mul_overflow(i.count, d, &i.count)) i.count = -1;  // shown as declared, not counted
    i.trainable = false;
    info.initializers.push_back(std::move(i));
    initialized.insert(t.name());
  }
  for (const auto& vi : gp.input())
    if (!initialized.count(vi.name())) info.inputs.push_back(port_info(vi));
  for (const auto& vi : gp.output()) info.outputs.push_back(port_info(vi));
  for (int k = 0; k < gp.node_size(); ++k) {
    const onnx::NodeProto& np = gp.node(k);
    ModelInfo::NodeInfo n;
    n.name = node_name(np, k);
    n.op_type = default_domain(np) ? np.op_type() : np.domain() + "." + np.op_type();
    const ops::OpDef* op = runnable_op(np);
    n.version = op ? version_at(*op, opset) : 0;
    n.supported = np.op_type() == "Constant" ? default_domain(np) : n.version > 0;
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    info.nodes.push_back(std::move(n));
  }
  return info;
}

}  // namespace onnxtrain::onnx_io
