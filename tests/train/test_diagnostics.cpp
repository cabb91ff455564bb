// train --diagnostics and --plot through the command line, on models sick by construction
// (make_diagnostics_models.py): dead units are counted exactly, vanishing and exploding gradients and NaN are warned
// about with the layer named, the norms agree with the weights the run wrote, and the plot is well-formed SVG
// holding both curves.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>

#include <nlohmann/json.hpp>

#include "onnxtrain/model.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kData = std::string(ONNXTRAIN_TEST_DATA) + "/train/";  // good.npz: 20 samples in [0, 1)
const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";

std::vector<nlohmann::json> records(const std::string& log, const std::string& type) {
  std::vector<nlohmann::json> v;
  std::ifstream f(log);
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("type") == type) v.push_back(j);
  }
  return v;
}

// 20 of dead_mlp's 32 hidden units have a negative pre-activation on every input in [0, 1), by construction, and
// the other 12 a positive one; the dead ones get no gradient and stay dead.
TEST(Diagnostics, CountsDeadUnitsAndWarnsAboutTheLayer) {
  const TempDir tmp("diag");
  const std::string& dir = tmp.path();
  Outcome r = cli("train " + kData + "dead_mlp.onnx --data " + kData +
                      "good.npz --batch-size 5 --epochs 2 --diagnostics"
                      " --log " +
                      dir + "/log.jsonl --out " + dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto epochs = records(dir + "/log.jsonl", "epoch");
  ASSERT_EQ(epochs.size(), 2u);
  for (const nlohmann::json& e : epochs) {
    const nlohmann::json& layers = e.at("diagnostics").at("layers");
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0].at("node"), "relu1");
    EXPECT_EQ(layers[0].at("units"), 32);
    EXPECT_DOUBLE_EQ(layers[0].at("dead").get<double>(), 20.0 / 32);
    EXPECT_DOUBLE_EQ(layers[0].at("negative").get<double>(), 20.0 / 32);
  }
  EXPECT_NE(r.out.find("Relu 'relu1': 32 units, 62.5% dead, 62.5% negative pre-activations"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("warning: epoch 1: Relu 'relu1' had 62.5% of its 32 units dead for the whole epoch"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("LeakyRelu"), std::string::npos) << "the warning gives a hint: " << r.err;
  EXPECT_EQ(r.err.find("vanished"), std::string::npos) << r.err;
}

TEST(Diagnostics, HealthyModelHasNoWarnings) {
  const TempDir tmp("diag_ok");
  const std::string& dir = tmp.path();
  Outcome r = cli("train " + kFashion + " --data " + kData + "good.npz --batch-size 5 --epochs 2 --diagnostics --out " +
                      dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Relu '/1/Relu': 256 units"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LeakyRelu '/3/LeakyRelu': 128 units"), std::string::npos) << r.out;
}

