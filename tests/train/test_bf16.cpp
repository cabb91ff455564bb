// --precision bf16: one epoch of Fashion-MNIST lands within 0.5 accuracy points of f32, the written model stays f32,
// and a CPU without native bf16 (simulated by capping oneDNN's ISA) falls back to f32 with a clear message.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>

#include "runtime/exec/dnnl_compat.h"
#include "tests/support/io.h"

using onnxtrain::testing::TempDir;

namespace {

const std::string kModel = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";

std::string run(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

double val_accuracy(const std::string& out) {
  // The last validation: the first is the one before training.
  double last = -1;
  const std::regex val("val loss [0-9.]+, accuracy ([0-9.]+)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), val); it != std::sregex_iterator(); ++it)
    last = std::stod((*it)[1]);
  return last;
}

TEST(Bf16, OneEpochWithinHalfAPointOfF32) {
  if (!onnxtrain::dnnl_compat::has_native_bf16()) GTEST_SKIP() << "this CPU has no avx512_bf16";
  const TempDir tmp("bf16");
  const std::string& dir = tmp.path();
  double acc[2];
  int k = 0;
  for (const char* precision : {"f32", "bf16"}) {
    int code;
    std::string out =
        run(std::string(ONNXTRAIN_CLI) + " train " + kModel +
                " --data fashion-mnist --val fashion-mnist --optimizer adam --batch-size 64 --precision " + precision +
                " --out " + dir + "/onnxtrain_bf16_" + precision + ".onnx",
            &code);
    ASSERT_EQ(code, 0) << out;
    acc[k++] = val_accuracy(out);
    ASSERT_GT(acc[k - 1], 0.8) << out;
  }
  EXPECT_NEAR(acc[1], acc[0], 0.005) << "f32 " << acc[0] << ", bf16 " << acc[1];
  // The bf16 run wrote an f32 model: onnxtrain loads only float32 initializers, and it runs.
  int code;
  std::string info = run(std::string(ONNXTRAIN_CLI) + " info " + dir + "/onnxtrain_bf16_bf16.onnx", &code);
  EXPECT_EQ(code, 0) << info;
}

TEST(Bf16, FallsBackToF32WithAMessageWithoutNativeBf16) {
  const TempDir tmp("bf16_fallback");
  const std::string out_path = tmp / "onnxtrain_bf16_fallback.onnx";
  int code;
  std::string out = run("ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 " + std::string(ONNXTRAIN_CLI) + " train " +
                            kModel + " --data fashion-mnist --steps 5 --precision bf16 --out " + out_path,
                        &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("--precision bf16: this CPU has no native bf16 (avx512_bf16); training in f32"), std::string::npos)
      << out;
  EXPECT_EQ(out.find(", bf16"), std::string::npos) << out;
}

}  // namespace
