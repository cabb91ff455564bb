// The onnxtrain command line as a user meets it: help, info, run, and one usage or data error per class, each a
// single line with a non-zero exit that leaves existing files as they were.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "onnxtrain/data.h"
#include "onnxtrain/model.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using onnxtrain::testing::cli;
using onnxtrain::testing::Outcome;
using onnxtrain::testing::TempDir;

namespace {

const std::string kModel = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kRef = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.ref.npz";

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"--help", "info --help", "run --help", "test --help"}) {
    Outcome r = cli(cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(Cli, InfoDescribesTheModel) {
  Outcome r = cli("info " + kModel);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* s : {"pytorch", "ai.onnx 13", "input", "(batch,784)", "probs", "Gemm", "LeakyRelu", "Softmax",
                        "235,146 total, 235,146 trainable"})
    EXPECT_NE(r.out.find(s), std::string::npos) << "'" << s << "' not in:\n" << r.out;
}

TEST(Cli, InfoListsTheSupportedOps) {
  Outcome r = cli("info --ops");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* s : {"Gemm         1-21", "MatMul", "Dropout", "Reshape", "Constant", "yes", "no",
                        "Relu         1-21     yes       1,6,13,14\n"})
    EXPECT_NE(r.out.find(s), std::string::npos) << "'" << s << "' not in:\n" << r.out;
  // Every op but Constant trains through.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') - 1, static_cast<long>(onnxtrain::supported_ops().size()));
}

TEST(Cli, RunReproducesPyTorch) {
  const TempDir tmp("cli");
  const std::string& dir = tmp.path();
  Outcome r = cli("run " + kModel + " --data " + kRef + " --out " + dir + "/out.npz --threads 2 --batch-size 5");
  ASSERT_EQ(r.code, 0) << r.err;
  auto got = load_npz(dir + "/out.npz");
  auto ref = load_npz(kRef);
  ASSERT_EQ(got.at("probs").shape, ref.at("probs").shape);
  for (size_t i = 0; i < ref.at("probs").f32.size(); ++i)
    ASSERT_NEAR(got.at("probs").f32[i], ref.at("probs").f32[i], 1e-5);
}

struct UsageCase {
  const char* args;
  int code;
  const char* says;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.args; }

class CliError : public ::testing::TestWithParam<UsageCase> {};

TEST_P(CliError, IsOneLineAndNonZero) {
  const UsageCase& c = GetParam();
  const TempDir tmp("cli");
  const std::string& dir = tmp.path();
  std::string out = dir + "/out.npz";
  onnxtrain::testing::write_file(out, "keep me");
  std::string args = c.args;
  for (auto [from, to] :
       {std::pair<std::string, std::string>{"MODEL", kModel}, {"REF", kRef}, {"OUT", out}, {"DIR", dir}}) {
    for (size_t p; (p = args.find(from)) != std::string::npos;) args.replace(p, from.size(), to);
  }
  Outcome r = cli(args);
  EXPECT_EQ(r.code, c.code) << args << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(c.says), std::string::npos) << "'" << c.says << "' not in: " << r.err;
  EXPECT_EQ(onnxtrain::testing::slurp(out), "keep me");
}

// /proc/PID/FILE of a process, its NUL-separated entries joined with newlines.
std::string proc_file(pid_t pid, const char* file) {
  std::string s = onnxtrain::testing::slurp("/proc/" + std::to_string(pid) + "/" + file);
  std::replace(s.begin(), s.end(), '\0', '\n');
  return "\n" + s;
}

