// Files for tests: reading and writing a whole file, and a temporary folder that removes itself. Header-only and
// test-only; it knows nothing of the library.
#pragma once
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>

namespace onnxtrain::testing {

// The bytes of a file; "" when it cannot be read, so that a missing file fails the comparison that reads it.
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A new, empty folder onnxtrain_WHAT_XXXXXX under $TMPDIR (else /tmp), removed with what the test put in it when the
// TempDir goes; only that folder, never a path the test named. Symlinks inside are removed, not followed. A test that
// failed keeps it, and says where, for a look at what the run left.
class TempDir {
 public:
  explicit TempDir(const std::string& what = "test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("onnxtrain_" + what + "_XXXXXX")).string();
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error(tmpl + ": cannot make a temporary folder: " + std::strerror(errno));
    path_ = tmpl;
  }
  ~TempDir() {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "kept %s for the failed test\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace onnxtrain::testing
