// Training through the command line as a user meets it: bad data and options end in one line and exit 1 with nothing
// written (an --in-place model untouched); and an end-to-end run on Fashion-MNIST learns.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "onnxtrain/model.h"
#include "onnxtrain/session.h"
#include "onnxtrain/train.h"
#include "runtime/model_impl.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kModel = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kData = std::string(ONNXTRAIN_TEST_DATA) + "/train/";

struct BadCase {
  const char* name;
  const char* args;  // DATA is replaced by the data folder
  const char* says;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BadTraining : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadTraining, FailsWithOneLineAndWritesNothing) {
  const BadCase& c = GetParam();
  const TempDir tmp("train");
  const std::string& dir = tmp.path();
  std::string args = c.args;
  for (size_t p; (p = args.find("DATA/")) != std::string::npos;) args.replace(p, 5, kData);
  // --out: no file appears.
  Outcome r = cli("train " + kModel + " " + args + " --out " + dir + "/out.onnx", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(c.says), std::string::npos) << "'" << c.says << "' not in: " << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out.onnx"));
  // --in-place: the model keeps its bytes.
  fs::copy(kModel, dir + "/model.onnx");
  Outcome r2 = cli("train " + dir + "/model.onnx " + args + " --in-place", dir);
  EXPECT_EQ(r2.code, 1) << r2.err;
  EXPECT_EQ(slurp(dir + "/model.onnx"), slurp(kModel));
  int files = 0;
  for (auto& e : fs::directory_iterator(dir))
    files += e.path().filename() != "stdout" && e.path().filename() != "stderr";
  EXPECT_EQ(files, 1) << "something besides the model was left in " << dir;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadTraining,
    ::testing::Values(
        BadCase{"label_out_of_range", "--data DATA/label_range.npz",
                "label 10 of sample 7 is out of range for 10 classes"},
        BadCase{"label_negative", "--data DATA/label_negative.npz", "label -1 of sample 3 is out of range"},
        BadCase{"shape_mismatch", "--data DATA/shape_mismatch.npz", "do not fit model input 'input'"},
        BadCase{"count_mismatch", "--data DATA/count_mismatch.npz", "20 feature rows but 19 labels"},
        BadCase{"nan", "--data DATA/nan.npz", "feature 5 of sample 0 is nan"},
        BadCase{"inf", "--data DATA/inf.npz", "feature 9 of sample 0 is inf"},
        BadCase{"empty", "--data DATA/empty.npz", "the data set is empty"},
        BadCase{"loss_diverges", "--data DATA/good.npz --lr 1e30 --batch-size 4", "the loss became"},
        BadCase{"mse_needs_float_targets", "--data DATA/good.npz --loss mse",
                "integer labels need --loss cross-entropy or nll, not mse"},
        BadCase{"bad_val", "--data DATA/good.npz --val DATA/nan.npz", "is nan"},
        // Float (N) labels under cross-entropy are refused whatever their values (99.0 was read past the row, 0.5
        // taken as class 0, and whole ones trained without an accuracy), naming the file and the array.
        BadCase{"float_label_range", "--data DATA/float_label_range.npz",
                "float_label_range.npz: array 'y' holds float32 (N) labels for a model of 10 classes"},
        BadCase{"float_label_fraction", "--data DATA/float_label_fraction.npz",
                "float_label_fraction.npz: array 'y' holds float32 (N) labels for a model of 10 classes"},
        BadCase{"unknown_freeze", "--data DATA/good.npz --freeze nope",
                "--freeze: 'nope' matches no float initializer of the model; it has 0.bias, 0.weight"},
        // A 0-d y was reported as no y at all.
        BadCase{"D22_scalar_y", "--data DATA/../data/y_scalar.npz", "y_scalar.npz: 'y' is 0-d (a scalar)"}),
    [](const auto& info) { return std::string(info.param.name); });

// A decompression bomb (here 32 MB in 31 KB, against a 40 MB limit) is one line naming the file and member, exit 1,
// not "internal error: std::bad_alloc".
TEST(BadTraining, D12_DecompressionBombIsOneLineNamingTheFile) {
  const TempDir tmp("train");
  const std::string& dir = tmp.path();
  setenv("ONNXTRAIN_MEMORY_LIMIT_MB", "40", 1);
  Outcome r = cli("train " + kModel + " --data " + kData + "../data/bomb.npz --out " + dir + "/out.onnx", dir);
  unsetenv("ONNXTRAIN_MEMORY_LIMIT_MB");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("bomb.npz: member 'x.npy' declares 32.0 MB of data (float32)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out.onnx"));
}

