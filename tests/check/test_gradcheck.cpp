// gradcheck against deliberately wrong gradient rules (swapped into the registry here) and the right ones: it must fail
// on exactly the parameters a wrong rule reaches and pass everywhere once the rule is restored, on the bundled model
// with real and random data and on every PyTorch parity model; kinks are excluded, not failed; Dropout runs as the
// identity on both sides; first_nonfinite_node finds the node that overflows float32; and the command line's output
// and exit codes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/gradcheck.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"
#include "runtime/ops/op.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kData = std::string(ONNXTRAIN_TEST_DATA);
const char* kFashionMnist = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

struct Batch {
  Tensor x, y;
};

// The first n samples of an .npz's x and y.
Batch npz_batch(const std::string& path, int64_t n) {
  Dataset d = load_dataset(path, Split::Train);
  n = std::min(n, d.x.shape[0]);
  Batch b{d.x, d.y};
  const int64_t row = d.x.numel() / d.x.shape[0], yrow = d.y.numel() / d.y.shape[0];
  b.x.shape[0] = b.y.shape[0] = n;
  b.x.f32.resize(static_cast<size_t>(n * row));
  if (d.y.dtype == DType::Int64)
    b.y.i64.resize(static_cast<size_t>(n * yrow));
  else
    b.y.f32.resize(static_cast<size_t>(n * yrow));
  return b;
}

const ParamCheck& param(const GradcheckReport& r, const std::string& name) {
  for (const ParamCheck& p : r.params)
    if (p.name == name) return p;
  throw std::runtime_error("no parameter " + name + " in the report");
}

std::string describe(const GradcheckReport& r) {
  std::string s = "loss " + std::to_string(r.loss_onnxtrain) + " vs " + std::to_string(r.loss_reference) + "\n";
  for (const ParamCheck& p : r.params)
    s += p.name + ": checked " + std::to_string(p.checked) + " excluded " + std::to_string(p.excluded) + " max rel " +
         std::to_string(p.max_rel_error) + " (analytic " + std::to_string(p.analytic) + ", numeric " +
         std::to_string(p.numeric) + ") " + (p.pass ? "PASS" : "FAIL") + "\n";
  return s;
}

// Swaps an op's gradient rule for the test's duration; the real rule comes back even when an assertion fails.
struct WrongRule {
  const char* type;
  ops::GradientFn real;
  WrongRule(const char* t, ops::GradientFn wrong) : type(t), real(ops::replace_gradient_for_testing(t, wrong)) {}
  ~WrongRule() { ops::replace_gradient_for_testing(type, real); }
};

// Wrong: Relu's dY passed through unmasked, as if Relu were Identity.
void relu_unmasked(ops::GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, dY);
}

// Wrong: LeakyRelu's negative slope dropped (the rule Relu has), a 1% difference on the negative side.
void leaky_as_relu(ops::GradBuilder& b, const ir::Node& n) {
  int dY = b.dY(n, 0);
  if (dY >= 0 && b.needs(n, 0)) b.set_dX(n, 0, b.emit("ReluGrad", {dY, n.outputs[0]}, {{"alpha", ir::Attr::of(0.f)}}));
}

// Gemm's rule as gemm.cpp has it (for beta = 1), with one of two faults: dB written as if transB were 0
// (A'^T * dY, (K,N), into B's (N,K) gradient: the layout mix-up a transposed weight invites; the element count is the
// same, so only the values can tell), or dC off by dc_scale.
void gemm_rule(ops::GradBuilder& b, const ir::Node& n, bool db_untransposed, float dc_scale) {
  const float alpha = n.attr_f("alpha", 1.f);
  const bool tA = n.attr_i("transA", 0) != 0, tB = n.attr_i("transB", 0) != 0;
  int dY = b.dY(n, 0);
  if (dY < 0) return;
  auto gemm = [&](int P, int Q, bool tP, bool tQ) {
    return b.emit(
        "Gemm", {P, Q},
        {{"alpha", ir::Attr::of(alpha)}, {"transA", ir::Attr::of(int64_t(tP))}, {"transB", ir::Attr::of(int64_t(tQ))}});
  };
  const int A = n.inputs[0], B = n.inputs[1];
  if (b.needs(n, 0)) b.set_dX(n, 0, tA ? gemm(B, dY, tB, true) : gemm(dY, B, false, !tB));
  if (b.needs(n, 1)) b.set_dX(n, 1, db_untransposed || !tB ? gemm(A, dY, !tA, false) : gemm(dY, A, true, tA));
  if (n.input(2) >= 0 && b.needs(n, 2))
    b.set_dX(n, 2, b.emit("ReduceToShape", {dY, n.inputs[2]}, {{"scale", ir::Attr::of(dc_scale)}}));
}
void gemm_db_untransposed(ops::GradBuilder& b, const ir::Node& n) { gemm_rule(b, n, true, 1.f); }
void gemm_dc_one_percent_off(ops::GradBuilder& b, const ir::Node& n) { gemm_rule(b, n, false, 1.01f); }

