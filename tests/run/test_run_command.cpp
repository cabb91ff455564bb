// `onnxtrain run` on outputs that are not (N, ...) float32 (issue #19, D3 to D5): each is written as the model gives
// it, gathered along the batch axis, or refused by name; never a crash or a corrupt file. References from NumPy
// (tests/run/make_run_models.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "onnxtrain/data.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using onnxtrain::testing::cli;
using onnxtrain::testing::slurp;
using onnxtrain::testing::TempDir;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/run/";

// `run MODEL.onnx --data DATA.npz --out dir/out.npz` plus extra options.
onnxtrain::testing::Outcome run(const std::string& model, const std::string& data, const std::string& dir,
                                const std::string& extra = "") {
  return cli("run " + kDir + model + ".onnx --data " + kDir + data + ".npz --out " + dir + "/out.npz " + extra, dir);
}

// got holds ref's shape and dtype, and its values to tol.
void expect_like(const Tensor& got, const Tensor& ref, float tol = 1e-5f) {
  ASSERT_EQ(got.dtype, ref.dtype);
  ASSERT_EQ(got.shape, ref.shape);
  if (ref.dtype == DType::Int64) {
    EXPECT_EQ(got.i64, ref.i64);
    return;
  }
  ASSERT_EQ(got.f32.size(), ref.f32.size());
  for (size_t i = 0; i < ref.f32.size(); ++i) ASSERT_NEAR(got.f32[i], ref.f32[i], tol) << "element " << i;
}

// A refusal: exit 1, one line on stderr that says says, and no file written.
void expect_refused(const onnxtrain::testing::Outcome& r, const std::string& dir, const std::string& says) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << "'" << says << "' not in: " << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out.npz"));
}

TEST(RunCommand, D3_ZeroDimOutputIsWrittenNotACrash) {
  const TempDir tmp("run_d3");
  const std::string& dir = tmp.path();
  // 3 samples in the default batch of 256: one batch, every output as the model gives it.
  auto r = run("scalar", "x3x4", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = load_npz(dir + "/out.npz");
  auto ref = load_npz(kDir + "scalar.ref.npz");
  expect_like(got.at("s"), ref.at("s"));  // (): 2.5
  expect_like(got.at("y"), ref.at("y"));  // (3, 4)
}

TEST(RunCommand, D3_ZeroDimOutputOverSeveralBatchesIsRefusedByName) {
  const TempDir tmp("run_d3");
  const std::string& dir = tmp.path();
  expect_refused(
      run("scalar", "x3x4", dir, "--batch-size 2"), dir,
      "scalar.onnx: output 's' is () for a batch of 2: run concatenates outputs along the batch axis (dim 0); "
      "use --batch-size N (>= the 3 samples) to run the data in one batch");
}

// Flatten(axis=0) gives (1, N*C): no row per sample, so no accuracy, even with labels; the accuracy loop used to
// read N rows of N*C floats (SIGSEGV at 20,000 samples).
TEST(RunCommand, D4_FlattenedOutputWithLabelsGetsNoAccuracyAndNoOverread) {
  const TempDir tmp("run_d4");
  const std::string& dir = tmp.path();
  auto r = run("flatten0", "x20000x10", dir, "--batch-size 20000");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("accuracy"), std::string::npos) << r.out;
  expect_like(load_npz(dir + "/out.npz").at("f"), load_npz(kDir + "flatten0.ref.npz").at("f"));  // (1, 200000)
}

TEST(RunCommand, D4_FlattenedOutputOverSeveralBatchesIsRefusedByName) {
  const TempDir tmp("run_d4");
  const std::string& dir = tmp.path();
  expect_refused(run("flatten0", "x20000x10", dir), dir, "flatten0.onnx: output 'f' is (1,2560) for a batch of 256");
}

