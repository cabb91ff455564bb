// onnxtrain::Error: the one exception type the library throws for bad models, data and options.
// Its message is a single line that names the file, node, tensor or option at fault; the CLI prints it as is.
#pragma once
#include <stdexcept>
#include <string>

namespace onnxtrain {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(one_line(message)) {}

  // Names come from the files (node, tensor, member names) and may hold any byte: control characters are written
  // as escapes (\n, \x1b), so that a message stays one line whatever the file holds.
  static std::string one_line(const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\t')
        out += "\\t";
      else if (c < 0x20 || c == 0x7f)
        out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
      else
        out += static_cast<char>(c);
    }
    return out;
  }
};

}  // namespace onnxtrain
