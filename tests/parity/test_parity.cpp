// PyTorch parity: the same exported model, data, loss and optimizer, trained by onnxtrain, must give PyTorch's loss
// at every step and its final weights (rtol 1e-4, atol 1e-5). References come from tests/parity/make_parity.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "onnxtrain/data.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using onnxtrain::testing::cli;
using onnxtrain::testing::Outcome;
using onnxtrain::testing::TempDir;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/parity/";

std::map<std::string, std::string> read_cfg(const std::string& path) {
  std::map<std::string, std::string> cfg;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) cfg[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return cfg;
}

TrainOptions options_of(std::map<std::string, std::string> cfg) {
  TrainOptions o;
  o.loss = loss_named(cfg["loss"]);
  o.output = cfg["output"];
  o.optimizer.kind = optimizer_named(cfg["optimizer"]);
  auto num = [&](const char* k, double& dst) {
    if (cfg.count(k)) dst = std::stod(cfg[k]);
  };
  num("lr", o.optimizer.lr);
  num("momentum", o.optimizer.momentum);
  num("dampening", o.optimizer.dampening);
  num("weight_decay", o.optimizer.weight_decay);
  num("beta1", o.optimizer.beta1);
  num("beta2", o.optimizer.beta2);
  num("eps", o.optimizer.eps);
  o.optimizer.nesterov = cfg["nesterov"] == "1";
  return o;
}

Tensor rows(const Tensor& t, int64_t b, int64_t e) {
  Tensor r;
  r.dtype = t.dtype;
  r.shape = t.shape;
  r.shape[0] = e - b;
  const int64_t row = t.numel() / t.shape[0];
  if (t.dtype == DType::Float32)
    r.f32.assign(t.f32.begin() + b * row, t.f32.begin() + e * row);
  else
    r.i64.assign(t.i64.begin() + b * row, t.i64.begin() + e * row);
  return r;
}

