// Gradient clipping, gradient accumulation and cross-entropy's options against PyTorch 1.13 (reference data from
// tests/train/make_grad_reference.py): each option's loss and gradient against autograd, short runs' weights, losses
// and pre-clipping norms against torch.optim with clip_grad_norm_ / clip_grad_value_, accumulated micro-batches
// against one large batch, the default loss for raw scores, and the bad options, each refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/trainer.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/grad/";

nlohmann::json config(const std::string& name) {
  std::ifstream f(kDir + name + ".json");
  EXPECT_TRUE(f.good()) << name << ".json was not generated";
  return nlohmann::json::parse(f);
}

TrainOptions options_of(const nlohmann::json& c) {
  TrainOptions o;
  o.loss = loss_named(c.value("loss", std::string()));
  if (c.contains("weights")) o.class_weights = c["weights"].get<std::vector<float>>();
  o.label_smoothing = c.value("label_smoothing", 0.0);
  o.ignore_index = c.value("ignore_index", int64_t{-100});
  o.clip_grad_norm = c.value("clip_grad_norm", 0.0);
  o.clip_grad_value = c.value("clip_grad_value", 0.0);
  o.optimizer.kind = optimizer_named(c.value("optimizer", std::string("sgd")));
  o.optimizer.lr = c.value("lr", -1.0);
  o.optimizer.momentum = c.value("momentum", 0.0);
  o.threads = 2;
  return o;
}

bool near(double got, double want, double atol, double rtol) {
  return std::fabs(got - want) <= atol + rtol * std::fabs(want);
}

// Every "w:NAME" of ref against the model's initializer NAME.
void expect_weights(const Model& model, const std::map<std::string, Tensor>& ref, const std::string& what) {
  const ir::Graph& g = model.impl().graph;
  int checked = 0;
  for (const auto& [key, want] : ref) {
    if (key.rfind("w:", 0) != 0) continue;
    const int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << what << ": no initializer " << key.substr(2);
    const float* got = g.param(id);
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_PRED4(near, got[i], want.f32[i], 1e-5, 1e-4)
          << what << ": " << key.substr(2) << "[" << i << "] is " << got[i] << ", PyTorch has " << want.f32[i];
    ++checked;
  }
  EXPECT_EQ(checked, 4) << what;
}

class LossOptions : public ::testing::TestWithParam<std::string> {};

