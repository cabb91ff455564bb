// Random small graphs of the supported ops (tests/random/make_random_graphs.py) against PyTorch's float64 results:
// the forward pass, and one SGD step on mse. Compositions the one-op conformance cases and the MLP parity models do
// not reach: fusions and kernel choices between arbitrary neighbours, odd and large shapes, every opset.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"

using namespace onnxtrain;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/random/";

std::vector<std::string> cases() {
  std::vector<std::string> names;
  std::ifstream f(kDir + "cases.txt");
  for (std::string line; std::getline(f, line);)
    if (!line.empty()) names.push_back(line);
  return names;
}

// got against PyTorch's float64 want, element for element: within float32 rounding of the element and of the
// tensor's scale (a sum of many terms rounds relative to their size, not to the result's).
void expect_close(const float* got, const Tensor& want, const std::string& what) {
  double scale = 0;
  for (float v : want.f32) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < want.f32.size(); ++i)
    ASSERT_LE(std::fabs(double(got[i]) - want.f32[i]), 1e-5 + 1e-4 * std::fabs(want.f32[i]) + 1e-5 * scale)
        << what << "[" << i << "]: got " << got[i] << ", PyTorch has " << want.f32[i];
}

TEST(RandomGraphs, Generated) { EXPECT_EQ(cases().size(), 190u) << kDir << "cases.txt"; }

TEST(RandomGraphs, ForwardMatchesPyTorch) {
  for (const std::string& name : cases()) {
    SCOPED_TRACE(name);
    Model model = Model::load(kDir + name + ".onnx");
    auto ref = load_npz(kDir + name + ".npz");
    InferenceSession session(model);
    auto out = session.run({{"x", ref.at("x")}});
    ASSERT_EQ(out.size(), 1u);
    const Tensor& got = out.begin()->second;
    ASSERT_EQ(got.shape, ref.at("y").shape);
    expect_close(got.f32.data(), ref.at("y"), name + " output");
  }
}

// One plain SGD step (lr 0.1) on mse against targets of 0.5, where the output keeps the batch dimension: every weight
// after it is PyTorch's, at 1 thread and at 2. Plain SGD takes the update folded into the weight-gradient GEMMs.
TEST(RandomGraphs, OneSgdStepMatchesPyTorch) {
  int stepped = 0;
  for (int threads : {1, 2})
    for (const std::string& name : cases()) {
      auto ref = load_npz(kDir + name + ".npz");
      if (!ref.count("loss")) continue;
      SCOPED_TRACE(name + ", " + std::to_string(threads) + " threads");
      Model model = Model::load(kDir + name + ".onnx");
      TrainOptions o;
      o.loss = Loss::Mse;
      o.optimizer.kind = Optimizer::Sgd;
      o.optimizer.lr = 0.1;
      o.threads = threads;
      TrainingSession session(model, o);
      const Tensor& y = ref.at("y");
      const float loss =
          session.train_step(ref.at("x"), Tensor::f32_of(y.shape, std::vector<float>(y.f32.size(), 0.5f)));
      const double want = ref.at("loss").f32.at(0);
      EXPECT_NEAR(loss, want, 1e-5 + 1e-4 * std::fabs(want));
      const ir::Graph& g = model.impl().graph;
      for (auto& [key, w] : ref) {
        if (key.rfind("w:", 0) != 0) continue;
        const int id = g.find(key.substr(2));
        ASSERT_GE(id, 0) << key;
        ASSERT_EQ(g.numel(id), w.numel()) << key;
        expect_close(g.param(id), w, key.substr(2));
      }
      ++stepped;
    }
  EXPECT_GT(stepped, 100) << "too few cases keep their batch dimension to train";
}

}  // namespace
