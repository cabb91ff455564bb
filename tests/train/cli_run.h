// What the CLI tests share: running the built onnxtrain with stdout and stderr captured, temp folders, file reads.
// Header-only and test-only; it knows nothing of the library.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace onnxtrain::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::string temp_dir(const char* what) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string("onnxtrain_") + what + "_XXXXXX")).string();
  return mkdtemp(tmpl.data());
}

struct Outcome {
  int code;
  std::string out, err;
};

// Runs `onnxtrain ARGS` through the shell, its output kept in dir/stdout and dir/stderr.
inline Outcome cli(const std::string& args, const std::string& dir) {
  std::string cmd = std::string(ONNXTRAIN_CLI) + " " + args + " > " + dir + "/stdout 2> " + dir + "/stderr";
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir + "/stdout"), slurp(dir + "/stderr")};
}

}  // namespace onnxtrain::testing
