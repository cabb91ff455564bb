// The command line as a user types it: the progress line read off a real terminal (tmux panes of 60 and 120
// columns) and off one (no '\r'), did-you-mean, underscore spellings, help, OMP_NUM_THREADS, and `train --resume DIR`
// taking every option from the checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/cli.h"
#include "tests/support/io.h"
#include "tools/progress.h"

namespace fs = std::filesystem;
using onnxtrain::testing::cli;
using onnxtrain::testing::Outcome;
using onnxtrain::testing::slurp;
using onnxtrain::testing::TempDir;
using onnxtrain::testing::write_file;

namespace {

const std::string kFashion = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.onnx";
const std::string kRef = std::string(ONNXTRAIN_SOURCE_DIR) + "/models/fashion_mlp.ref.npz";
const std::string kGood = std::string(ONNXTRAIN_TEST_DATA) + "/train/good.npz";  // 20 samples, 784 features

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    l.erase(l.find_last_not_of(' ') + 1);
    v.push_back(l);
  }
  return v;
}

std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    pclose(p);
  }
  return out;
}

// A training run in a tmux pane of `width` columns (a server of its own, on a socket in the test's folder), its
// pane read every 150 ms while it runs. Each reading: at most one progress line, and it fits the pane without
// wrapping (tmux's -J joins wrapped rows, so a wrapped line would read longer than the pane). Returns the longest
// progress line seen.
std::string progress_in_pane(int width) {
  const TempDir tmp("tmux");
  const std::string sock = tmp.path() + "/sock", done = tmp.path() + "/done";
  const std::string tmux = "tmux -S " + sock + " ";
  const std::string train = std::string(ONNXTRAIN_CLI) + " train " + kFashion +
                            " --data fashion-mnist --steps 1500 --batch-size 8 --threads 1 --out " + tmp.path() +
                            "/o.onnx";
  const std::string start = tmux + "new-session -d -x " + std::to_string(width) + " -y 12 '" + train + "; touch " +
                            done + "; sleep 600' 2>&1";
  EXPECT_EQ(run(start), "");
  std::string longest;
  int readings = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (!fs::exists(done) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    const std::string pane = run(tmux + "capture-pane -p -J 2>&1");
    if (fs::exists(done)) break;  // the run ended while it was read: the epoch line replaced the progress
    int progress = 0;
    for (const std::string& l : split_lines(pane)) {
      if (l.rfind("epoch 1/1:", 0) != 0) continue;
      ++progress;
      EXPECT_LE(onnxtrain::cli::display_width(l), width - 1) << "wrapped in a " << width << "-column pane:\n" << pane;
      if (onnxtrain::cli::display_width(l) > onnxtrain::cli::display_width(longest)) longest = l;
    }
    EXPECT_LE(progress, 1) << "the progress scrolled instead of being redrawn:\n" << pane;
    readings += progress;
  }
  EXPECT_TRUE(fs::exists(done)) << "the run did not end";
  const std::string final_pane = run(tmux + "capture-pane -p -J 2>&1");
  run(tmux + "kill-server 2>&1");
  EXPECT_GT(readings, 0) << "no reading caught the progress line";
  for (const std::string& l : split_lines(final_pane))
    EXPECT_NE(l.rfind("epoch 1/1:", 0), 0u) << "the progress line was left behind:\n" << final_pane;
  EXPECT_NE(final_pane.find("epoch 1/1 (12000 of 60000 samples): loss"), std::string::npos) << final_pane;
  return longest;
}

TEST(Progress, IsOneLineThatNeverWrapsInTmux) {
  if (std::system("command -v tmux > /dev/null 2>&1") != 0) GTEST_SKIP() << "tmux is not installed (scripts/setup.sh)";
  const std::string wide = progress_in_pane(120), narrow = progress_in_pane(60);
  // The wide pane shows what tqdm shows; the narrow one fewer fields, but the epoch, percentage and loss.
  for (const char* field : {"epoch 1/1:", "%|", "/1500 [", "<", "run ETA", "samples/s", "loss=", "lr=0.01"})
    EXPECT_NE(wide.find(field), std::string::npos) << "'" << field << "' not in: " << wide;
  EXPECT_GT(onnxtrain::cli::display_width(wide), 100) << wide;
  EXPECT_NE(narrow.find("loss="), std::string::npos) << narrow;
  EXPECT_GT(onnxtrain::cli::display_width(narrow), 40) << narrow;
}

