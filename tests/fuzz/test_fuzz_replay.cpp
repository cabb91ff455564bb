// Replays every committed fuzz input, the crashes found (tests/fuzz/regressions/TARGET) and the seed corpora
// (tests/fuzz/seeds/TARGET), through the fuzzers' own entry functions on the normal build. It does not fuzz.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <new>
#include <typeinfo>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "tests/fuzz/fuzz_entries.h"
#include "tests/support/io.h"

// The fuzzers' -malloc_limit_mb=1024, here: a single allocation over 1 GB throws std::bad_alloc, which the replay
// reports (it is not an onnxtrain::Error). Without it a regression of the kind "a shape of billions of elements
// declared over a few bytes" would pass on a machine with the memory to spare.
// These replace the global new and delete in this test binary, so each pairs malloc with free by design; GCC cannot
// tell them from a mismatched pair at a call site it inlines.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
constexpr size_t kMallocLimit = size_t(1) << 30;
void* operator new(size_t n) {
  if (n > kMallocLimit) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using onnxtrain::fuzz::Outcome;

struct Case {
  const char* name;    // "model_regressions": what the test is called
  const char* target;  // model, npy, idx, csv, run
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

  int loaded = 0, refused = 0, ran = 0, run_refused = 0;  // ran, run_refused: run_dataset's steps (fuzz_run)
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
    for (const std::string& bad : onnxtrain::fuzz::bad_messages(out))
      ADD_FAILURE() << "refused without one line: " << bad;
    const bool any_loaded = std::any_of(out.begin(), out.end(), [](const Outcome& o) {
      return o.ok && (o.step == "Model::load" || o.step.rfind("load_dataset", 0) == 0);
    });
    (any_loaded ? loaded : refused)++;
    for (const Outcome& o : out)
      if (o.step.rfind("run_dataset", 0) == 0) (o.ok ? ran : run_refused)++;
  }
  if (std::string(c.folder) == "seeds") {
    EXPECT_GT(loaded, 0) << "no seed in " << dir << " loads: the fuzzer would start from refusals only";
    EXPECT_GT(refused, 0) << "no seed in " << dir << " is refused";
  }
  // fuzz_run's seeds reach both ends of run_dataset: outputs gathered, and outputs refused (0-d, (3, N), ...).
  if (std::string(c.target) == "run" && std::string(c.folder) == "seeds") {
    EXPECT_GT(ran, 0) << "no seed in " << dir << " runs";
    EXPECT_GT(run_refused, 0) << "no seed in " << dir << " has its run refused";
  }
}

INSTANTIATE_TEST_SUITE_P(Committed, Replay,
                         ::testing::Values(Case{"model_regressions", "model", "regressions",
                                                onnxtrain::fuzz::run_model},
                                           Case{"model_seeds", "model", "seeds", onnxtrain::fuzz::run_model},
                                           Case{"npy_regressions", "npy", "regressions", onnxtrain::fuzz::run_npy},
                                           Case{"npy_seeds", "npy", "seeds", onnxtrain::fuzz::run_npy},
                                           Case{"idx_regressions", "idx", "regressions", onnxtrain::fuzz::run_idx},
                                           Case{"idx_seeds", "idx", "seeds", onnxtrain::fuzz::run_idx},
                                           Case{"csv_seeds", "csv", "seeds", onnxtrain::fuzz::run_csv},
                                           Case{"run_seeds", "run", "seeds", onnxtrain::fuzz::run_run}),
                         [](const auto& info) { return std::string(info.param.name); });

// load_onnx_tensor (the reader of the node tests' .pb files) checks a tensor's data against its shape before it
// allocates for the shape: an int16 TensorProto of shape (1, 973076083) over 36 bytes of raw_data is refused, not
// given 1.9 GB first (the same bug the model regression typed-initializer-declared-1.9GB-raw-36-bytes.onnx found in
// the importer).
TEST(TensorReader, ChecksTheDataBeforeAllocatingForTheShape) {
  auto varint = [](std::string& s, uint64_t v) {
    for (; v >= 0x80; v >>= 7) s += static_cast<char>((v & 0x7f) | 0x80);
    s += static_cast<char>(v);
  };
  std::string pb;
  for (uint64_t d : {uint64_t(1), uint64_t(973076083)}) {
    pb += '\x08';  // field 1 (dims), varint
    varint(pb, d);
  }
  pb += '\x10';   // field 2 (data_type)
  varint(pb, 5);  // INT16
  pb += '\x4a';   // field 9 (raw_data), length-delimited
  varint(pb, 36);
  pb += std::string(36, '\x01');
  const onnxtrain::testing::TempDir dir("tensor");
  const std::string file = dir / "tensor.pb";
  onnxtrain::testing::write_file(file, pb);
  try {
    onnxtrain::load_onnx_tensor(file);
    ADD_FAILURE() << "a 36-byte tensor of shape (1, 973076083) loaded";
  } catch (const onnxtrain::Error& e) {
    EXPECT_NE(std::string(e.what()).find("raw_data has 36 bytes but its shape needs 1946152166"), std::string::npos)
        << e.what();
  } catch (const std::bad_alloc&) {
    ADD_FAILURE() << "allocated for the shape before checking the data";
  }
}

}  // namespace
