// The user's files, through the command line: each defect the file-safety review found (D1, D2, D6 to D11, D13 to D17,
// D19, D20, D22, D23) as a test named after it, each failing on the code before its fix. What they share: outputs
// are checked by identity against every input and refuse special files, deletions remove only what the run made,
// and a failed run leaves every file it was pointed at as it was.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "onnxtrain/files.h"
#include "onnxtrain/model.h"
#include "tests/support/cli.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using namespace onnxtrain::testing;

namespace {

const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kExternal = std::string(ONNXTRAIN_TEST_DATA) + "/models/mlp_external.onnx";  // + .onnx.data
const std::string kFiles = std::string(ONNXTRAIN_TEST_DATA) + "/files/";
const std::string kGood = std::string(ONNXTRAIN_TEST_DATA) + "/train/good.npz";  // 20 samples, 784 features

// A copy of the external-data MLP in dir/src: mlp_external.onnx beside mlp_external.onnx.data.
std::string external_copy(const std::string& dir) {
  fs::create_directories(dir + "/src");
  fs::copy(kExternal, dir + "/src");
  fs::copy(kExternal + ".data", dir + "/src");
  return dir + "/src/mlp_external.onnx";
}

// The step records and epoch numbers of a --log file.
std::vector<int64_t> epochs_logged(const std::string& log) {
  std::vector<int64_t> v;
  std::ifstream f(log);
  for (std::string line; std::getline(f, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("type") == "epoch") v.push_back(j.at("epoch").get<int64_t>());
  }
  return v;
}

// --- D1: the source's external data, spelled any way ---

// The trained model goes to --out and OUT.data, whatever spelling of the source's folder --out uses; the source's
// weights file keeps its bytes.
TEST(FileSafety, D1_AnotherSpellingOfTheSourceFolderLeavesTheSourceWeights) {
  const TempDir tmp("d1");
  const std::string& dir = tmp.path();
  const std::string model = external_copy(dir);
  fs::create_directory_symlink(dir + "/src", dir + "/link");
  fs::create_directory(dir + "/src/sub");
  const std::string before = slurp(dir + "/src/mlp_external.onnx.data");
  // relative against absolute; sub/../; a symlinked folder
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cd " + dir + "/src && ", "trained1.onnx"},
      {"cd " + dir + " && ", "src/sub/../trained2.onnx"},
      {"", dir + "/link/trained3.onnx"},
      {"cd " + dir + "/src && ", "./mlp_external.onnx.copy.onnx"}};
  for (const auto& [cd, out] : cases) {
    const std::string cmd = cd + ONNXTRAIN_CLI + " train " + model + " --data " + kGood + " --steps 2 --out " + out +
                            " > " + dir + "/stdout 2> " + dir + "/stderr";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << out << ": " << slurp(dir + "/stderr");
    EXPECT_EQ(slurp(dir + "/src/mlp_external.onnx.data"), before) << "--out " << out << " wrote the source's weights";
  }
  // Each trained model has weights of its own, beside it.
  for (const char* name : {"trained1.onnx", "trained2.onnx", "trained3.onnx"}) {
    ASSERT_TRUE(fs::exists(dir + "/src/" + std::string(name) + ".data")) << name;
    EXPECT_NE(slurp(dir + "/src/" + std::string(name) + ".data"), before) << name << " was not trained";
    Model::load(dir + "/src/" + name);  // loads, with its own external data
  }
}