// Outputs that cannot be written are reported before any training: nothing on stdout (not even the "training"
// line, printed once the model and data are loaded), one line on stderr naming the option's path, exit 1.
TEST(Outputs, UnwritableOnesAreReportedBeforeTraining) {
  const TempDir tmp("out");
  const std::string& dir = tmp.path();
  std::ofstream(dir + "/a_file") << "not a folder";
  fs::create_directory(dir + "/a_folder");
  const std::string train = "train " + kModel + " --data " + kData + "good.npz --epochs 50 ";
  struct Case {
    std::string args, names, says;
  };
  std::vector<Case> cases = {
      {"--out " + dir + "/no/such/out.onnx", dir + "/no/such/out.onnx", "No such file or directory"},
      {"--out " + dir + "/a_file/out.onnx", dir + "/a_file/out.onnx", "is a file, not a folder"},
      {"--out " + dir + "/a_folder", dir + "/a_folder", "it is a folder"},
      {"--out " + dir + "/out.onnx --log " + dir + "/no/such/log.jsonl", dir + "/no/such/log.jsonl", "No such file"},
      {"--out " + dir + "/out.onnx --plot " + dir + "/a_file/plot.svg", dir + "/a_file/plot.svg", "not a folder"},
      {"--out " + dir + "/out.onnx --checkpoint " + dir + "/a_file/ckpt", dir + "/a_file/ckpt",
       "cannot create the folder"},
  };
  // Root writes into any folder whatever its mode; everyone else is refused a read-only one.
  if (geteuid() != 0) {
    fs::create_directory(dir + "/read_only");
    fs::permissions(dir + "/read_only", fs::perms::owner_read | fs::perms::owner_exec);
    cases.push_back({"--out " + dir + "/read_only/out.onnx", dir + "/read_only/out.onnx", "is not writable"});
  }
  for (const Case& c : cases) {
    std::string cmd = std::string(ONNXTRAIN_CLI) + " " + train + c.args + " > " + dir + "/stdout 2> " + dir + "/stderr";
    int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << c.args;
    EXPECT_EQ(WEXITSTATUS(status), 1) << c.args;
    const std::string err = slurp(dir + "/stderr");
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find(c.names), std::string::npos) << "'" << c.names << "' not in: " << err;
    EXPECT_NE(err.find(c.says), std::string::npos) << "'" << c.says << "' not in: " << err;
    EXPECT_EQ(slurp(dir + "/stdout"), "") << c.args << ": it started before checking its outputs";
    EXPECT_FALSE(fs::exists(dir + "/out.onnx")) << c.args;
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add);
  if (fs::exists(dir + "/read_only")) fs::permissions(dir + "/read_only", fs::perms::owner_all);
}

// A write that fails after training (here the file-size limit, as a full disk would: EFBIG rather than ENOSPC, and
// it binds root too) is one clear line naming the file, exit 1, and the file that was there keeps its bytes, with no
// temporary left beside it.
TEST(Outputs, AFailedWriteKeepsThePreviousFile) {
  const TempDir tmp("full");
  const std::string& dir = tmp.path();
  const std::string out = dir + "/out.onnx";
  std::ofstream(out) << "previous contents";
  // ulimit -f counts 512-byte blocks: 256 KB, a quarter of the model. SIGXFSZ ignored, so the write fails with
  // EFBIG instead of killing the process.
  std::string cmd = "trap '' XFSZ; ulimit -f 512; " + std::string(ONNXTRAIN_CLI) + " train " + kModel + " --data " +
                    kData + "good.npz --out " + out + " > /dev/null 2> " + dir + "/stderr";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = slurp(dir + "/stderr");
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find(out + ": cannot write"), std::string::npos) << err;
  EXPECT_EQ(slurp(out), "previous contents");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) files += e.path().filename() != "stderr";
  EXPECT_EQ(files, 1) << "a temporary file was left in " << dir;
}

