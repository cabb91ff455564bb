// Checks for CLI11 options, with one-line messages that say what the option needs: "--epochs: must be a positive
// number, got 0". CLI11's own PositiveNumber states its range as two 300-digit numbers instead.
#pragma once
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "onnxtrain/files.h"
#include "onnxtrain/session.h"

namespace onnxtrain::cli {

// A finite number above 0 (or, with zero_ok, at least 0). NaN and inf are refused.
inline CLI::Validator number_at_least_zero(bool zero_ok) {
  return CLI::Validator(
      [zero_ok](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        const bool ok = end != s.c_str() && *end == '\0' && std::isfinite(v) && (zero_ok ? v >= 0 : v > 0);
        return ok ? std::string()
                  : std::string(zero_ok ? "must be a number >= 0" : "must be a positive number") + ", got " + s;
      },
      zero_ok ? "NONNEGATIVE" : "POSITIVE");
}
inline const CLI::Validator kPositive = number_at_least_zero(false);
inline const CLI::Validator kNonNegative = number_at_least_zero(true);

// A whole number from lo to hi, in decimal: "--threads: must be a whole number from 1 to 1024, got 100000". Checked
// before CLI11 converts it, which would wrap "-1" into an unsigned option.
inline CLI::Validator whole_number(unsigned long long lo, unsigned long long hi, const std::string& range) {
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        // Up to 20 digits: the largest uint64 seed is one; ERANGE says it overflowed.
        const bool digits = !s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        const unsigned long long v = digits ? std::strtoull(s.c_str(), nullptr, 10) : 0;
        const bool fits = digits && errno != ERANGE;
        return fits && v >= lo && v <= hi ? std::string() : "must be a whole number " + range + ", got " + s;
      },
      "UINT");
}
inline const CLI::Validator kThreads = whole_number(1, kMaxThreads, "from 1 to " + std::to_string(kMaxThreads));
inline const CLI::Validator kSeed = whole_number(0, ~0ull, ">= 0");

// (option, path) pairs; an empty path is an option not given. An input of "fashion-mnist" is the built-in data set,
// not a file.
using NamedPaths = std::vector<std::pair<std::string, std::string>>;

// Every output its own file, and none of them a file the run reads: --log onto --out lost the trained model, and
// --out or --log onto --data destroyed the data, each with a "wrote" line. Refused before anything is read or written.
inline void check_distinct_outputs(const NamedPaths& outputs, const NamedPaths& inputs) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& [option, path] = outputs[i];
    for (size_t j = 0; j < i; ++j)
      if (files::same_target(path, outputs[j].second))
        throw CLI::ValidationError(
            option, path + " is also where " + outputs[j].first + " writes; give each output its own file");
    for (const auto& [in_option, in_path] : inputs)
      if (in_path != "fashion-mnist" && files::same_target(path, in_path))
        throw CLI::ValidationError(option,
                                   path + " is the " + in_option + " this run reads; writing there would destroy it");
  }
}

// --input-key and --target-key name arrays inside an .npz. Given with no .npz among the data sets they would apply
// to, they would do nothing; refused instead, naming the option and the data.
inline void check_npz_key(const CLI::App& cmd, const std::string& option, const std::vector<std::string>& data) {
  if (cmd.count(option) == 0) return;
  for (const std::string& d : data)
    if (d.size() >= 4 && d.compare(d.size() - 4, 4, ".npz") == 0) return;
  throw CLI::ValidationError(option, "names an array inside .npz data, and " + data[0] + " is not an .npz file");
}

}  // namespace onnxtrain::cli