// The loss and every parameter's gradient of one batch, against torch.nn.functional.cross_entropy / nll_loss and
// autograd.
TEST_P(LossOptions, LossAndGradientsAreTorchs) {
  const std::string name = GetParam();
  const nlohmann::json c = config(name);
  const auto ref = load_npz(kDir + name + ".npz");
  Model model = Model::load(kDir + name + ".onnx");
  TrainingSession session(model, options_of(c));
  float loss = 0;
  const std::map<std::string, Tensor> grads = session.gradients(ref.at("x"), ref.at("y"), &loss);
  EXPECT_PRED4(near, loss, ref.at("loss").f32[0], 1e-6, 1e-5) << name << ": loss " << loss;
  int checked = 0;
  for (const auto& [key, want] : ref) {
    if (key.rfind("g:", 0) != 0) continue;
    const Tensor& got = grads.at(key.substr(2));
    ASSERT_EQ(got.numel(), want.numel()) << name << " " << key;
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_PRED4(near, got.f32[i], want.f32[i], 1e-6, 1e-4)
          << name << ": d" << key.substr(2) << "[" << i << "] is " << got.f32[i] << ", autograd has " << want.f32[i];
    ++checked;
  }
  EXPECT_EQ(checked, 4) << name;
  // Evaluated in batches of 3, the set's loss is still torch's on it as one batch (each batch divides by the whole
  // set's normalizer), and the accuracy counts only the targets not ignored.
  const EvalResult r = session.evaluate(ref.at("x"), ref.at("y"), 3);
  EXPECT_PRED4(near, r.loss, ref.at("loss").f32[0], 1e-6, 1e-5) << name << ": evaluated loss " << r.loss;
  if (ref.at("accuracy").f32[0] >= 0) {
    EXPECT_NEAR(r.accuracy(), ref.at("accuracy").f32[0], 1e-6)
        << name << ": " << r.correct << " of " << r.count << " with " << r.ignored << " ignored";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, LossOptions,
                         ::testing::Values("ce_weights", "ce_smoothing", "ce_all_options", "ce_all_softmax",
                                           "ce_ignore_2", "ce_probs_options", "ce_probs_logits", "nll_weights_ignore",
                                           "nll_on_scores"),
                         [](const auto& info) { return info.param; });

// Each record the trainer hears, parsed.
struct Records : TrainerObserver {
  std::vector<nlohmann::json> steps;
  std::vector<std::string> notes;
  void on_record(const std::string& line) override {
    nlohmann::json r = nlohmann::json::parse(line);
    if (r["type"] == "step") steps.push_back(std::move(r));
  }
  void on_note(const std::string& text) override { notes.push_back(text); }
};

struct TrainedRun {
  Records records;
  std::vector<std::string> fused;  // the last step's fused updates
};

// The case's run through the Trainer, in file order, at its batch and accumulation (or at `big` as one batch).
TrainedRun train(Model& model, const nlohmann::json& c, const Dataset& data, bool one_big_batch) {
  TrainedRun run;
  TrainerOptions t;
  t.batch_size = one_big_batch ? c["big"].get<int64_t>() : c.value("batch", c["big"].get<int64_t>());
  t.accumulate = one_big_batch ? 1 : c.value("accumulate", int64_t{1});
  t.epochs = c["epochs"];
  t.shuffle = false;
  Trainer trainer(model, options_of(c), t, data, nullptr, &run.records);
  trainer.run();
  run.fused = trainer.session().fused_updates();
  return run;
}

Dataset data_of(const std::map<std::string, Tensor>& ref) {
  Dataset d;
  d.source = "reference";
  d.x = ref.at("x");
  d.y = ref.at("y");
  return d;
}

class Training : public ::testing::TestWithParam<std::string> {};

// Weights, step losses and the norms before clipping, against torch.optim with clip_grad_norm_ / clip_grad_value_ at
// the large batch. Clipping takes the update out of the GEMMs (fused_updates), as accumulation does.
TEST_P(Training, WeightsLossesAndNormsAreTorchs) {
  const std::string name = GetParam();
  const nlohmann::json c = config(name);
  const auto ref = load_npz(kDir + name + ".npz");
  Model model = Model::load(kDir + name + ".onnx");
  const Dataset data = data_of(ref);
  const TrainedRun run = train(model, c, data, false);
  expect_weights(model, ref, name);
  const Tensor& losses = ref.at("losses");
  ASSERT_EQ(run.records.steps.size(), losses.f32.size()) << name << ": optimizer steps";
  const Tensor& norms = ref.at("norms");
  for (size_t k = 0; k < losses.f32.size(); ++k) {
    const nlohmann::json& r = run.records.steps[k];
    const double loss = r["loss"];
    EXPECT_PRED4(near, loss, losses.f32[k], 1e-6, 1e-5) << name << " step " << k + 1;
    const double accuracy = r["accuracy"];  // of the targets not ignored, before the update
    EXPECT_NEAR(accuracy, ref.at("accuracies").f32[k], 1e-6) << name << " step " << k + 1;
    if (c.value("clip_grad_norm", 0.0) > 0) {
      ASSERT_TRUE(r.contains("total_norm")) << name << ": step " << k + 1 << " records no total_norm";
      const double norm = r["total_norm"];
      EXPECT_PRED4(near, norm, norms.f32[k], 1e-7, 1e-5) << name << " step " << k + 1;
    } else {
      EXPECT_FALSE(r.contains("total_norm")) << name;
    }
  }
  // The clipping must have acted, or the comparison says nothing about it.
  if (c.value("clip_grad_norm", 0.0) > 0) {
    EXPECT_GT(*std::max_element(norms.f32.begin(), norms.f32.end()), c["clip_grad_norm"].get<double>());
  }
  if (c.value("clip_grad_norm", 0.0) > 0 || c.value("clip_grad_value", 0.0) > 0 || c.value("accumulate", 1) > 1) {
    EXPECT_TRUE(run.fused.empty()) << name << ": an update folded into the GEMMs before the whole gradient was known";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, Training,
                         ::testing::Values("clip_norm_sgd", "clip_norm_adam", "clip_value_sgd", "accumulate_sgd",
                                           "accumulate_adam", "accumulate_weighted"),
                         [](const auto& info) { return info.param; });

// Accumulating 4 micro-batches of 8 trains to the weights onnxtrain itself reaches at batch 32, to float rounding,
// the last step's smaller and fewer micro-batches included; each step's loss is the large batch's mean.
TEST(Accumulation, MicroBatchesTrainAsOneLargeBatch) {
  for (const std::string name : {"accumulate_sgd", "accumulate_adam", "accumulate_weighted"}) {
    const nlohmann::json c = config(name);
    const auto ref = load_npz(kDir + name + ".npz");
    const Dataset data = data_of(ref);
    Model small = Model::load(kDir + name + ".onnx"), big = Model::load(kDir + name + ".onnx");
    const TrainedRun a = train(small, c, data, false), b = train(big, c, data, true);
    ASSERT_EQ(a.records.steps.size(), b.records.steps.size()) << name;
    ASSERT_EQ(a.records.steps.size(), 6u) << name << ": 76 samples in steps of 32, two epochs";
    for (size_t k = 0; k < a.records.steps.size(); ++k) {
      EXPECT_EQ(a.records.steps[k]["batch"], b.records.steps[k]["batch"]) << name << " step " << k + 1;
      EXPECT_PRED4(near, a.records.steps[k]["loss"].get<double>(), b.records.steps[k]["loss"].get<double>(), 1e-7, 1e-6)
          << name << " step " << k + 1;
    }
    const std::vector<float>&pa = small.impl().graph.params, &pb = big.impl().graph.params;
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) ASSERT_PRED4(near, pa[i], pb[i], 1e-6, 1e-5) << name << " element " << i;
    EXPECT_NE(pa, Model::load(kDir + name + ".onnx").impl().graph.params) << name << ": nothing trained";
  }
}

// A resume must keep the accumulation and loss options: another value, or the default, is refused by name.
TEST(Accumulation, AResumeWithOtherGradientOptionsIsRefused) {
  const TempDir tmp("grad_resume");
  const nlohmann::json c = config("accumulate_weighted");
  const auto ref = load_npz(kDir + std::string("accumulate_weighted.npz"));
  const Dataset data = data_of(ref);
  {
    Model model = Model::load(kDir + "accumulate_weighted.onnx");
    TrainerOptions t;
    t.batch_size = 8, t.accumulate = 4, t.steps = 2, t.shuffle = false;
    t.checkpoint_dir = tmp.path() + "/ck";
    Trainer trainer(model, options_of(c), t, data);
    trainer.run();
  }
  const auto refused = [&](int64_t accumulate, const TrainOptions& o) -> std::string {
    Model model = Model::load(kDir + "accumulate_weighted.onnx");
    TrainerOptions t;
    t.batch_size = 8, t.accumulate = accumulate, t.steps = 4, t.shuffle = false;
    t.resume_from = tmp.path() + "/ck";
    try {
      Trainer trainer(model, o, t, data);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(refused(2, options_of(c)).find("accumulate"), std::string::npos);
  EXPECT_NE(refused(1, options_of(c)).find("accumulate"), std::string::npos);
  TrainOptions no_smoothing = options_of(c);
  no_smoothing.label_smoothing = 0;
  EXPECT_NE(refused(4, no_smoothing).find("label-smoothing"), std::string::npos);
  TrainOptions other_weights = options_of(c);
  other_weights.class_weights[0] = 5;
  EXPECT_NE(refused(4, other_weights).find("class-weights"), std::string::npos);
  EXPECT_EQ(refused(4, options_of(c)), "") << "the same options continue the run";
  // And they continue it bitwise: resumed after step 2 of 6, it ends with the uninterrupted run's weights.
  Model resumed = Model::load(kDir + "accumulate_weighted.onnx"),
        straight = Model::load(kDir + "accumulate_weighted.onnx");
  TrainerOptions t;
  t.batch_size = 8, t.accumulate = 4, t.steps = 6, t.shuffle = false;
  t.resume_from = tmp.path() + "/ck";
  Trainer(resumed, options_of(c), t, data).run();
  train(straight, c, data, false);
  EXPECT_EQ(resumed.impl().graph.params, straight.impl().graph.params);
}

// Bad loss and clipping options, each one line naming the field.
TEST(LossOptionsRefused, EachNamesItsField) {
  const auto refusal = [](const std::string& model, TrainOptions o) -> std::string {
    Model m = Model::load(kDir + model + ".onnx");
    try {
      TrainingSession s(m, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  TrainOptions o;
  o.class_weights = {1, 2, 3};
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::class_weights holds 3 weights; the model's output has 4"),
            std::string::npos);
  o.class_weights = {1, -2, 3, 1};
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::class_weights: the weight of class 1"), std::string::npos);
  o = TrainOptions();
  o.label_smoothing = -0.1;
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::label_smoothing must be between 0 and 1"), std::string::npos);
  o.label_smoothing = 0.1;
  o.loss = Loss::Nll;
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::label_smoothing applies to cross-entropy, not nll"),
            std::string::npos);
  o = TrainOptions();
  o.loss = Loss::Mse;
  o.class_weights = {1, 1, 1, 1};
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::class_weights applies to cross-entropy and nll"),
            std::string::npos);
  o = TrainOptions();
  o.clip_grad_norm = 1, o.clip_grad_value = 1;
  EXPECT_NE(refusal("ce_weights", o).find("choose one"), std::string::npos);
  o = TrainOptions();
  o.clip_grad_norm = -1;
  EXPECT_NE(refusal("ce_weights", o).find("TrainOptions::clip_grad_norm"), std::string::npos);
  // ignore_index >= 0 with class probabilities: torch refuses it.
  o = TrainOptions();
  o.ignore_index = 1;
  Model m = Model::load(kDir + "ce_probs_options.onnx");
  TrainingSession s(m, o);
  const auto ref = load_npz(kDir + "ce_probs_options.npz");
  try {
    s.gradients(ref.at("x"), ref.at("y"));
    ADD_FAILURE() << "ignore_index 1 beside probabilities was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TrainOptions::ignore_index 1 applies to class labels"), std::string::npos)
        << e.what();
  }
}

// A model of raw scores trained on int64 labels without a loss named: cross-entropy on the logits, with a note; the
// weights are those of an explicit --loss cross-entropy. Float targets are refused, asking for the loss.
TEST(DefaultLoss, RawScoresWithClassLabelsTrainWithCrossEntropy) {
  const nlohmann::json c = config("accumulate_adam");  // its model has raw scores
  const auto ref = load_npz(kDir + std::string("accumulate_adam.npz"));
  const Dataset data = data_of(ref);
  TrainerOptions t;
  t.batch_size = 32, t.epochs = 1, t.shuffle = false;
  Model guessed = Model::load(kDir + "accumulate_adam.onnx"), named = Model::load(kDir + "accumulate_adam.onnx");
  TrainOptions o = options_of(c);
  o.loss = Loss::FromHead;
  Records heard;
  Trainer a(guessed, o, t, data, nullptr, &heard);
  EXPECT_EQ(a.session().loss_name(), "cross-entropy");
  ASSERT_EQ(heard.notes.size(), 1u);
  EXPECT_NE(heard.notes[0].find("cross-entropy on its logits"), std::string::npos) << heard.notes[0];
  a.run();
  o.loss = Loss::CrossEntropy;
  Trainer b(named, o, t, data);
  b.run();
  EXPECT_EQ(guessed.impl().graph.params, named.impl().graph.params);
  Dataset floats = data;
  floats.y = Tensor::f32_of({data.y.shape[0], 4}, std::vector<float>(size_t(data.y.shape[0]) * 4, 0.25f));
  Model m = Model::load(kDir + "accumulate_adam.onnx");
  o.loss = Loss::FromHead;
  try {
    Trainer refused(m, o, t, floats);
    ADD_FAILURE() << "float targets were taken for a guessed cross-entropy";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("choose it with TrainOptions::loss"), std::string::npos) << e.what();
  }
}