// The CLI starts itself again once with GOMP_SPINCOUNT=3000 (tools/omp_spin.h: libgomp's long spin made a 2-thread
// run 40x slower beside one busy process), and leaves a GOMP_SPINCOUNT or OMP_WAIT_POLICY the user set alone. Read
// from the environment of a running training process.
TEST(Cli, BoundsOpenMPSpinningUnlessTheUserChose) {
  const TempDir tmp("cli");
  const std::string& dir = tmp.path();
  struct Case {
    const char* given;
    const char* expected;  // a line of the running CLI's environment
    const char* absent;    // and one it must not have
  };
  for (const Case& c : {Case{"X_NOTHING=1", "GOMP_SPINCOUNT=3000", "OMP_WAIT_POLICY="},
                        Case{"GOMP_SPINCOUNT=777", "GOMP_SPINCOUNT=777", "GOMP_SPINCOUNT=3000"},
                        Case{"OMP_WAIT_POLICY=active", "OMP_WAIT_POLICY=active", "GOMP_SPINCOUNT="}}) {
    const std::string out = dir + "/o.onnx";
    pid_t pid = fork();
    if (pid == 0) {
      execlp("env", "env", "-u", "GOMP_SPINCOUNT", "-u", "OMP_WAIT_POLICY", c.given, ONNXTRAIN_CLI, "train",
             kModel.c_str(), "--data", "fashion-mnist", "--epochs", "1000", "--out", out.c_str(), (char*)nullptr);
      _exit(127);
    }
    ASSERT_GT(pid, 0);
    // Once the CLI has loaded its data set, any start-again has happened.
    std::string env;
    for (int i = 0; i < 400; ++i) {
      usleep(50 * 1000);
      if (proc_file(pid, "cmdline").find("\n" ONNXTRAIN_CLI "\n") == std::string::npos) continue;
      std::string status = proc_file(pid, "status");
      if (status.find("VmRSS") == std::string::npos) break;  // ended
      auto rss = status.find("VmRSS:");
      if (std::stol(status.substr(rss + 6)) < 200 * 1024) continue;  // fashion-mnist (188 MB as floats) not in yet
      env = proc_file(pid, "environ");
      break;
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    EXPECT_NE(env.find(std::string("\n") + c.expected + "\n"), std::string::npos) << c.given << ":" << env;
    EXPECT_EQ(env.find(std::string("\n") + c.absent), std::string::npos) << c.given << ":" << env;
  }
}

// A model with ops onnxtrain lacks is still described, with those nodes marked, and then refused: exit 1 and the
// load's one-line reason on stderr. (info used to print nothing but the reason.)
TEST(Cli, InfoDescribesAModelItCannotRunAndMarksTheOps) {
  const std::string path = std::string(ONNXTRAIN_TEST_DATA) + "/bad_models/unsupported_ops.onnx";
  Outcome r = cli("info " + path);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("node 'det0' (Det): op Det is not supported"), std::string::npos) << r.err;
  for (const char* line : {"  det0                     Det  (x) -> (e)  NOT SUPPORTED\n",
                           "  mod1                     Mod  (m, x) -> (m2)  NOT SUPPORTED\n",
                           "  relu0                    Relu-", "inputs:\n  x                        float32  (2,3)\n"})
    EXPECT_NE(r.out.find(line), std::string::npos) << "'" << line << "' not in:\n" << r.out;
  EXPECT_NE(r.out.find("  relu0                    Relu-13  (m2) -> (y)\n"), std::string::npos)
      << "Relu is supported:\n"
      << r.out;
  EXPECT_EQ(r.out.find("parameters:"), std::string::npos) << "a model that did not load has no parameter count";
  // A file that is not ONNX at all has only the reason.
  Outcome junk = cli("info " + kRef);
  EXPECT_EQ(junk.code, 1);
  EXPECT_TRUE(junk.out.empty()) << junk.out;
}