GradcheckOptions opts(int64_t elements = 30) {
  GradcheckOptions o;
  o.elements = elements;
  o.threads = 1;
  return o;
}

// ---- The rules onnxtrain trains with pass ----------------------------------------------------------------------

TEST(Gradcheck, CorrectRulesPassOnTheBundledModelWithRealData) {
  if (!fs::exists(kFashionMnist)) GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed";
  Dataset d = load_dataset("fashion-mnist", Split::Test);
  Batch b{d.x, d.y};
  b.x.shape = {16, 784};  // (N, 28, 28) images, scaled to [0, 1], as train feeds them
  b.y.shape = {16};
  b.x.f32.resize(16 * 784);
  b.y.i64.resize(16);
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts(200));
  EXPECT_TRUE(r.pass()) << describe(r);
  EXPECT_EQ(r.loss, "cross-entropy");
  ASSERT_EQ(r.params.size(), 6u);
  for (const ParamCheck& p : r.params) {
    EXPECT_TRUE(p.has_gradient) << p.name;
    int64_t count = 1;
    for (int64_t d : p.shape) count *= d;
    EXPECT_EQ(p.checked + p.excluded, std::min<int64_t>(201, count)) << p.name;  // 200 at random and the largest
  }
  EXPECT_NEAR(r.loss_onnxtrain, r.loss_reference, 1e-5);
}

TEST(Gradcheck, CorrectRulesPassOnTheBundledModelWithRandomData) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  EXPECT_TRUE(r.pass()) << describe(r);
  EXPECT_EQ(r.params.size(), 6u);
  EXPECT_EQ(r.samples, 8);
}

// gradients() is the gradient train_step applies: one plain SGD step at lr 1 moves each weight by exactly -dW (to
// float rounding of W - dW), and gradients() itself neither updates nor counts a step.
TEST(Gradcheck, SessionGradientsAreWhatTrainStepApplies) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  Model m = Model::load(kFashion);
  TrainOptions to;
  to.optimizer.lr = 1;
  TrainingSession s(m, to);
  const std::vector<float> before = m.impl().graph.params;
  float loss = 0;
  std::map<std::string, Tensor> grads = s.gradients(b.x, b.y, &loss);
  EXPECT_EQ(s.steps(), 0);
  EXPECT_EQ(m.impl().graph.params, before) << "gradients() must not update";
  const float step_loss = s.train_step(b.x, b.y);
  EXPECT_EQ(loss, step_loss);
  ASSERT_EQ(grads.size(), 6u);
  const ir::Graph& g = m.impl().graph;
  for (auto& [name, t] : grads) {
    const int v = g.find(name);
    ASSERT_GE(v, 0) << name;
    EXPECT_EQ(t.shape, g.values[v].shape) << name;
    for (size_t i = 0; i < t.f32.size(); ++i) {
      const float w0 = before[g.values[v].offset + i], w1 = g.params[g.values[v].offset + i];
      ASSERT_NEAR(w0 - w1, t.f32[i], 1e-6 * (1 + std::fabs(w0))) << name << "[" << i << "]";
    }
  }
}

