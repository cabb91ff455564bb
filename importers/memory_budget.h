// How much memory a data file may take once decompressed and converted: the data readers check what a header
// declares against it before reading the data, so that a small compressed file (a decompression bomb) is refused in
// one line naming it instead of ending in std::bad_alloc. Header-only and protobuf-free.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "onnxtrain/error.h"

namespace onnxtrain::io {

// "6.3 GB", "12.0 MB", "512 bytes" (decimal units, as free(1) -H and file managers show sizes).
inline std::string human_bytes(uint64_t n) {
  char b[32];
  if (n >= 1000000000)
    std::snprintf(b, sizeof b, "%.1f GB", double(n) / 1e9);
  else if (n >= 1000000)
    std::snprintf(b, sizeof b, "%.1f MB", double(n) / 1e6);
  else
    std::snprintf(b, sizeof b, "%llu bytes", static_cast<unsigned long long>(n));
  return b;
}

// What one load may take: the machine's available memory when it starts, spent by each array as it is declared.
// ONNXTRAIN_MEMORY_LIMIT_MB=<n> (whole megabytes of 10^6 bytes) replaces the machine's figure: for tests, which must
// not allocate gigabytes to show a bomb refused, and for users who want a data set to leave room for the rest.
class MemoryBudget {
 public:
  MemoryBudget() {
    if (const char* env = std::getenv("ONNXTRAIN_MEMORY_LIMIT_MB"); env && *env) {
      char* end = nullptr;
      const unsigned long long mb = std::strtoull(env, &end, 10);
      if (*end != '\0' || env[0] == '-')
        throw Error(std::string("ONNXTRAIN_MEMORY_LIMIT_MB='") + env + "' is not a whole number of megabytes");
      left_ = total_ = mb > UINT64_MAX / 1000000 ? UINT64_MAX : mb * 1000000;
      whose_ = " that ONNXTRAIN_MEMORY_LIMIT_MB allows";
      return;
    }
    left_ = total_ = available();
  }

  // Takes need bytes for what ("<file>:" or "<file>: member 'x'"), or throws Error naming it. declared: the array's
  // own size as it will be held, e.g. "6.3 GB of data (float32)"; need also counts the file's bytes held while they
  // are converted.
  void take(const std::string& what, uint64_t declared, const std::string& dtype, uint64_t need) {
    if (need > left_)
      throw Error(what + " declares " + human_bytes(declared) + " of data (" + dtype + ")" +
                  (need > declared ? ", " + human_bytes(need) + " while it is read" : std::string()) + ", more than " +
                  (left_ < total_ ? "the " + human_bytes(left_) + " left of " : std::string()) +
                  (whose_.empty() ? "this machine's " + human_bytes(total_) + " of available memory"
                                  : "the " + human_bytes(total_) + whose_));
    left_ -= need;
  }

 private:
  uint64_t left_ = UINT64_MAX, total_ = UINT64_MAX;
  std::string whose_;  // empty: the machine's figure

  // MemAvailable from /proc/meminfo (what the kernel can give without swapping), else all physical memory, else no
  // limit.
  static uint64_t available() {
    std::ifstream f("/proc/meminfo");
    for (std::string key; f >> key;) {
      unsigned long long kb = 0;
      f >> kb;
      if (key == "MemAvailable:" && kb > 0) return uint64_t(kb) * 1024;
      f.ignore(1 << 10, '\n');
    }
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) return uint64_t(pages) * uint64_t(size);
    return UINT64_MAX;
  }
};

}  // namespace onnxtrain::io