// Paths that are not files: a folder, and /dev/zero under each reader's name (it was read forever, growing without
// bound). Each is refused in one line that names it; a time limit turns the old hang into a failure.
TEST(Cli, FoldersAndDevicesAreNotRead) {
  const TempDir tmp("cli");
  const std::string& dir = tmp.path();
  for (const char* name : {"z.onnx", "z.npy", "z.npz", "z-images-idx3-ubyte"})
    fs::create_symlink("/dev/zero", dir + "/" + name);
  fs::create_directory(dir + "/folder.onnx");
  fs::create_directory(dir + "/folder.npz");
  struct Case {
    std::string args, says;
  };
  for (const Case& c :
       {Case{"info " + dir + "/z.onnx", "z.onnx: is a device or socket, not an ONNX model"},
        Case{"info " + dir + "/folder.onnx", "folder.onnx: is a folder, not an ONNX model"},
        Case{"eval " + kModel + " --data " + dir + "/z.npy", "z.npy: is a device or socket, not an .npy file"},
        Case{"eval " + kModel + " --data " + dir + "/z.npz", "z.npz: is a device or socket, not an .npz file"},
        Case{"eval " + kModel + " --data " + dir + "/folder.npz", "folder.npz: is a folder, not an .npz file"},
        Case{"eval " + kModel + " --data " + dir + "/z-images-idx3-ubyte",
             "z-images-idx3-ubyte: is a device or socket, not an idx file"}}) {
    Outcome r = cli(c.args, 60);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << "'" << c.says << "' not in: " << r.err;
  }
}

// Every file under dir with its size and modification time: what a command that writes nothing leaves as it was.
std::string listing(const std::string& dir) {
  std::string s;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    s += e.path().string() + " " + (e.is_regular_file() ? std::to_string(e.file_size()) : "dir") + " " +
         std::to_string(e.last_write_time().time_since_epoch().count()) + "\n";
  return s;
}

