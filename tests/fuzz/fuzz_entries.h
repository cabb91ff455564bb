// The entry functions shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp) and the replay test
// (test_fuzz_replay.cpp): one input's bytes through what a user's load does. They judge nothing themselves.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace onnxtrain::fuzz {

// What one step of an input's journey came to: loaded, or refused with an onnxtrain::Error's message.
struct Outcome {
  std::string step;  // "Model::load", "load_dataset(.npz)", ...
  bool ok = false;
  std::string error;  // the Error's message when refused
};

// Thrown when a step's result contradicts another's (a saved model that does not load again, or loads different
// weights): a bug even though each step on its own behaved. It is not an onnxtrain::Error, so both harnesses fail.
struct Violation : std::logic_error {
  using std::logic_error::logic_error;
};

// Model::load of the bytes as an .onnx file; when it loads: info(), save() to another folder, and load of the saved
// file, which must give the same graph and bitwise the same weights.
std::vector<Outcome> run_model(const uint8_t* data, size_t size);

// The bytes as an .npy and as an .npz: load_dataset, then fit_features and check_trainable as `train` does.
std::vector<Outcome> run_npy(const uint8_t* data, size_t size);

// The bytes as an idx3 images file (plain or gzip): load_dataset, fit_features and check_trainable.
std::vector<Outcome> run_idx(const uint8_t* data, size_t size);

// The bytes as a .csv: load_dataset with the last column as the target and with none, then fit_targets as a
// classifier's and a regressor's, fit_features and check_trainable, as `train` and `eval` do.
std::vector<Outcome> run_csv(const uint8_t* data, size_t size);

// Model::load of the bytes; when it loads, `run`'s work (cli::run_dataset) over a few small data sets shaped to its
// input, with and without labels, in one batch and in several; each result saved with save_npz and loaded back,
// which must give the same outputs (a Violation otherwise).
std::vector<Outcome> run_run(const uint8_t* data, size_t size);

// The steps' refusals whose message is empty or more than one line, as "step: message" (empty when all are fine).
std::vector<std::string> bad_messages(const std::vector<Outcome>& outcomes);

}  // namespace onnxtrain::fuzz