void expect_weights(const Model& model, const std::map<std::string, Tensor>& ref, const std::string& what) {
  const ir::Graph& g = model.impl().graph;
  int checked = 0;
  for (auto& [key, want] : ref) {
    if (key.rfind("w:", 0) != 0) continue;
    int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << what << ": no initializer " << key.substr(2);
    ASSERT_EQ(g.numel(id), want.numel()) << what << " " << key;
    const float* got = g.param(id);
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_LE(std::fabs(got[i] - want.f32[i]), 1e-5 + 1e-4 * std::fabs(want.f32[i]))
          << what << ": " << key.substr(2) << "[" << i << "] is " << got[i] << ", PyTorch has " << want.f32[i];
    ++checked;
  }
  EXPECT_GE(checked, 2) << what;
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, EveryStepLossAndEveryFinalWeight) {
  const std::string name = GetParam();
  auto cfg = read_cfg(kDir + name + ".cfg");
  ASSERT_FALSE(cfg.empty()) << name << ".cfg was not generated";
  auto ref = load_npz(kDir + name + ".npz");
  Model model = Model::load(kDir + name + ".onnx");
  TrainingSession session(model, options_of(cfg));
  const Tensor &x = ref.at("x"), &y = ref.at("y");
  const int64_t n = x.shape[0], batch = std::stoll(cfg["batch"]), epochs = std::stoll(cfg["epochs"]);
  const Tensor& losses = ref.at("losses");
  size_t step = 0;
  for (int64_t e = 0; e < epochs; ++e)
    for (int64_t b = 0; b < n; b += batch, ++step) {
      float loss = session.train_step(rows(x, b, std::min(n, b + batch)), rows(y, b, std::min(n, b + batch)));
      ASSERT_LT(step, losses.f32.size());
      EXPECT_NEAR(loss, losses.f32[step], 1e-5 + 1e-4 * std::fabs(losses.f32[step])) << name << " step " << step;
    }
  EXPECT_EQ(step, losses.f32.size());
  expect_weights(model, ref, name);
  // The plain SGD cases check the update folded into the backward pass; this one takes it for every parameter.
  if (name == "sgd") {
    EXPECT_EQ(session.fused_updates(), session.trainable());
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Parity,
                         ::testing::Values("sgd", "sgd_momentum", "sgd_nesterov", "sgd_weight_decay", "adam",
                                           "adam_betas", "adamw", "ce_logits", "ce_soft_targets", "mse", "opset9",
                                           "opset11", "nll_logsoftmax", "bce_sigmoid", "tanh_sigmoid_mse",
                                           "linear_nobias", "flatten_image", "unfolded_init_inputs", "opset7",
                                           "dropout_ratio0", "linear_3d_input", "opset17", "squeeze_regression",
                                           "squeeze_opset11", "unsqueeze_squeeze", "squeeze_all_last_one", "two_heads",
                                           "modules_as_functions"),
                         [](const auto& info) { return info.param; });

// The same through the command line: the file it writes holds PyTorch's weights, and nothing else changed.
TEST(ParityCli, TrainWritesPyTorchsWeights) {
  for (std::string name : {"sgd_momentum", "mse"}) {
    auto cfg = read_cfg(kDir + name + ".cfg");
    const TempDir dir("parity");
    const std::string out = dir / (name + ".onnx");
    const std::string args = "train " + kDir + name + ".onnx --data " + kDir + name +
                             ".npz --no-shuffle --batch-size 16 --epochs 2 --loss " + cfg["loss"] + " --optimizer " +
                             cfg["optimizer"] + " --lr " + cfg["lr"] + " --momentum " + cfg["momentum"] +
                             (cfg.count("dampening") ? " --dampening " + cfg["dampening"] : "") + " --out " + out;
    const Outcome trained_by_cli = cli(args, dir.path());
    ASSERT_EQ(trained_by_cli.code, 0) << args << "\n" << trained_by_cli.err;
    Model trained = Model::load(out);
    expect_weights(trained, load_npz(kDir + name + ".npz"), name + " via the CLI");
    // Everything but the initializers' values is as PyTorch wrote it: checked by onnx itself.
    std::string check = std::string(SYSTEM_PYTHON3) +
                        " -c \"import onnx, sys; a, b = onnx.load(sys.argv[1]), onnx.load(sys.argv[2]); "
                        "onnx.checker.check_model(b); "
                        "[t.ClearField('raw_data') for m in (a, b) for t in m.graph.initializer]; "
                        "sys.exit(0 if a.SerializeToString() == b.SerializeToString() else 1)\" " +
                        kDir + name + ".onnx " + out;
    EXPECT_EQ(std::system(check.c_str()), 0) << name;
    // `onnxtrain run` on the written model reproduces the PyTorch-trained model's outputs.
    std::string preds = out + ".preds.npz";
    const std::string run = "run " + out + " --data " + kDir + name + ".npz --out " + preds;
    const Outcome ran = cli(run, dir.path());
    ASSERT_EQ(ran.code, 0) << run << "\n" << ran.err;
    const Tensor got = load_npz(preds).at("output");
    const Tensor want = load_npz(kDir + name + ".npz").at("output");
    ASSERT_EQ(got.shape, want.shape);
    for (size_t i = 0; i < want.f32.size(); ++i)
      ASSERT_NEAR(got.f32[i], want.f32[i], 1e-5 + 1e-4 * std::fabs(want.f32[i])) << name << " output " << i;
  }
}

// Initializers the exporter tied: fc1 and fc2 start with zero biases, which the eval-mode export writes as one
// initializer and fc2.bias = Identity(fc1.bias); PyTorch trains two. `shared` is one Linear applied twice: one
// initializer read by two Gemms, which PyTorch trains as one. References from tests/parity/make_tied.py.
const std::string kTied = std::string(ONNXTRAIN_TEST_DATA) + "/tied/";

TEST(TiedInitializers, TrainAsPyTorchDoesAndRealSharingStays) {
  Model model = Model::load(kTied + "tied.onnx");
  const ModelInfo info = model.info();
  ASSERT_EQ(info.untied.size(), 1u);
  EXPECT_EQ(info.untied[0].name, "fc2.bias");
  EXPECT_EQ(info.untied[0].from, "fc1.bias");
  int shared = 0;
  for (const ModelInfo::Initializer& i : info.initializers) {
    shared += i.name == "shared.weight";
    if (i.name == "fc2.bias") {
      EXPECT_TRUE(i.trainable);
    }
  }
  EXPECT_EQ(shared, 1);
  for (const ModelInfo::NodeInfo& n : info.nodes) EXPECT_NE(n.op_type, "Identity") << n.name;
  const auto ref = load_npz(kTied + "tied.npz");
  TrainOptions o;
  o.loss = Loss::CrossEntropy;
  o.optimizer.kind = Optimizer::Sgd;
  o.optimizer.lr = 0.1;
  TrainingSession session(model, o);
  const Tensor &x = ref.at("x"), &y = ref.at("y"), &losses = ref.at("losses");
  const int64_t n = x.shape[0];
  size_t step = 0;
  for (int e = 0; e < 2; ++e)
    for (int64_t b = 0; b < n; b += 16, ++step) {
      const float loss = session.train_step(rows(x, b, std::min(n, b + 16)), rows(y, b, std::min(n, b + 16)));
      ASSERT_LT(step, losses.f32.size());
      EXPECT_NEAR(loss, losses.f32[step], 1e-5 + 1e-4 * std::fabs(losses.f32[step])) << "step " << step;
    }
  EXPECT_EQ(step, losses.f32.size());
  expect_weights(model, ref, "tied");
}

// The file train writes is what PyTorch would export after training: fc2.bias an initializer of its own, no Identity,
// everything else kept; `info` on the source says what it untied.
TEST(TiedInitializers, TheWrittenFileHoldsBothAndNoIdentity) {
  const TempDir dir("tied");
  const std::string out = dir / "trained.onnx";
  const Outcome info = cli("info " + kTied + "tied.onnx", dir.path());
  ASSERT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("untied (1)"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("fc2.bias"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("was Identity(fc1.bias)"), std::string::npos) << info.out;
  const std::string args = "train " + kTied + "tied.onnx --data " + kTied +
                           "tied.npz --no-shuffle --batch-size 16 --epochs 2 --lr 0.1 --loss cross-entropy --out " +
                           out;
  const Outcome trained = cli(args, dir.path());
  ASSERT_EQ(trained.code, 0) << args << "\n" << trained.err;
  Model model = Model::load(out);
  EXPECT_TRUE(model.info().untied.empty());
  expect_weights(model, load_npz(kTied + "tied.npz"), "tied via the CLI");
  const std::string check = std::string(SYSTEM_PYTHON3) + " " + ONNXTRAIN_SOURCE_DIR +
                            "/tests/parity/make_tied.py --check " + kTied + "tied.onnx " + out;
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

}  // namespace
