// Learning-rate schedules, keeping the best weights and early stopping, against PyTorch's torch.optim.lr_scheduler
// (reference data from tests/train/make_schedules.py): every schedule's lr sequence bit for bit, with and without a
// warmup; the weights a small MLP trains to under each; a run stopped mid-schedule and resumed, bitwise; and the
// best validation and the early-stopping count, also across a resume.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/schedule.h"
#include "onnxtrain/trainer.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;
using nlohmann::json;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/schedules/";

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path << " was not generated";
  return json::parse(in);
}

// A case's options, as make_schedules.py names them (LrSchedule's field names).
LrSchedule schedule_of(const json& c) {
  LrSchedule s;
  s.kind = schedule_named(c["kind"].get<std::string>());
  s.step_size = c.value("step_size", int64_t{0});
  s.gamma = c.value("gamma", 0.1);
  s.milestones = c.value("milestones", std::vector<int64_t>{});
  s.min_lr = c.value("min_lr", 0.0);
  s.warmup_steps = c.value("warmup_steps", int64_t{0});
  s.factor = c.value("factor", 0.1);
  s.patience = c.value("patience", int64_t{10});
  s.threshold = c.value("threshold", 1e-4);
  s.threshold_abs = c.value("threshold_mode", std::string("rel")) == "abs";
  s.cooldown = c.value("cooldown", int64_t{0});
  s.plateau_min_lr = c.value("plateau_min_lr", 0.0);
  return s;
}

TEST(LrScheduler, EveryScheduleGivesTorchsLrSequenceBitForBit) {
  const json all = read_json(kDir + "sequences.json");
  ASSERT_GE(all.size(), 15u);
  for (auto it = all.begin(); it != all.end(); ++it) {
    const std::string name = it.key();
    const json& c = it.value();
    const LrSchedule s = schedule_of(c);
    LrScheduler sched(s, c["lr"].get<double>(), c["total"].get<int64_t>());
    const std::vector<double> lrs = c["lrs"], moms = c["momentum"], metrics = c["metrics"];
    if (s.kind == Schedule::Plateau) {
      ASSERT_EQ(lrs.size(), metrics.size());
      for (size_t i = 0; i < metrics.size(); ++i) {
        sched.validated(metrics[i]);
        ASSERT_EQ(sched.lr(), lrs[i]) << name << " after validation " << i;
      }
      continue;
    }
    ASSERT_EQ(lrs.size(), size_t(c["total"].get<int64_t>()) + 1) << name;
    for (size_t i = 0; i < lrs.size(); ++i) {
      ASSERT_EQ(sched.lr(), lrs[i]) << name << " at step " << i << " (torch " << lrs[i] << ")";
      if (s.kind == Schedule::OneCycle) {
        ASSERT_TRUE(sched.sets_momentum());
        ASSERT_EQ(sched.momentum(), moms[i]) << name << ": momentum at step " << i;
      }
      sched.step();
    }
  }
}

TEST(LrScheduler, AStateRestoredContinuesBitwise) {
  const json all = read_json(kDir + "sequences.json");
  for (const char* name : {"cosine_warmup", "onecycle_sgd", "multistep", "plateau"}) {
    const json& c = all[name];
    const LrSchedule s = schedule_of(c);
    LrScheduler a(s, c["lr"].get<double>(), 40), b(s, c["lr"].get<double>(), 40);
    const std::vector<double> metrics = c["metrics"];
    for (int i = 0; i < 13; ++i) a.step(), a.validated(metrics[static_cast<size_t>(i)]);
    b.restore(a.state());
    for (int i = 13; i < 30; ++i) {
      a.step(), b.step();
      a.validated(metrics[static_cast<size_t>(i)]), b.validated(metrics[static_cast<size_t>(i)]);
      ASSERT_EQ(a.lr(), b.lr()) << name << " step " << i;
      ASSERT_EQ(a.momentum(), b.momentum()) << name << " step " << i;
    }
  }
}

