// The Trainer through the library alone: a run stopped (by a step count, by request_stop, or by kill -9 at a random
// moment) and resumed from its checkpoint ends with exactly the weights of an uninterrupted run, bitwise; the
// observer hears every step and epoch; and a resume that would not continue the same run is refused by name.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <regex>

#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/trainer.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"
#include "tests/support/kill.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kDropout = std::string(ONNXTRAIN_TEST_DATA) + "/train/dropout_mlp.onnx";
const std::string kGood = std::string(ONNXTRAIN_TEST_DATA) + "/train/good.npz";  // 20 samples, 784 features

Dataset good_data(const Model& model) {
  Dataset d = load_dataset(kGood, Split::Train);
  fit_features(d, model.input_names()[0], {784});
  return d;
}

TrainOptions adam() {
  TrainOptions o;
  o.optimizer.kind = Optimizer::Adam;
  o.threads = 2;
  o.seed = 7;
  return o;
}

// Counts what it hears, and asks for a stop once stop_at steps are done.
struct Recorder : TrainerObserver {
  Trainer* trainer = nullptr;
  int64_t stop_at = 0;
  std::vector<int64_t> steps;
  std::vector<std::string> records;
  int epochs = 0;
  void on_step(const StepReport& s) override {
    steps.push_back(s.step);
    if (trainer && s.step == stop_at) trainer->request_stop();
  }
  void on_epoch(const EpochReport& e) override { epochs += e.ended; }
  void on_record(const std::string& line) override { records.push_back(line); }
  std::vector<int64_t> checkpoints;
  void on_checkpoint(int64_t step, const std::string&) override { checkpoints.push_back(step); }
};

// An uninterrupted run of 3 epochs of 20 samples in batches of 6 (the last one partial): 4 steps an epoch.
std::string straight_run(const std::string& model_path, const std::string& out, Recorder* rec = nullptr) {
  Model model = Model::load(model_path);
  Dataset data = good_data(model);
  TrainerOptions run;
  run.batch_size = 6;
  run.epochs = 3;
  Trainer trainer(model, adam(), run, data, nullptr, rec);
  const TrainResult r = trainer.run();
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.steps, 12);
  model.save(out);
  return slurp(out);
}

TEST(Trainer, ResumedFromAStepCountEndsBitwiseAsAnUninterruptedRun) {
  const TempDir tmp("trainer_resume");
  const std::string& dir = tmp.path();
  Recorder straight;
  const std::string a = straight_run(kDropout, dir + "/a.onnx", &straight);
  EXPECT_EQ(straight.steps.size(), 12u);
  EXPECT_EQ(straight.epochs, 3);
  EXPECT_EQ(straight.records.size(), 15u) << "12 step records and 3 epoch records";
  {
    Model model = Model::load(kDropout);
    Dataset data = good_data(model);
    TrainerOptions run;
    run.batch_size = 6;
    run.steps = 5;  // mid-epoch and mid-order
    run.checkpoint_dir = dir + "/ck";
    run.checkpoint_every = 2;
    Recorder rec;
    Trainer trainer(model, adam(), run, data, nullptr, &rec);
    EXPECT_EQ(trainer.run().steps, 5);
    EXPECT_TRUE(trainer.finished());
    EXPECT_EQ(rec.checkpoints, (std::vector<int64_t>{2, 4, 5})) << "every 2 steps, and at the end";
  }
  EXPECT_TRUE(fs::exists(dir + "/ck/step-00000005/state.npz"));
  Model model = Model::load(kDropout);
  Dataset data = good_data(model);
  TrainerOptions run;
  run.batch_size = 6;
  run.epochs = 3;
  run.resume_from = dir + "/ck";
  Recorder resumed;
  Trainer trainer(model, adam(), run, data, nullptr, &resumed);
  EXPECT_TRUE(trainer.resumed());
  EXPECT_EQ(trainer.position().epoch, 2);
  EXPECT_EQ(trainer.position().next, 6);
  EXPECT_EQ(trainer.run().steps, 7);
  model.save(dir + "/b.onnx");
  EXPECT_EQ(slurp(dir + "/b.onnx"), a) << "the resumed run's weights differ from the uninterrupted run's";
  // The records replayed from the checkpoint and those of the resumed run are the straight run's, in order, but
  // for the measured speeds.
  ASSERT_EQ(resumed.records.size(), straight.records.size());
  for (size_t i = 0; i < straight.records.size(); ++i) {
    const auto cut = [](const std::string& r) {
      return std::regex_replace(r, std::regex("\"samples_per_s\":[^,}]*"), "");
    };
    EXPECT_EQ(cut(resumed.records[i]), cut(straight.records[i])) << "record " << i;
  }
}