// A thread count past kMaxThreads made OpenMP fail inside its first parallel region, or crash; the sessions refuse it
// by name, as they do a negative one.
TEST(Options, ThreadCountsOutOfRangeAreRefused) {
  Model model = Model::load(kModel);
  for (int threads : {-1, kMaxThreads + 1, 100000}) {
    TrainOptions options;
    options.threads = threads;
    try {
      TrainingSession s(model, options);
      ADD_FAILURE() << "threads " << threads << " was taken";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("threads: " + std::to_string(threads) + " is out of range"),
                std::string::npos)
          << e.what();
    }
    EXPECT_THROW(InferenceSession(model, SessionOptions{threads}), Error);
  }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Batches the library is handed directly, past the CLI's checks: each was a crash (a SIGFPE inside oneDNN for an
// empty batch), an out-of-bounds read (storage shorter than the shape) or a non-onnxtrain exception before.
TEST(SessionInput, BadBatchesAreRefusedByName) {
  Model model = Model::load(kModel);
  TrainingSession s(model, TrainOptions{});
  const Tensor x2 = Tensor::f32_of({2, 784}, std::vector<float>(2 * 784, 0.1f));
  const Tensor y2 = Tensor::i64_of({2}, {1, 2});
  Tensor short_x = x2;
  short_x.f32.resize(10);
  Tensor short_y = y2;
  short_y.i64.resize(1);
  const auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                               : ::testing::AssertionFailure() << "'" << part << "' not in: " << msg;
  };
  EXPECT_TRUE(has(error_of([&] {
                    s.train_step(Tensor::f32_of({0, 784}, {}), Tensor::i64_of({0}, {}));
                  }),
                  "the batch is empty"));
  EXPECT_TRUE(has(error_of([&] { s.train_step(short_x, y2); }), "features of shape (2,784) hold 10 values"));
  EXPECT_TRUE(has(error_of([&] { s.train_step(x2, short_y); }), "targets of shape (2) hold 1 values"));
  EXPECT_TRUE(has(error_of([&] { s.gradients(short_x, y2); }), "features of shape (2,784) hold 10 values"));
  // Float (N) labels under cross-entropy are refused, whatever their values (99 was read past the row).
  EXPECT_TRUE(has(error_of([&] {
                    s.train_step(x2, Tensor::f32_of({2}, {0.f, 99.f}));
                  }),
                  "float32 (N) targets under cross-entropy: class labels are int64"));
  EXPECT_TRUE(has(error_of([&] {
                    s.evaluate(x2, Tensor::f32_of({2}, {-1.f, 1.f}));
                  }),
                  "float32 (N) targets under cross-entropy"));
  EXPECT_TRUE(has(error_of([&] { s.evaluate(x2, y2, 0); }), "batch_size must be at least 1, got 0"));
  EXPECT_TRUE(has(error_of([&] { s.evaluate(x2, y2, -5); }), "batch_size must be at least 1, got -5"));
  EXPECT_TRUE(has(error_of([&] { s.evaluate(x2, short_y); }), "targets of shape (2) hold 1 values"));
  EXPECT_EQ(s.steps(), 0) << "a refused batch counted as a step";
  // An empty evaluation set and an empty inference batch have nothing to compute, and say so by their sizes.
  EvalResult none = s.evaluate(Tensor::f32_of({0, 784}, {}), Tensor::i64_of({0}, {}));
  EXPECT_EQ(none.count, 0);
  InferenceSession inf(model);
  auto out = inf.run({{"input", Tensor::f32_of({0, 784}, {})}});
  EXPECT_EQ(out.at("probs").shape, (std::vector<int64_t>{0, 10}));
  EXPECT_TRUE(out.at("probs").f32.empty());
  // The session still runs a real batch afterwards.
  EXPECT_EQ(inf.run({{"input", x2}}).at("probs").f32.size(), 20u);
}

// The largest --batch-size and --steps are counts like any other: one batch of all the data, and a steps-to-epochs
// division without the signed overflow the rounded-up sums had (which the sanitizer run of this test reports).
TEST(Options, LargestCountsTrainWithoutOverflow) {
  const TempDir tmp("counts");
  const std::string& dir = tmp.path();
  std::string cmd = std::string(ONNXTRAIN_CLI) + " train " + kModel + " --data " + kData + "good.npz --batch-size " +
                    "9223372036854775807 --out " + dir + "/o.onnx";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  for (int ch; (ch = std::fgetc(p)) != EOF;) out += static_cast<char>(ch);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("20 samples, cross-entropy loss, sgd, batch 9223372036854775807, 1 epoch"), std::string::npos)
      << out;
  EXPECT_NE(out.find("epoch 1/1: loss"), std::string::npos) << out;
}

