// The double-precision reference forward of a model's graph: every node through its op's naive `reference`
// (runtime/ops/*.cpp), for gradcheck's finite differences and the search for the first non-finite value. It is slow on
// purpose (plain loops, no oneDNN) and never trains: it reads the parameters and writes only its own copies.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/tensor.h"
#include "runtime/ir/graph.h"
#include "runtime/ops/op.h"

namespace onnxtrain::check {

class ReferenceForward {
 public:
  // Binds x to the graph's one input, and the parameters and constants to double copies of their stored values.
  // Throws Error naming the model for a graph with another number of inputs, or x of another dtype than the input's.
  ReferenceForward(const ir::Graph& g, const Tensor& x);
  // The same with every graph input's data by name (integer and bool inputs as their values).
  ReferenceForward(const ir::Graph& g, const std::map<std::string, const Tensor*>& inputs);

  void run_node(size_t k);                     // node k of g.nodes (topological order), from the current values
  void run(const std::vector<size_t>& nodes);  // these nodes, in the order given
  void run_all();
  // The nodes that depend on value, in topological order: what to rerun after changing it.
  std::vector<size_t> downstream(int value) const;

  ops::RefTensor& value(int v) { return values_[static_cast<size_t>(v)]; }
  const ir::Graph& graph() const { return g_; }

 private:
  static std::map<std::string, const Tensor*> one_input(const ir::Graph& g, const Tensor& x);
  const ir::Graph& g_;
  std::vector<ops::RefTensor> values_;  // per value id; activations filled by run_node
};

}  // namespace onnxtrain::check