// Every model the PyTorch parity tests train: Gemm at opsets 7 to 17, MatMul (2-D and batched), Add, Flatten,
// Transpose, Squeeze, Unsqueeze, Tanh, Sigmoid, LeakyRelu, Dropout; cross-entropy on probabilities, logits and soft
// targets, nll on LogSoftmax, bce on Sigmoid, mse. Every element is checked.
class GradcheckParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GradcheckParity, CorrectRulesPass) {
  const std::string base = kData + "/parity/" + GetParam();
  std::ifstream cfg(base + ".cfg");
  std::string line, loss, output;
  while (std::getline(cfg, line)) {
    if (line.rfind("loss=", 0) == 0) loss = line.substr(5);
    if (line.rfind("output=", 0) == 0) output = line.substr(7);
  }
  ASSERT_FALSE(loss.empty()) << base << ".cfg";
  Batch b = npz_batch(base + ".npz", 16);
  Model m = Model::load(base + ".onnx");
  GradcheckOptions o = opts(0);
  o.loss = loss_named(loss);
  o.output = output;
  GradcheckReport r = gradcheck(m, b.x, b.y, o);
  EXPECT_TRUE(r.pass()) << describe(r);
  EXPECT_EQ(r.loss, loss);
  for (const ParamCheck& p : r.params) {
    if (GetParam() == "two_heads" && p.name.rfind("aux.", 0) == 0) {  // reaches only the other output
      EXPECT_FALSE(p.has_gradient) << p.name;
      continue;
    }
    EXPECT_TRUE(p.has_gradient) << p.name;
    EXPECT_GT(p.checked, 0) << p.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GradcheckParity,
                         ::testing::Values("sgd", "ce_logits", "ce_soft_targets", "mse", "opset7", "opset9", "opset11",
                                           "opset17", "nll_logsoftmax", "bce_sigmoid", "tanh_sigmoid_mse",
                                           "linear_nobias", "flatten_image", "unfolded_init_inputs", "linear_3d_input",
                                           "dropout_ratio0", "squeeze_regression", "squeeze_opset11",
                                           "unsqueeze_squeeze", "squeeze_all_last_one", "two_heads",
                                           "modules_as_functions"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// ---- Wrong rules fail, on the parameters they reach ------------------------------------------------------------

TEST(Gradcheck, CatchesAnUnmaskedReluGradient) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  {
    WrongRule wrong("Relu", relu_unmasked);
    Model m = Model::load(kFashion);
    GradcheckReport r = gradcheck(m, b.x, b.y, opts());
    EXPECT_FALSE(r.pass());
    // The Relu follows the first Gemm: only its weight and bias get the wrong gradient.
    EXPECT_FALSE(param(r, "0.weight").pass) << describe(r);
    EXPECT_FALSE(param(r, "0.bias").pass) << describe(r);
    for (const char* ok : {"2.weight", "2.bias", "4.weight", "4.bias"})
      EXPECT_TRUE(param(r, ok).pass) << ok << "\n" << describe(r);
    EXPECT_GT(param(r, "0.bias").max_rel_error, 0.1);
  }
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  EXPECT_TRUE(r.pass()) << "with the real rule restored:\n" << describe(r);
}

TEST(Gradcheck, CatchesAGemmWeightGradientInTheWrongLayout) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  {
    WrongRule wrong("Gemm", gemm_db_untransposed);
    Model m = Model::load(kFashion);
    GradcheckReport r = gradcheck(m, b.x, b.y, opts());
    EXPECT_FALSE(r.pass());
    for (const char* bad : {"0.weight", "2.weight", "4.weight"})
      EXPECT_FALSE(param(r, bad).pass) << bad << "\n" << describe(r);
    // dA and dC are right, so the biases (whose gradients flow through dA) still pass.
    for (const char* ok : {"0.bias", "2.bias", "4.bias"}) EXPECT_TRUE(param(r, ok).pass) << ok << "\n" << describe(r);
  }
  Model m = Model::load(kFashion);
  EXPECT_TRUE(gradcheck(m, b.x, b.y, opts()).pass());
}

// The default tolerance (1e-3) catches a gradient 1% off, a relative error of 1e-2: every Gemm's dC scaled by 1.01.
// The last layer's bias gradient is dC itself; every other gradient flows through dA and is right.
// A gradient that is exactly 0 (a shift of all logits, which softmax cancels; the weights of a unit Relu kills on every
// sample) failed against float32 noise: the float32 backward sums the shift's gradient from terms that do not cancel
// exactly (~4e-8), which the parameter's own floor (its largest |analytic|, itself that noise) could not absorb. It
// passes, and a 1% fault in the biases' rule is still caught on the same model while the zero gradients pass.
TEST(Gradcheck, D21_ExactlyZeroGradientsPassAgainstFloat32Noise) {
  Batch b = npz_batch(kData + "/check/zero_grad.npz", 32);
  {
    Model m = Model::load(kData + "/check/zero_grad_mlp.onnx");
    TrainOptions to;
    to.threads = 1;
    const auto g = TrainingSession(m, to).gradients(b.x, b.y);
    EXPECT_LT(std::fabs(g.at("shift").f32[0]), 1e-6) << "the shift's gradient is 0 up to float32 rounding";
    for (int k = 0; k < 4; ++k) EXPECT_EQ(g.at("fc1.weight").f32[8 + k], 0.f) << "dead unit 2, weight " << k;
    EXPECT_EQ(g.at("fc1.bias").f32[2], 0.f);
  }
  Model m = Model::load(kData + "/check/zero_grad_mlp.onnx");
  GradcheckReport r = gradcheck(m, b.x, b.y, opts(0));
  EXPECT_TRUE(r.pass()) << describe(r);
  ASSERT_EQ(r.params.size(), 5u);
  EXPECT_EQ(param(r, "shift").checked, 1);
  EXPECT_EQ(param(r, "fc1.weight").checked + param(r, "fc1.weight").excluded, 12);
  EXPECT_GT(r.atol, 0);
  EXPECT_LT(r.atol, 1e-6) << "rounding, not a tolerance";

  WrongRule wrong("Gemm", gemm_dc_one_percent_off);
  Model m2 = Model::load(kData + "/check/zero_grad_mlp.onnx");
  GradcheckReport w = gradcheck(m2, b.x, b.y, opts(0));
  EXPECT_FALSE(param(w, "fc2.bias").pass) << describe(w);
  EXPECT_FALSE(param(w, "fc1.bias").pass) << describe(w);
  for (const char* ok : {"shift", "fc1.weight", "fc2.weight"})
    EXPECT_TRUE(param(w, ok).pass) << ok << "\n" << describe(w);
}

TEST(Gradcheck, CatchesABiasGradientOnePercentOff) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  WrongRule wrong("Gemm", gemm_dc_one_percent_off);
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  for (const char* bad : {"0.bias", "2.bias", "4.bias"}) {
    EXPECT_FALSE(param(r, bad).pass) << bad << "\n" << describe(r);
    EXPECT_NEAR(param(r, bad).max_rel_error, 0.01 / 1.01, 1e-3) << bad;
  }
  for (const char* ok : {"0.weight", "2.weight", "4.weight"})
    EXPECT_TRUE(param(r, ok).pass) << ok << "\n" << describe(r);
}

