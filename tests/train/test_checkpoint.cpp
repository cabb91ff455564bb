// Checkpoints and --resume through the command line: a run stopped (by --steps, or by kill -9 at random moments) and
// resumed ends with exactly the weights of an uninterrupted run, bitwise, for SGD with Nesterov momentum, Adam and
// AdamW, and through Dropout's random masks. Broken or mismatched checkpoints end in one line and exit 1.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "onnxtrain/data.h"
#include "onnxtrain/model.h"
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

// The step records of a --log file: (step, loss), in order.
std::vector<std::pair<int64_t, double>> step_losses(const std::string& log) {
  std::vector<std::pair<int64_t, double>> v;
  std::ifstream f(log);
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("type") == "step") v.emplace_back(j.at("step").get<int64_t>(), j.at("loss").get<double>());
  }
  return v;
}

struct ResumeCase {
  const char* name;
  const std::string* model;
  const char* options;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const ResumeCase& c, std::ostream* os) { *os << c.name; }

class Resume : public ::testing::TestWithParam<ResumeCase> {};

// 20 samples in batches of 6 (the last one partial): 4 steps an epoch, 12 in 3 epochs. One run goes straight
// through; the other stops after 5 steps (mid-epoch, mid-order), resumes to step 9, and resumes again to the end.
TEST_P(Resume, EndsWithTheWeightsOfAnUninterruptedRunBitwise) {
  const ResumeCase& c = GetParam();
  const TempDir tmp("resume");
  const std::string& dir = tmp.path();
  const std::string common = *c.model + " --data " + kGood + " --batch-size 6 --threads 2 --seed 7 " + c.options;
  Outcome a = cli("train " + common + " --epochs 3 --out " + dir + "/a.onnx --log " + dir + "/a.jsonl", dir);
  ASSERT_EQ(a.code, 0) << a.err;

  Outcome b1 = cli(
      "train " + common + " --steps 5 --out " + dir + "/b.onnx --checkpoint " + dir + "/ck --checkpoint-every 2", dir);
  ASSERT_EQ(b1.code, 0) << b1.err;
  EXPECT_TRUE(fs::exists(dir + "/ck/step-00000005/state.npz"));
  EXPECT_FALSE(fs::exists(dir + "/ck/step-00000004")) << "older checkpoints are dropped once a newer one is published";
  EXPECT_NE(slurp(dir + "/b.onnx"), slurp(dir + "/a.onnx")) << "5 steps should not give the weights of 12";
  Outcome b2 = cli("train " + common + " --steps 9 --out " + dir + "/b.onnx --resume " + dir + "/ck", dir);
  ASSERT_EQ(b2.code, 0) << b2.err;
  EXPECT_NE(b2.out.find("resuming from " + dir + "/ck at step 5 (epoch 2, 6 of 20 samples done)"), std::string::npos)
      << b2.out;
  Outcome b3 =
      cli("train " + common + " --epochs 3 --out " + dir + "/b.onnx --log " + dir + "/b.jsonl --resume " + dir + "/ck",
          dir);
  ASSERT_EQ(b3.code, 0) << b3.err;

  EXPECT_EQ(slurp(dir + "/b.onnx"), slurp(dir + "/a.onnx"))
      << "the resumed run's weights differ from the uninterrupted run's";
  // The resumed run's log holds the whole history, and its losses are the uninterrupted run's.
  auto la = step_losses(dir + "/a.jsonl"), lb = step_losses(dir + "/b.jsonl");
  ASSERT_EQ(la.size(), 12u);
  EXPECT_EQ(la, lb);
  // The epoch lines printed after resuming are those of the straight run.
  EXPECT_NE(a.out.find(b3.out.substr(b3.out.find("epoch 3/3: loss"), 40)), std::string::npos) << a.out << b3.out;
}

