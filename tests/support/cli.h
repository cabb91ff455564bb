// Running the built onnxtrain from a test, with its exit code, stdout and stderr captured. Header-only and test-only:
// ONNXTRAIN_CLI is the binary's path (tests/CMakeLists.txt).
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "tests/support/io.h"

namespace onnxtrain::testing {

struct Outcome {
  int code;  // the exit code; 128 + the signal's number when a signal ended it; 124 when `seconds` ran out
  std::string out, err;
};

// Runs `onnxtrain ARGS` (a shell-quoted string) through the shell, its output kept in dir/stdout and dir/stderr. With
// seconds > 0 it is killed if it runs longer, which turns a hang into a failure.
inline Outcome cli(const std::string& args, const std::string& dir, int seconds = 0) {
  const std::string cmd = (seconds > 0 ? "timeout " + std::to_string(seconds) + " " : std::string()) +
                          std::string(ONNXTRAIN_CLI) + " " + args + " > " + dir + "/stdout 2> " + dir + "/stderr";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(dir + "/stdout"),
          slurp(dir + "/stderr")};
}

// The same, its output kept in a folder of its own for the call: for a run whose files the test does not look at.
inline Outcome cli(const std::string& args, int seconds = 0) {
  const TempDir dir("cli");
  return cli(args, dir.path(), seconds);
}

}  // namespace onnxtrain::testing