// LeakyRelu(0.01) differentiated as Relu: elements whose gradient flows mostly through negative units are far off.
TEST(Gradcheck, CatchesALeakyReluSlopeDropped) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  WrongRule wrong("LeakyRelu", leaky_as_relu);
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  EXPECT_FALSE(r.pass());
  // The LeakyRelu follows the second Gemm: the first two layers are wrong, the last is not.
  for (const char* bad : {"0.weight", "0.bias", "2.weight", "2.bias"})
    EXPECT_FALSE(param(r, bad).pass) << bad << "\n" << describe(r);
  for (const char* ok : {"4.weight", "4.bias"}) EXPECT_TRUE(param(r, ok).pass) << ok << "\n" << describe(r);
}

// A rule that drops the gradient altogether: the parameters before it get none from training, but the loss depends on
// them, so gradcheck checks them against zero and fails.
TEST(Gradcheck, CatchesAGradientThatNeverArrives) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  WrongRule wrong("Relu", [](ops::GradBuilder&, const ir::Node&) {});
  Model m = Model::load(kFashion);
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  EXPECT_FALSE(param(r, "0.weight").has_gradient);
  EXPECT_FALSE(param(r, "0.weight").pass) << describe(r);
  EXPECT_FALSE(param(r, "0.bias").pass) << describe(r);
  EXPECT_TRUE(param(r, "2.weight").pass) << describe(r);
}

