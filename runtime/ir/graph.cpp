// Graph bookkeeping: name lookup, topological order, cycle detection and the one format of IR error messages.
#include "runtime/ir/graph.h"

#include "onnxtrain/error.h"

namespace onnxtrain::ir {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += s[i] == kUnknown ? "?" : std::to_string(s[i]);
  }
  return out + ")";
}

std::string rank_error(const std::string& what, size_t rank) {
  return what + " has " + std::to_string(rank) + " dims; onnxtrain takes at most " + std::to_string(kMaxRank);
}

bool within_limits(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    if (d > 0 && (__builtin_mul_overflow(n, d, &n) || n > kMaxElements)) return false;
  return true;
}

int64_t Node::attr_i(const std::string& a, int64_t dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.i;
}

float Node::attr_f(const std::string& a, float dflt) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? dflt : it->second.f;
}

int64_t Graph::numel(int id) const {
  int64_t n = 1;
  for (int64_t d : values[id].shape) n *= d;
  return n;
}

std::string Graph::type_of(int id) const {
  const Value& v = values[id];
  return v.tensor ? dtype_name(v.dtype) : v.type_name;
}

std::string Node::label() const { return "node '" + name + "' (" + op_type + ")"; }

int Graph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

int Graph::add_value(Value v) {
  if (by_name_.count(v.name)) fail("tensor '" + v.name + "' is defined twice");
  int id = static_cast<int>(values.size());
  by_name_[v.name] = id;
  values.push_back(std::move(v));
  return id;
}

void Graph::fail(const std::string& what) const { throw Error(source + ": " + what); }

void Graph::fail(const Node& n, const std::string& what) const { fail(n.label() + ": " + what); }

void Graph::finalize() {
  for (auto& v : values) {
    v.producer = -1;
    v.consumers.clear();
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (int o : nodes[k].outputs) {
      if (o < 0) continue;
      if (values[o].producer >= 0 || values[o].kind != ValueKind::Activation)
        fail(nodes[k], "output '" + values[o].name + "' is already defined elsewhere");
      values[o].producer = static_cast<int>(k);
    }
  }
  // Kahn's algorithm; a node whose inputs never all become ready sits on a cycle.
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<int>> readers(values.size());
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (int i : nodes[k].inputs) {
      if (i < 0) continue;
      values[i].consumers.push_back(static_cast<int>(k));
      if (values[i].kind == ValueKind::Activation) {
        if (values[i].producer < 0)
          fail(nodes[k], "input '" + values[i].name + "' is not a graph input, an initializer or a node output");
        ++pending[k];
        readers[i].push_back(static_cast<int>(k));
      }
    }
  }
  std::vector<int> order;
  for (size_t k = 0; k < nodes.size(); ++k)
    if (pending[k] == 0) order.push_back(static_cast<int>(k));
  for (size_t head = 0; head < order.size(); ++head) {
    int k = order[head];
    for (int o : nodes[k].outputs) {
      if (o < 0) continue;
      for (int r : readers[o])
        if (--pending[r] == 0) order.push_back(r);
    }
  }
  if (order.size() != nodes.size()) {
    for (size_t k = 0; k < nodes.size(); ++k)
      if (pending[k] > 0) fail(nodes[k], "the graph has a cycle through this node");
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (int k : order) sorted.push_back(std::move(nodes[k]));
  nodes = std::move(sorted);
  for (auto& v : values) {
    v.producer = -1;
    v.consumers.clear();
  }
  for (size_t k = 0; k < nodes.size(); ++k) {
    for (int o : nodes[k].outputs)
      if (o >= 0) values[o].producer = static_cast<int>(k);
    for (int i : nodes[k].inputs)
      if (i >= 0) values[i].consumers.push_back(static_cast<int>(k));
  }
  for (int o : outputs) {
    const Value& v = values[o];
    if (v.kind == ValueKind::Activation && v.producer < 0) fail("graph output '" + v.name + "' is produced by no node");
  }
}

}  // namespace onnxtrain::ir