// request_stop() from inside a step's report: the step finishes, run() returns before the next one, and a
// checkpoint written then into a new folder resumes to the uninterrupted run's weights.
TEST(Trainer, StopsAtAStepBoundaryAndResumesBitwise) {
  const TempDir tmp("trainer_stop");
  const std::string& dir = tmp.path();
  const std::string a = straight_run(kFashion, dir + "/a.onnx");
  {
    Model model = Model::load(kFashion);
    Dataset data = good_data(model);
    TrainerOptions run;
    run.batch_size = 6;
    run.epochs = 3;
    Recorder rec;
    rec.stop_at = 6;
    Trainer trainer(model, adam(), run, data, nullptr, &rec);
    rec.trainer = &trainer;
    const TrainResult r = trainer.run();
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.steps, 6);
    EXPECT_EQ(rec.steps.back(), 6) << "a step ran after the stop was requested";
    EXPECT_EQ(trainer.session().steps(), 6);
    EXPECT_EQ(trainer.position().epoch, 2);
    EXPECT_EQ(trainer.position().next, 12);
    EXPECT_EQ(trainer.checkpoints(), nullptr);
    CheckpointDir ck(dir + "/ck", "checkpoint", trainer.inputs(), false);
    trainer.write_checkpoint(&ck);
  }
  Model model = Model::load(kFashion);
  Dataset data = good_data(model);
  TrainerOptions run;
  run.batch_size = 6;
  run.epochs = 3;
  run.resume_from = dir + "/ck";
  Trainer trainer(model, adam(), run, data);
  EXPECT_EQ(trainer.run().steps, 6);
  model.save(dir + "/b.onnx");
  EXPECT_EQ(slurp(dir + "/b.onnx"), a) << "resuming after request_stop did not end where the straight run ends";
}

// A stop requested before run() trains nothing.
TEST(Trainer, AStopRequestedBeforeRunTrainsNothing) {
  Model model = Model::load(kFashion);
  Dataset data = good_data(model);
  Trainer trainer(model, adam(), TrainerOptions(), data);
  trainer.request_stop();
  const TrainResult r = trainer.run();
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.steps, 0);
  EXPECT_EQ(trainer.session().steps(), 0);
}

// Errors name the API's options, not the command line's flags.
TEST(Trainer, RefusesAResumeWithOtherOptionsNamingThem) {
  const TempDir tmp("trainer_other");
  const std::string& dir = tmp.path();
  {
    Model model = Model::load(kFashion);
    Dataset data = good_data(model);
    TrainerOptions run;
    run.batch_size = 6;
    run.steps = 2;
    run.checkpoint_dir = dir + "/ck";
    Trainer(model, adam(), run, data).run();
  }
  Model model = Model::load(kFashion);
  Dataset data = good_data(model);
  TrainerOptions run;
  run.batch_size = 5;
  run.resume_from = dir + "/ck";
  try {
    Trainer trainer(model, adam(), run, data);
    FAIL() << "a resume with another batch size was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(
        m.find("TrainerOptions::resume_from " + dir + "/ck: the checkpoint was made with batch-size 6, this run has 5"),
        std::string::npos)
        << m;
    EXPECT_EQ(m.find("--"), std::string::npos) << m;
  }
  run.batch_size = 6;
  run.resume_from.clear();
  run.checkpoint_dir = dir + "/ck";
  try {
    Trainer trainer(model, adam(), run, data);
    FAIL() << "a new run into another run's checkpoint folder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("continue that run with TrainerOptions::resume_from"), std::string::npos)
        << e.what();
  }
}

