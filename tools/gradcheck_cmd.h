// `onnxtrain gradcheck`: its options, and the report of the library's gradcheck() on the first samples of a data set.
// Nothing is computed here and nothing is written.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "onnxtrain/gradcheck.h"

namespace onnxtrain::cli {

struct GradcheckArgs {
  std::string model, data, x_key, target_key = "y";
  int64_t samples = 8;
  std::string loss;  // --loss, as name_of(Loss) spells it; "" from the head
  GradcheckOptions options;
};

// Registers the gradcheck command and its options, filled into a when parsed.
CLI::App* add_gradcheck_command(CLI::App& app, GradcheckArgs& a);

// Runs it: 0 when every parameter passes, 1 when one fails. Throws Error for bad models, data or options.
int cmd_gradcheck(const GradcheckArgs& a);

}  // namespace onnxtrain::cli