// A real (N, C) output keeps its accuracy line, over several batches: 7 of the 10 labels are each row's argmax.
TEST(RunCommand, D4_ClassOutputStillGetsItsAccuracy) {
  const TempDir tmp("run_d4");
  const std::string& dir = tmp.path();
  auto r = run("classes", "x10x10", dir, "--batch-size 4");
  ASSERT_EQ(r.code, 0) << r.err;
  auto ref = load_npz(kDir + "classes.ref.npz");
  char line[80];
  std::snprintf(line, sizeof line, "accuracy: %.4f on 10 labelled samples\n", ref.at("accuracy").f32.at(0));
  EXPECT_NE(r.out.find(line), std::string::npos) << "'" << line << "' not in: " << r.out;
  EXPECT_NE(r.out.find("accuracy: 0.7000"), std::string::npos) << r.out;
  expect_like(load_npz(dir + "/out.npz").at("p"), ref.at("p"));  // (10, 10), three batches concatenated
}

TEST(RunCommand, D5_TransposedOutputIsRefusedNotConcatenated) {
  const TempDir tmp("run_d5");
  const std::string& dir = tmp.path();
  expect_refused(run("transpose", "x10x3", dir, "--batch-size 4"), dir,
                 "transpose.onnx: output 't' is (3,4) for a batch of 4: run concatenates outputs along the batch axis");
}

// (3, N) in batches of 3: dim 0 equals the batch on every batch, yet is not the batch. A pass of 1 sample tells.
TEST(RunCommand, D5_OutputWhoseDimZeroOnlyEqualsTheBatchIsRefused) {
  const TempDir tmp("run_d5");
  const std::string& dir = tmp.path();
  expect_refused(run("transpose", "x9x3", dir, "--batch-size 3"), dir, "output 't' is (3,1) for a batch of 1");
}

// With the batch fixed by the model, --batch-size cannot help: the message says so instead.
TEST(RunCommand, D5_FixedBatchModelSaysItsBatchInstead) {
  const TempDir tmp("run_d5");
  const std::string& dir = tmp.path();
  expect_refused(run("transpose_fixed", "x10x3", dir), dir,
                 "transpose_fixed.onnx: output 't' is (3,5) for a batch of 5: run concatenates outputs along the batch "
                 "axis (dim 0); the model's input fixes the batch at 5, so 10 samples cannot run in one batch");
}

TEST(RunCommand, D5_MatMulAndInt64OutputsOverSeveralBatchesAreRefused) {
  const TempDir tmp("run_d5");
  const std::string& dir = tmp.path();
  expect_refused(run("matmul3", "x10x4", dir, "--batch-size 4"), dir,
                 "matmul3.onnx: output 'm' is (2,4,3) for a batch of 4");
  expect_refused(run("int64", "x10x4", dir, "--batch-size 4"), dir, "int64.onnx: output 'k' is (3) for a batch of 4");
}

// The whole data set in one batch: each output as the model gives it, in its own dtype.
TEST(RunCommand, D5_OneBatchWritesEachOutputInItsLayoutAndDtype) {
  const TempDir tmp("run_d5");
  const std::string& dir = tmp.path();
  auto r = run("transpose", "x10x3", dir, "--batch-size 10");
  ASSERT_EQ(r.code, 0) << r.err;
  expect_like(load_npz(dir + "/out.npz").at("t"), load_npz(kDir + "transpose10.ref.npz").at("t"));  // (3, 10)

  r = run("matmul3", "x10x4", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  expect_like(load_npz(dir + "/out.npz").at("m"), load_npz(kDir + "matmul3.ref.npz").at("m"));  // (2, 10, 3)

  r = run("int64", "x10x4", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = load_npz(dir + "/out.npz");
  auto ref = load_npz(kDir + "int64.ref.npz");
  expect_like(got.at("k"), ref.at("k"));  // (3) int64, 2^40 + 3 among them: not through float32
  EXPECT_EQ(got.at("k").i64.at(2), (int64_t(1) << 40) + 3);
  expect_like(got.at("y"), ref.at("y"));
  // load_npz reads every integer dtype as Int64, so the member's own header says it was written as int64.
  EXPECT_NE(slurp(dir + "/out.npz").find("'descr': '<i8'"), std::string::npos);
}

}  // namespace
