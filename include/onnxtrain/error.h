// onnxtrain::Error: the one exception type the library throws for bad models, data and options.
// Its message is a single line that names the file, node, tensor or option at fault; the CLI prints it as is.
#pragma once
#include <stdexcept>
#include <string>

namespace onnxtrain {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace onnxtrain
