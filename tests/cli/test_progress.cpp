// The progress line's formatting at every terminal width, and the command line's spelling helpers (did-you-mean,
// underscore spellings, stored arguments), tested directly on their units (tools/progress.h, tools/cli_usage.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tools/cli_usage.h"
#include "tools/progress.h"

using namespace onnxtrain::cli;

namespace {

Progress sample() {
  Progress p;
  p.epoch = 12;
  p.epochs = 20;
  p.step = 1234;
  p.steps = 2813;
  p.fraction = 1234.0 / 2813;
  p.elapsed = 754;
  p.eta = 965;
  p.run_eta = 4 * 3600 + 17 * 60 + 3;
  p.rate = 4810.4;
  p.loss = 0.41234;
  p.lr = 3e-4;
  return p;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(ProgressLine, NeverWrapsAtAnyWidth) {
  const Progress p = sample();
  for (bool unicode : {false, true})
    for (int w = 1; w <= 240; ++w) {
      const std::string line = progress_line(p, w, unicode);
      EXPECT_LE(display_width(line), w - 1) << "width " << w << ": " << line;
      EXPECT_EQ(line.find_first_of("\r\n\t\033"), std::string::npos) << line;
    }
}

// Each field, once it fits, stays at every larger width: fields are dropped in one order.
TEST(ProgressLine, DropsFieldsInOneOrder) {
  const Progress p = sample();
  const std::vector<std::string> fields = {"epoch 12/20:", "43%",       "loss=0.4123",     "<16:05",
                                           "12:34<",       "1234/2813", "run ETA 4:17:03", "4810 samples/s",
                                           "lr=0.0003",    "|"};
  for (const std::string& f : fields) {
    int first = -1;
    for (int w = 1; w <= 240; ++w) {
      const bool in = has(progress_line(p, w, false), f);
      if (in && first < 0) first = w;
      if (first >= 0) {
        EXPECT_TRUE(in) << "'" << f << "' shown at width " << first << " but not at " << w;
      }
    }
    EXPECT_GT(first, 0) << "'" << f << "' is never shown";
  }
  // What each width keeps: the loss before the ETA, the ETA before the counts and the rate, the bar last.
  EXPECT_EQ(progress_line(p, 31, false), "epoch 12/20: 43% [loss=0.4123]");
  EXPECT_EQ(progress_line(p, 30, false), "epoch 12/20: 43%");
  EXPECT_TRUE(has(progress_line(p, 60, false), "1234/2813 [12:34<16:05, loss=0.4123]")) << progress_line(p, 60, false);
  const std::string wide = progress_line(p, 120, false);
  EXPECT_EQ(wide,
            "epoch 12/20: 43%|########            | 1234/2813 [12:34<16:05, run ETA 4:17:03, 4810 samples/s, "
            "loss=0.4123, lr=0.0003]");
  // A terminal too narrow for the shortest form gets its first columns.
  EXPECT_EQ(progress_line(p, 8, false), "epoch 1");
  EXPECT_EQ(progress_line(p, 1, false), "");
}

TEST(ProgressLine, BarFillsInEighthsOnUtf8) {
  Progress p = sample();
  p.fraction = 0.5;
  const std::string line = progress_line(p, 120, true);
  EXPECT_EQ(display_width(line), 119) << line;  // the bar takes what the fields leave
  EXPECT_TRUE(has(line, "\u2588")) << line;
  p.fraction = 1;
  EXPECT_TRUE(has(progress_line(p, 120, true), "100%|\u2588")) << progress_line(p, 120, true);
  p.fraction = 0;
  EXPECT_FALSE(has(progress_line(p, 120, true), "\u2588"));
}

TEST(ProgressLine, UnknownTimesAreQuestionMarks) {
  Progress p = sample();
  p.eta = p.run_eta = -1;
  p.rate = 0;
  const std::string line = progress_line(p, 200, false);
  EXPECT_TRUE(has(line, "12:34<?, run ETA ?")) << line;
  EXPECT_FALSE(has(line, "samples/s")) << line;
  EXPECT_EQ(interval(59.9), "00:59");
  EXPECT_EQ(interval(3600), "1:00:00");
  EXPECT_EQ(interval(-1), "?");
}

TEST(ProgressLine, PlainLineHoldsEveryFieldAndNoControlCharacter) {
  const std::string line = plain_line(sample());
  EXPECT_EQ(line,
            "epoch 12/20: 43%, step 1234/2813, 12:34 elapsed, ETA 16:05, run ETA 4:17:03, 4810 samples/s, loss 0.4123, "
            "lr 0.0003");
}

TEST(CommandLine, SuggestsTheNearestName) {
  const std::vector<std::string> options = {"--epochs", "--steps",      "--batch-size",      "--lr",
                                            "--log",    "--checkpoint", "--checkpoint-every"};
  EXPECT_EQ(closest("--epoch", options), "--epochs");
  EXPECT_EQ(closest("--batchsize", options), "--batch-size");
  EXPECT_EQ(closest("--setps", options), "--steps");  // a swap of neighbours
  EXPECT_EQ(closest("--lgo", options), "--log");
  EXPECT_EQ(closest("--frobnicate", options), "");
  EXPECT_EQ(closest("trian", {"info", "run", "train", "eval"}), "train");
  EXPECT_EQ(closest("--checkpoint-ev", options), "--checkpoint-every");  // a prefix of one name alone
}

TEST(CommandLine, UnderscoreSpellingsBecomeDashes) {
  EXPECT_EQ(dashed_options({"train", "m_1.onnx", "--batch_size", "8", "--weight_decay=0.1", "--data", "my_data.npz",
                            "--", "--keep_me"}),
            (std::vector<std::string>{"train", "m_1.onnx", "--batch-size", "8", "--weight-decay=0.1", "--data",
                                      "my_data.npz", "--", "--keep_me"}));
}

// A resumed run's options: those given now, then the stored ones not given and not excluded by one given.
TEST(CommandLine, StoredArgumentsFillWhatIsNotGiven) {
  CLI::App app;
  std::string model, data, out;
  int64_t epochs = 1, steps = 0;
  double lr = 0;
  bool nesterov = false;
  std::vector<std::string> freeze;
  app.add_option("MODEL", model)->type_name("MODEL");
  app.add_option("--data", data)->type_name("DATA");
  app.add_option("--out", out)->type_name("FILE");
  auto* e = app.add_option("--epochs", epochs);
  app.add_option("--steps", steps)->excludes(e);
  app.add_option("--lr", lr);
  app.add_flag("--nesterov", nesterov);
  app.add_option("--freeze", freeze);
  std::vector<std::string> first = {"m.onnx", "--data",     "fashion-mnist", "--out", "o.onnx",   "--steps",
                                    "5",      "--nesterov", "--freeze",      "a",     "--freeze", "b*"};
  app.parse(std::vector<std::string>(first.rbegin(), first.rend()));
  const std::string stored = given_arguments(app, {});
  EXPECT_TRUE(has(stored, "[\"MODEL\",\"/")) << "paths are stored absolute: " << stored;
  EXPECT_TRUE(has(stored, "[\"--data\",\"fashion-mnist\"]")) << stored;
  EXPECT_TRUE(has(stored, "[\"--nesterov\"]")) << stored;
  EXPECT_TRUE(has(stored, "[\"--freeze\",\"a\",\"b*\"]")) << stored;

  app.clear();
  std::vector<std::string> now = {"--epochs", "3", "--lr", "0.5"};
  app.parse(std::vector<std::string>(now.rbegin(), now.rend()));
  const std::vector<std::string> merged = with_stored_arguments(app, now, stored);
  // The model first (a positional), what was given, then the rest; --steps goes, --epochs excludes it.
  ASSERT_FALSE(merged.empty());
  EXPECT_EQ(merged[0].substr(merged[0].size() - 7), "/m.onnx");
  const std::vector<std::string> rest(merged.begin() + 1, merged.end());
  EXPECT_EQ(rest, (std::vector<std::string>{"--epochs", "3", "--lr", "0.5", "--data", "fashion-mnist", "--out",
                                            merged[0].substr(0, merged[0].size() - 7) + "/o.onnx", "--nesterov",
                                            "--freeze", "a", "--freeze", "b*"}));
  EXPECT_THROW(with_stored_arguments(app, now, "[[\"--gone\", \"1\"]]"), CLI::ValidationError);
  EXPECT_THROW(with_stored_arguments(app, now, "{"), CLI::ValidationError);
}

}  // namespace