// The command line: the flags reach the library (the weights are PyTorch's, the log holds total_norm), the default
// loss is noted, and bad values are one line naming the flag.
TEST(GradCli, AccumulationClippingAndLossOptionsTrainToTorchsWeights) {
  const TempDir dir("grad_cli");
  const std::string out = dir / "out.onnx", log = dir / "log.jsonl";
  const std::string args = "train " + kDir + "accumulate_weighted.onnx --data " + kDir +
                           "accumulate_weighted.npz --no-shuffle --epochs 2 --batch-size 8 --accumulate 4 --lr 0.3 "
                           "--class-weights " +
                           kDir + "weights_4.npy --label-smoothing 0.1 --clip-grad-norm 0.5 --log " + log + " --out " +
                           out;
  const Outcome o = cli(args, dir.path());
  ASSERT_EQ(o.code, 0) << args << "\n" << o.err;
  EXPECT_NE(o.err.find("note: output 'output' comes from no Softmax"), std::string::npos) << o.err;
  Model trained = Model::load(out);
  const auto ref = load_npz(kDir + std::string("accumulate_weighted.npz"));
  expect_weights(trained, ref, "accumulate_weighted via the CLI");
  std::ifstream f(log);
  size_t k = 0;
  for (std::string line; std::getline(f, line);) {
    const nlohmann::json r = nlohmann::json::parse(line);
    if (r["type"] != "step") continue;
    ASSERT_LT(k, ref.at("norms").f32.size());
    const double norm = r["total_norm"];
    EXPECT_PRED4(near, norm, ref.at("norms").f32[k], 1e-7, 1e-5) << "step " << k + 1;
    ++k;
  }
  EXPECT_EQ(k, 6u);
  // A list gives the same weights as the file.
  const std::string listed = dir / "listed.onnx";
  std::string list_args = args;
  list_args.replace(list_args.find(kDir + "weights_4.npy"), (kDir + "weights_4.npy").size(), "1,2,0.5,3");
  list_args.replace(list_args.find(out), out.size(), listed);
  list_args.replace(list_args.find(" --log " + log), (" --log " + log).size(), "");
  const Outcome l = cli(list_args, dir.path());
  ASSERT_EQ(l.code, 0) << list_args << "\n" << l.err;
  EXPECT_EQ(slurp(listed), slurp(out));
}

