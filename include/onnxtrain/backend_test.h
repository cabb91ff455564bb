// ONNX backend-test folders run as onnx's own runner (onnx.backend.test.runner) runs them: DIR/model.onnx beside
// DIR/test_data_set_*/input_<i>.pb and output_<i>.pb, serialized TensorProto (SequenceProto, OptionalProto for ports of
// those kinds), inputs and outputs in graph order. `onnxtrain test` and tests/conformance run through it. It writes
// nothing and trains nothing.
#pragma once
#include <string>

#include "onnxtrain/tensor.h"

namespace onnxtrain {

struct BackendTestOptions {
  // The runner's tolerances: a float element passes when |got - want| <= atol + rtol * |want| (NaN equals NaN, as
  // np.testing.assert_allclose takes them). Integer and bool elements compare exactly.
  double rtol = 1e-3, atol = 1e-7;
  int threads = 0;  // for the session, 1 to kMaxThreads (session.h); 0: the machine's cores
};

struct BackendTestResult {
  std::string dir;
  bool pass = false;
  int sets = 0;          // test_data_set_* folders compared (all, when it passed)
  int64_t compared = 0;  // float elements compared
  double worst = 0;      // the largest |got - want| over them
  double worst_rel = 0;  // that difference over atol + rtol * |want|: at most 1 passes
  std::string worst_at;  // where: "test_data_set_0 output 'y'[3]"; empty when no float element was compared
  std::string failure;   // why it failed, one line naming the file, set, output or element; empty when it passed
};

// Runs one folder. Every problem (no model.onnx, a model onnxtrain refuses, a missing or broken .pb, a value of the
// wrong dtype or shape, a difference past the tolerance) is a failure with its one-line reason, never an exception;
// the sets are run in order and the first failing one ends the folder.
BackendTestResult run_backend_test(const std::string& dir, const BackendTestOptions& options = {});

// Compares got with want (the reference), recursively through sequences and optionals: the same kind, element
// count, dtype and shape, float values within the tolerance, integers and bools exactly. A float32 0/1 value where
// the reference is bool compares by value: onnxtrain gives Dropout's mask as float32. Returns "" when they agree, else
// the first difference, as "[3]: got 1.5, expected 1.25" (where prefixes it). worst and worst_at collect the largest
// float difference (worst_rel: relative to the tolerance), compared the elements.
std::string compare_values(const Value& got, const Value& want, const std::string& where,
                           const BackendTestOptions& options, BackendTestResult* stats = nullptr);

}  // namespace onnxtrain
