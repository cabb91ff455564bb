// The libFuzzer entry point, compiled once per target with ONNXTRAIN_FUZZ_ENTRY naming its entry function
// (run_model, run_npy, run_idx, run_run). It adds the oracle libFuzzer cannot see: every refusal is a one-line message.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <typeinfo>

#include "tests/fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const std::string& bad : onnxtrain::fuzz::bad_messages(onnxtrain::fuzz::ONNXTRAIN_FUZZ_ENTRY(data, size))) {
      std::fprintf(stderr, "refused without a one-line message: %s\n", bad.c_str());
      std::abort();
    }
  } catch (const std::exception& e) {
    // Anything but onnxtrain::Error escaping a loader is a bug: say what it was, then crash for libFuzzer.
    std::fprintf(stderr, "uncaught %s: %s\n", typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}