TEST(LrScheduler, RefusesWhatTorchRefusesNamingTheField) {
  const auto message = [](const LrSchedule& s, int64_t total = 10) {
    try {
      LrScheduler sched(s, 0.1, total);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  LrSchedule step;
  step.kind = Schedule::Step;
  EXPECT_NE(message(step).find("LrSchedule::step_size must be positive"), std::string::npos) << message(step);
  LrSchedule multi;
  multi.kind = Schedule::MultiStep;
  EXPECT_NE(message(multi).find("LrSchedule::milestones"), std::string::npos);
  LrSchedule plateau;
  plateau.kind = Schedule::Plateau;
  plateau.factor = 1;
  EXPECT_NE(message(plateau).find("LrSchedule::factor"), std::string::npos);
  plateau.factor = 0.5;
  plateau.warmup_steps = 3;
  EXPECT_NE(message(plateau).find("LrSchedule::warmup_steps"), std::string::npos);
  LrSchedule cosine;
  cosine.kind = Schedule::Cosine;
  cosine.warmup_steps = 10;
  EXPECT_NE(message(cosine, 10).find("leaves no steps"), std::string::npos) << message(cosine, 10);
  EXPECT_THROW(schedule_named("linear"), Error);
}

// What a run reports: its step records' lr, and its validations.
struct Recorder : TrainerObserver {
  Trainer* trainer = nullptr;
  int64_t stop_at = 0;
  std::vector<double> lrs, report_lrs;
  std::vector<std::pair<int64_t, double>> vals;  // (step, val_loss) of validations after training started
  std::vector<std::string> notes;
  void on_record(const std::string& line) override {
    const json r = json::parse(line);
    if (r["type"] == "step") lrs.push_back(r["lr"].get<double>());
    if ((r["type"] == "val" && r["step"].get<int64_t>() > 0) || (r["type"] == "epoch" && r.contains("val_loss")))
      vals.emplace_back(r.value("step", int64_t{-1}), r["val_loss"].get<double>());
  }
  void on_step(const StepReport& s) override {
    report_lrs.push_back(s.lr);
    if (trainer && s.step == stop_at) trainer->request_stop();
  }
  void on_note(const std::string& text) override { notes.push_back(text); }
};

struct Case {
  json cfg;
  TrainOptions options;
  TrainerOptions trainer;
};

Case case_named(const std::string& name) {
  Case c;
  c.cfg = read_json(kDir + name + ".json");
  c.options.optimizer.kind = optimizer_named(c.cfg["optimizer"].get<std::string>());
  c.options.optimizer.lr = c.cfg["lr"].get<double>();
  c.options.optimizer.momentum = c.cfg.value("momentum", 0.0);
  c.options.threads = 1;
  c.trainer.batch_size = c.cfg["batch"].get<int64_t>();
  c.trainer.epochs = c.cfg["epochs"].get<int64_t>();
  c.trainer.shuffle = false;
  c.trainer.schedule = schedule_of(c.cfg);
  c.trainer.val_every = c.cfg["val_every"].get<int64_t>();
  return c;
}

void expect_torchs_weights(const Model& model, const std::string& name) {
  const std::map<std::string, Tensor> ref = load_npz(kDir + name + "_ref.npz");
  const ir::Graph& g = model.impl().graph;
  int checked = 0;
  for (const auto& [key, want] : ref) {
    const int id = g.find(key.substr(2));
    ASSERT_GE(id, 0) << name << ": no initializer " << key;
    const float* got = g.param(id);
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_LE(std::fabs(got[i] - want.f32[i]), 1e-5 + 1e-4 * std::fabs(want.f32[i]))
          << name << ": " << key.substr(2) << "[" << i << "] is " << got[i] << ", PyTorch has " << want.f32[i];
    ++checked;
  }
  EXPECT_EQ(checked, 4) << name;
}

class Trained : public ::testing::TestWithParam<std::string> {};

TEST_P(Trained, TheTrainerTrainsToTorchsWeightsWithTorchsLrs) {
  const std::string name = GetParam();
  Case c = case_named(name);
  Model model = Model::load(kDir + name + ".onnx");
  const Dataset train = load_dataset(kDir + name + ".npz", Split::Train),
                val = load_dataset(kDir + name + "_val.npz", Split::Train);
  Recorder rec;
  Trainer trainer(model, c.options, c.trainer, train, &val, &rec);
  const TrainResult r = trainer.run();
  EXPECT_EQ(r.steps, 24);
  const std::vector<double> torch_lrs = c.cfg["lrs"];
  ASSERT_EQ(rec.lrs.size(), torch_lrs.size());
  for (size_t i = 0; i < torch_lrs.size(); ++i) {
    EXPECT_EQ(rec.lrs[i], torch_lrs[i]) << name << ": the log's lr of step " << i + 1;
    EXPECT_EQ(rec.report_lrs[i], torch_lrs[i]) << name << ": StepReport::lr of step " << i + 1;
  }
  expect_torchs_weights(model, name);
  // Plain SGD under a changing lr leaves the weight-gradient GEMMs, which hold a constant lr, to the separate update
  // pass (TrainingSession::set_lr), which then applies each step's lr: the weights above are torch's.
  if (c.options.optimizer.kind == Optimizer::Sgd && c.options.optimizer.momentum == 0 &&
      c.trainer.schedule.kind != Schedule::OneCycle) {
    EXPECT_TRUE(trainer.session().fused_updates().empty()) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Schedules, Trained,
                         ::testing::Values("sgd_step", "sgd_multistep_momentum", "adam_exponential",
                                           "sgd_cosine_warmup", "adamw_cosine", "sgd_onecycle", "adam_onecycle",
                                           "sgd_warmup", "sgd_plateau"));

// A run of the case, stopped after stop_at steps (0: none) and checkpointed into dir; returns the model's bytes.
std::string run_case(const std::string& name, const std::string& out, Case c, Recorder& rec, TrainResult* result,
                     int64_t stop_at = 0, const std::string& ck = "") {
  Model model = Model::load(kDir + name + ".onnx");
  const Dataset train = load_dataset(kDir + name + ".npz", Split::Train),
                val = load_dataset(kDir + name + "_val.npz", Split::Train);
  if (!ck.empty() && stop_at > 0) c.trainer.checkpoint_dir = ck;
  if (!ck.empty() && stop_at == 0) c.trainer.resume_from = ck;
  Trainer trainer(model, c.options, c.trainer, train, &val, &rec);
  rec.trainer = &trainer;
  rec.stop_at = stop_at;
  const TrainResult r = trainer.run();
  if (result) *result = r;
  if (stop_at > 0) {
    EXPECT_TRUE(r.stopped);
    trainer.write_checkpoint();
  }
  model.save(out);
  return slurp(out);
}

TEST(Schedules, AResumeMidScheduleEndsBitwiseAsAnUninterruptedRun) {
  const TempDir tmp("schedule_resume");
  for (const std::string name : {"sgd_onecycle", "adam_onecycle", "sgd_plateau", "sgd_cosine_warmup", "sgd_step"}) {
    Recorder straight, first, second;
    const std::string a = run_case(name, tmp.path() + "/" + name + "_a.onnx", case_named(name), straight, nullptr);
    const std::string ck = tmp.path() + "/" + name + "_ck";
    run_case(name, tmp.path() + "/" + name + "_b.onnx", case_named(name), first, nullptr, 10, ck);
    const std::string b = run_case(name, tmp.path() + "/" + name + "_b.onnx", case_named(name), second, nullptr, 0, ck);
    EXPECT_TRUE(a == b) << name << ": the resumed run's weights differ from the uninterrupted run's";
    EXPECT_EQ(second.report_lrs.size(), 14u) << name;
    EXPECT_EQ(std::vector<double>(straight.report_lrs.begin() + 10, straight.report_lrs.end()), second.report_lrs)
        << name;
  }
}

TEST(Schedules, AResumeWithAnotherLrIsNotedAndTakesTheNewSchedulesLr) {
  const TempDir tmp("schedule_change");
  Recorder first, second;
  const std::string ck = tmp.path() + "/ck";
  run_case("sgd_step", tmp.path() + "/a.onnx", case_named("sgd_step"), first, nullptr, 10, ck);
  Case c = case_named("sgd_step");
  c.options.optimizer.lr = 0.1;
  run_case("sgd_step", tmp.path() + "/b.onnx", c, second, nullptr, 0, ck);
  bool noted = false;
  for (const std::string& n : second.notes) noted = noted || n.find("OptimizerConfig::lr 0.3") != std::string::npos;
  EXPECT_TRUE(noted) << "a note naming the checkpoint's lr";
  // StepLR(step_size 5, gamma 0.5) from 0.1: after 10 steps, 0.1 * 0.5 * 0.5.
  ASSERT_FALSE(second.report_lrs.empty());
  EXPECT_EQ(second.report_lrs[0], 0.1 * 0.5 * 0.5);
}

// save_best and early stopping watch the validations after training starts (val_every 4: after steps 4, 8, ...).
TEST(SaveBest, TheFileHoldsTheBestValidationsWeights) {
  const TempDir tmp("save_best");
  Case c = case_named("sgd_step");
  c.options.optimizer.lr = 2.0;  // large enough that the validation loss does not fall all the way
  c.trainer.schedule = LrSchedule();
  c.trainer.save_best = tmp.path() + "/best.onnx";
  Recorder rec;
  TrainResult r;
  run_case("sgd_step", tmp.path() + "/last.onnx", c, rec, &r);
  ASSERT_EQ(rec.vals.size(), 6u);
  size_t best = 0;
  for (size_t i = 1; i < rec.vals.size(); ++i)
    if (rec.vals[i].second < rec.vals[best].second) best = i;
  EXPECT_TRUE(r.best_saved);
  EXPECT_EQ(r.best, rec.vals[best].second);
  EXPECT_EQ(r.best_step, 4 * int64_t(best + 1));
  // The file's weights give the best validation loss.
  Model saved = Model::load(c.trainer.save_best);
  TrainingSession s(saved, c.options);
  const Dataset val = load_dataset(kDir + "sgd_step_val.npz", Split::Train);
  EXPECT_EQ(s.evaluate(val).loss, rec.vals[best].second);
  if (best + 1 != rec.vals.size()) {
    EXPECT_NE(slurp(c.trainer.save_best), slurp(tmp.path() + "/last.onnx"));
  }
}

TEST(EarlyStopping, StopsAfterPatienceValidationsWithoutImprovementAndSurvivesResume) {
  const TempDir tmp("early_stopping");
  Case c = case_named("sgd_step");
  c.trainer.early_stopping = 2;
  c.trainer.min_delta = 10;  // no validation improves on the first by this much
  Recorder straight;
  TrainResult r;
  const std::string a = run_case("sgd_step", tmp.path() + "/a.onnx", c, straight, &r);
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.steps, 12) << "the first validation (step 4) sets the best, steps 8 and 12 do not improve on it";
  EXPECT_NE(r.reason.find("TrainerOptions::early_stopping 2"), std::string::npos) << r.reason;
  bool noted = false;
  for (const std::string& n : straight.notes) noted = noted || n.find("early stopping") != std::string::npos;
  EXPECT_TRUE(noted);
  // Stopped after step 10 (two validations, one without improvement) and resumed: the count goes on from 1.
  Recorder first, second;
  const std::string ck = tmp.path() + "/ck";
  run_case("sgd_step", tmp.path() + "/b.onnx", c, first, nullptr, 10, ck);
  TrainResult rb;
  const std::string b = run_case("sgd_step", tmp.path() + "/b.onnx", c, second, &rb, 0, ck);
  EXPECT_TRUE(rb.early_stopped);
  EXPECT_EQ(rb.steps, 2);
  EXPECT_EQ(rb.best, r.best) << "the best survives the resume";
  EXPECT_TRUE(a == b);
}

TEST(SaveBest, RefusedWithoutValidationDataOrClassLabels) {
  Case c = case_named("sgd_step");
  const Dataset train = load_dataset(kDir + "sgd_step.npz", Split::Train);
  const TempDir tmp("save_best_refused");
  const auto refusal = [&](TrainerOptions t, const Dataset* val) {
    Model model = Model::load(kDir + "sgd_step.onnx");
    try {
      Trainer trainer(model, c.options, t, train, val);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  TrainerOptions t = c.trainer;
  t.save_best = tmp.path() + "/best.onnx";
  EXPECT_NE(refusal(t, nullptr).find("TrainerOptions::save_best"), std::string::npos) << refusal(t, nullptr);
  t.save_best.clear();
  t.early_stopping = 3;
  EXPECT_NE(refusal(t, nullptr).find("TrainerOptions::early_stopping"), std::string::npos);
  t.early_stopping = 0;
  t.schedule.kind = Schedule::Plateau;
  EXPECT_NE(refusal(t, nullptr).find("plateau"), std::string::npos);
  // Float targets have no accuracy.
  Dataset soft = load_dataset(kDir + "sgd_step_val.npz", Split::Train);
  soft.y = Tensor::f32_of({soft.y.shape[0], 3}, std::vector<float>(size_t(soft.y.shape[0]) * 3, 1.f / 3));
  t = c.trainer;
  t.save_best = tmp.path() + "/best.onnx";
  t.monitor = "val_accuracy";
  EXPECT_NE(refusal(t, &soft).find("val_accuracy needs class labels"), std::string::npos) << refusal(t, &soft);
}

// The command line maps its flags onto the same: torch's lrs in --log, and usage refused with the flag's name.
TEST(SchedulesCli, FlagsGiveTorchsLrsAndBadUsageIsRefused) {
  const TempDir tmp("schedule_cli");
  const std::string d = kDir + "sgd_cosine_warmup";
  const Outcome ok = cli("train " + d + ".onnx --data " + d + ".npz --no-shuffle --batch-size 8 --epochs 3 --lr 0.5 " +
                             "--lr-schedule cosine --lr-min 0.01 --warmup-steps 4 --threads 1 --out " + tmp.path() +
                             "/m.onnx --log " + tmp.path() + "/log.jsonl",
                         tmp.path());
  ASSERT_EQ(ok.code, 0) << ok.err;
  const std::vector<double> torch_lrs = read_json(d + ".json")["lrs"];
  std::ifstream log(tmp.path() + "/log.jsonl");
  std::vector<double> lrs;
  for (std::string line; std::getline(log, line);)
    if (json r = json::parse(line); r["type"] == "step") lrs.push_back(r["lr"].get<double>());
  EXPECT_EQ(lrs, torch_lrs);
  const std::string base = "train " + d + ".onnx --data " + d + ".npz --out " + tmp.path() + "/x.onnx ";
  for (const auto& [args, want] : std::vector<std::pair<std::string, std::string>>{
           {"--lr-schedule step", "--lr-schedule: step needs --lr-step-size"},
           {"--lr-schedule cosine --lr-step-size 3", "--lr-step-size: applies to --lr-schedule step, not cosine"},
           {"--lr-schedule plateau", "plateau steps on the validation loss: it needs --val"},
           {"--save-best val_loss", "--save-best: needs --val"},
           {"--early-stopping 3", "--early-stopping: needs --val"},
           {"--lr-schedule multistep --lr-milestones 5,x", "--lr-milestones: takes positive step counts"},
           {"--lr-schedule plateau --val " + d + "_val.npz --warmup-steps 3", "--warmup-steps: not with the plateau"},
           {"--lr-schedule plateau --val " + d + "_val.npz --plateau-factor 1",
            "--plateau-factor: must be in [0, 1)"}}) {
    const Outcome bad = cli(base + args, tmp.path());
    EXPECT_EQ(bad.code, 2) << args << ": " << bad.err;
    EXPECT_NE(bad.err.find(want), std::string::npos) << args << ": " << bad.err;
  }
  EXPECT_FALSE(fs::exists(tmp.path() + "/x.onnx"));
}

TEST(SaveBestCli, OutHoldsTheBestAndEarlyStoppingSaysSo) {
  const TempDir tmp("save_best_cli");
  const std::string d = kDir + "sgd_step";
  const Outcome ok =
      cli("train " + d + ".onnx --data " + d + ".npz --val " + d + "_val.npz --val-every 4 --no-shuffle " +
              "--batch-size 8 --epochs 3 --lr 0.3 --threads 1 --save-best val_loss --early-stopping 2 --min-delta 10 " +
              "--out " + tmp.path() + "/m.onnx --checkpoint " + tmp.path() + "/ck",
          tmp.path());
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.err.find("early stopping after step 12"), std::string::npos) << ok.err;
  EXPECT_NE(ok.err.find("--early-stopping 2"), std::string::npos) << ok.err;
  std::smatch best;
  ASSERT_TRUE(std::regex_search(ok.out, best, std::regex("best validation: val_loss [^ ]+ at step ([0-9]+)")))
      << ok.out;
  // --out holds the best validation's weights; the checkpoint the last ones (step 12).
  const std::string last = slurp(tmp.path() + "/ck/step-00000012/model.onnx");
  ASSERT_FALSE(last.empty());
  if (best[1] == "12")
    EXPECT_EQ(slurp(tmp.path() + "/m.onnx"), last);
  else
    EXPECT_NE(slurp(tmp.path() + "/m.onnx"), last);
  // --in-place: the model itself is where the best goes.
  fs::copy_file(d + ".onnx", tmp.path() + "/own.onnx");
  const Outcome in_place = cli("train " + tmp.path() + "/own.onnx --data " + d + ".npz --val " + d + "_val.npz " +
                                   "--epochs 1 --batch-size 8 --save-best val_accuracy --in-place",
                               tmp.path());
  ASSERT_EQ(in_place.code, 0) << in_place.err;
  EXPECT_NE(slurp(tmp.path() + "/own.onnx"), slurp(d + ".onnx"));
}

// Ctrl-C leaves --out holding the best validation's weights, not the last ones: the interrupt's write skips the model.
TEST(SaveBestCli, AnInterruptLeavesTheBestInOut) {
  const TempDir tmp("save_best_interrupt");
  const std::string d = kDir + "sgd_step", out = tmp.path() + "/m.onnx", log = tmp.path() + "/log.jsonl";
  const std::string cmd = std::string(ONNXTRAIN_CLI) + " train " + d + ".onnx --data " + d + ".npz --val " + d +
                          "_val.npz --val-every 4 --batch-size 8 --epochs 1000000 --lr 1.5 --threads 1 " +
                          "--save-best val_loss --out " + out + " --log " + log;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string sink = tmp.path() + "/output";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd + " > " + sink + " 2>&1").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 2000 && !fs::exists(out); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // some validations more
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << slurp(tmp.path() + "/output");
  ASSERT_EQ(WEXITSTATUS(status), 128 + SIGINT) << slurp(tmp.path() + "/output");
  std::ifstream in(log);
  double best = INFINITY;
  int validations = 0;
  for (std::string line; std::getline(in, line);) {
    const json r = json::parse(line);
    if ((r["type"] == "val" && r["step"].get<int64_t>() > 0) || (r["type"] == "epoch" && r.contains("val_loss")))
      best = std::min(best, r["val_loss"].get<double>()), ++validations;
  }
  ASSERT_GE(validations, 2);
  Model saved = Model::load(out);
  TrainOptions o;
  o.threads = 1;
  TrainingSession s(saved, o);
  EXPECT_EQ(s.evaluate(load_dataset(d + "_val.npz", Split::Train)).loss, best);
  EXPECT_TRUE(fs::exists(out + ".checkpoint/latest"));
}

}  // namespace