// A resize (SIGWINCH) fits the line to the new width at once: after the pane shrinks from 120 columns to 60, the row
// the cursor is on holds a whole progress line that ends where the cursor is (a wrapped one would leave its tail
// there).
TEST(Progress, FitsTheNewWidthAfterAResize) {
  if (std::system("command -v tmux > /dev/null 2>&1") != 0) GTEST_SKIP() << "tmux is not installed (scripts/setup.sh)";
  const TempDir tmp("resize");
  const std::string tmux = "tmux -S " + tmp.path() + "/sock ";
  const std::string train = std::string(ONNXTRAIN_CLI) + " train " + kFashion +
                            " --data fashion-mnist --steps 3000 --batch-size 8 --threads 1 --out " + tmp.path() +
                            "/o.onnx";
  EXPECT_EQ(run(tmux + "new-session -d -x 120 -y 12 '" + train + "; sleep 600' 2>&1"), "");
  const auto cursor_row = [&]() {
    const std::string at = run(tmux + "display -p '#{cursor_x} #{cursor_y}' 2>&1");
    std::istringstream in(at);
    size_t x = 0, y = 0;
    in >> x >> y;
    const std::vector<std::string> rows = split_lines(run(tmux + "capture-pane -p 2>&1"));
    return std::make_pair(x, y < rows.size() ? rows[y] : std::string());
  };
  bool wide = false;
  for (int i = 0; i < 600 && !wide; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto [x, row] = cursor_row();
    wide = row.rfind("epoch 1/1:", 0) == 0 && onnxtrain::cli::display_width(row) > 60;
  }
  EXPECT_TRUE(wide) << "no progress line wider than 60 columns in the 120-column pane";
  run(tmux + "resize-window -x 60 2>&1");
  bool fitted = false;
  std::string last;
  for (int i = 0; i < 30 && !fitted; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto [x, row] = cursor_row();
    last = row;
    fitted = row.rfind("epoch 1/1:", 0) == 0 && onnxtrain::cli::display_width(row) <= 59 &&
             static_cast<size_t>(onnxtrain::cli::display_width(row)) == x;
  }
  run(tmux + "kill-server 2>&1");
  EXPECT_TRUE(fitted) << "after the resize the cursor's row holds: " << last;
}