// `onnxtrain test`: ONNX backend-test folders run as onnx's runner runs them, one line each (the worst difference of
// those that pass, the reason of those that fail, naming the file), a summary, exit 1 on any failure; nothing is
// written, into the folders or anywhere else.
TEST(CliTest, RunsBackendTestFoldersAsOnnxsRunner) {
  const std::string node = std::string(ONNXTRAIN_TEST_DATA) + "/onnx_node/node/";
  const TempDir tmp("clitest");
  const auto copy_of = [&](const std::string& name, const std::string& as) {
    fs::copy(node + name, tmp / as, fs::copy_options::recursive);
    return tmp / as;
  };
  // Expected values that are another tensor of the output's shape (the input's): past the tolerance.
  const std::string wrong = copy_of("test_relu", "wrong");
  fs::copy_file(wrong + "/test_data_set_0/input_0.pb", wrong + "/test_data_set_0/output_0.pb",
                fs::copy_options::overwrite_existing);
  const std::string broken = copy_of("test_relu", "broken");
  onnxtrain::testing::write_file(broken + "/test_data_set_0/input_0.pb", "this is not a protobuf");
  // An int64 tensor for test_add's float32 x.
  const std::string dtype = copy_of("test_add", "dtype");
  fs::copy_file(node + "test_reshape_reordered_all_dims/test_data_set_0/input_1.pb",
                dtype + "/test_data_set_0/input_0.pb", fs::copy_options::overwrite_existing);
  const std::string none = tmp / "none";
  const std::string before = listing(tmp.path()) + listing(node + "test_relu");
  // test_add has two inputs; test_shape's output is int64, compared exactly.
  const Outcome r = cli("test " + node + "test_relu " + node + "test_add " + node + "test_shape " + wrong + " " +
                        broken + " " + dtype + " " + none);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  for (const std::string& line : std::vector<std::string>{
           "PASS  " + node + "test_relu: 1 set, worst difference ",
           "PASS  " + node + "test_add: 1 set, worst difference ",
           "PASS  " + node + "test_shape: 1 set, outputs equal (no float elements)",
           "FAIL  " + wrong + ": test_data_set_0 output 'y'[", "FAIL  " + broken + "/test_data_set_0/input_0.pb: ",
           "FAIL  " + dtype + "/test_data_set_0: ", "input 'x' is float32 but the data is int64",
           "FAIL  " + none + ": no such folder\n", "3 passed, 4 failed, of 7 folders (rtol 0.001, atol 1e-07)\n"})
    EXPECT_NE(r.out.find(line), std::string::npos) << "'" << line << "' not in:\n" << r.out;
  EXPECT_EQ(lines(r.out), 8) << r.out;
  EXPECT_EQ(listing(tmp.path()) + listing(node + "test_relu"), before);
  // The tolerances are options: at atol 100 the wrong values pass.
  const Outcome loose = cli("test " + wrong + " --atol 100 --rtol 0");
  EXPECT_EQ(loose.code, 0) << loose.out << loose.err;
  EXPECT_NE(loose.out.find("1 passed, 0 failed, of 1 folder (rtol 0, atol 100)"), std::string::npos) << loose.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliError,
    ::testing::Values(
        UsageCase{"", 2, "subcommand"}, UsageCase{"frobnicate", 2, "frobnicate"},
        UsageCase{"info MODEL --bogus", 2, "--bogus"}, UsageCase{"info", 2, "MODEL"},
        UsageCase{"run MODEL --data REF --out OUT --threads 0", 2,
                  "--threads: must be a whole number from 1 to 1024, got 0"},
        // Past the limit OpenMP failed to make its threads, or crashed, before any work.
        UsageCase{"eval MODEL --data REF --threads 100000", 2,
                  "--threads: must be a whole number from 1 to 1024, got 100000"},
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --batch-size 0", 2,
                  "--batch-size: must be a positive number, got 0"},
        // CLI11 would wrap -1 into the unsigned seed.
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --seed -1", 2,
                  "--seed: must be a whole number >= 0, got -1"},
        // Another optimizer's option would be ignored without a word.
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --beta1 0.5", 2,
                  "--beta1: applies to --optimizer adam and adamw, not sgd"},
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --optimizer adam --momentum 0.9", 2,
                  "--momentum: applies to --optimizer sgd, not adam"},
        // An output onto another output or onto an input: the model or the data was lost.
        UsageCase{"train MODEL --data REF --out OUT --log OUT", 2, "out.npz is also where --out writes"},
        UsageCase{"train MODEL --data OUT --out DIR/t.onnx --log OUT", 2, "out.npz is the --data this run reads"},
        UsageCase{"run MODEL --data OUT --out OUT", 2, "out.npz is the --data this run reads"},
        // A missing array names the input and lists the arrays the file has.
        UsageCase{"run " ONNXTRAIN_TEST_DATA "/typed/test_add_uint16_initializer/model.onnx --data REF --out OUT", 1,
                  "fashion_mlp.ref.npz: no array 'a' or 'x' for model input 'a'; the file has: input, probs"},
        // A key for data that is not an .npz would do nothing.
        UsageCase{"eval MODEL --data fashion-mnist --input-key x", 2,
                  "--input-key: names an array inside .npz data, and fashion-mnist is not an .npz file"},
        UsageCase{"train MODEL --data fashion-mnist --out DIR/t.onnx --target-key y", 2,
                  "--target-key: names an array inside .npz data"},
        UsageCase{"run MODEL --data REF --out OUT --threads many", 2, "--threads"},
        UsageCase{"run MODEL --data REF --out OUT --batch-size 0", 2, "--batch-size: must be a positive number, got 0"},
        // A negative --lr is refused, not taken as "the default" (the library's sentinel).
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --lr -1", 2, "--lr: must be a positive number, got -1"},
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --weight-decay -0.5", 2,
                  "--weight-decay: must be a number >= 0, got -0.5"},
        UsageCase{"train MODEL --data REF --out DIR/t.onnx --epochs 0", 2,
                  "--epochs: must be a positive number, got 0"},
        UsageCase{"gradcheck MODEL --data REF --eps -1e-6", 2, "--eps: must be a positive number, got -1e-6"},
        UsageCase{"gradcheck MODEL --data REF --elements -1", 2, "--elements: must be a number >= 0, got -1"},
        UsageCase{"test", 2, "DIR"}, UsageCase{"test DIR --rtol -1", 2, "--rtol: must be a number >= 0, got -1"},
        UsageCase{"test DIR --atol nan", 2, "--atol: must be a number >= 0, got nan"},
        UsageCase{"run MODEL --out OUT", 2, "--data"}, UsageCase{"info DIR/none.onnx", 1, "none.onnx: cannot open"},
        UsageCase{"run MODEL --data DIR/none.npz --out OUT", 1, "none.npz"},
        UsageCase{"run MODEL --data REF --out OUT --input-key nope", 1, "'nope'"},
        UsageCase{"run MODEL --data fashion-mnist --out DIR/missing/out.npz", 1, "out.npz"},
        UsageCase{"run MODEL --data MODEL --out OUT", 1, "unknown data format"},
        UsageCase{"run MODEL --data " ONNXTRAIN_TEST_DATA "/train/empty.npz --out OUT", 1,
                  "empty.npz: the data set is empty"}));

}  // namespace

