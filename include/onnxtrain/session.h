// onnxtrain::InferenceSession: runs a loaded Model's forward pass on CPU through oneDNN.
// Primitives and memory are built once per set of input shapes and reused while the shapes stay the same.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "onnxtrain/model.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain {

// The most threads a session takes: past it, thread creation fails inside OpenMP (or crashes) before any work.
inline constexpr int kMaxThreads = 1024;

struct SessionOptions {
  int threads = 0;  // OpenMP threads for oneDNN, 1 to kMaxThreads; 0 means the machine's cores
};

class InferenceSession {
 public:
  // The model must outlive the session.
  explicit InferenceSession(Model& model, SessionOptions options = {});
  ~InferenceSession();

  // inputs are keyed by graph input name; when the model has one input, the key "x" also works. Keys that name no
  // input are ignored (an .npz may carry labels too). Returns every graph output, keyed by name.
  // Each tensor is read where it is, without a copy, and must stay unchanged until run returns. A tensor must have its
  // input's dtype. Throws Error naming the input or output that is a sequence or optional: see run_values.
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& inputs);

  // The same for models whose inputs or outputs include ONNX sequences or optionals (which only Identity passes on):
  // every value is checked against the model's declared type.
  std::map<std::string, Value> run_values(const std::map<std::string, Value>& inputs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace onnxtrain
