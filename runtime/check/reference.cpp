// ReferenceForward: binds data and parameters as doubles, shapes each node's outputs with the op's own infer, and
// fills them with the op's reference. Also first_nonfinite_node, the public search built on it. No loss here
// (gradcheck.cpp), and no gradients.
#include "runtime/check/reference.h"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "onnxtrain/error.h"
#include "onnxtrain/gradcheck.h"
#include "runtime/model_impl.h"

namespace onnxtrain::check {

namespace {

// Element k of t, an integer, bool or float32 tensor, as a double.
double as_double(const Tensor& t, size_t k) {
  auto at = [&](auto zero) {
    decltype(zero) v;
    std::memcpy(&v, t.bytes.data() + k * sizeof(v), sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.dtype) {
    case DType::Float32: return t.f32[k];
    case DType::Int64: return static_cast<double>(t.i64[k]);
    case DType::UInt8:
    case DType::Bool: return at(uint8_t{});
    case DType::Int8: return at(int8_t{});
    case DType::UInt16: return at(uint16_t{});
    case DType::Int16: return at(int16_t{});
    case DType::Int32: return at(int32_t{});
    case DType::UInt32: return at(uint32_t{});
    case DType::UInt64: return at(uint64_t{});
    default: return NAN;  // float16, bfloat16, float64: refused before (the constructor's loop over the values)
  }
}

}  // namespace

ReferenceForward::ReferenceForward(const ir::Graph& g, const Tensor& x) : ReferenceForward(g, one_input(g, x)) {}

std::map<std::string, const Tensor*> ReferenceForward::one_input(const ir::Graph& g, const Tensor& x) {
  if (g.inputs.size() != 1)
    g.fail("the reference forward feeds one input, but the model has " + std::to_string(g.inputs.size()) +
           "; give each by name");
  return {{g.values[g.inputs[0]].name, &x}};
}

ReferenceForward::ReferenceForward(const ir::Graph& g, const std::map<std::string, const Tensor*>& inputs)
    : g_(g), values_(g.values.size()) {
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ir::Value& val = g.values[v];
    if (!val.tensor || val.dtype == DType::Float16 || val.dtype == DType::BFloat16 || val.dtype == DType::Float64)
      g.fail("value '" + val.name + "' is " + g.type_of(static_cast<int>(v)) +
             "; the reference runs float32 graphs and their integers");
    ops::RefTensor& t = values_[v];
    if (val.kind == ir::ValueKind::Parameter || (val.kind == ir::ValueKind::Constant && !val.integer)) {
      t.shape = val.shape;
      const float* p = g.param(static_cast<int>(v));
      t.data.assign(p, p + g.numel(static_cast<int>(v)));
    } else if (val.kind == ir::ValueKind::Constant) {
      t.shape = val.shape;
      t.data.assign(val.ints.begin(), val.ints.end());
    }
  }
  for (int id : g.inputs) {
    const ir::Value& val = g.values[id];
    auto it = inputs.find(val.name);
    if (it == inputs.end()) g.fail("the reference forward has no data for input '" + val.name + "'");
    const Tensor& x = *it->second;
    if (x.dtype != val.dtype)
      throw Error(g.source + ": features for input '" + val.name + "' must be " + dtype_name(val.dtype) + ", got " +
                  dtype_name(x.dtype));
    ops::RefTensor& in = values_[static_cast<size_t>(id)];
    in.shape = x.shape;
    const size_t n = x.data_bytes() / dtype_size(x.dtype);
    in.data.resize(n);
    for (size_t k = 0; k < n; ++k) in.data[k] = as_double(x, k);
  }
}

void ReferenceForward::run_node(size_t k) {
  const ir::Node& n = g_.nodes[k];
  const ops::OpDef* op = ops::find_op(n.op_type);
  if (!op->reference) g_.fail(n, "has no double reference, so it cannot be checked");
  std::vector<const ops::RefTensor*> in;
  ops::InferInputs shapes;
  std::vector<std::vector<int64_t>> ints(n.inputs.size());  // integer inputs' values, for shape inference
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    const int i = n.inputs[k];
    in.push_back(i >= 0 ? &values_[static_cast<size_t>(i)] : nullptr);
    shapes.push_back(i >= 0 ? values_[static_cast<size_t>(i)].shape : ir::Shape{});
    const bool integer = i >= 0 && (g_.values[i].integer || g_.values[i].dtype != DType::Float32);
    if (integer) ints[k].assign(in.back()->data.begin(), in.back()->data.end());
    shapes.known.push_back(integer ? &ints[k] : nullptr);
  }
  const std::vector<ir::Shape> out_shapes = op->infer(g_, n, shapes);
  std::vector<ops::RefTensor> out(n.outputs.size());
  for (size_t j = 0; j < out.size() && j < out_shapes.size(); ++j) {
    out[j].shape = out_shapes[j];
    int64_t count = 1;
    for (int64_t d : out[j].shape) count *= d;
    out[j].data.assign(static_cast<size_t>(count), 0.0);
  }
  op->reference(g_, n, in, out);
  for (size_t j = 0; j < out.size(); ++j)
    if (n.outputs[j] >= 0) values_[static_cast<size_t>(n.outputs[j])] = std::move(out[j]);
}

void ReferenceForward::run(const std::vector<size_t>& nodes) {
  for (size_t k : nodes) run_node(k);
}

void ReferenceForward::run_all() {
  for (size_t k = 0; k < g_.nodes.size(); ++k) run_node(k);
}

std::vector<size_t> ReferenceForward::downstream(int value) const {
  std::vector<bool> dirty(g_.values.size(), false);
  dirty[static_cast<size_t>(value)] = true;
  std::vector<size_t> nodes;
  for (size_t k = 0; k < g_.nodes.size(); ++k) {
    const ir::Node& n = g_.nodes[k];
    bool reads = false;
    for (int i : n.inputs) reads = reads || (i >= 0 && dirty[static_cast<size_t>(i)]);
    if (!reads) continue;
    nodes.push_back(k);
    for (int o : n.outputs)
      if (o >= 0) dirty[static_cast<size_t>(o)] = true;
  }
  return nodes;
}

}  // namespace onnxtrain::check

namespace onnxtrain {

// The first node, in topological order, one of whose outputs holds a NaN, an Inf, or a value float32 cannot hold.
std::string first_nonfinite_node(const Model& model, const Tensor& x) {
  const ir::Graph& g = model.impl().graph;
  check::ReferenceForward ref(g, x);
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    ref.run_node(k);
    const ir::Node& n = g.nodes[k];
    for (int o : n.outputs) {
      if (o < 0) continue;
      for (double v : ref.value(o).data)
        if (!std::isfinite(v) || std::fabs(v) > double(FLT_MAX)) return n.name + " (" + n.op_type + ")";
    }
  }
  return "";
}

}  // namespace onnxtrain