// A binary classifier (Sigmoid head, bce, one output per sample) is scored like a classifier: hits are
// (p > 0.5) == (t > 0.5), checked against the model's own outputs from an InferenceSession. It had only a loss.
TEST(BinaryClassifier, IsScoredAgainstItsOutputs) {
  Model model = Model::load(kData + "binary.onnx");
  auto data = load_npz(kData + "binary.npz");
  const Tensor& x = data.at("x");
  const Tensor& y = data.at("y");
  InferenceSession inf(model);
  const std::vector<float> p = inf.run({{"x", x}}).at("p").f32;
  int64_t want = 0;
  for (size_t i = 0; i < p.size(); ++i) want += (p[i] > 0.5f) == (y.f32[i] > 0.5f);
  ASSERT_GT(want, 0);
  ASSERT_LT(want, 40) << "all hits: a scorer that always says yes would pass";
  TrainingSession s(model, TrainOptions{});
  EXPECT_TRUE(s.binary_accuracy());
  EvalResult r = s.evaluate(x, y);
  EXPECT_TRUE(r.classification);
  EXPECT_EQ(r.count, 40);
  EXPECT_EQ(r.correct, want);
  int64_t hits = -1;
  s.train_step(x, y, &hits);  // scored before the update
  EXPECT_EQ(hits, want);
  // A regression output is not scored.
  Model column = Model::load(kData + "column.onnx");
  TrainOptions mse;
  mse.loss = Loss::Mse;
  EXPECT_FALSE(TrainingSession(column, mse).binary_accuracy());
}

// A model exported with a fixed batch (torch.onnx.export without dynamic_axes) runs only that batch. train says so
// before training, naming the remedy, also for a data set whose last batch would be partial (it failed there, after
// the rest of the epoch had trained); validation, eval and run chunk their data in the model's batch (they used
// batches of 256 and failed).
TEST(FixedBatch, IsNamedBeforeTrainingAndUsedForEvaluation) {
  const TempDir tmp("fixed");
  const std::string& dir = tmp.path();
  const std::string four = kData + "fixed_batch4.onnx", three = kData + "fixed_batch3.onnx", good = kData + "good.npz";
  Outcome wrong = cli("train " + four + " --data " + good + " --out " + dir + "/t.onnx", dir);
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("fixes its batch dimension at 4"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("use --batch-size 4"), std::string::npos) << wrong.err;
  Outcome partial = cli("train " + three + " --data " + good + " --batch-size 3 --out " + dir + "/t.onnx", dir);
  EXPECT_EQ(partial.code, 1);
  EXPECT_NE(partial.err.find("20 samples leave a last batch of 2"), std::string::npos) << partial.err;
  EXPECT_FALSE(fs::exists(dir + "/t.onnx"));
  Outcome ok =
      cli("train " + four + " --data " + good + " --batch-size 4 --val " + good + " --out " + dir + "/t.onnx", dir);
  EXPECT_EQ(ok.code, 0) << ok.err;
  Outcome eval = cli("eval " + dir + "/t.onnx --data " + good, dir);
  EXPECT_EQ(eval.code, 0) << eval.err;
  Outcome run = cli("run " + dir + "/t.onnx --data " + good + " --out " + dir + "/p.npz", dir);
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(load_npz(dir + "/p.npz").at("p").shape, (std::vector<int64_t>{20, 10}));
  // The library's own message, for a batch fed directly.
  Model model = Model::load(four);
  InferenceSession s(model);
  EXPECT_NE(error_of([&] {
              s.run({{"x", Tensor::f32_of({2, 784}, std::vector<float>(2 * 784))}});
            }).find("fixes its batch dimension at 4 (a PyTorch export without dynamic_axes?)"),
            std::string::npos);
}

// Targets (N) for a model whose output is (N, 1) are taken as (N, 1): the same weights as from (N, 1) targets. (They
// were refused; torch's MSELoss would broadcast them to (N, N).)
TEST(ColumnOutput, TakesTargetsOfOneDimension) {
  const TempDir tmp("column");
  const std::string& dir = tmp.path();
  const std::string common =
      "train " + kData + "column.onnx --loss mse --no-shuffle --batch-size 8 --epochs 2 --lr 0.001";
  Outcome one = cli(common + " --data " + kData + "column_1d.npz --out " + dir + "/one.onnx", dir);
  ASSERT_EQ(one.code, 0) << one.err;
  Outcome two = cli(common + " --data " + kData + "column_2d.npz --out " + dir + "/two.onnx", dir);
  ASSERT_EQ(two.code, 0) << two.err;
  EXPECT_NE(slurp(dir + "/one.onnx"), slurp(kData + "column.onnx")) << "training changed nothing";
  EXPECT_EQ(slurp(dir + "/one.onnx"), slurp(dir + "/two.onnx"));
}

