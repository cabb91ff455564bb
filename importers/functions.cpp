// Expands calls of a model's local functions, as torch.onnx.export(..., export_modules_as_functions=True) writes
// them, into their bodies: bounded in depth and in the nodes it produces, since calls nest and multiply.
#include "importers/functions.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include "importers/onnx_elements.h"

namespace onnxtrain::onnx_io {
namespace {

constexpr int kMaxExpandedNodes = 1 << 15;  // nodes of a graph whose function calls are expanded

using Functions = std::map<std::pair<std::string, std::string>, const onnx::FunctionProto*>;

// The model's own functions by (domain, name). Their bodies run at the model's opset: onnxtrain runs one.
Functions functions_of(const onnx::ModelProto& m, const ir::Graph& g) {
  Functions fns;
  for (const onnx::FunctionProto& f : m.functions()) {
    for (const auto& op : f.opset_import())
      if (default_domain(op.domain()) && op.version() != g.opset)
        g.fail("function " + f.domain() + "." + f.name() + " imports opset " + std::to_string(op.version()) +
               " and the model opset " + std::to_string(g.opset) + "; onnxtrain runs one opset");
    fns[{f.domain(), f.name()}] = &f;
  }
  return fns;
}

class Expander {
 public:
  Expander(const Functions& fns, const ir::Graph& g) : fns_(fns), g_(g) {}

  // Appends np to out, or, for a call of one of the model's functions, the function's body, expanded the same way:
  // its inputs and outputs bound to the call's, its other values and its nodes renamed "<call>/<name>", and the
  // attributes it takes by reference (ref_attr_name) taken from the call.
  void expand_into(const onnx::NodeProto& np, int depth, google::protobuf::RepeatedPtrField<onnx::NodeProto>* out) {
    auto it = fns_.find({np.domain(), np.op_type()});
    if (it == fns_.end()) {
      // Calls that each call a function twice double with every level: a few hundred bytes could ask for billions.
      if (out->size() >= kMaxExpandedNodes)
        g_.fail("expanding the model's functions gives more than " + std::to_string(kMaxExpandedNodes) + " nodes");
      *out->Add() = np;
      return;
    }
    const onnx::FunctionProto& f = *it->second;
    if (depth >= 32)
      g_.fail("function " + f.domain() + "." + f.name() + " is nested more than 32 calls deep (does it call itself?)");
    const std::string call = np.name().empty() ? f.name() : np.name();
    std::string prefix = call + "/";
    for (int k = 2; !prefixes_.insert(prefix).second; ++k) prefix = call + "#" + std::to_string(k) + "/";
    std::map<std::string, std::string> bound;  // the function's inputs and outputs -> the call's
    for (int i = 0; i < f.input_size(); ++i) bound[f.input(i)] = i < np.input_size() ? np.input(i) : "";
    for (int i = 0; i < f.output_size(); ++i) bound[f.output(i)] = i < np.output_size() ? np.output(i) : "";
    auto rename = [&](const std::string& v) {
      if (v.empty()) return v;
      auto b = bound.find(v);
      return b != bound.end() ? b->second : prefix + v;
    };
    for (const onnx::NodeProto& body : f.node()) {
      onnx::NodeProto n = body;
      n.set_name(prefix + (body.name().empty() ? body.op_type() : body.name()));
      for (std::string& i : *n.mutable_input()) i = rename(i);
      for (std::string& o : *n.mutable_output()) o = rename(o);
      n.clear_attribute();
      for (const onnx::AttributeProto& a : body.attribute()) {
        if (a.ref_attr_name().empty()) {
          *n.add_attribute() = a;
          continue;
        }
        for (const onnx::AttributeProto& given : np.attribute())  // an attribute the call leaves out keeps its default
          if (given.name() == a.ref_attr_name()) {
            onnx::AttributeProto* c = n.add_attribute();
            *c = given;
            c->set_name(a.name());
          }
      }
      expand_into(n, depth + 1, out);
    }
  }

 private:
  const Functions& fns_;
  const ir::Graph& g_;
  std::set<std::string> prefixes_;  // the names given to expanded function calls, each used once
};

}  // namespace

onnx::GraphProto expand_functions(const onnx::ModelProto& m, const onnx::GraphProto& gp, const ir::Graph& g) {
  const Functions fns = functions_of(m, g);
  Expander expander(fns, g);
  onnx::GraphProto expanded;
  for (const onnx::NodeProto& np : gp.node()) expander.expand_into(np, 0, expanded.mutable_node());
  return expanded;
}

}  // namespace onnxtrain::onnx_io