namespace {

const std::string kMetrics = std::string(ONNXTRAIN_TEST_DATA) + "/metrics/";

// --plot writes SVG: another name is refused before anything is read, and the message names rsvg-convert.
TEST(Cli, PlotWithAnotherExtensionNamesRsvgConvert) {
  const TempDir tmp("cli");
  Outcome r = cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls.npz --out " + tmp.path() +
                  "/o.onnx --plot " + tmp.path() + "/curve.png");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("curve.png is not an .svg name"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rsvg-convert FILE.svg -o FILE.png"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() + "/o.onnx"));
}

// The same samples from a CSV, from an .npy with --labels, and from an .npz train to the same weights, byte for
// byte; --val-labels gives the validation's.
TEST(Cli, TrainsOnCsvAndNpyLabelsAsOnTheNpz) {
  const TempDir tmp("cli");
  const std::string& d = tmp.path();
  const std::string common = " --optimizer adam --epochs 2 --batch-size 16 --threads 1 --val ";
  Outcome npz = cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls.npz" + common + kMetrics +
                    "cls.npz --out " + d + "/npz.onnx");
  ASSERT_EQ(npz.code, 0) << npz.err;
  Outcome csv = cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls.csv --target-col label" + common +
                    kMetrics + "cls.csv --out " + d + "/csv.onnx");
  ASSERT_EQ(csv.code, 0) << csv.err;
  Outcome npy =
      cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls_x.npy --labels " + kMetrics + "cls_y.npy" +
          common + kMetrics + "cls_x.npy --val-labels " + kMetrics + "cls_y.npy --out " + d + "/npy.onnx");
  ASSERT_EQ(npy.code, 0) << npy.err;
  EXPECT_EQ(onnxtrain::testing::slurp(d + "/csv.onnx"), onnxtrain::testing::slurp(d + "/npz.onnx"));
  EXPECT_EQ(onnxtrain::testing::slurp(d + "/npy.onnx"), onnxtrain::testing::slurp(d + "/npz.onnx"));
  // The validation lines agree too (the accuracy is counted: the labels are class labels in all three).
  const auto epoch_line = [](const std::string& out) {  // without its samples/s, which vary
    const size_t at = out.find("epoch 2/2");
    const std::string line = at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
    return line.substr(0, line.rfind(", "));
  };
  EXPECT_NE(epoch_line(npz.out).find("accuracy"), std::string::npos) << npz.out;
  EXPECT_NE(epoch_line(npz.out).find("val loss"), std::string::npos) << npz.out;
  EXPECT_EQ(epoch_line(csv.out), epoch_line(npz.out));
  EXPECT_EQ(epoch_line(npy.out), epoch_line(npz.out));
  // --val-labels without --val, and --val .npy without labels.
  Outcome lone = cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls.npz --val-labels " + kMetrics +
                     "cls_y.npy --out " + d + "/x.onnx");
  EXPECT_EQ(lone.code, 2) << lone.err;
  EXPECT_NE(lone.err.find("--val-labels: needs --val DATA"), std::string::npos) << lone.err;
  Outcome unlabelled = cli("train " + kMetrics + "cls.onnx --data " + kMetrics + "cls.npz --val " + kMetrics +
                           "cls_x.npy --out " + d + "/x.onnx");
  EXPECT_EQ(unlabelled.code, 1) << unlabelled.err;
  EXPECT_NE(unlabelled.err.find("cls_x.npy: an .npy holds features only"), std::string::npos) << unlabelled.err;
  EXPECT_FALSE(fs::exists(d + "/x.onnx"));
}

}  // namespace
