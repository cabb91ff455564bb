// Number checks for CLI11 options, with one-line messages that say what the option needs: "--epochs: must be a
// positive number, got 0". CLI11's own PositiveNumber states its range as two 300-digit numbers instead.
#pragma once
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <string>

namespace onnxtrain::cli {

// A finite number above 0 (or, with zero_ok, at least 0). NaN and inf are refused.
inline CLI::Validator number_at_least_zero(bool zero_ok) {
  return CLI::Validator(
      [zero_ok](std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        const bool ok = end != s.c_str() && *end == '\0' && std::isfinite(v) && (zero_ok ? v >= 0 : v > 0);
        return ok ? std::string() : std::string(zero_ok ? "must be a number >= 0" : "must be a positive number") +
                                        ", got " + s;
      },
      zero_ok ? "NONNEGATIVE" : "POSITIVE");
}
inline const CLI::Validator kPositive = number_at_least_zero(false);
inline const CLI::Validator kNonNegative = number_at_least_zero(true);

}  // namespace onnxtrain::cli