// A model with two outputs (tests/parity's two_heads: class probabilities, and an auxiliary head on the same hidden
// layer): train, eval and gradcheck need --output to say which one the loss reads, and name the outputs when it is
// missing or wrong. Trained through probs, the aux head's weights are left as they were; the shared layer's change.
TEST(SeveralOutputs, TheLossReadsTheOneNamed) {
  const TempDir tmp("outputs");
  const std::string& dir = tmp.path();
  const std::string parity = std::string(ONNXTRAIN_TEST_DATA) + "/parity/";
  const std::string model = parity + "two_heads.onnx", data = " --data " + parity + "two_heads.npz";
  const std::string out = dir + "/trained.onnx";
  for (const char* cmd : {"train", "eval", "gradcheck"}) {
    const std::string args =
        std::string(cmd) + " " + model + data + (std::string(cmd) == "train" ? " --out " + out : "");
    Outcome none = cli(args, dir);
    EXPECT_EQ(none.code, 1) << cmd;
    EXPECT_NE(none.err.find("the model has 2 outputs (probs, aux): name the one the loss reads with --output"),
              std::string::npos)
        << cmd << ": " << none.err;
    Outcome wrong = cli(args + " --output logits", dir);
    EXPECT_EQ(wrong.code, 1) << cmd;
    EXPECT_NE(wrong.err.find("--output: the model has no output 'logits'; its outputs: probs, aux"), std::string::npos)
        << cmd << ": " << wrong.err;
    EXPECT_FALSE(fs::exists(out)) << cmd;
  }
  Outcome trained = cli("train " + model + data + " --output probs --epochs 3 --out " + out, dir);
  ASSERT_EQ(trained.code, 0) << trained.err;
  const Model before = Model::load(model), after = Model::load(out);
  auto weights = [](const Model& m, const std::string& name) {
    const ir::Graph& g = m.impl().graph;
    const int id = g.find(name);
    return std::vector<float>(g.param(id), g.param(id) + g.numel(id));
  };
  EXPECT_EQ(weights(after, "aux.weight"), weights(before, "aux.weight"));
  EXPECT_EQ(weights(after, "aux.bias"), weights(before, "aux.bias"));
  EXPECT_NE(weights(after, "body.0.weight"), weights(before, "body.0.weight"));
  EXPECT_NE(weights(after, "cls.weight"), weights(before, "cls.weight"));
  EXPECT_EQ(cli("eval " + out + data + " --output probs", dir).code, 0);
  EXPECT_EQ(cli("gradcheck " + model + data + " --output probs", dir).code, 0);

  // Only what the named output depends on is kept: a second input that feeds only the other output is not asked
  // for, and that output's weight is not touched.
  const std::string side = kData + "side_input.onnx";
  Outcome one_input = cli("train " + side + " --data " + kData + "good.npz --output p --out " + out, dir);
  ASSERT_EQ(one_input.code, 0) << one_input.err;
  EXPECT_EQ(weights(Model::load(out), "side.weight"), weights(Model::load(side), "side.weight"));
  EXPECT_NE(weights(Model::load(out), "fc.weight"), weights(Model::load(side), "fc.weight"));
}

// An InferenceSession packs weights once; after a training step on the same model it must compute with the new
// weights, exactly as a session made afresh does.
TEST(InferenceAfterTraining, SeesTheTrainedWeights) {
  Model model = Model::load(kModel);
  InferenceSession before(model);
  Tensor x = Tensor::f32_of({3, 784}, std::vector<float>(3 * 784, 0.5f));
  auto out0 = before.run({{"input", x}}).at("probs").f32;
  TrainOptions options;
  options.optimizer.lr = 0.5;
  TrainingSession trainer(model, options);
  trainer.train_step(x, Tensor::i64_of({3}, {1, 2, 3}));
  auto out1 = before.run({{"input", x}}).at("probs").f32;
  InferenceSession fresh(model);
  auto want = fresh.run({{"input", x}}).at("probs").f32;
  EXPECT_NE(out1, out0) << "the step changed nothing: the test would not see stale weights";
  EXPECT_EQ(out1, want);
}

