// Reads a whole input file the user named (a model, an .npy, a TensorProto) into memory, or refuses it in one line:
// a folder, a device such as /dev/zero (which would be read forever), or a file past the reader's size limit. A
// regular file or a pipe is read; nothing here parses. Header-only, for readers on both sides of the protobuf line.
#pragma once
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "onnxtrain/error.h"

namespace onnxtrain::io {

// protobuf parses no message past 2 GiB; larger ONNX models keep their weights as external data.
constexpr uint64_t kMaxProtobuf = uint64_t(1) << 31;

// Refuses what no reader should open: a missing file, a folder, a device or a socket. Returns its stat.
// what: the kind of file, for messages ("an ONNX model").
inline struct stat openable_file(const std::string& path, const char* what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw Error(path + ": is a folder, not " + what);
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) throw Error(path + ": is a device or socket, not " + what);
  return st;
}

// limit: the most bytes the caller can use (protobuf parses at most 2 GiB).
inline std::string file_bytes(const std::string& path, uint64_t limit, const char* what) {
  const struct stat st = openable_file(path, what);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > limit)
    throw Error(path + ": " + std::to_string(st.st_size) + " bytes is more than " + what + " can hold (" +
                std::to_string(limit) + ")");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string bytes;
  if (S_ISREG(st.st_mode)) bytes.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) {
    if (bytes.size() + got > limit) {  // a pipe, or a file that grew while read
      std::fclose(f);
      throw Error(path + ": more than " + std::to_string(limit) + " bytes, more than " + what + " can hold");
    }
    bytes.append(buf, got);
  }
  const bool failed = std::ferror(f);
  const int err = errno;
  std::fclose(f);
  if (failed) throw Error(path + ": cannot read: " + std::strerror(err));
  return bytes;
}

}  // namespace onnxtrain::io
