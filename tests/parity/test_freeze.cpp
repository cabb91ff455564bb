// TrainOptions::freeze and train_only as glob patterns: the frozen set they resolve to, every step's loss and every
// final weight against PyTorch trained with requires_grad off for the same parameters (make_freeze.py), and a
// pattern that matches nothing refused by name, through the library and the command line.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"

using namespace onnxtrain;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/freeze/";

std::map<std::string, std::vector<std::string>> read_cfg(const std::string& path) {
  std::map<std::string, std::vector<std::string>> cfg;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::istringstream words(line.substr(eq + 1));
    std::vector<std::string>& v = cfg[line.substr(0, eq)];
    for (std::string w; words >> w;) v.push_back(w);
  }
  return cfg;
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

class Freeze : public ::testing::TestWithParam<std::string> {};

TEST_P(Freeze, PatternsTrainAsPyTorchWithRequiresGradOff) {
  const std::string name = GetParam();
  auto cfg = read_cfg(kDir + name + ".cfg");
  ASSERT_FALSE(cfg.empty()) << name << ".cfg was not generated";
  auto ref = load_npz(kDir + name + ".npz");
  Model model = Model::load(kDir + name + ".onnx");
  const Model initial = Model::load(kDir + name + ".onnx");
  TrainOptions o;
  o.freeze = cfg["freeze"];
  o.train_only = cfg["train_only"];
  o.optimizer.lr = 0.1;
  o.optimizer.momentum = 0.9;
  o.optimizer.weight_decay = 0.01;
  TrainingSession session(model, o);
  EXPECT_EQ(session.frozen(), cfg["frozen"]) << name;
  const Tensor &x = ref.at("x"), &y = ref.at("y"), &losses = ref.at("losses");
  const int64_t n = x.shape[0], batch = 16;
  size_t step = 0;
  for (int e = 0; e < 2; ++e)
    for (int64_t b = 0; b < n; b += batch, ++step) {
      const float loss = session.train_step(rows(x, b, std::min(n, b + batch)), rows(y, b, std::min(n, b + batch)));
      ASSERT_LT(step, losses.f32.size());
      EXPECT_NEAR(loss, losses.f32[step], 1e-5 + 1e-4 * std::fabs(losses.f32[step])) << name << " step " << step;
    }
  EXPECT_EQ(step, losses.f32.size());
  const ir::Graph &g = model.impl().graph, &g0 = initial.impl().graph;
  int changed = 0;
  for (auto& [key, want] : ref) {
    if (key.rfind("w:", 0) != 0) continue;
    const std::string w = key.substr(2);
    const int id = g.find(w);
    ASSERT_GE(id, 0) << w;
    const bool is_frozen = std::count(cfg["frozen"].begin(), cfg["frozen"].end(), w) > 0;
    bool moved = false;
    for (int64_t i = 0; i < want.numel(); ++i) {
      ASSERT_LE(std::fabs(g.param(id)[i] - want.f32[i]), 1e-5 + 1e-4 * std::fabs(want.f32[i]))
          << name << ": " << w << "[" << i << "]";
      moved = moved || g.param(id)[i] != g0.param(g0.find(w))[i];
    }
    EXPECT_EQ(moved, !is_frozen) << name << ": " << w << (is_frozen ? " is frozen but moved" : " did not train");
    changed += moved;
  }
  EXPECT_GT(changed, 0) << name;
}

INSTANTIATE_TEST_SUITE_P(Cases, Freeze, ::testing::Values("freeze_glob", "train_only", "train_only_and_freeze"),
                         [](const auto& info) { return info.param; });

// A pattern that matches no initializer is a slip: refused, naming the field and the pattern, listing the names.
TEST(FreezePattern, ThatMatchesNothingIsRefused) {
  for (const char* field : {"freeze", "train_only"}) {
    Model model = Model::load(kDir + "freeze_glob.onnx");
    TrainOptions o;
    (std::string(field) == "freeze" ? o.freeze : o.train_only) = {"0.*", "enc*.weight"};
    try {
      TrainingSession session(model, o);
      ADD_FAILURE() << field << ": a pattern matching nothing was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("TrainOptions::") + field +
                                           ": 'enc*.weight' matches no float initializer of the model; it has "
                                           "0.bias, 0.weight, 2.bias"),
                std::string::npos)
          << e.what();
    }
  }
  // The command line names its flag, in one line, exit 1, and writes nothing.
  const onnxtrain::testing::TempDir tmp("freeze");
  const std::string out = tmp.path() + "/o.onnx";
  const auto r = onnxtrain::testing::cli("train " + kDir + "freeze_glob.onnx --data " + kDir +
                                         "freeze_glob.npz --out " + out + " --train-only 'nope*'");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("--train-only: 'nope*' matches no float initializer"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(out).good());
}

}  // namespace