// One plain SGD step: W_after - W_before = -lr * dW, so the logged gradient norm and update ratio must agree with
// the weights the run started from and wrote.
TEST(Diagnostics, NormsAgreeWithTheWrittenWeights) {
  const TempDir tmp("diag_norms");
  const std::string& dir = tmp.path();
  const double lr = 0.05;
  Outcome r = cli("train " + kFashion + " --data " + kData +
                      "good.npz --batch-size 8 --steps 1 --lr 0.05 --diagnostics"
                      " --log " +
                      dir + "/log.jsonl --out " + dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto steps = records(dir + "/log.jsonl", "step");
  ASSERT_EQ(steps.size(), 1u);
  Model before = Model::load(kFashion), after = Model::load(dir + "/out.onnx");
  int checked = 0;
  for (const std::string name : {"0.weight", "0.bias", "2.weight", "4.bias"}) {
    const ir::Graph &g0 = before.impl().graph, &g1 = after.impl().graph;
    const int id0 = g0.find(name), id1 = g1.find(name);
    ASSERT_GE(id0, 0) << name;
    ASSERT_GE(id1, 0) << name;
    const float *w0 = g0.param(id0), *w1 = g1.param(id1);
    double dd = 0, ww = 0;
    for (int64_t i = 0; i < g0.numel(id0); ++i) {
      const double d = double(w1[i]) - double(w0[i]);
      dd += d * d;
      ww += double(w0[i]) * double(w0[i]);
    }
    EXPECT_NEAR(steps[0].at("update_ratio").at(name).get<double>(), std::sqrt(dd / ww), 1e-4 * std::sqrt(dd / ww))
        << name;
    EXPECT_NEAR(steps[0].at("grad_norm").at(name).get<double>(), std::sqrt(dd) / lr, 1e-3 * std::sqrt(dd) / lr) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(Diagnostics, WarnsAboutVanishingGradients) {
  const TempDir tmp("diag_vanish");
  const std::string& dir = tmp.path();
  Outcome r = cli("train " + kData + "all_dead_mlp.onnx --data " + kData +
                      "good.npz --batch-size 5 --diagnostics --out " + dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("had 100.0% of its 32 units dead"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the gradient of 'fc1.weight' vanished"), std::string::npos) << r.err;
  // fc2.weight reads only zeros, so its gradient is zero too; fc2.bias still learns.
  EXPECT_NE(r.err.find("the gradient of 'fc2.weight' vanished"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("the gradient of 'fc2.bias' vanished"), std::string::npos) << r.err;
}

TEST(Diagnostics, WarnsAboutExplodingGradients) {
  const TempDir tmp("diag_explode");
  const std::string& dir = tmp.path();
  Outcome r = cli("train " + kData + "exploding_mlp.onnx --data " + kData +
                      "good.npz --batch-size 5 --steps 1 --diagnostics"
                      " --out " +
                      dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("the gradient of 'fc1.weight' exploded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lower --lr"), std::string::npos) << r.err;
}

// overflow_mlp's first Gemm sums 784 products of 1e37: Inf there, NaN from the second Gemm on.
TEST(Diagnostics, NaNNamesTheLayerWhereItFirstAppeared) {
  const TempDir tmp("diag_nan");
  const std::string& dir = tmp.path();
  Outcome r =
      cli("train " + kData + "overflow_mlp.onnx --data " + kData + "good.npz --batch-size 5 --out " + dir + "/out.onnx",
          dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("the loss became NaN at step 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("it first appeared in the forward pass at node 'fc1' (Gemm)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out.onnx"));
}

// The SVG is parsed by Python's XML parser (an independent reader), and its curves checked against the log.
TEST(Plot, IsWellFormedSvgWithBothCurves) {
  const TempDir tmp("plot");
  const std::string& dir = tmp.path();
  Outcome r = cli("train " + kFashion + " --data " + kData + "good.npz --val " + kData +
                      "good.npz --val-every 2"
                      " --batch-size 6 --epochs 3 --plot " +
                      dir + "/curves.svg --log " + dir + "/log.jsonl --out " + dir + "/out.onnx",
                  dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const size_t steps = records(dir + "/log.jsonl", "step").size(), vals = records(dir + "/log.jsonl", "val").size();
  EXPECT_EQ(steps, 12u);  // 4 an epoch
  // Before training, then at steps 2, 6 and 10 (4, 8 and 12 end epochs, which validate anyway).
  EXPECT_EQ(vals, 4u);
  const std::string check =
      std::string(SYSTEM_PYTHON3) +
      " -c '\n"
      "import sys, xml.etree.ElementTree as ET\n"
      "ns = {\"s\": \"http://www.w3.org/2000/svg\"}\n"
      "root = ET.parse(sys.argv[1]).getroot()\n"
      "assert root.tag == \"{http://www.w3.org/2000/svg}svg\", root.tag\n"
      "lines = {p.get(\"id\"): len(p.get(\"points\").split()) for p in "
      "root.iter(\"{http://www.w3.org/2000/svg}polyline\")}\n"
      "texts = [t.text for t in root.iter(\"{http://www.w3.org/2000/svg}text\")]\n"
      "print(lines, texts.count(\"epoch\"), \"loss\" in texts, \"accuracy\" in texts, \"validation loss\" in texts)\n"
      "' " +
      dir + "/curves.svg > " + dir + "/parsed 2>&1";
  ASSERT_EQ(std::system(check.c_str()), 0) << slurp(dir + "/parsed");
  const std::string parsed = slurp(dir + "/parsed");
  // Every step, every epoch and every validation is a point; both panels have an x axis label.
  EXPECT_NE(parsed.find("'train-loss-steps': 12"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("'train-loss': 3"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("'val-loss': 7"), std::string::npos) << parsed;  // 4 + 3 epoch ends
  EXPECT_NE(parsed.find("'train-accuracy': 3"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("'val-accuracy': 7"), std::string::npos) << parsed;
  EXPECT_NE(parsed.find("} 2 True True True"), std::string::npos) << parsed;
}

TEST(Plot, RefusesOtherFormatsAndNeedsValForValEvery) {
  const TempDir tmp("plot_bad");
  const std::string& dir = tmp.path();
  Outcome r =
      cli("train " + kFashion + " --data " + kData + "good.npz --plot " + dir + "/curves.png --out " + dir + "/o.onnx",
          dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--plot"), std::string::npos) << r.err;
  r = cli("train " + kFashion + " --data " + kData + "good.npz --val-every 3 --out " + dir + "/o.onnx", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--val-every"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/o.onnx"));
}

}  // namespace