// OUT.data that is the source's own external file: refused, nothing written.
TEST(FileSafety, D1_OutWhoseDataFileIsTheSourcesWeightsIsRefused) {
  const TempDir tmp("d1_data");
  const std::string& dir = tmp.path();
  external_copy(dir);
  // The same model under another name, still reading mlp_external.onnx.data: --out mlp_external.onnx would write
  // its OUT.data over that file.
  fs::rename(dir + "/src/mlp_external.onnx", dir + "/src/renamed.onnx");
  const std::string before = slurp(dir + "/src/mlp_external.onnx.data");
  Outcome r = cli(
      "train " + dir + "/src/renamed.onnx --data " + kGood + " --steps 2 --out " + dir + "/src/mlp_external.onnx", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("mlp_external.onnx.data"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("external data"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/src/mlp_external.onnx.data"), before);
  EXPECT_FALSE(fs::exists(dir + "/src/mlp_external.onnx"));
}

// --out naming the run's own external-data input.
TEST(FileSafety, D1_OutOntoTheModelsExternalDataIsRefused) {
  const TempDir tmp("d1_out");
  const std::string& dir = tmp.path();
  const std::string model = external_copy(dir);
  const std::string before = slurp(dir + "/src/mlp_external.onnx.data");
  Outcome r = cli(
      "train " + model + " --data " + kGood + " --steps 2 --out " + dir + "/src/../src/mlp_external.onnx.data", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("MODEL's external data"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_EQ(slurp(dir + "/src/mlp_external.onnx.data"), before);
  r = cli("run " + model + " --data " + kGood + " --out " + dir + "/src/mlp_external.onnx.data", dir);  // run too
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("MODEL's external data"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/src/mlp_external.onnx.data"), before);
}

// --- D2: special files and symlinks ---

TEST(FileSafety, D2_FifosAndDevicesAreNeverReplaced) {
  const TempDir tmp("d2");
  const std::string& dir = tmp.path();
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0644), 0);
  ASSERT_EQ(mkfifo((dir + "/fifo.svg").c_str(), 0644), 0);
  const bool root = geteuid() == 0;  // a device node of our own, in our folder: the null device's numbers
  if (root) {
    ASSERT_EQ(mknod((dir + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  }
  const std::string train = "train " + kFashion + " --data " + kGood + " --steps 1 ";
  std::vector<std::string> cases = {train + "--out " + dir + "/fifo",
                                    train + "--out " + dir + "/m.onnx --log " + dir + "/fifo",
                                    train + "--out " + dir + "/m.onnx --plot " + dir + "/fifo.svg",
                                    "run " + kFashion + " --data " + kGood + " --out " + dir + "/fifo"};
  if (root) {
    cases.push_back(train + "--out " + dir + "/null");
    cases.push_back(train + "--out " + dir + "/m.onnx --log " + dir + "/null");
    cases.push_back("run " + kFashion + " --data " + kGood + " --out " + dir + "/null");
  }
  for (const std::string& args : cases) {
    Outcome r = cli(args, dir);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find("onnxtrain replaces only regular files"), std::string::npos) << args << "\n" << r.err;
  }
  struct stat st;
  ASSERT_EQ(lstat((dir + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(lstat((dir + "/fifo.svg").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  if (root) {
    ASSERT_EQ(lstat((dir + "/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device node became a file";
  }
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
}

// --in-place on a symlink trains the file it points to, and the link stays a link. --out through a link too.
TEST(FileSafety, D2_SymlinksAreWrittenThrough) {
  const TempDir tmp("d2_link");
  const std::string& dir = tmp.path();
  fs::create_directory(dir + "/models");
  fs::copy(kFashion, dir + "/models/real.onnx");
  fs::create_symlink("models/real.onnx", dir + "/link.onnx");
  const std::string before = slurp(dir + "/models/real.onnx");
  Outcome r = cli("train " + dir + "/link.onnx --data " + kGood + " --steps 2 --in-place", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir + "/link.onnx")) << "the symlink was replaced by a file";
  EXPECT_NE(slurp(dir + "/models/real.onnx"), before) << "the linked model was not trained";
  Model::load(dir + "/models/real.onnx");

  fs::create_symlink("models/out.onnx", dir + "/out-link.onnx");  // dangling: its target is made
  r = cli("train " + kFashion + " --data " + kGood + " --steps 2 --out " + dir + "/out-link.onnx", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir + "/out-link.onnx"));
  EXPECT_TRUE(fs::is_regular_file(dir + "/models/out.onnx"));
}

// --- D6, D7, D8: the checkpoint folder ---

TEST(FileSafety, D6_CheckpointsRemoveOnlyTheirOwnStepFolders) {
  const TempDir tmp("d6");
  const std::string& dir = tmp.path();
  fs::create_directories(dir + "/exp/step-results");
  write_file(dir + "/exp/step-by-step-notes.txt", "notes");
  write_file(dir + "/exp/step-results/r.txt", "results");
  const std::string train = "train " + kFashion + " --data " + kGood +
                            " --batch-size 6 --steps 5 --checkpoint-every 1 --out " + dir + "/m.onnx --checkpoint ";
  Outcome r = cli(train + dir + "/exp", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir + "/exp/step-by-step-notes.txt"), "notes");
  EXPECT_EQ(slurp(dir + "/exp/step-results/r.txt"), "results");
  EXPECT_TRUE(fs::exists(dir + "/exp/step-00000005/model.onnx"));
  EXPECT_FALSE(fs::exists(dir + "/exp/step-00000004"));
  // A folder of the checkpoints' own name that holds what onnxtrain never writes is the user's: refused at the
  // start, not removed and not trained into.
  fs::create_directories(dir + "/exp2/step-00000001");
  write_file(dir + "/exp2/step-00000001/mine.txt", "mine");
  r = cli(train + dir + "/exp2", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("step-00000001 holds mine.txt, which onnxtrain did not write"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/exp2/step-00000001/mine.txt"), "mine");
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << r.out;
}

// A checkpoint folder that holds the run's own inputs, directly or further down, is refused.
TEST(FileSafety, D6_ACheckpointFolderHoldingTheInputsIsRefused) {
  const TempDir tmp("d6_inputs");
  const std::string& dir = tmp.path();
  fs::create_directories(dir + "/runs/deep");
  fs::copy(kFashion, dir + "/runs/step-1.onnx");
  fs::copy(kGood, dir + "/runs/deep/step-1-data.npz");
  const std::string model = slurp(dir + "/runs/step-1.onnx"), data = slurp(dir + "/runs/deep/step-1-data.npz");
  for (const std::string& ck : {dir + "/runs", dir + "/runs/deep", dir, dir + "/runs/deep/.."}) {
    Outcome r = cli("train " + dir + "/runs/step-1.onnx --data " + dir +
                        "/runs/deep/step-1-data.npz --steps 2 --checkpoint " + ck + " --out " + dir + "/out.onnx",
                    dir);
    EXPECT_EQ(r.code, 1) << ck << ": " << r.err;
    EXPECT_NE(r.err.find("give the checkpoints a folder of their own"), std::string::npos) << r.err;
  }
  EXPECT_EQ(slurp(dir + "/runs/step-1.onnx"), model);
  EXPECT_EQ(slurp(dir + "/runs/deep/step-1-data.npz"), data);
  EXPECT_FALSE(fs::exists(dir + "/out.onnx"));
}

// A new run into a folder that holds another run's checkpoint is refused, and the checkpoint stays; --resume is the
// way to continue it.
TEST(FileSafety, D7_AnotherRunsCheckpointIsNeitherReusedNorReplaced) {
  const TempDir tmp("d7");
  const std::string& dir = tmp.path();
  const std::string common =
      kFashion + " --data " + kGood + " --batch-size 6 --steps 3 --checkpoint " + dir + "/ck --out ";
  ASSERT_EQ(cli("train " + common + dir + "/a.onnx --seed 1", dir).code, 0);
  const std::string progress = slurp(dir + "/ck/step-00000003/progress.json"),
                    weights = slurp(dir + "/ck/step-00000003/model.onnx");
  Outcome r = cli("train " + common + dir + "/b.onnx --seed 2", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("holds the checkpoint of an earlier run (step-00000003); continue that run with --resume"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(dir + "/ck/step-00000003/progress.json"), progress);
  EXPECT_EQ(slurp(dir + "/ck/step-00000003/model.onnx"), weights);
  EXPECT_FALSE(fs::exists(dir + "/b.onnx"));
}

TEST(FileSafety, D8_AFolderAnotherRunHoldsIsRefused) {
  const TempDir tmp("d8");
  const std::string& dir = tmp.path();
  fs::create_directory(dir + "/ck");
  const int fd = open((dir + "/ck/lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string pid = std::to_string(getpid()) + "\n";
  ASSERT_EQ(write(fd, pid.data(), pid.size()), static_cast<ssize_t>(pid.size()));
  Outcome r =
      cli("train " + kFashion + " --data " + kGood + " --steps 2 --checkpoint " + dir + "/ck --out " + dir + "/m.onnx",
          dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(dir + "/ck: is being written by pid " + std::to_string(getpid())), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
  close(fd);  // released: the same command now runs
  r = cli("train " + kFashion + " --data " + kGood + " --steps 2 --checkpoint " + dir + "/ck --out " + dir + "/m.onnx",
          dir);
  EXPECT_EQ(r.code, 0) << r.err;
}

// --- D9: an interrupt before the first step ---

TEST(FileSafety, D9_AnInterruptBeforeTheFirstStepWritesNothing) {
  const TempDir tmp("d9");
  const std::string& dir = tmp.path();
  write_file(dir + "/out.onnx", "the user's earlier model");
  // Fashion-MNIST takes a moment to load: SIGINT then lands while the data loads. A signal that came too early
  // (before the handler) or too late (after the first step) is retried with another delay.
  bool hit = false;
  for (int delay_ms : {150, 80, 300, 40, 600}) {
    const pid_t pid = fork();
    if (pid == 0) {
      const int null_out = open((dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(null_out, 1);
      dup2(err, 2);
      execl(ONNXTRAIN_CLI, ONNXTRAIN_CLI, "train", kFashion.c_str(), "--data", "fashion-mnist", "--val",
            "fashion-mnist", "--out", (dir + "/out.onnx").c_str(), "--log", (dir + "/log.jsonl").c_str(), nullptr);
      _exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    const std::string err = slurp(dir + "/stderr");
    EXPECT_EQ(slurp(dir + "/out.onnx"), "the user's earlier model") << err;
    EXPECT_FALSE(fs::exists(dir + "/log.jsonl")) << err;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 130 && err.find("before the first step") != std::string::npos) {
      EXPECT_NE(err.find("interrupted by SIGINT before the first step; nothing was written"), std::string::npos) << err;
      hit = true;
      break;
    }
  }
  EXPECT_TRUE(hit) << "no delay landed the interrupt while the data loaded";
}

// --- D10: weights that are not finite ---

// A NaN weight that a Relu hides from the loss: the loss stays finite, and the run refuses to write the weights.
TEST(FileSafety, D10_NonFiniteWeightsAreNeverWritten) {
  const TempDir tmp("d10");
  const std::string& dir = tmp.path();
  write_file(dir + "/out.onnx", "earlier");
  Outcome r = cli("train " + kFiles + "nan_hidden_mlp.onnx --data " + kGood + " --steps 3 --out " + dir +
                      "/out.onnx --log " + dir + "/log.jsonl --checkpoint " + dir + "/ck",
                  dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("parameter 'fc1.weight' holds NaN or Inf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("loss stayed finite"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/out.onnx"), "earlier");
  EXPECT_FALSE(fs::exists(dir + "/log.jsonl"));
  EXPECT_FALSE(fs::exists(dir + "/ck")) << "the checkpoint folder this run made and never used stays behind";
}

// --- D11: memory and checkpoints the same size however long the run ---

TEST(FileSafety, D11_CheckpointsAndMemoryDoNotGrowWithTheSteps) {
  const TempDir tmp("d11");
  const std::string& dir = tmp.path();
  const auto run = [&](int64_t steps, const std::string& ck) {
    Outcome r = cli("train " + kFiles + "tiny_mlp.onnx --data " + kGood + " --batch-size 4 --threads 1 --steps " +
                        std::to_string(steps) + " --checkpoint-every 50 --checkpoint " + dir + "/" + ck + " --out " +
                        dir + "/" + ck + ".onnx",
                    dir);
    EXPECT_EQ(r.code, 0) << r.err;
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ru.ru_maxrss;  // KiB, the largest of the children so far
  };
  const long small = run(100, "short");
  const long large = run(10000, "long");
  const std::string latest = slurp(dir + "/long/latest").substr(0, 13);
  const auto a = fs::file_size(dir + "/short/step-00000100/progress.json");
  const auto b = fs::file_size(dir + "/long/" + latest + "/progress.json");
  EXPECT_LT(b, a + 64) << "progress.json grows with the steps: " << a << " bytes at 100, " << b << " at 10000";
  // Before: every step's record was kept and copied into each checkpoint: 24 MB more here. AddressSanitizer's
  // quarantine holds freed memory back (up to 256 MB), so the peak says nothing there.
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(large - small, 8 * 1024) << "peak RSS grew by " << (large - small) << " KiB over 9,900 more steps";
#endif
  // The history is all there, in the checkpoint's records.
  std::ifstream records(dir + "/long/records.jsonl");
  int64_t lines = 0;
  for (std::string line; std::getline(records, line);) lines += line.find("\"type\":\"step\"") != std::string::npos;
  EXPECT_EQ(lines, 10000);
}

// --- D13: a hand-edited checkpoint is refused at the start, naming the file and the field ---

TEST(FileSafety, D13_AHandEditedCheckpointIsRefusedBeforeAnyWork) {
  const TempDir tmp("d13");
  const std::string& dir = tmp.path();
  const std::string common = kFashion + " --data " + kGood + " --batch-size 6 --out " + dir + "/m.onnx ";
  ASSERT_EQ(cli("train " + common + "--steps 3 --checkpoint " + dir + "/ck", dir).code, 0);
  const std::string progress = dir + "/ck/step-00000003/progress.json", good = slurp(progress);
  const std::string records = dir + "/ck/records.jsonl", good_records = slurp(records);
  struct Edit {
    std::string field, value, says;
  };
  for (const Edit& e : std::vector<Edit>{{"loss_sum", "\"many\"", "'loss_sum' is not a number"},
                                         {"config", "[1]", "'config' is not an object"},
                                         {"rng", "7", "'rng' is not a string"},
                                         {"seen", "-3", "'seen' is not a whole number >= 0"},
                                         {"records_bytes", "99999999", "less than the 99999999 bytes"},
                                         {"version", "\"2\"", "version \"2\""}}) {
    nlohmann::json j = nlohmann::json::parse(good);
    j[e.field] = nlohmann::json::parse(e.value);
    write_file(progress, j.dump());
    Outcome r = cli("train " + common + "--steps 6 --resume " + dir + "/ck", dir);
    EXPECT_EQ(r.code, 1) << e.field << ": " << r.err;
    EXPECT_NE(r.err.find(e.says), std::string::npos) << e.field << ": " << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(dir + "/stdout").find("epoch"), std::string::npos) << "refused only after training: " << r.out;
  }
  const std::string edited = std::regex_replace(good_records, std::regex("\"loss\":[0-9.e-]+"), "\"loss\":\"low\"",
                                                std::regex_constants::format_first_only);
  write_file(records, edited);
  nlohmann::json j = nlohmann::json::parse(good);
  j["records_bytes"] = edited.size();
  write_file(progress, j.dump());
  Outcome r = cli("train " + common + "--steps 6 --resume " + dir + "/ck", dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("records.jsonl line 1: 'loss' is not a number"), std::string::npos) << r.err;
}

// --- D14, D15: resuming and option ranges ---

TEST(FileSafety, D14_ResumeTakesTheSameOptionsHoweverSpelled) {
  const TempDir tmp("d14");
  const std::string& dir = tmp.path();
  const std::string common = kFashion + " --data " + kGood + " --batch-size 6 --out " + dir + "/m.onnx ";
  ASSERT_EQ(cli("train " + common + "--steps 2 --freeze 0.bias --freeze 2.bias --checkpoint " + dir + "/ck", dir).code,
            0);
  // --lr 0.01 is SGD's default, and --freeze is a set.
  Outcome r = cli(
      "train " + common + "--steps 3 --lr 0.01 --freeze 2.bias --freeze 0.bias --freeze 0.bias --resume " + dir + "/ck",
      dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli("train " + common + "--steps 4 --momentum 0.5 --freeze 0.bias --freeze 2.bias --resume " + dir + "/ck", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("made with momentum 0.0, this run has 0.5"), std::string::npos) << r.err;
  // A new lr (or schedule) is allowed, and noted.
  r = cli("train " + common + "--steps 4 --lr 0.02 --freeze 0.bias --freeze 2.bias --resume " + dir + "/ck", dir);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("note: the checkpoint was made with --lr 0.01"), std::string::npos) << r.err;
}

TEST(FileSafety, D15_OutOfRangeOptimizerOptionsAreBadUsage) {
  const TempDir tmp("d15");
  const std::string& dir = tmp.path();
  const std::string train = "train " + kFashion + " --data " + kGood + " --out " + dir + "/m.onnx ";
  for (const std::string& args :
       {std::string("--momentum -1"), std::string("--dampening 2"), std::string("--nesterov"),
        std::string("--optimizer adam --beta1 1.5"), std::string("--optimizer adam --beta2 -0.1"),
        std::string("--optimizer adamw --eps -1"), std::string("--momentum nan")}) {
    Outcome r = cli(train + args, dir);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_NE(r.err.find("usage error"), std::string::npos) << args << ": " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
}

// --- D16, D17: external data in a subfolder, and every destination checked before training ---

TEST(FileSafety, D16_ExternalDataInASubfolderCheckpointsAndResumes) {
  const TempDir tmp("d16");
  const std::string& dir = tmp.path();
  const std::string common = kFiles + "sub/model.onnx --data " + kGood + " --batch-size 6 --out " + dir + "/m.onnx ";
  Outcome r = cli("train " + common + "--steps 3 --checkpoint-every 1 --checkpoint " + dir + "/ck", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/ck/step-00000003/model.onnx.data"));
  EXPECT_TRUE(fs::exists(dir + "/m.onnx.data"));
  r = cli("train " + common + "--steps 5 --resume " + dir + "/ck", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/ck/step-00000005/model.onnx.data"));

  // SIGTERM mid-run: exit 143 with the model and a whole checkpoint in OUT.checkpoint, which resumes.
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open((dir + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    execl(ONNXTRAIN_CLI, ONNXTRAIN_CLI, "train", (kFiles + "sub/model.onnx").c_str(), "--data", kGood.c_str(),
          "--batch-size", "6", "--epochs", "1000000", "--threads", "1", "--out", (dir + "/t.onnx").c_str(), nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200 && slurp(dir + "/stdout").find("epoch 3/") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << slurp(dir + "/stderr");
  EXPECT_EQ(WEXITSTATUS(status), 143) << slurp(dir + "/stderr");
  EXPECT_TRUE(fs::exists(dir + "/t.onnx.data"));
  const std::string latest = slurp(dir + "/t.onnx.checkpoint/latest").substr(0, 13);
  EXPECT_TRUE(fs::exists(dir + "/t.onnx.checkpoint/" + latest + "/model.onnx.data")) << latest;
  EXPECT_FALSE(fs::exists(dir + "/t.onnx.checkpoint/" + latest + ".partial"));
  Model::load(dir + "/t.onnx.checkpoint/" + latest + "/model.onnx");
}

TEST(FileSafety, D17_EveryDestinationIsCheckedBeforeTraining) {
  const TempDir tmp("d17");
  const std::string& dir = tmp.path();
  // An unrelated file at the source's relative location under the --out folder is left alone.
  fs::create_directories(dir + "/other/weights");
  write_file(dir + "/other/weights/w.bin", "a stranger's file");
  Outcome r =
      cli("train " + kFiles + "sub/model.onnx --data " + kGood + " --steps 2 --out " + dir + "/other/m.onnx", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir + "/other/weights/w.bin"), "a stranger's file");
  EXPECT_TRUE(fs::exists(dir + "/other/m.onnx.data"));
  // A destination that cannot be written is refused before training: OUT.data is a folder; OUT.data is too long
  // a name for the file system while OUT itself fits.
  fs::create_directory(dir + "/other/x.onnx.data");
  const std::string long_name = std::string(252, 'm');
  for (const std::string& out : {dir + "/other/x.onnx", dir + "/" + long_name}) {
    r = cli("train " + kFiles + "sub/model.onnx --data " + kGood + " --steps 2 --out " + out, dir);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_NE(r.err.find("external data"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "refused only after training: " << r.out;
  }
  EXPECT_FALSE(fs::exists(dir + "/" + long_name));
}

// --- D19: a failed run leaves --log and --plot as they were ---

TEST(FileSafety, D19_AFailedRunLeavesTheLogAndPlotAsTheyWere) {
  const TempDir tmp("d19");
  const std::string& dir = tmp.path();
  write_file(dir + "/log.jsonl", "old log\n");
  write_file(dir + "/plot.svg", "old plot");
  // It trains three epochs (each rewrote --log and --plot before the fix), then diverges at step 13.
  Outcome r = cli("train " + kFashion + " --data " + kGood + " --batch-size 5 --epochs 50 --lr 10 --out " + dir +
                      "/m.onnx --log " + dir + "/log.jsonl --plot " + dir + "/plot.svg",
                  dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("Nothing was written"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/log.jsonl"), "old log\n");
  EXPECT_EQ(slurp(dir + "/plot.svg"), "old plot");
  EXPECT_FALSE(fs::exists(dir + "/m.onnx"));
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".onnxtrain-tmp"), std::string::npos) << e.path();
}

// --- D20: one epoch record per epoch, across resumes ---

TEST(FileSafety, D20_AResumedRunLogsEachEpochOnce) {
  const TempDir tmp("d20");
  const std::string& dir = tmp.path();
  const std::string common =
      kFashion + " --data " + kGood + " --batch-size 6 --out " + dir + "/m.onnx ";  // 4 steps an epoch
  ASSERT_EQ(cli("train " + common + "--steps 5 --checkpoint " + dir + "/ck --log " + dir + "/a.jsonl", dir).code, 0);
  EXPECT_EQ(epochs_logged(dir + "/a.jsonl"), std::vector<int64_t>({1})) << "a partial epoch was logged";
  Outcome r =
      cli("train " + common + "--steps 5 --resume " + dir + "/ck --log " + dir + "/b.jsonl", dir);  // nothing left
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(epochs_logged(dir + "/b.jsonl"), std::vector<int64_t>({1}));
  ASSERT_EQ(cli("train " + common + "--epochs 3 --resume " + dir + "/ck --log " + dir + "/c.jsonl", dir).code, 0);
  EXPECT_EQ(epochs_logged(dir + "/c.jsonl"), std::vector<int64_t>({1, 2, 3}));
}

// --- D22: messages that said the wrong thing ---

TEST(FileSafety, D22_MessagesSayWhatIsWrong) {
  const TempDir tmp("d22");
  const std::string& dir = tmp.path();
  Outcome r =
      cli("train " + kFashion + " --data " + kGood + " --steps 1 --seed 18446744073709551615 --out " + dir + "/m.onnx",
          dir);
  EXPECT_EQ(r.code, 0) << "the largest uint64 seed: " << r.err;
  r = cli("train " + kFashion + " --data " + kGood + " --steps 1 --seed 18446744073709551616 --out " + dir + "/m.onnx",
          dir);
  EXPECT_EQ(r.code, 2) << r.err;
  // A checkpoint whose position is past the end of its epoch.
  const std::string common = kFashion + " --data " + kGood + " --batch-size 6 --out " + dir + "/m.onnx ";
  ASSERT_EQ(cli("train " + common + "--steps 2 --checkpoint " + dir + "/ck", dir).code, 0);
  const std::string progress = dir + "/ck/step-00000002/progress.json";
  nlohmann::json j = nlohmann::json::parse(slurp(progress));
  j["next"] = 64;
  write_file(progress, j.dump());
  r = cli("train " + common + "--steps 4 --resume " + dir + "/ck", dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("the checkpoint is 64 samples into an epoch of 20"), std::string::npos) << r.err;
}

// --- D23: a closed stdout ---

TEST(FileSafety, D23_AClosedStdoutDoesNotLoseTheModel) {
  const TempDir tmp("d23");
  const std::string& dir = tmp.path();
  const std::string cmd = std::string("(") + ONNXTRAIN_CLI + " train " + kFashion + " --data " + kGood +
                          " --batch-size 2 --epochs 3 --out " + dir + "/m.onnx 2> " + dir + "/stderr; echo $? > " +
                          dir + "/code) | head -c 1 > /dev/null";
  std::system(cmd.c_str());
  EXPECT_EQ(slurp(dir + "/code"), "0\n") << slurp(dir + "/stderr");
  ASSERT_TRUE(fs::exists(dir + "/m.onnx"));
  Model::load(dir + "/m.onnx");
}

// --- Temporaries: a later run removes what a killed one left, and nothing else ---

// This machine's tag in temporary names, from the library's own template: ".onnxtrain-tmp.HOST.PID.XXXXXX".
std::string host_tag() {
  const std::string t = fs::path(files::temporary_template(".")).filename().string();
  return t.substr(15, t.find('.', 15) - 15);
}

TEST(FileSafety, TemporariesOfDeadRunsAreRemovedAndNothingElse) {
  const TempDir tmp("tmp");
  const std::string& dir = tmp.path();
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const std::string stale = dir + "/.onnxtrain-tmp." + host_tag() + "." + std::to_string(dead) + ".AbC123";
  const std::string live = dir + "/.onnxtrain-tmp." + host_tag() + "." + std::to_string(getpid()) + ".XyZ789";
  const std::string other_host = dir + "/.onnxtrain-tmp.00000000." + std::to_string(dead) + ".AbC123";
  const std::string unlike = dir + "/.onnxtrain-tmp.notes";
  for (const std::string& f : {stale, live, other_host, unlike}) write_file(f, "x");
  Outcome r = cli("train " + kFashion + " --data " + kGood + " --steps 1 --out " + dir + "/m.onnx", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(stale)) << "a dead run's temporary was left";
  EXPECT_TRUE(fs::exists(live)) << "a live process's temporary was removed";
  EXPECT_TRUE(fs::exists(other_host));
  EXPECT_TRUE(fs::exists(unlike));
}

}  // namespace