// ---- Kinks, Dropout, options -----------------------------------------------------------------------------------

// kink_mlp: sample 0's first hidden pre-activation is exactly 0 (make_gradcheck_models.py), and w +- eps on the three
// parameters feeding it, fc1.weight[0,0], fc1.weight[0,1] and fc1.bias[0], moves it across the kink. Those three are
// excluded and named; every other element is checked and passes.
TEST(Gradcheck, ExcludesElementsAtAReluKinkInsteadOfFailing) {
  Batch b = npz_batch(kData + "/check/kink.npz", 5);
  Model m = Model::load(kData + "/check/kink_mlp.onnx");
  GradcheckReport r = gradcheck(m, b.x, b.y, opts(0));
  EXPECT_TRUE(r.pass()) << describe(r);
  EXPECT_EQ(param(r, "fc1.weight").excluded, 2);
  EXPECT_EQ(param(r, "fc1.weight").checked, 4);
  EXPECT_EQ(param(r, "fc1.bias").excluded, 1);
  EXPECT_EQ(param(r, "fc1.bias").checked, 2);
  EXPECT_EQ(param(r, "fc2.weight").excluded, 0);
  EXPECT_EQ(param(r, "fc2.weight").checked, 6);
  EXPECT_EQ(param(r, "fc1.weight").kink_nodes, std::vector<std::string>{"relu1 (Relu)"});
  EXPECT_TRUE(param(r, "fc2.weight").kink_nodes.empty());
}

// dropout_mlp's Dropout(0.3) runs as the identity on both sides; the analytic side would be 1/0.7 too large if the
// backward still scaled by 1/(1 - ratio) while the forward did not.
TEST(Gradcheck, RunsDropoutAsTheIdentityOnBothSides) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  Model m = Model::load(kData + "/train/dropout_mlp.onnx");
  GradcheckReport r = gradcheck(m, b.x, b.y, opts());
  EXPECT_EQ(r.dropout_nodes, 1);
  EXPECT_TRUE(r.pass()) << describe(r);
}

TEST(Gradcheck, HonoursTheElementCountAndTheSeed) {
  Batch b = npz_batch(kData + "/train/good.npz", 8);
  Model m = Model::load(kFashion);
  GradcheckOptions o = opts(5);
  GradcheckReport r = gradcheck(m, b.x, b.y, o);
  TrainingSession s(m, TrainOptions{});
  std::map<std::string, Tensor> g = s.gradients(b.x, b.y);
  for (const ParamCheck& p : r.params) {
    EXPECT_EQ(p.checked + p.excluded, std::min<int64_t>(6, static_cast<int64_t>(g.at(p.name).f32.size()))) << p.name;
    EXPECT_LT(p.max_rel_error, 1e-3) << p.name;
  }
  // Different seeds pick different elements (the largest is common to both), so the worst element differs somewhere.
  o.seed = 1;
  GradcheckReport r1 = gradcheck(m, b.x, b.y, o);
  bool differ = false;
  for (size_t k = 0; k < r.params.size(); ++k) differ = differ || r.params[k].worst != r1.params[k].worst;
  EXPECT_TRUE(differ);
}

