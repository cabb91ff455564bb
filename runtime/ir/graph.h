// The IR: a protobuf-free graph of Values and Nodes. The importer builds the forward graph; for training, autodiff
// adds the loss and the backward nodes to the same graph (marked `backward`), which a forward-only run skips.
// It records names, kinds, declared shapes and parameter data; it holds no oneDNN state and no memory plan.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "onnxtrain/tensor.h"

namespace onnxtrain::ir {

// A shape as inference sees it: -1 is a dimension not known yet (symbolic until data arrives).
using Shape = std::vector<int64_t>;
constexpr int64_t kUnknown = -1;

std::string shape_str(const Shape& s);  // "(2,?,4)"

// No tensor may hold more elements than this (16 GiB of float32); files that declare more are refused at load.
constexpr int64_t kMaxElements = int64_t(1) << 32;
// Whether the product of s's known non-zero dims is at most kMaxElements. Every shape in a loaded graph is, so that no
// product of some of its dims (as shape inference and the kernels form them) can overflow.
bool within_limits(const Shape& s);

// No tensor may have more dims than this: oneDNN's memory descriptors hold at most 12 (DNNL_MAX_NDIMS; dnnl_compat.cpp
// checks the two agree). The importer refuses inputs and initializers past it, shape inference node outputs, and a
// plan fed tensors.
constexpr size_t kMaxRank = 12;
std::string rank_error(const std::string& what, size_t rank);  // "<what> has 13 dims; onnxtrain takes at most 12"

// A declared dimension: a size, or a symbol (ONNX dim_param) bound from the data, or neither.
struct Dim {
  int64_t value = kUnknown;
  std::string symbol;
};

enum class ValueKind {
  Input,       // fed by the user each run
  Parameter,   // float32 initializer: trainable unless frozen
  Constant,    // never trained: a Constant node's value, or an integer initializer (a Reshape's shape)
  Activation,  // produced by a node
};

struct Value {
  std::string name;
  ValueKind kind = ValueKind::Activation;
  std::vector<Dim> declared;  // declared dims of graph inputs/outputs (empty when undeclared)
  bool has_declared = false;  // whether the model declared a shape at all
  Shape shape;                // Parameter: its dims; others: inferred, kUnknown where symbolic
  size_t offset = 0;          // Parameter, float Constant: where its values start in Graph::params (row-major)
  bool integer = false;       // Constant or int64 input read as integers (in ints) by an op (a Reshape's shape)
  std::vector<int64_t> ints;  // an integer Constant's values
  // A float Constant or input that an op reads as numbers when a plan is made (Range's bounds), as doubles; an input's
  // are bound with each plan, as an integer input's ints are.
  bool real = false;
  std::vector<double> reals;
  // The value's type. Float32 tensors are what ops compute on and train; tensors of other dtypes pass through the
  // few ops that take them (Add, Identity); sequences and optionals (tensor = false) only through Identity.
  DType dtype = DType::Float32;
  bool tensor = true;
  std::string type_name;       // a non-tensor's ONNX type, as messages name it: "sequence(float32)"
  std::vector<uint8_t> raw;    // a Constant of another dtype than float32: its element bytes
  bool feedable = false;       // Parameter listed among graph inputs too (old exports): the user may feed it
  bool initializer = false;    // read from the model's initializers (not a Constant node, not an input)
  int producer = -1;           // index of the node producing it, -1 for inputs and parameters
  std::vector<int> consumers;  // nodes reading it
  bool is_output = false;
  int grad_of = -1;       // set on the value holding a parameter's gradient: that parameter's id
  bool backward = false;  // made by autodiff (gradients, loss): not needed to compute the outputs
};

struct Attr {
  enum Kind { Int, Float, Ints, Floats, String, Tensor, Other } kind = Other;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;  // Ints; a Tensor's dims
  std::vector<float> floats;
  std::string s;
  DType dtype = DType::Float32;  // a Tensor's (ConstantOfShape's value): its dtype and element bytes
  std::vector<uint8_t> raw;

  static Attr of(int64_t v) {
    Attr a;
    a.kind = Int;
    a.i = v;
    return a;
  }
  static Attr of(int v) { return of(int64_t{v}); }  // a literal 1 would be ambiguous between the two above
  static Attr of(float v) {
    Attr a;
    a.kind = Float;
    a.f = v;
    return a;
  }
  static Attr of(std::vector<int64_t> v) {
    Attr a;
    a.kind = Ints;
    a.ints = std::move(v);
    return a;
  }
};

struct Node {
  std::string name;
  std::string op_type;
  int version = 0;           // the op's version in effect: largest since-version <= the model's opset
  std::vector<int> inputs;   // value ids; -1 for an absent optional input
  std::vector<int> outputs;  // value ids; -1 for an unused optional output
  std::map<std::string, Attr> attrs;
  bool backward = false;  // emitted by autodiff (or the loss): skipped by a forward-only run

  bool has(const std::string& a) const { return attrs.count(a) != 0; }
  int64_t attr_i(const std::string& a, int64_t dflt) const;
  float attr_f(const std::string& a, float dflt) const;
  std::string label() const;  // "node 'fc1' (Gemm)"
  int input(size_t k) const { return k < inputs.size() ? inputs[k] : -1; }
};

struct Graph {
  std::string source;  // the model file, named in every message
  int opset = 0;       // default-domain opset imported by the model
  std::vector<Value> values;
  std::vector<Node> nodes;   // in topological order after finalize()
  std::vector<int> inputs;   // user-fed inputs, in model order (feedable parameters not included)
  std::vector<int> outputs;  // graph outputs, in model order
  // Every parameter's values in one buffer, each starting on a 64-byte boundary: one allocation per role, so that
  // gradients and optimizer moments can share its layout and the optimizer is one loop.
  std::vector<float> params;
  uint64_t params_version = 0;  // bumped whenever training changes params: sessions repack what they cached

  float* param(int id) { return params.data() + values[id].offset; }
  const float* param(int id) const { return params.data() + values[id].offset; }
  int64_t numel(int id) const;        // product of the value's shape (all known)
  std::string type_of(int id) const;  // "float32", "uint8", "sequence(float32)": for messages

  int find(const std::string& name) const;  // -1 when absent
  int add_value(Value v);                   // throws on a duplicate name
  // Links producers and consumers, orders nodes topologically, refuses cycles, double definitions and reads of
  // activations no node produces. Node inputs and outputs must already be resolved to value ids.
  void finalize();
  [[noreturn]] void fail(const std::string& what) const;                 // "<source>: <what>"
  [[noreturn]] void fail(const Node& n, const std::string& what) const;  // "<source>: node 'x' (Op): <what>"

 private:
  std::unordered_map<std::string, int> by_name_;
};

}  // namespace onnxtrain::ir