INSTANTIATE_TEST_SUITE_P(Cases, Resume,
                         ::testing::Values(ResumeCase{"sgd_nesterov", &kFashion,
                                                      "--lr 0.05 --momentum 0.9 --nesterov --weight-decay 0.001"},
                                           ResumeCase{"adam", &kFashion, "--optimizer adam"},
                                           ResumeCase{"adamw_dropout", &kDropout, "--optimizer adamw --lr 0.01"}),
                         [](const auto& info) { return std::string(info.param.name); });

// The default checkpoints, at each epoch's end, resume too (they were refused as "a position past an empty order"):
// one epoch continued to three ends with the weights of three epochs straight, bitwise, and resuming a finished run
// trains nothing more.
TEST(ResumeAtEpochEnd, ContinuesWithMoreEpochsBitwise) {
  const TempDir tmp("epochend");
  const std::string& dir = tmp.path();
  const std::string common = kFashion + " --data " + kGood + " --batch-size 6 --threads 2 --seed 7 --optimizer adam";
  ASSERT_EQ(cli("train " + common + " --epochs 3 --out " + dir + "/a.onnx", dir).code, 0);
  Outcome b1 = cli("train " + common + " --epochs 1 --out " + dir + "/b.onnx --checkpoint " + dir + "/ck", dir);
  ASSERT_EQ(b1.code, 0) << b1.err;
  Outcome b2 = cli("train " + common + " --epochs 3 --out " + dir + "/b.onnx --resume " + dir + "/ck", dir);
  ASSERT_EQ(b2.code, 0) << b2.err;
  EXPECT_NE(b2.out.find("resuming from " + dir + "/ck at step 4 (epoch 2, 0 of 20 samples done)"), std::string::npos)
      << b2.out;
  EXPECT_EQ(slurp(dir + "/b.onnx"), slurp(dir + "/a.onnx")) << "one epoch resumed to three differs from three straight";
  Outcome b3 = cli("train " + common + " --epochs 3 --out " + dir + "/c.onnx --resume " + dir + "/ck", dir);
  ASSERT_EQ(b3.code, 0) << b3.err;
  EXPECT_EQ(slurp(dir + "/c.onnx"), slurp(dir + "/a.onnx")) << "resuming a finished run changed the weights";
  EXPECT_NE(b3.out.find("nothing left to train: the checkpoint is past --epochs 3"), std::string::npos) << b3.out;
  EXPECT_EQ(b2.out.find("nothing left"), std::string::npos) << b2.out;
}

// kill -9 at random moments of a real run that checkpoints often: the last published checkpoint always loads, and
// resuming from it ends where the uninterrupted run ends, bitwise. The kill times are printed with any failure.
TEST(KillNine, LeavesALoadableCheckpointThatResumesBitwise) {
  const TempDir tmp("kill9");
  const std::string& dir = tmp.path();
  const std::string common = kDropout + " --data " + kGood + " --batch-size 6 --threads 2 --optimizer adam --epochs 60";
  Outcome ref = cli("train " + common + " --out " + dir + "/ref.onnx", dir);
  ASSERT_EQ(ref.code, 0) << ref.err;

  std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  for (int trial = 0; trial < 3; ++trial) {
    const std::string ck = dir + "/ck" + std::to_string(trial), out = dir + "/out" + std::to_string(trial) + ".onnx";
    const int delay_ms = std::uniform_int_distribution<int>(0, 400)(rng);  // a random moment of the run
    SCOPED_TRACE("trial " + std::to_string(trial) + ": kill -9 " + std::to_string(delay_ms) +
                 " ms after the first checkpoint");
    kill_nine_after_first_checkpoint(std::string(ONNXTRAIN_CLI) + " train " + common + " --out " + out +
                                         " --checkpoint " + ck + " --checkpoint-every 3",
                                     ck, delay_ms);
    ASSERT_FALSE(HasFatalFailure());
    Outcome r = cli("train " + common + " --out " + out + " --resume " + ck, dir);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(slurp(out), slurp(dir + "/ref.onnx"))
        << "resumed after kill -9: weights differ from the uninterrupted run";
  }
}