// Off a terminal: plain lines, each whole, with no '\r' anywhere; --quiet drops them and keeps the epoch line. The run
// is long enough (2000 steps, a quarter second on a fast core) for several lines at --log-every 0.01.
TEST(Progress, OffATerminalIsPlainLinesWithoutCarriageReturns) {
  const TempDir tmp("plain");
  const std::string common = "train " + kFashion +
                             " --data fashion-mnist --steps 2000 --batch-size 8 --threads 1 --out " + tmp.path() +
                             "/o.onnx";
  Outcome r = cli(common + " --log-every 0.01");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\033'), std::string::npos) << r.err;
  int progress = 0;
  for (const std::string& l : split_lines(r.err)) {
    if (l.rfind("epoch 1/1: ", 0) != 0) continue;
    ++progress;
    for (const char* field : {"%, step ", "/2000, ", " elapsed, ETA ", ", run ETA ", " samples/s, loss ", ", lr 0.01"})
      EXPECT_NE(l.find(field), std::string::npos) << "'" << field << "' not in: " << l;
  }
  EXPECT_GT(progress, 1) << r.err;
  EXPECT_NE(r.out.find("epoch 1/1 (16000 of 60000 samples): loss "), std::string::npos) << r.out;
  // The default interval (30 s) prints none in a run this short.
  Outcome quiet_default = cli(common);
  EXPECT_EQ(quiet_default.err, "");
  Outcome quiet = cli(common + " --log-every 0.01 --quiet");
  ASSERT_EQ(quiet.code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_NE(quiet.out.find("epoch 1/1 (16000 of 60000 samples): loss "), std::string::npos) << quiet.out;
}

struct Usage {
  std::string args;
  int code;
  std::string says;
};
void PrintTo(const Usage& u, std::ostream* os) { *os << u.args; }
class Spelling : public ::testing::TestWithParam<Usage> {};

TEST_P(Spelling, IsOneLineNamingTheFix) {
  const Usage& u = GetParam();
  const TempDir tmp("spell");
  std::string args = u.args;
  for (auto [from, to] : {std::pair<std::string, std::string>{"MODEL", kFashion}, {"REF", kRef}, {"DIR", tmp.path()}})
    for (size_t p; (p = args.find(from)) != std::string::npos;) args.replace(p, from.size(), to);
  Outcome r = cli(args);
  EXPECT_EQ(r.code, u.code) << args << "\n" << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(u.says), std::string::npos) << "'" << u.says << "' not in: " << r.err;
  EXPECT_FALSE(fs::exists(tmp.path() + "/t.onnx"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Spelling,
    ::testing::Values(Usage{"train MODEL --data REF --out DIR/t.onnx --epoch 3", 2,
                            "onnxtrain train: usage error: unknown option --epoch; did you mean --epochs?"},
                      Usage{"train MODEL --data REF --out DIR/t.onnx --batchsize=3", 2, "did you mean --batch-size?"},
                      Usage{"eval MODEL --data REF --thread 2", 2, "unknown option --thread; did you mean --threads?"},
                      Usage{"trian MODEL", 2, "unknown command 'trian'; did you mean train?"},
                      Usage{"--bogus", 2, "unknown option --bogus"}, Usage{"--verison", 2, "did you mean --version?"},
                      Usage{"--data REF train", 2,
                            "--data is an option of run, train, eval, gradcheck; give the command first"},
                      Usage{"help trian", 2, "no command 'trian'; did you mean train?"},
                      // The underscore spellings PyTorch scripts use reach the option itself (and its check).
                      Usage{"train MODEL --data REF --out DIR/t.onnx --batch_size 0", 2,
                            "--batch-size: must be a positive number, got 0"},
                      Usage{"train MODEL --data REF --out DIR/t.onnx --weight_decay=-1", 2,
                            "--weight-decay: must be a number >= 0, got -1"},
                      Usage{"train --data REF --out DIR/t.onnx", 2, "MODEL is required"},
                      Usage{"train MODEL --data REF --out DIR/t.onnx --freeze 'nope*'", 1,
                            "--freeze: 'nope*' matches no float initializer of the model; it has 0.bias, 0.weight"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(Help, ForTheProgramAndEachCommand) {
  for (const char* cmd : {"help", "help train", "help info", "--help"}) {
    Outcome r = cli(cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_NE(r.out.find("Usage: onnxtrain"), std::string::npos) << cmd << ": " << r.out;
  }
  EXPECT_NE(cli("help train").out.find("--train-only"), std::string::npos);
  EXPECT_EQ(cli("help train").out, cli("train --help").out);
  // info takes --threads, as every command does.
  Outcome info = cli("info " + kFashion + " --threads 2");
  EXPECT_EQ(info.code, 0) << info.err;
}

// The underscore spelling trains as the dashed one does: the same weights, bitwise.
TEST(Underscores, TrainAsDashes) {
  const TempDir tmp("under");
  const std::string common = "train " + kFashion + " --data " + kGood + " --threads 1 --no-shuffle ";
  ASSERT_EQ(cli(common + "--batch-size 4 --weight-decay 0.1 --out " + tmp.path() + "/a.onnx").code, 0);
  ASSERT_EQ(cli(common + "--batch_size 4 --weight_decay=0.1 --out " + tmp.path() + "/b.onnx").code, 0);
  ASSERT_EQ(cli(common + "--batch-size 5 --out " + tmp.path() + "/c.onnx").code, 0);
  EXPECT_EQ(slurp(tmp.path() + "/a.onnx"), slurp(tmp.path() + "/b.onnx"));
  EXPECT_NE(slurp(tmp.path() + "/a.onnx"), slurp(tmp.path() + "/c.onnx")) << "the options changed nothing";
}

struct Env {
  Env(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~Env() { unsetenv(name_); }
  const char* name_;
};

int stored_threads(const std::string& ck) {
  const std::string latest = slurp(ck + "/latest");
  const auto j = nlohmann::json::parse(slurp(ck + "/" + latest.substr(0, latest.find('\n')) + "/progress.json"));
  return j["config"]["threads"].get<int>();
}

// OMP_NUM_THREADS is --threads' default (the outer level of a nested list); --threads given wins; a value that is
// no thread count is bad usage naming it.
TEST(Threads, OmpNumThreadsIsTheDefault) {
  const TempDir tmp("omp");
  const std::string common = "train " + kFashion + " --data " + kGood + " --steps 1 --out " + tmp.path() + "/o.onnx";
  {
    Env env("OMP_NUM_THREADS", "3,2");
    ASSERT_EQ(cli(common + " --checkpoint " + tmp.path() + "/a").code, 0);
    ASSERT_EQ(cli(common + " --threads 1 --checkpoint " + tmp.path() + "/b").code, 0);
    Env bad("OMP_NUM_THREADS", "many");
    Outcome r = cli("eval " + kFashion + " --data " + kGood);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("OMP_NUM_THREADS: is 'many'; as the default of --threads it must be a whole number"),
              std::string::npos)
        << r.err;
  }
  EXPECT_EQ(stored_threads(tmp.path() + "/a"), 3);
  EXPECT_EQ(stored_threads(tmp.path() + "/b"), 1);
  ASSERT_EQ(cli(common + " --checkpoint " + tmp.path() + "/c").code, 0);
  EXPECT_EQ(stored_threads(tmp.path() + "/c"), 0) << "unset: the machine's cores";
}

// `train --resume DIR` alone: the model, data, output and every option come from the checkpoint, from any folder,
// and the run ends with the weights of one that was never stopped. Options given beside it win, and are checked
// against the checkpoint as ever.
TEST(Resume, TheCheckpointAloneContinuesTheRun) {
  const TempDir tmp("alone");
  const std::string d = tmp.path();
  const std::string opts = " --data " + kGood + " --optimizer adam --lr 0.003 --batch-size 6 --threads 2 --seed 7";
  fs::create_directory(d + "/first");
  const fs::path here = fs::current_path();
  fs::current_path(d + "/first");  // relative paths, stored absolute
  Outcome a = cli("train " + kFashion + opts + " --steps 4 --out a.onnx --checkpoint ck --log a.jsonl", d);
  fs::current_path(here);
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(cli("train " + kFashion + opts + " --steps 9 --out " + d + "/u.onnx", d).code, 0);

  Outcome b = cli("train --resume " + d + "/first/ck --steps 9", d);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("resuming from " + d + "/first/ck at step 4"), std::string::npos) << b.out;
  EXPECT_EQ(slurp(d + "/first/a.onnx"), slurp(d + "/u.onnx")) << "the resumed run's weights differ";
  EXPECT_EQ(lines(slurp(d + "/first/a.jsonl")), 9 + 2) << "the log holds every step and both epochs";

  // Given beside it: checked against the checkpoint, as ever.
  Outcome other = cli("train --resume " + d + "/first/ck --steps 12 --batch-size 5", d);
  EXPECT_EQ(other.code, 1) << other.err;
  EXPECT_NE(other.err.find("the checkpoint was made with batch-size 6, this run has 5"), std::string::npos)
      << other.err;
  EXPECT_EQ(other.err.find("-1"), std::string::npos) << "an internal placeholder: " << other.err;

  // A checkpoint with no record of its command line (an older onnxtrain's, the C++ API's) needs the options.
  const std::string ck = d + "/first/ck", latest = slurp(ck + "/latest");
  const std::string progress = ck + "/" + latest.substr(0, latest.find('\n')) + "/progress.json";
  auto j = nlohmann::json::parse(slurp(progress));
  ASSERT_TRUE(j.contains("command"));
  j.erase("command");
  // Older onnxtrains stored -1 for a default lr or weight decay: the optimizer's default, never shown as -1.
  j["config"]["weight-decay"] = -1.0;
  write_file(progress, j.dump());
  Outcome bare = cli("train --resume " + ck + " --steps 12", d);
  EXPECT_EQ(bare.code, 2) << bare.err;
  EXPECT_NE(bare.err.find("MODEL (the checkpoint in " + ck + " holds no record of its run's options"),
            std::string::npos)
      << bare.err;
  Outcome full = cli("train " + kFashion + opts + " --steps 12 --out " + d + "/c.onnx --resume " + ck, d);
  EXPECT_EQ(full.code, 0) << full.err;
}

}  // namespace
