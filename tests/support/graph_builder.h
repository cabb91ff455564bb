// Test helper: builds a small IR graph by hand (no ONNX file) and runs it through the executor, so each oneDNN
// kernel can be compared with its op's reference on any shape and attribute combination. Header-only.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "runtime/exec/executor.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/op.h"

namespace onnxtrain::testing {

struct GraphBuilder {
  ir::Graph g;
  std::vector<std::pair<int, std::vector<float>>> pending_params;

  explicit GraphBuilder(int opset = 13) {
    g.source = "test";
    g.opset = opset;
  }
  int input(const std::string& name, const ir::Shape& shape) {
    ir::Value v;
    v.name = name;
    v.kind = ir::ValueKind::Input;
    v.shape = shape;
    int id = g.add_value(v);
    g.inputs.push_back(id);
    return id;
  }
  int param(const std::string& name, const ir::Shape& shape, std::vector<float> data) {
    ir::Value v;
    v.name = name;
    v.kind = ir::ValueKind::Parameter;
    v.shape = shape;
    int id = g.add_value(v);
    pending_params.emplace_back(id, std::move(data));
    return id;
  }
  int int_const(const std::string& name, std::vector<int64_t> ints) {
    ir::Value v;
    v.name = name;
    v.kind = ir::ValueKind::Constant;
    v.integer = true;
    v.shape = {static_cast<int64_t>(ints.size())};
    v.ints = std::move(ints);
    return g.add_value(v);
  }
  // A constant of another dtype (Gather's indices, Where's condition): its element bytes, and for int64, int32, int16
  // and bool its values as integers too, as the importer keeps them.
  int typed_const(const std::string& name, DType dtype, const ir::Shape& shape, const std::vector<int64_t>& values) {
    ir::Value v;
    v.name = name;
    v.kind = ir::ValueKind::Constant;
    v.dtype = dtype;
    v.shape = shape;
    v.raw.resize(values.size() * dtype_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) ops::store_double(dtype, v.raw.data(), i, double(values[i]));
    if (dtype == DType::Int64 || dtype == DType::Int32 || dtype == DType::Int16 || dtype == DType::Bool) {
      v.integer = true;
      v.ints = values;
    }
    return g.add_value(v);
  }
  // Adds a node at the op's version in effect for the builder's opset; returns its first output.
  int node(const std::string& op, std::vector<int> inputs, std::map<std::string, ir::Attr> attrs = {}) {
    return nodes(op, std::move(inputs), std::move(attrs), 1)[0];
  }
  // The same with `count` outputs (Split); returns them all.
  std::vector<int> nodes(const std::string& op, std::vector<int> inputs, std::map<std::string, ir::Attr> attrs,
                         size_t count) {
    ir::Node n;
    n.name = op + std::to_string(g.nodes.size());
    n.op_type = op;
    for (int v : ops::find_op(op)->versions)
      if (v <= g.opset) n.version = v;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    for (size_t k = 0; k < count; ++k) {
      ir::Value out;
      out.name = n.name + "_out" + (k ? std::to_string(k) : "");
      n.outputs.push_back(g.add_value(out));
    }
    g.nodes.push_back(n);
    return n.outputs;
  }
  // Lays out the parameters, links the graph and checks every node as the importer would.
  void finish(std::vector<int> outputs) {
    size_t total = 0;
    for (auto& [id, data] : pending_params) {
      g.values[id].offset = total;
      total += (data.size() + 15) / 16 * 16;
    }
    g.params.assign(total, 0.f);
    for (auto& [id, data] : pending_params) std::copy(data.begin(), data.end(), g.param(id));
    g.outputs = std::move(outputs);
    for (int o : g.outputs) g.values[o].is_output = true;
    g.finalize();
    ops::infer_types(g);
    for (const ir::Node& n : g.nodes) ops::find_op(n.op_type)->check(g, n);
    ops::infer_shapes(g);
  }
};

inline ir::Attr attr_i(int64_t v) {
  ir::Attr a;
  a.kind = ir::Attr::Int;
  a.i = v;
  return a;
}
inline ir::Attr attr_f(float v) {
  ir::Attr a;
  a.kind = ir::Attr::Float;
  a.f = v;
  return a;
}

inline int64_t numel(const ir::Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace onnxtrain::testing