TEST(Gradcheck, RefusesBadOptionsNamingThem) {
  Batch b = npz_batch(kData + "/train/good.npz", 4);
  Model m = Model::load(kFashion);
  GradcheckOptions o = opts();
  o.eps = 0;
  try {
    gradcheck(m, b.x, b.y, o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GradcheckOptions::eps"), std::string::npos) << e.what();
  }
  o = opts();
  o.loss = Loss::Mse;  // integer labels cannot be mse targets
  EXPECT_THROW(gradcheck(m, b.x, b.y, o), Error);
}

// ---- first_nonfinite_node --------------------------------------------------------------------------------------

// overflow_mlp: fc1 and relu1 stay small, fc2's weights of 3e38 take its outputs past FLT_MAX (finite in double).
TEST(FirstNonfiniteNode, NamesTheNodeWhoseOutputOverflowsFloat) {
  Batch b = npz_batch(kData + "/train/good.npz", 4);
  b.x.shape = {4, 4};
  b.x.f32.resize(16);
  Model m = Model::load(kData + "/check/overflow_mlp.onnx");
  EXPECT_EQ(first_nonfinite_node(m, b.x), "fc2 (Gemm)");
}

TEST(FirstNonfiniteNode, NamesTheFirstLayerOfTheDiagnosticsOverflowModel) {
  Batch b = npz_batch(kData + "/train/good.npz", 4);
  Model m = Model::load(kData + "/train/overflow_mlp.onnx");
  EXPECT_EQ(first_nonfinite_node(m, b.x), "fc1 (Gemm)");
}

TEST(FirstNonfiniteNode, IsEmptyForAHealthyModelAndNamesWhereANanInputEnters) {
  Batch b = npz_batch(kData + "/train/good.npz", 4);
  Model m = Model::load(kFashion);
  EXPECT_EQ(first_nonfinite_node(m, b.x), "");
  b.x.f32[100] = NAN;
  EXPECT_EQ(first_nonfinite_node(m, b.x), "/0/Gemm (Gemm)");
}

// ---- The command line ------------------------------------------------------------------------------------------

TEST(GradcheckCli, PassesNamesEveryParameterAndExitsZero) {
  const TempDir tmp("gradcheck");
  const std::string& dir = tmp.path();
  Outcome r = cli("gradcheck " + kFashion + " --data " + kData + "/train/good.npz --threads 1", dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  for (const char* p : {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"})
    EXPECT_NE(r.out.find(std::string(p) + " "), std::string::npos) << p << "\n" << r.out;
  EXPECT_NE(r.out.find("(256,784)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("8 samples, cross-entropy loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS: all 6 parameters"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

// No float32 gradient agrees with double to 1e-12: at that tolerance every parameter fails, and the exit is 1.
TEST(GradcheckCli, ExitsOneAndSaysWhereWhenAParameterFails) {
  const TempDir tmp("gradcheck_fail");
  const std::string& dir = tmp.path();
  // A step of 0.1: the difference quotient's truncation error (the loss's curvature over +-0.1) fails the last bias.
  // (A tolerance of 1e-12 no longer fails every parameter: differences within float32 rounding count as none.)
  Outcome r = cli("gradcheck " + kFashion + " --data " + kData + "/train/good.npz --threads 1 --eps 0.1", dir);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: 1 of 6 parameters: 4.bias at [2]: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("analytic "), std::string::npos) << r.out;
}

TEST(GradcheckCli, ReportsExcludedKinks) {
  const TempDir tmp("gradcheck_kink");
  const std::string& dir = tmp.path();
  Outcome r = cli("gradcheck " + kData + "/check/kink_mlp.onnx --data " + kData + "/check/kink.npz --elements 0", dir);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("fc1.weight: 2 of 6 elements excluded: a pre-activation within eps"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("kink of node relu1 (Relu)"), std::string::npos) << r.out;
}

TEST(GradcheckCli, BadOptionsAndFilesAreOneLineErrors) {
  const TempDir tmp("gradcheck_err");
  const std::string& dir = tmp.path();
  struct Case {
    std::string args;
    int code;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"gradcheck " + kFashion + " --data " + kData + "/train/good.npz --eps 0", 2, "--eps"},
           {"gradcheck " + kFashion + " --data " + kData + "/train/good.npz --elements -1", 2, "--elements"},
           {"gradcheck " + kFashion + " --data " + kData + "/train/good.npz --loss hinge", 2, "--loss"},
           {"gradcheck " + kFashion, 2, "--data"},
           {"gradcheck " + kFashion + " --data " + dir + "/missing.npz", 1, "missing.npz"},
           {"gradcheck " + kFashion + " --data " + kData + "/train/label_range.npz --samples 20", 1, "label 10"},
       }) {
    Outcome r = cli(c.args, dir);
    EXPECT_EQ(r.code, c.code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.args << "\n" << r.err;
  }
}

}  // namespace
