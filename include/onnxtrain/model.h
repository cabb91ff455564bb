// onnxtrain::Model: an ONNX model loaded for running and training, and written back with only its weights changed.
// The public face of the importer and exporter; it exposes no protobuf and no oneDNN types.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnxtrain/files.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain {

struct ModelInfo {
  struct Port {  // a graph input or output
    std::string name;
    std::string dtype;                       // its type: "float32", "uint8", ..., "sequence(float32)", "optional(...)"
    Value::Kind kind = Value::Kind::Tensor;  // what run_values takes or gives for it
    std::vector<std::string> dims;           // "784", or a symbol such as "batch", or "?"
    // The batch size dims[0] fixes (a PyTorch export without dynamic_axes), 0 where it is a symbol or unknown.
    int64_t fixed_batch() const;
  };
  struct NodeInfo {
    std::string name, op_type;
    int version;  // the op version in effect at the model's opset (0 where onnxtrain lacks the op)
    std::vector<std::string> inputs, outputs;
    bool supported = true;  // false only in Model::describe, for an op onnxtrain does not run
  };
  struct Initializer {
    std::string name;
    std::vector<int64_t> shape;
    int64_t count;
    bool trainable;  // float32 and read by a node; the others (integers, ...) are constants
    std::string dtype = "float32";
  };
  std::string producer_name, producer_version;
  int64_t ir_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;  // (domain, version); "" is the default domain
  std::vector<Port> inputs, outputs;
  std::vector<NodeInfo> nodes;
  std::vector<Initializer> initializers;
  // Initializers the exporter had tied: PyTorch's eval-mode export writes a tensor that starts equal to another (two
  // zero biases) as Identity(other). Each such Identity read as a parameter is loaded as a parameter of its own,
  // starting from the other's values, and saved as an initializer of its own (the Identity node dropped), as PyTorch
  // trains and would export them. One initializer that nodes read directly stays one (tied weights).
  struct Untied {
    std::string name;  // the new parameter: the Identity's output
    std::string from;  // the initializer it was an Identity of
  };
  std::vector<Untied> untied;
  int64_t total_params = 0, trainable_params = 0;
};

// The ops onnxtrain runs, for listings: name, the opset range, whether training flows through it, and the op's
// since-versions it implements (each opset in the range runs the newest of these not above it).
struct OpSupport {
  std::string op_type;
  int first_opset, last_opset;
  bool gradient;
  std::vector<int> versions;
};
std::vector<OpSupport> supported_ops();

class Model {
 public:
  // Reads an .onnx file (and any external data beside it). Throws Error with one line naming the file, node and
  // tensor at fault.
  static Model load(const std::string& path);

  // Writes the model atomically with only the initializers' values replaced; everything else is kept as it was
  // loaded, down to the bytes. Saved over its own file (however the path is spelled), its external data is rewritten
  // where it is; saved anywhere else, it goes into files named after the output (OUT.data, OUT.data1, ...) beside
  // it. No file of inputs, and no file of the source unless saved over it, is ever written (files.h).
  void save(const std::string& path, const files::Inputs& inputs = files::Inputs()) const;

  // Checks, before any long work, every file save(path, inputs) would write, and returns them. Throws Error naming
  // the file and why (a special file, an input, a folder that cannot take it).
  std::vector<std::string> check_save(const std::string& path, const files::Inputs& inputs = files::Inputs()) const;

  // The files the model was read from: the .onnx file, then each external data file. A run counts them as inputs.
  std::vector<std::string> files() const;

  // Replaces every initializer's values with those of the same-named initializer in the model file at path (a copy
  // of this model saved at another point of training, such as a checkpoint). Every initializer must be there with
  // the same shape; otherwise it throws Error naming path and the tensor, and this model is left unchanged.
  void load_weights(const std::string& path);

  // What an .onnx file declares, read without the checks load() makes, for describing a model that load() refuses:
  // ops onnxtrain lacks are marked (NodeInfo::supported), initializers are listed but none is called trainable,
  // and no parameters are counted. Throws Error only for a file that is not an ONNX model at all.
  static ModelInfo describe(const std::string& path);

  // Refuses, before any long work, a path that cannot take a new file (files::check_output). Throws Error naming it.
  static void check_writable(const std::string& path);

  const std::string& path() const;
  ModelInfo info() const;
  std::vector<std::string> input_names() const;
  std::vector<std::string> output_names() const;

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  struct Impl;  // runtime/model_impl.h
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxtrain
