// Shape chains as PyTorch exports them (tests/ops/make_shape_chains.py): x.view(x.size(0), -1) and an attention-style
// head split read from x.shape, at opsets 13 and 17. `run` gives PyTorch's outputs, training gives its losses and
// weights, and the chain (Shape, Gather, Unsqueeze, Concat) folds when a plan is made: none of its nodes runs a step,
// in the forward graph or the training one, for a full batch or a partial one.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "onnxtrain/data.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "runtime/autodiff/autodiff.h"
#include "runtime/exec/executor.h"
#include "runtime/model_impl.h"

using namespace onnxtrain;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/shape_chains/";

class ShapeChain : public ::testing::TestWithParam<std::string> {
 protected:
  Model model = Model::load(kDir + GetParam() + ".onnx");
  std::map<std::string, Tensor> ref = load_npz(kDir + GetParam() + ".npz");
};

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

TEST_P(ShapeChain, RunGivesPyTorchsOutput) {
  InferenceSession session(model);
  const Tensor& x = ref.at("x");
  const Tensor& want = ref.at("out");
  for (const auto& [b, e] : std::vector<std::pair<int64_t, int64_t>>{{0, 10}, {0, 3}}) {  // two plans
    const Tensor got = session.run({{"x", rows(x, b, e)}}).at("y");
    ASSERT_EQ(got.shape, (std::vector<int64_t>{e - b, 4}));
    for (int64_t i = 0; i < got.numel(); ++i)
      EXPECT_NEAR(got.f32[i], want.f32[b * 4 + i], 1e-5 + 1e-4 * std::fabs(want.f32[b * 4 + i])) << i;
  }
}

TEST_P(ShapeChain, TrainsAsPyTorchDoes) {
  TrainOptions o;
  o.loss = Loss::CrossEntropy;
  o.optimizer.lr = 0.1;
  TrainingSession train(model, o);
  const Tensor &x = ref.at("x"), &y = ref.at("y"), &losses = ref.at("losses");
  for (int64_t b = 0, k = 0; b < x.shape[0]; b += 4, ++k) {
    const int64_t e = std::min<int64_t>(b + 4, x.shape[0]);
    const float loss = train.train_step(rows(x, b, e), rows(y, b, e));
    EXPECT_NEAR(loss, losses.f32[k], 1e-5 + 1e-4 * std::fabs(losses.f32[k])) << "step " << k;
  }
  const ir::Graph& g = model.impl().graph;
  int checked = 0;
  for (const auto& [key, want] : ref) {
    if (key.rfind("w:", 0) != 0) continue;
    const int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << key;
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(g.param(id)[i], want.f32[i], 1e-5 + 1e-4 * std::fabs(want.f32[i])) << key << "[" << i << "]";
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// The chain's nodes are those computing integers (from Shape on: Gather, Unsqueeze, Concat, Range); none of them may
// own a step of the plan. (A Gather of float data, an embedding, does run.)
bool computes_integers(const ir::Graph& g, const ir::Node& n) {
  return !n.outputs.empty() && n.outputs[0] >= 0 && g.values[n.outputs[0]].dtype == DType::Int64;
}
void expect_chain_folded(const ir::Graph& g, Executor& ex) {
  int chain_nodes = 0;
  for (const ir::Node& n : g.nodes) chain_nodes += computes_integers(g, n);
  EXPECT_GE(chain_nodes, 3);
  ASSERT_FALSE(ex.step_nodes().empty());
  for (int k : ex.step_nodes()) EXPECT_FALSE(computes_integers(g, g.nodes[k])) << g.nodes[k].label() << " runs a step";
}

TEST_P(ShapeChain, FoldsWhenAPlanIsMade) {
  const ir::Graph& g = model.impl().graph;
  const int x = g.inputs[0];
  ir::Shape shape = ref.at("x").shape;
  Executor ex(g);
  for (int64_t batch : {4, 2}) {
    shape[0] = batch;
    ex.prepare({{x, shape}});
    expect_chain_folded(g, ex);
  }
  ir::Graph training = g;  // and with the loss and the backward nodes
  const auto t = autodiff::add_training(training, autodiff::Loss::MSE, {});
  Executor tex(training);
  shape[0] = 3;
  tex.prepare({{x, shape}, {t.target, {3, 4}}});
  expect_chain_folded(training, tex);
}

// nn.Embedding as PyTorch exports it: Gather of the trained weight by fed int64 tokens. The gradients of the
// cross-entropy on one batch are PyTorch's, the weight's rows of repeated tokens summed (GatherGrad's scatter-add).
// Through the executor with the training graph: TrainingSession feeds float32 features alone.
TEST(Embedding, GradientsArePyTorchs) {
  Model model = Model::load(kDir + "embedding13.onnx");
  const auto ref = load_npz(kDir + "embedding13.npz");
  const Tensor &tokens = ref.at("tokens"), &y = ref.at("y");
  ir::Graph g = model.impl().graph;
  const int x = g.inputs[0];
  ASSERT_EQ(g.values[x].dtype, DType::Int64);
  const auto t = autodiff::add_training(g, autodiff::Loss::CrossEntropy, {});
  Executor ex(g);
  ex.prepare({{x, tokens.shape}, {t.target, y.shape}});
  std::copy(tokens.i64.begin(), tokens.i64.end(), static_cast<int64_t*>(ex.bytes(x)));
  for (size_t i = 0; i < y.i64.size(); ++i) ex.data(t.target)[i] = static_cast<float>(y.i64[i]);
  ex.run();
  int checked = 0;
  for (const auto& [key, want] : ref) {
    if (key.rfind("g:", 0) != 0) continue;
    const int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << key;
    const float* got = ex.grads() + g.values[id].offset;
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(got[i], want.f32[i], 1e-6 + 1e-4 * std::fabs(want.f32[i])) << key << "[" << i << "]";
    ++checked;
  }
  EXPECT_EQ(checked, 3);
  // The flatten's chain folded here too; the embedding's Gather, on data, runs.
  std::set<std::string> ran;
  for (int k : ex.step_nodes()) ran.insert(g.nodes[k].op_type);
  EXPECT_TRUE(ran.count("Gather") && ran.count("GatherGrad"));
  EXPECT_FALSE(ran.count("Shape") || ran.count("Unsqueeze") || ran.count("Concat"));
}

INSTANTIATE_TEST_SUITE_P(Exported, ShapeChain,
                         ::testing::Values("flat13", "flat17", "heads13", "heads17", "positions13", "positions17"));

// torch.arange(x.size(1)) as a Range over the shape chain: a shorter sequence makes a plan of its own, whose range
// (and so the position embedding's rows) follows it.
TEST(Positions, ShorterSequenceGivesPyTorchsOutput) {
  for (const char* name : {"positions13", "positions17"}) {
    Model model = Model::load(kDir + name + ".onnx");
    const auto ref = load_npz(kDir + name + ".npz");
    InferenceSession s(model);
    const Tensor& want = ref.at("out_short");
    for (int pass = 0; pass < 2; ++pass) {  // the short plan, then back to it after the full-length one
      const Tensor got = s.run({{"x", ref.at("x_short")}}).at("y");
      ASSERT_EQ(got.shape, want.shape) << name;
      for (int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(got.f32[i], want.f32[i], 1e-5) << name << " [" << i << "]";
      s.run({{"x", ref.at("x")}});
    }
  }
}

}  // namespace