// SIGINT or SIGTERM in the middle of training: the step under way finishes, the model trained so far is written,
// and the exit is non-zero with a line that says where it stopped.
TEST(Interruption, WritesTheModelTrainedSoFar) {
  for (int sig : {SIGINT, SIGTERM}) {
    const TempDir tmp("sig");
    const std::string& dir = tmp.path();
    std::string out = dir + "/out.onnx";
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int err = open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
      int log = open((dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(log, 1);
      execl(ONNXTRAIN_CLI, ONNXTRAIN_CLI, "train", kModel.c_str(), "--data", "fashion-mnist", "--epochs", "50",
            "--batch-size", "16", "--out", out.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Once it says it is training (the data is loaded), let it train a while.
    for (int i = 0; i < 600 && slurp(dir + "/stdout").find("training ") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping";
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    std::string err = slurp(dir + "/stderr");
    EXPECT_NE(err.find(std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " after step"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("model trained so far to " + out), std::string::npos) << err;
    ASSERT_TRUE(fs::exists(out));
    Model trained = Model::load(out);  // a whole, loadable model
    EXPECT_NE(slurp(out), slurp(kModel)) << "the written model holds no training";
  }
}

// --log: one JSON object per step and per epoch; the epoch losses are the printed ones and the batch-weighted means
// of the step losses.
TEST(JsonLog, ParsesAndMatchesWhatIsPrinted) {
  const TempDir tmp("log");
  const std::string& dir = tmp.path();
  std::string cmd = std::string(ONNXTRAIN_CLI) + " train " + kModel + " --data " + kData +
                    "good.npz --batch-size 6 --epochs 2 --lr 0.05 --log " + dir + "/log.jsonl --out " + dir +
                    "/out.onnx > " + dir + "/stdout";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(dir + "/log.jsonl");
  int steps = 0;
  std::vector<double> epoch_losses;
  double weighted = 0, samples = 0;
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line);  // throws, failing the test, on a malformed line
    if (j.at("type") == "step") {
      ++steps;
      weighted += j.at("loss").get<double>() * j.at("batch").get<double>();
      samples += j.at("batch").get<double>();
    } else {
      ASSERT_EQ(j.at("type"), "epoch");
      epoch_losses.push_back(j.at("loss").get<double>());
      EXPECT_NEAR(epoch_losses.back(), weighted / samples, 1e-6);
      weighted = samples = 0;
    }
  }
  EXPECT_EQ(steps, 2 * 4);  // 20 samples in batches of 6: 4 steps an epoch, the last one partial
  ASSERT_EQ(epoch_losses.size(), 2u);
  std::string out = slurp(dir + "/stdout");
  for (size_t e = 0; e < 2; ++e) {
    char want[64];
    std::snprintf(want, sizeof want, "epoch %zu/2: loss %.4f", e + 1, epoch_losses[e]);
    EXPECT_NE(out.find(want), std::string::npos) << "'" << want << "' not in:\n" << out;
  }
}

// Fashion-MNIST, a subset small enough for CI: the loss falls and accuracy beats chance (0.1) by a wide margin.
TEST(EndToEnd, FashionMnistSubsetLearns) {
  Model model = Model::load(kModel);
  TrainOptions options;
  options.optimizer.kind = Optimizer::Sgd;
  options.optimizer.lr = 0.1;
  TrainingSession session(model, options);
  Dataset train = load_dataset("fashion-mnist", Split::Train), test = load_dataset("fashion-mnist", Split::Test);
  fit_features(train, "input", {784});
  fit_features(test, "input", {784});
  EvalResult before = session.evaluate(test.x, test.y);
  const int64_t batch = 64, steps = 300;
  for (int64_t s = 0; s < steps; ++s) {
    Tensor xb, yb;
    xb.shape = {batch, 784};
    xb.f32.assign(train.x.f32.begin() + s * batch * 784, train.x.f32.begin() + (s + 1) * batch * 784);
    yb.dtype = DType::Int64;
    yb.shape = {batch};
    yb.i64.assign(train.y.i64.begin() + s * batch, train.y.i64.begin() + (s + 1) * batch);
    session.train_step(xb, yb);
  }
  EvalResult after = session.evaluate(test.x, test.y);
  EXPECT_LT(after.loss, 0.6 * before.loss) << before.loss << " -> " << after.loss;
  EXPECT_GT(after.accuracy(), 0.65) << "from " << before.accuracy();
}

}  // namespace
