// Plain SGD folded into the backward pass: the GEMMs that compute weight and bias gradients add -lr times the
// gradient to the parameter themselves (Executor::fuse_updates). Checked against the same training with the update as
// a pass of its own (diagnostics on, which read every gradient), at the shapes that take each Gemm form; and that
// every other optimizer, and plain SGD with weight decay, keeps its own pass. PyTorch parity of the fused path is in
// tests/parity (the plain SGD cases).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"

using namespace onnxtrain;

namespace {

const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";

struct Batch {
  Tensor x, y;
};

// x: (n, 784) in [0, 1); y: (n) class labels in [0, 10).
Batch random_batch(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::uniform_int_distribution<int64_t> label(0, 9);
  std::vector<float> x(static_cast<size_t>(n * 784));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (float& v : x) v = u(rng);
  for (int64_t& v : y) v = label(rng);
  return {Tensor::f32_of({n, 784}, std::move(x)), Tensor::i64_of({n}, std::move(y))};
}

TrainOptions sgd(double lr, double momentum = 0, double weight_decay = -1) {
  TrainOptions o;
  o.optimizer.kind = Optimizer::Sgd;
  o.optimizer.lr = lr;
  o.optimizer.momentum = momentum;
  o.optimizer.weight_decay = weight_decay;
  return o;
}

}  // namespace

// Batches of 32 (the forward Gemms computed transposed, gemm_computes_transposed), 256 (direct) and 7 (a partial
// batch: a plan of its own), each plan fusing every weight and bias update. The separate pass computes
// p + (-lr) * dp from the same GEMM result, so the two agree to the last bits here; the bound allows a few ulps, in
// case oneDNN blocks the fused GEMM differently on another CPU.
TEST(FusedUpdate, PlainSgdInTheBackwardPassGivesTheSeparatePassWeights) {
  Model fused_model = Model::load(kFashion), separate_model = Model::load(kFashion);
  const std::vector<float> initial = fused_model.impl().graph.params;
  TrainingSession fused(fused_model, sgd(0.05)), separate(separate_model, sgd(0.05));
  separate.set_diagnostics(true);
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round)
    for (int64_t n : {32, 256, 7}) {
      Batch b = random_batch(n, rng);
      const float loss_fused = fused.train_step(b.x, b.y), loss_separate = separate.train_step(b.x, b.y);
      EXPECT_NEAR(loss_fused, loss_separate, 1e-5f * std::fabs(loss_separate)) << "batch " << n << ", round " << round;
      EXPECT_EQ(fused.fused_updates(), fused.trainable()) << "batch " << n << ": every parameter updated in the GEMMs";
      EXPECT_TRUE(separate.fused_updates().empty()) << "diagnostics read the gradients: no fused update";
    }
  const std::vector<float>& a = fused_model.impl().graph.params;
  const std::vector<float>& b = separate_model.impl().graph.params;
  ASSERT_EQ(a.size(), b.size());
  float moved = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], 1e-6f * (1.f + std::fabs(b[i]))) << "parameter element " << i;
    moved = std::max(moved, std::fabs(b[i] - initial[i]));
  }
  EXPECT_GT(moved, 1e-3f) << "the weights did not train";
}

// A schedule's lr, set between steps (TrainingSession::set_lr): the fused GEMMs hold the lr they were made with, so
// the first new lr ends the fusion, and the session trains as the separate pass does at each step's lr.
TEST(FusedUpdate, ANewLrBetweenStepsIsWhatTheFusedGemmsApply) {
  Model fused_model = Model::load(kFashion), separate_model = Model::load(kFashion),
        fixed_model = Model::load(kFashion);
  TrainingSession fused(fused_model, sgd(0.05)), separate(separate_model, sgd(0.05)), fixed(fixed_model, sgd(0.05));
  separate.set_diagnostics(true);
  std::mt19937 rng(11);
  const double lrs[] = {0.05, 0.2, 0.01, 0.3, 0.0, 0.07};
  int k = 0;
  for (int round = 0; round < 2; ++round)
    for (int64_t n : {32, 256, 7}) {
      const double lr = lrs[k++ % 6];
      fused.set_lr(lr);
      separate.set_lr(lr);
      EXPECT_EQ(fused.lr(), lr);
      Batch b = random_batch(n, rng);
      fused.train_step(b.x, b.y);
      separate.train_step(b.x, b.y);
      fixed.train_step(b.x, b.y);
      if (k == 1)  // the lr it was made with
        EXPECT_EQ(fused.fused_updates(), fused.trainable()) << "batch " << n << " at lr " << lr;
      else
        EXPECT_TRUE(fused.fused_updates().empty()) << "batch " << n << " at lr " << lr << ": a new lr, no fusion";
    }
  const std::vector<float>&a = fused_model.impl().graph.params, &b = separate_model.impl().graph.params,
        &c = fixed_model.impl().graph.params;
  float apart = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], 1e-6f * (1.f + std::fabs(b[i]))) << "parameter element " << i;
    apart = std::max(apart, std::fabs(a[i] - c[i]));
  }
  EXPECT_GT(apart, 1e-4f) << "the new lrs changed nothing: the fused GEMMs kept the first one";
}

