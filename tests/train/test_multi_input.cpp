// Models with several inputs, and inputs that are not float32, fed from an .npz keyed by input name: train, eval,
// gradcheck and run on the command line, and the library's Trainer (whose shuffled batches take every input's rows
// together), against PyTorch (tests/train/make_multi_input.py) and NumPy; and each bad feed refused in one line naming
// the file and the input.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"
#include "onnxtrain/trainer.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

using namespace onnxtrain;
using onnxtrain::testing::cli;
using onnxtrain::testing::Outcome;
using onnxtrain::testing::TempDir;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/multi_input/";
const std::string kTwo = kDir + "two_inputs.onnx", kTwoData = kDir + "two_inputs.npz";

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Every w:<name> of ref against the model's initializer of that name (rtol 1e-4, atol 1e-5).
void expect_weights(const Model& model, const std::map<std::string, Tensor>& ref) {
  const ir::Graph& g = model.impl().graph;
  int checked = 0;
  for (const auto& [key, want] : ref) {
    if (key.rfind("w:", 0) != 0) continue;
    const int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << key;
    ASSERT_EQ(g.numel(id), want.numel()) << key;
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(g.param(id)[i], want.f32[i], 1e-5 + 1e-4 * std::fabs(want.f32[i])) << key << "[" << i << "]";
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

// Rows [b, e) of a float32 or int64 tensor.
Tensor rows(const Tensor& t, int64_t b, int64_t e) {
  const int64_t row = t.numel() / t.shape[0];
  Tensor r = t;
  r.shape[0] = e - b;
  if (t.dtype == DType::Float32)
    r.f32.assign(t.f32.begin() + b * row, t.f32.begin() + e * row);
  else
    r.i64.assign(t.i64.begin() + b * row, t.i64.begin() + e * row);
  return r;
}

// The library: every step's loss and the final weights are PyTorch's, the two inputs fed by name.
TEST(MultiInput, TrainingSessionFeedsEveryInputByName) {
  Model model = Model::load(kTwo);
  const auto ref = load_npz(kTwoData);
  TrainOptions o;
  o.loss = Loss::CrossEntropy;
  o.optimizer.lr = 0.1;
  TrainingSession session(model, o);
  EXPECT_EQ(session.inputs(), (std::vector<std::string>{"a", "b"}));
  const Tensor &a = ref.at("a"), &b = ref.at("b"), &y = ref.at("y"), &losses = ref.at("losses");
  size_t step = 0;
  for (int e = 0; e < 2; ++e)
    for (int64_t s = 0; s < 50; s += 16, ++step) {
      const int64_t end = std::min<int64_t>(50, s + 16);
      const float loss = session.train_step({{"a", rows(a, s, end)}, {"b", rows(b, s, end)}}, rows(y, s, end));
      EXPECT_NEAR(loss, losses.f32[step], 1e-5 + 1e-4 * std::fabs(losses.f32[step])) << "step " << step;
    }
  EXPECT_EQ(step, losses.f32.size());
  expect_weights(model, ref);
  // One tensor cannot say which input it is for.
  try {
    session.train_step(a, y);
    ADD_FAILURE() << "one tensor fed a model of two inputs";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the model has 2 inputs (a, b); give each by name"), std::string::npos)
        << e.what();
  }
  try {
    session.train_step({{"a", a}}, y);
    ADD_FAILURE() << "trained without b";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no data for input 'b' (a, b)"), std::string::npos) << e.what();
  }
}

// The Trainer shuffles: each batch must hold the same samples of a, b and y. A second model trained step by step on
// the permutation the Trainer draws (TrainOptions::seed through Fisher-Yates, trainer.cpp) ends with the same weights,
// bit for bit.
TEST(MultiInput, TrainerShufflesEveryInputsRowsTogether) {
  Model by_trainer = Model::load(kTwo), by_hand = Model::load(kTwo);
  const std::vector<InputSpec> specs = {{"a", DType::Float32, {3}}, {"b", DType::Float32, {2, 3}}};
  const Dataset d = load_inputs(kTwoData, Split::Train, specs, {"a"});
  ASSERT_EQ(d.x_name, "a");
  ASSERT_EQ(d.more.size(), 1u);
  TrainOptions o;
  o.loss = Loss::CrossEntropy;
  o.optimizer.lr = 0.1;
  o.seed = 7;
  o.threads = 1;
  TrainerOptions t;
  t.batch_size = 16;
  t.epochs = 2;
  Trainer trainer(by_trainer, o, t, d);
  trainer.run();

  TrainingSession session(by_hand, o);
  std::mt19937_64 rng(o.seed);
  for (int e = 0; e < 2; ++e) {
    std::vector<int64_t> order(50);
    std::iota(order.begin(), order.end(), 0);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    for (size_t s = 0; s < 50; s += 16) {
      const size_t end = std::min<size_t>(50, s + 16);
      Tensor a, b, y;
      for (size_t k = s; k < end; ++k) {
        const Tensor ra = rows(d.x, order[k], order[k] + 1), rb = rows(d.more.at("b"), order[k], order[k] + 1),
                     ry = rows(d.y, order[k], order[k] + 1);
        a.f32.insert(a.f32.end(), ra.f32.begin(), ra.f32.end());
        b.f32.insert(b.f32.end(), rb.f32.begin(), rb.f32.end());
        y.i64.insert(y.i64.end(), ry.i64.begin(), ry.i64.end());
      }
      const int64_t m = static_cast<int64_t>(end - s);
      a.shape = {m, 3};
      b.shape = {m, 2, 3};
      y.dtype = DType::Int64;
      y.shape = {m};
      session.train_step({{"a", a}, {"b", b}}, y);
    }
  }
  const ir::Graph &g1 = by_trainer.impl().graph, &g2 = by_hand.impl().graph;
  EXPECT_EQ(g1.params, g2.params);
  EXPECT_NE(g1.params, Model::load(kTwo).impl().graph.params) << "nothing trained";
  // evaluate(Dataset) reads every input too.
  const EvalResult r = session.evaluate(d);
  EXPECT_EQ(r.count, 50);
  EXPECT_TRUE(r.classification);
}

// The command line: train, eval, gradcheck and run read each input from the .npz under its name.
TEST(MultiInput, CommandsFeedEveryInputFromTheNpz) {
  const TempDir dir("multi");
  const std::string out = dir / "trained.onnx";
  const Outcome trained = cli("train " + kTwo + " --data " + kTwoData +
                                  " --no-shuffle --batch-size 16 --epochs 2 --lr 0.1 --loss cross-entropy --out " + out,
                              dir.path());
  ASSERT_EQ(trained.code, 0) << trained.err;
  const Model model = Model::load(out);
  expect_weights(model, load_npz(kTwoData));
  const Outcome eval = cli("eval " + out + " --data " + kTwoData + " --loss cross-entropy", dir.path());
  ASSERT_EQ(eval.code, 0) << eval.err;
  EXPECT_NE(eval.out.find("(50 samples): loss "), std::string::npos) << eval.out;
  const Outcome check = cli("gradcheck " + kTwo + " --data " + kTwoData + " --loss cross-entropy", dir.path());
  EXPECT_EQ(check.code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("PASS: all 6 parameters"), std::string::npos) << check.out;
  const std::string preds = dir / "preds.npz";
  const Outcome ran = cli("run " + out + " --data " + kTwoData + " --batch-size 7 --out " + preds, dir.path());
  ASSERT_EQ(ran.code, 0) << ran.err;
  const Tensor got = load_npz(preds).at("logits"), want = load_npz(kTwoData).at("output");
  ASSERT_EQ(got.shape, want.shape);
  for (size_t i = 0; i < want.f32.size(); ++i)
    ASSERT_NEAR(got.f32[i], want.f32[i], 1e-5 + 1e-4 * std::fabs(want.f32[i])) << i;
  // --input-key names the array of a model's only input.
  const Outcome keyed = cli("eval " + kTwo + " --data " + kTwoData + " --loss cross-entropy --input-key a", dir.path());
  EXPECT_EQ(keyed.code, 1);
  EXPECT_EQ(lines(keyed.err), 1) << keyed.err;
  EXPECT_NE(keyed.err.find("--input-key names the array of a model's only input"), std::string::npos) << keyed.err;
}

// Integer and uint8 inputs are fed in their own dtype, and come out as NumPy computes them.
TEST(MultiInput, IntegerAndUint8InputsKeepTheirDtype) {
  const TempDir dir("typed");
  const std::string preds = dir / "out.npz";
  const Outcome ran =
      cli("run " + kDir + "typed_inputs.onnx --data " + kDir + "typed_inputs.npz --batch-size 2 --out " + preds,
          dir.path());
  ASSERT_EQ(ran.code, 0) << ran.err;
  // save_npz writes each dtype; load_npz reads integers back as int64.
  const auto got = load_npz(preds), want = load_npz(kDir + "typed_inputs.npz");
  EXPECT_EQ(got.at("idx_out").shape, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(got.at("idx_out").i64, want.at("idx_out").i64);
  EXPECT_EQ(got.at("img_out").shape, (std::vector<int64_t>{5, 2, 2}));
  EXPECT_EQ(got.at("img_out").i64, want.at("img_out").i64);  // wrapped modulo 256, as uint8 adds
  const std::string img_header = onnxtrain::testing::slurp(preds);
  EXPECT_NE(img_header.find("'descr': '|u1'"), std::string::npos) << "img_out was not written as uint8";
  // The library: the loaded arrays are in the inputs' dtypes.
  const Dataset d = load_inputs(kDir + "typed_inputs.npz", Split::Test,
                                {{"idx", DType::Int64, {3}}, {"img", DType::UInt8, {2, 2}}}, {"idx"});
  EXPECT_EQ(d.x.dtype, DType::Int64);
  EXPECT_EQ(d.more.at("img").dtype, DType::UInt8);
  EXPECT_EQ(d.more.at("img").bytes.size(), 20u);
}

struct Refusal {
  std::string args, says;
};

// A wrong dtype, a value out of the input's range, a missing array: one line naming the file and the input, exit 1.
TEST(MultiInput, BadFeedsAreOneLineNamingTheFileAndInput) {
  const TempDir dir("refused");
  const std::string typed = kDir + "typed_inputs.onnx", out = dir / "out.npz";
  for (const Refusal& r : std::vector<Refusal>{
           {"run " + typed + " --data " + kDir + "typed_float_idx.npz --out " + out,
            "typed_float_idx.npz: array 'idx' holds floating-point values for model input 'idx' (int64)"},
           {"run " + typed + " --data " + kDir + "typed_wide_img.npz --out " + out,
            "typed_wide_img.npz: array 'img' for model input 'img' (uint8) holds 300 at element 5, outside uint8's "
            "range 0 to 255"},
           {"run " + typed + " --data " + kTwoData + " --out " + out,
            "two_inputs.npz: no array 'idx' for model input 'idx' (the model's inputs: idx, img); the file has: a, b, "
            "losses, output, w:fa.bias"},
           {"train " + kTwo + " --data " + kDir + "typed_inputs.npz --loss cross-entropy --out " + dir / "t.onnx",
            "typed_inputs.npz: no array 'a' for model input 'a'"},
           {"run " + typed + " --data fashion-mnist --out " + out,
            "fashion-mnist: the model has 2 inputs (idx, img); feed them from an .npz"}}) {
    const Outcome o = cli(r.args, dir.path());
    EXPECT_EQ(o.code, 1) << r.args;
    EXPECT_EQ(lines(o.err), 1) << o.err;
    EXPECT_NE(o.err.find(r.says), std::string::npos) << "'" << r.says << "' not in: " << o.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

// `run` on a model with several inputs: an ONNX node test (test_add: x and y), its input_*.pb sets saved as an .npz
// keyed by input name, gives the test's output.
TEST(MultiInput, RunsAnOnnxNodeTestOfSeveralInputs) {
  const std::string node = std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node/test_add/";
  const TempDir dir("node");
  const Model model = Model::load(node + "model.onnx");
  ASSERT_EQ(model.input_names(), (std::vector<std::string>{"x", "y"}));
  // The data set's samples are the tensors' first dims; the ONNX test's x and y are (3, 4, 5).
  save_npz(dir / "data.npz", {{"x", load_onnx_tensor(node + "test_data_set_0/input_0.pb")},
                              {"y", load_onnx_tensor(node + "test_data_set_0/input_1.pb")}});
  const Outcome ran =
      cli("run " + node + "model.onnx --data " + dir / "data.npz" + " --out " + dir / "out.npz", dir.path());
  ASSERT_EQ(ran.code, 0) << ran.err;
  const Tensor got = load_npz(dir / "out.npz").at(model.output_names()[0]);
  const Tensor want = load_onnx_tensor(node + "test_data_set_0/output_0.pb");
  ASSERT_EQ(got.shape, want.shape);
  for (size_t i = 0; i < want.f32.size(); ++i)
    EXPECT_NEAR(got.f32[i], want.f32[i], 1e-6 + 1e-5 * std::fabs(want.f32[i]));
}

}  // namespace