// With diagnostics, each epoch's report and its warnings reach the observer (dead_mlp: 20 of its 32 hidden units
// dead by construction), the warnings naming the API's options; without, neither is made.
struct Diagnosed : TrainerObserver {
  std::vector<DiagnosticsReport> reports;
  std::vector<std::string> warnings;
  void on_diagnostics(const DiagnosticsReport& d) override { reports.push_back(d); }
  void on_warning(const std::string& text) override { warnings.push_back(text); }
};

TEST(Trainer, ReportsDiagnosticsAndWarningsToTheObserver) {
  for (bool on : {true, false}) {
    Model model = Model::load(std::string(ONNXTRAIN_TEST_DATA) + "/train/dead_mlp.onnx");
    Dataset data = good_data(model);
    TrainerOptions run;
    run.batch_size = 5;
    run.epochs = 2;
    run.diagnostics = on;
    Diagnosed seen;
    Trainer(model, TrainOptions(), run, data, nullptr, &seen).run();
    if (!on) {
      EXPECT_TRUE(seen.reports.empty());
      EXPECT_TRUE(seen.warnings.empty());
      continue;
    }
    ASSERT_EQ(seen.reports.size(), 2u);
    ASSERT_FALSE(seen.reports[0].layers.empty());
    EXPECT_EQ(seen.reports[0].layers[0].node, "relu1");
    EXPECT_EQ(seen.reports[0].layers[0].units, 32);
    EXPECT_DOUBLE_EQ(seen.reports[0].layers[0].dead, 20.0 / 32);
    ASSERT_FALSE(seen.reports[0].params.empty());
    EXPECT_EQ(seen.reports[0].params[0].steps, 4) << "20 samples in batches of 5";
    ASSERT_FALSE(seen.warnings.empty());
    EXPECT_EQ(seen.warnings[0].rfind("epoch 1: Relu 'relu1' had 62.5% of its 32 units dead for the whole epoch", 0), 0u)
        << seen.warnings[0];
    EXPECT_NE(seen.warnings[0].find("OptimizerConfig::lr"), std::string::npos) << seen.warnings[0];
  }
}

// kill -9 at random moments of a library run that checkpoints every 7 steps (trainer_driver, 600 epochs of 4 steps,
// about 2 s with its checkpoints): the last published checkpoint always loads, and resuming from it ends where the
// uninterrupted run ends, bitwise. The uninterrupted run is also the command line's with the same options, byte for
// byte: the CLI adds nothing to what the library trains.
TEST(Trainer, KillNineLeavesACheckpointThatResumesBitwise) {
  const TempDir tmp("trainer_kill9");
  const std::string& dir = tmp.path();
  const auto driver = [&](const std::string& args) {
    return std::system(
        (std::string(TRAINER_DRIVER) + " " + kDropout + " " + kGood + " " + args + " > " + dir + "/driver.err 2>&1")
            .c_str());
  };
  ASSERT_EQ(driver(dir + "/ref.onnx 600"), 0) << slurp(dir + "/driver.err");
  Outcome cli_run = cli("train " + kDropout + " --data " + kGood +
                            " --batch-size 6 --threads 2 --optimizer adam "
                            "--epochs 600 --out " +
                            dir + "/cli.onnx",
                        dir);
  ASSERT_EQ(cli_run.code, 0) << cli_run.err;
  EXPECT_EQ(slurp(dir + "/cli.onnx"), slurp(dir + "/ref.onnx")) << "the CLI and the library trained different weights";
  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  for (int trial = 0; trial < 3; ++trial) {
    const std::string ck = dir + "/ck" + std::to_string(trial), out = dir + "/out" + std::to_string(trial) + ".onnx";
    const int delay_ms = std::uniform_int_distribution<int>(0, 1500)(rng);
    SCOPED_TRACE("trial " + std::to_string(trial) + ": kill -9 " + std::to_string(delay_ms) +
                 " ms after the first checkpoint");
    kill_nine_after_first_checkpoint(
        std::string(TRAINER_DRIVER) + " " + kDropout + " " + kGood + " " + out + " 600 " + ck + " 7", ck, delay_ms);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(driver(out + " 600 " + ck + " resume"), 0) << slurp(dir + "/driver.err");
    EXPECT_EQ(slurp(out), slurp(dir + "/ref.onnx"))
        << "resumed after kill -9: weights differ from the uninterrupted run";
  }
}

}  // namespace
