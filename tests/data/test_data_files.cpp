// The data readers and the npz writer against NumPy: fixtures written by np.save / np.savez(_compressed) with values
// from a formula recomputed here, an npz we write read back by numpy itself, and one hostile file per failure class.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"
#include "tests/support/io.h"

namespace fs = std::filesystem;
using namespace onnxtrain;
using ::testing::HasSubstr;

namespace {

const std::string kDir = std::string(ONNXTRAIN_TEST_DATA) + "/data/";

// Element k (row-major) of every float fixture is k * 0.5 - 3 (make_data_fixtures.py).
void expect_formula(const Tensor& t, const std::vector<int64_t>& shape) {
  ASSERT_EQ(t.dtype, DType::Float32);
  ASSERT_EQ(t.shape, shape);
  for (size_t k = 0; k < t.f32.size(); ++k) ASSERT_EQ(t.f32[k], float(double(k) * 0.5 - 3)) << k;
}

TEST(Npy, Float32Float64ScalarAndFortranOrder) {
  expect_formula(load_npy(kDir + "f32.npy"), {3, 4});
  expect_formula(load_npy(kDir + "f64.npy"), {2, 3, 5});
  expect_formula(load_npy(kDir + "scalar.npy"), {});
  expect_formula(load_npy(kDir + "fortran.npy"), {3, 4});
}

TEST(Npy, IntegerAndBoolLabelsBecomeInt64) {
  Tensor u8 = load_npy(kDir + "u8.npy"), b = load_npy(kDir + "bool.npy");
  ASSERT_EQ(u8.dtype, DType::Int64);
  ASSERT_EQ(u8.shape, std::vector<int64_t>{7});
  for (int64_t k = 0; k < 7; ++k) {
    EXPECT_EQ(u8.i64[k], k % 3);
    EXPECT_EQ(b.i64[k], k % 3 == 1);
  }
}

TEST(Npz, SavezAndSavezCompressed) {
  for (auto file : {"plain.npz", "compressed.npz"}) {
    auto a = load_npz(kDir + file);
    ASSERT_EQ(a.size(), 3u) << file;
    expect_formula(a.at("x"), {6, 4});
    for (auto key : {"y", "y32"}) {
      ASSERT_EQ(a.at(key).dtype, DType::Int64);
      for (int64_t k = 0; k < 6; ++k) EXPECT_EQ(a.at(key).i64[k], k % 3) << file << " " << key;
    }
  }
}

TEST(Npz, WhatWeWriteNumpyReads) {
  const onnxtrain::testing::TempDir dir("npz");
  const std::string path = dir / "written.npz";
  Tensor x = Tensor::f32_of({3, 2}, {-3, -2.5, -2, -1.5, -1, -0.5});
  Tensor y = Tensor::i64_of({3}, {0, 1, 2});
  Tensor s = Tensor::f32_of({}, {-3});
  save_npz(path, {{"x", x}, {"y", y}, {"s", s}});
  // numpy checks every value against the same formula; exit 0 only if all agree.
  std::string check = std::string(SYSTEM_PYTHON3) +
                      " -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
                      "ok = a['x'].dtype == np.float32 and a['x'].shape == (3, 2) and "
                      "(a['x'].ravel() == np.arange(6) * 0.5 - 3).all() and a['y'].dtype == np.int64 and "
                      "list(a['y']) == [0, 1, 2] and a['s'].shape == () and a['s'] == -3; sys.exit(0 if ok else 1)\" " +
                      path;
  EXPECT_EQ(std::system(check.c_str()), 0);
  auto back = load_npz(path);
  EXPECT_EQ(back.at("x").f32, x.f32);
  EXPECT_EQ(back.at("y").i64, y.i64);
}

TEST(Idx, PlainAndGzip) {
  for (auto suffix : {"", ".gz"}) {
    Tensor img = load_idx(kDir + "images-idx3-ubyte" + suffix), lab = load_idx(kDir + "labels-idx1-ubyte" + suffix);
    ASSERT_EQ(img.shape, (std::vector<int64_t>{4, 2, 3}));
    for (size_t k = 0; k < img.f32.size(); ++k) EXPECT_EQ(img.f32[k], float(k));
    EXPECT_EQ(lab.i64, (std::vector<int64_t>{3, 1, 4, 1}));
  }
}

struct Bad {
  const char* file;
  const char* says;
};
// gtest prints this in test listings instead of the struct's bytes.
void PrintTo(const Bad& c, std::ostream* os) { *os << c.file; }
class HostileFile : public ::testing::TestWithParam<Bad> {};

TEST_P(HostileFile, IsRefusedNamingTheFile) {
  const Bad& b = GetParam();
  std::string path = kDir + b.file;
  std::string ext = fs::path(path).extension();
  try {
    if (ext == ".npy")
      load_npy(path);
    else if (ext == ".npz")
      load_npz(path);
    else
      load_idx(path);
    FAIL() << b.file << " was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr(b.says));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, HostileFile,
    ::testing::Values(Bad{"truncated.npy", "only 20 bytes follow"}, Bad{"huge.npy", "(1000000000000)"},
                      Bad{"bad_magic.npy", "bad magic"}, Bad{"complex.npy", "'<c8' is not supported"},
                      Bad{"bigendian.npy", "'>f4' is not supported"}, Bad{"not_zip.npz", "not an .npz"},
                      Bad{"empty.npz", "not an .npz"}, Bad{"bad_member.npz", "member 'bad.npy'"},
                      Bad{"truncated.idx", "but the data ends after 100"}, Bad{"bad_magic.idx", "0x12345678"},
                      Bad{"huge.idx", "more than"}, Bad{"missing.npy", "cannot open"}),
    [](const auto& info) {
      std::string n = info.param.file;
      for (char& c : n)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

// ONNXTRAIN_MEMORY_LIMIT_MB for one scope: the readers' memory budget, in place of the machine's.
struct MemoryLimit {
  explicit MemoryLimit(const char* mb) { setenv("ONNXTRAIN_MEMORY_LIMIT_MB", mb, 1); }
  ~MemoryLimit() { unsetenv("ONNXTRAIN_MEMORY_LIMIT_MB"); }
};

// The Error message f throws, or what went wrong instead.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
    return "accepted";
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not an Error: ") + e.what();
  }
}

// Decompression bombs, a few kilobytes that inflate to tens of megabytes (gigabytes in the issue: a 3 MB .npz took
// 6.3 GB), are refused from their headers against the memory budget, naming the file and the member, before their
// data is inflated; what fits loads as before.
TEST(DataBombs, D12_DeclaredSizesBeyondTheMemoryBudgetAreRefused) {
  {
    MemoryLimit limit("40");
    EXPECT_EQ(error_of([] { load_npz(kDir + "bomb.npz"); }),
              kDir +
                  "bomb.npz: member 'x.npy' declares 32.0 MB of data (float32), 64.0 MB while it is read, more than "
                  "the 40.0 MB that ONNXTRAIN_MEMORY_LIMIT_MB allows");
  }
  {
    // The members together: each fits alone, but the second is refused for what the first left.
    MemoryLimit limit("20");
    EXPECT_EQ(error_of([] { load_npz(kDir + "two_members.npz"); }),
              kDir +
                  "two_members.npz: member 'y.npy' declares 6.0 MB of data (float32), 12.0 MB while it is read, "
                  "more than the 8.0 MB left of the 20.0 MB that ONNXTRAIN_MEMORY_LIMIT_MB allows");
    EXPECT_EQ(error_of([] { load_idx(kDir + "bomb-images-idx3-ubyte.gz"); }),
              kDir +
                  "bomb-images-idx3-ubyte.gz: declares 80.0 MB of data (float32), 100.0 MB while it is read, more "
                  "than the 20.0 MB that ONNXTRAIN_MEMORY_LIMIT_MB allows");
    // Through the data set loader, as train and gradcheck call it.
    EXPECT_THAT(error_of([] { load_dataset(kDir + "bomb.npz", Split::Train); }),
                HasSubstr("bomb.npz: member 'x.npy' declares 32.0 MB"));
  }
  {
    MemoryLimit limit("0");
    EXPECT_THAT(error_of([] { load_npy(kDir + "f32.npy"); }), HasSubstr(kDir + "f32.npy: declares 48 bytes of data"));
  }
  MemoryLimit room("1000");
  EXPECT_EQ(load_npz(kDir + "bomb.npz").at("x").shape, (std::vector<int64_t>{8000, 1000}));
  EXPECT_EQ(load_npz(kDir + "two_members.npz").size(), 2u);
  EXPECT_EQ(load_idx(kDir + "bomb-images-idx3-ubyte.gz").shape, (std::vector<int64_t>{2000, 100, 100}));
  EXPECT_EQ(load_npy(kDir + "f32.npy").shape, (std::vector<int64_t>{3, 4}));
}

// The header is read first: a bomb whose deflate stream is corrupt two thirds in is refused as too large, which it
// could not be if it were inflated before its header was looked at; with room, the corruption is found and named.
TEST(DataBombs, D12_OnlyTheHeaderIsInflatedBeforeTheSizeIsChecked) {
  {
    MemoryLimit limit("40");
    EXPECT_THAT(error_of([] { load_npz(kDir + "bomb_corrupt.npz"); }),
                HasSubstr("bomb_corrupt.npz: member 'x.npy' declares 32.0 MB of data (float32)"));
  }
  MemoryLimit room("1000");
  const std::string e = error_of([] { load_npz(kDir + "bomb_corrupt.npz"); });
  EXPECT_THAT(e, HasSubstr("bomb_corrupt.npz: member 'x.npy': "));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("declares")));
}