// SIGTERM: the step finishes, the model and a checkpoint are written, and the message says how to resume; running
// that command finishes the run as if it had never stopped.
TEST(Interruption, WritesACheckpointAndTheCommandThatResumes) {
  const TempDir tmp("sigterm");
  const std::string& dir = tmp.path();
  const std::string common =
      kFashion + " --data " + kGood + " --batch-size 6 --threads 2 --optimizer adam --epochs 300";
  Outcome ref = cli("train " + common + " --out " + dir + "/ref.onnx", dir);
  ASSERT_EQ(ref.code, 0) << ref.err;
  const std::string out = dir + "/out.onnx";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int err = open((dir + "/run.err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(err, 2);
    int log = open((dir + "/run.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(log, 1);
    std::string cmd = std::string(ONNXTRAIN_CLI) + " train " + common + " --out " + out;
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && slurp(dir + "/run.out").find("epoch 2/") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping";
  ASSERT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << "it finished before the signal; make the run longer";
  const std::string err = slurp(dir + "/run.err");
  EXPECT_NE(err.find("interrupted by SIGTERM after step"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  const std::string ck = out + ".checkpoint";
  EXPECT_NE(err.find("a checkpoint to " + ck), std::string::npos) << err;
  const size_t at = err.find("To continue: ");
  ASSERT_NE(at, std::string::npos) << err;
  std::string resume = err.substr(at + 13);
  resume = resume.substr(0, resume.find('\n'));
  EXPECT_NE(resume.find("--resume " + ck), std::string::npos) << resume;
  Model::load(out);  // the model trained so far is whole
  ASSERT_EQ(std::system((resume + " > /dev/null 2>&1").c_str()), 0) << resume;
  EXPECT_EQ(slurp(out), slurp(dir + "/ref.onnx")) << "resuming after SIGTERM did not end where the straight run ends";
}

// Broken, hostile or mismatched checkpoints, and checkpoint options misused: one line, a non-zero exit, and the
// output never written.
struct BadResume {
  const char* name;
  std::function<void(const std::string& ck)> damage;  // applied to a good checkpoint folder
  const char* args;                                   // the resuming run's options; empty: the checkpointed run's own
  const char* says;
};
void PrintTo(const BadResume& c, std::ostream* os) { *os << c.name; }

class BadCheckpoint : public ::testing::TestWithParam<BadResume> {};

TEST_P(BadCheckpoint, IsRefusedWithOneLine) {
  const BadResume& c = GetParam();
  const TempDir tmp("badck");
  const std::string& dir = tmp.path();
  const std::string ck = dir + "/ck";
  const std::string common = kFashion + " --data " + kGood + " --threads 2";
  ASSERT_EQ(
      cli("train " + common + " --batch-size 6 --optimizer adam --steps 3 --out " + dir + "/a.onnx --checkpoint " + ck,
          dir)
          .code,
      0);
  c.damage(ck);
  const std::string args = *c.args ? c.args : "--batch-size 6 --optimizer adam";
  Outcome r = cli("train " + common + " --epochs 2 --out " + dir + "/b.onnx --resume " + ck + " " + args, dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/b.onnx"));
}

const std::string kStep = "/step-00000003";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadCheckpoint,
    ::testing::Values(
        BadResume{"no_folder", [](const std::string& ck) { fs::remove_all(ck); }, "", "no such checkpoint folder"},
        BadResume{"no_latest", [](const std::string& ck) { fs::remove(ck + "/latest"); }, "",
                  "holds no complete checkpoint"},
        BadResume{"latest_escapes", [](const std::string& ck) { write_file(ck + "/latest", "../../etc\n"); }, "",
                  "does not name a checkpoint folder"},
        BadResume{"progress_not_json",
                  [](const std::string& ck) { write_file(ck + kStep + "/progress.json", "{\"format\": "); }, "",
                  "progress.json: malformed"},
        BadResume{"progress_wrong_types",
                  [](const std::string& ck) {
                    auto j = nlohmann::json::parse(slurp(ck + kStep + "/progress.json"));
                    j["epoch"] = "two";
                    write_file(ck + kStep + "/progress.json", j.dump());
                  },
                  "", "progress.json: 'epoch' is not a whole number"},
        // A float count would not convert to int64_t.
        BadResume{"count_not_whole",
                  [](const std::string& ck) {
                    auto j = nlohmann::json::parse(slurp(ck + kStep + "/progress.json"));
                    j["next"] = 1e30;
                    write_file(ck + kStep + "/progress.json", j.dump());
                  },
                  "", "progress.json: 'next' is not a whole number"},
        BadResume{"order_not_a_permutation",
                  [](const std::string& ck) {
                    auto a = load_npz(ck + kStep + "/state.npz");
                    a["order"].i64[0] = a["order"].i64[1];
                    save_npz(ck + kStep + "/state.npz", a);
                  },
                  "", "not a permutation"},
        BadResume{"moment_wrong_shape",
                  [](const std::string& ck) {
                    auto a = load_npz(ck + kStep + "/state.npz");
                    Tensor& m = a.at("optimizer/exp_avg/0.weight");
                    m.shape = {static_cast<int64_t>(m.f32.size())};
                    save_npz(ck + kStep + "/state.npz", a);
                  },
                  "", "expected float32"},
        BadResume{"state_truncated",
                  [](const std::string& ck) {
                    std::string s = slurp(ck + kStep + "/state.npz");
                    write_file(ck + kStep + "/state.npz", s.substr(0, s.size() / 2));
                  },
                  "", "state.npz"},
        BadResume{"model_swapped",
                  [](const std::string& ck) {
                    fs::copy_file(kDropout, ck + kStep + "/model.onnx", fs::copy_options::overwrite_existing);
                  },
                  "", "model.onnx: initializer '0.weight' is (32,784), expected (256,784)"},
        BadResume{"other_optimizer", [](const std::string&) {}, "--batch-size 6 --optimizer sgd",
                  "the checkpoint was made with optimizer \"adam\", this run has \"sgd\""},
        BadResume{"other_batch", [](const std::string&) {}, "--batch-size 5 --optimizer adam",
                  "the checkpoint was made with batch-size 6, this run has 5"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CheckpointOptions, AreCheckedBeforeTraining) {
  const TempDir tmp("ckopt");
  const std::string& dir = tmp.path();
  const std::string common = kFashion + " --data " + kGood + " --out " + dir + "/o.onnx";
  Outcome every = cli("train " + common + " --checkpoint-every 3", dir);
  EXPECT_EQ(every.code, 2) << every.err;
  EXPECT_NE(every.err.find("--checkpoint-every"), std::string::npos) << every.err;
  write_file(dir + "/file", "x");
  Outcome onfile = cli("train " + common + " --checkpoint " + dir + "/file", dir);
  EXPECT_EQ(onfile.code, 1) << onfile.err;
  EXPECT_NE(onfile.err.find("--checkpoint " + dir + "/file"), std::string::npos) << onfile.err;
  EXPECT_FALSE(fs::exists(dir + "/o.onnx"));
  // A run that fails before its first checkpoint leaves no folder behind (it used to leave the empty ones it made).
  Outcome bad = cli("train " + kFashion + " --data " + std::string(ONNXTRAIN_TEST_DATA) + "/train/nan.npz --out " +
                        dir + "/o.onnx --checkpoint " + dir + "/new/ck",
                    dir);
  EXPECT_EQ(bad.code, 1) << bad.err;
  EXPECT_FALSE(fs::exists(dir + "/new")) << "the failed run left the checkpoint folders it made";
}

}  // namespace