// A model whose second layer is MatMul and Add: the Gemm's parameters and the Add's bias (its gradient a sum over
// the batch, as a Gemm's) are updated in the GEMMs, the MatMul's weight by the optimizer's pass over its range alone,
// and together they train as the separate pass does.
TEST(FusedUpdate, ParametersLeftOutAreUpdatedByTheOptimizersPass) {
  const std::string path = std::string(ONNXTRAIN_TEST_DATA) + "/train/mixed_mlp.onnx";
  Model fused_model = Model::load(path), separate_model = Model::load(path);
  const std::vector<float> initial = fused_model.impl().graph.params;
  TrainingSession fused(fused_model, sgd(0.1)), separate(separate_model, sgd(0.1));
  separate.set_diagnostics(true);
  std::mt19937 rng(9);
  for (int64_t n : {32, 32, 5, 256}) {
    Batch b = random_batch(n, rng);
    fused.train_step(b.x, b.y);
    separate.train_step(b.x, b.y);
    EXPECT_EQ(fused.fused_updates(), (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.bias"})) << "batch " << n;
  }
  const ir::Graph& g = fused_model.impl().graph;
  const std::vector<float>& b = separate_model.impl().graph.params;
  for (const char* name : {"fc1.weight", "fc1.bias", "fc2.weight_t", "fc2.bias"}) {
    const int id = g.find(name);
    ASSERT_GE(id, 0) << name;
    const float* a = g.param(id);
    const size_t offset = static_cast<size_t>(a - g.params.data());
    float moved = 0;
    for (int64_t i = 0; i < g.numel(id); ++i) {
      ASSERT_NEAR(a[i], b[offset + i], 1e-6f * (1.f + std::fabs(b[offset + i]))) << name << "[" << i << "]";
      moved = std::max(moved, std::fabs(b[offset + i] - initial[offset + i]));
    }
    EXPECT_GT(moved, 1e-4f) << name << " did not train";
  }
}

// Only an update with no state and no weight decay folds into the GEMMs.
TEST(FusedUpdate, OtherOptimizersKeepTheirOwnPass) {
  std::mt19937 rng(8);
  Batch b = random_batch(32, rng);
  TrainOptions adam;
  adam.optimizer.kind = Optimizer::Adam;
  TrainOptions with_bf16 = sgd(0.05);
  with_bf16.precision = Precision::Bf16;
  for (auto& [what, options, fuses] :
       std::vector<std::tuple<std::string, TrainOptions, bool>>{{"plain sgd", sgd(0.05), true},
                                                                {"sgd with momentum", sgd(0.05, 0.9), false},
                                                                {"sgd with weight decay", sgd(0.05, 0, 1e-4), false},
                                                                {"adam", adam, false}}) {
    Model model = Model::load(kFashion);
    TrainingSession session(model, options);
    session.train_step(b.x, b.y);
    EXPECT_EQ(session.fused_updates().size(), fuses ? session.trainable().size() : 0u) << what;
  }
  Model model = Model::load(kFashion);
  TrainingSession session(model, with_bf16);
  session.train_step(b.x, b.y);
  if (session.precision() == "bf16") {
    EXPECT_TRUE(session.fused_updates().empty()) << "bf16 GEMMs keep their own pass";
  }
}