// Running out of memory anyway (the budget is only what the machine had when the load began) is an Error naming the
// file, not "internal error: std::bad_alloc". In a child whose address space may grow by 16 MB, with the budget lifted.
TEST(DataBombs, D12_RunningOutOfMemoryNamesTheFile) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer maps its shadow memory as it goes: under an address-space cap it fails itself, first.
  GTEST_SKIP() << "an address-space cap cannot be set under AddressSanitizer";
#endif
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    setenv("ONNXTRAIN_MEMORY_LIMIT_MB", "1000000", 1);
    std::ifstream statm("/proc/self/statm");
    unsigned long long pages = 0;
    statm >> pages;
    const rlim_t now = pages * static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
    struct rlimit as = {now + (16 << 20), now + (16 << 20)};
    setrlimit(RLIMIT_AS, &as);
    const std::string e = error_of([] { load_npz(kDir + "bomb.npz"); });
    if (write(fds[1], e.data(), e.size()) < 0) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  std::string got;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(got, kDir + "bomb.npz: ran out of memory while reading it");
}

// A 0-d y was taken for no y at all ("no labels or targets"): it is named as what it is.
TEST(DataSets, D22_ZeroDimensionalLabelsAreNamedAsAScalar) {
  EXPECT_EQ(error_of([] { load_dataset(kDir + "y_scalar.npz", Split::Train); }),
            kDir +
                "y_scalar.npz: 'y' is 0-d (a scalar); it needs one label or target per sample, shape (N) or "
                "(N, ...)");
}

// Flat (N, 784) rows and (N, 28, 28) images feed the bundled CNN's (N, 1, 28, 28) input unchanged but for the shape;
// rows of another element count are refused naming the input.
TEST(DataSets, FeaturesTakeTheCnnInputShapeWhenTheCountsAgree) {
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{3, 784}, std::vector<int64_t>{3, 28, 28}}) {
    Dataset d;
    d.source = "images";
    std::vector<float> v(3 * 784);
    for (size_t k = 0; k < v.size(); ++k) v[k] = float(k % 251) / 250.0f;
    d.x = Tensor::f32_of(shape, v);
    fit_features(d, "input", {1, 28, 28});
    EXPECT_EQ(d.x.shape, (std::vector<int64_t>{3, 1, 28, 28}));
    EXPECT_EQ(d.x.f32, v);
  }
  Dataset d;
  d.source = "rows.npz";
  d.x = Tensor::f32_of({3, 100}, std::vector<float>(300));
  EXPECT_EQ(error_of([&] {
              fit_features(d, "input", {1, 28, 28});
            }),
            "rows.npz: samples of shape (100) (100 values) do not fit model input 'input' of sample shape (1,28,28) "
            "(784 values)");
}

}  // namespace
