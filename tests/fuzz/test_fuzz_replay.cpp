// Replays every committed fuzz input, the crashes found (tests/fuzz/regressions/TARGET) and the seed corpora
// (tests/fuzz/seeds/TARGET), through the fuzzers' own entry functions on the normal build. It does not fuzz.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <typeinfo>

#include "tests/fuzz/fuzz_entries.h"

namespace {

namespace fs = std::filesystem;
using onnxtrain::fuzz::Outcome;

struct Case {
  const char* name;    // "model_regressions": what the test is called
  const char* target;  // model, npy, idx
  const char* folder;  // regressions, seeds
  std::vector<Outcome> (*entry)(const uint8_t*, size_t);
};

void PrintTo(const Case& c, std::ostream* os) { *os << "tests/fuzz/" << c.folder << "/" << c.target; }

class Replay : public ::testing::TestWithParam<Case> {};

// Each input loads, or is refused with an onnxtrain::Error whose message is one non-empty line; no other exception
// escapes (a crash ends the test binary, which ctest reports). The seeds hold both kinds, so both are asserted.
TEST_P(Replay, EachInputLoadsOrIsRefusedWithOneLine) {
  const Case& c = GetParam();
  const fs::path dir = fs::path(ONNXTRAIN_SOURCE_DIR) / "tests/fuzz" / c.folder / c.target;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << dir << " holds no inputs";

  int loaded = 0, refused = 0;
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_TRUE(in.good() || in.eof()) << "cannot read " << f;
    std::vector<Outcome> out;
    try {
      out = c.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw " << typeid(e).name() << ", not onnxtrain::Error: " << e.what();
      continue;
    } catch (...) {
      ADD_FAILURE() << "threw something that is not a std::exception";
      continue;
    }
    ASSERT_FALSE(out.empty());
    for (const std::string& bad : onnxtrain::fuzz::bad_messages(out)) ADD_FAILURE() << "refused without one line: " << bad;
    const bool any_loaded = std::any_of(out.begin(), out.end(), [](const Outcome& o) {
      return o.ok && (o.step == "Model::load" || o.step.rfind("load_dataset", 0) == 0);
    });
    (any_loaded ? loaded : refused)++;
  }
  if (std::string(c.folder) == "seeds") {
    EXPECT_GT(loaded, 0) << "no seed in " << dir << " loads: the fuzzer would start from refusals only";
    EXPECT_GT(refused, 0) << "no seed in " << dir << " is refused";
  }
}

INSTANTIATE_TEST_SUITE_P(Committed, Replay,
                         ::testing::Values(Case{"model_regressions", "model", "regressions", onnxtrain::fuzz::run_model},
                                           Case{"model_seeds", "model", "seeds", onnxtrain::fuzz::run_model},
                                           Case{"npy_regressions", "npy", "regressions", onnxtrain::fuzz::run_npy},
                                           Case{"npy_seeds", "npy", "seeds", onnxtrain::fuzz::run_npy},
                                           Case{"idx_regressions", "idx", "regressions", onnxtrain::fuzz::run_idx},
                                           Case{"idx_seeds", "idx", "seeds", onnxtrain::fuzz::run_idx}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