// eval takes the same loss options: its loss is torch's on the set, in batches of 3, and it notes the default loss.
TEST(GradCli, EvalTakesTheLossOptions) {
  const TempDir dir("grad_eval");
  const auto ref = load_npz(kDir + std::string("ce_all_options.npz"));
  const std::string args = "eval " + kDir + "ce_all_options.onnx --data " + kDir +
                           "ce_all_options.npz --batch-size 3 --class-weights 1,2,0.5,3 --label-smoothing 0.2";
  const Outcome o = cli(args, dir.path());
  ASSERT_EQ(o.code, 0) << args << "\n" << o.err;
  char want[64];
  std::snprintf(want, sizeof want, "loss %.4f, accuracy %.4f", ref.at("loss").f32[0], ref.at("accuracy").f32[0]);
  EXPECT_NE(o.out.find(want), std::string::npos) << o.out << "\nwants " << want;
  EXPECT_NE(o.err.find("note: output 'output' comes from no Softmax"), std::string::npos) << o.err;
}

TEST(GradCli, BadOptionsAreOneLineNamingTheFlag) {
  const TempDir dir("grad_cli_bad");
  const std::string base =
      "train " + kDir + "ce_weights.onnx --data " + kDir + "accumulate_adam.npz --out " + (dir / "out.onnx") + " ";
  struct Bad {
    std::string flags;
    int code;
    std::string says;
  };
  for (const Bad& b : std::vector<Bad>{
           {"--class-weights " + kDir + "weights_3.npy", 1,
            "--class-weights holds 3 weights; the model's output has 4"},
           {"--class-weights " + kDir + "weights_int.npy", 1, "holds int64 values; class weights are floats"},
           {"--class-weights " + kDir + "weights_2d.npy", 1, "one float per class"},
           {"--class-weights 1,x,2", 2, "--class-weights: takes an .npy file or a list of numbers"},
           {"--label-smoothing -0.1", 2, "--label-smoothing"},
           {"--label-smoothing 1.5", 2, "--label-smoothing: must be between 0 and 1"},
           {"--clip-grad-norm 0", 2, "--clip-grad-norm"},
           {"--clip-grad-norm 1 --clip-grad-value 1", 2, "excludes"},
           {"--accumulate 0", 2, "--accumulate"},
           {"--loss mse --ignore-index 3", 1, "--ignore-index applies to cross-entropy and nll, not mse"},
       }) {
    const Outcome o = cli(base + b.flags, dir.path());
    EXPECT_EQ(o.code, b.code) << b.flags << "\n" << o.err;
    EXPECT_NE(o.err.find(b.says), std::string::npos) << b.flags << "\n" << o.err;
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << b.flags << "\n" << o.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out.onnx")) << b.flags;
  }
}

}  // namespace
