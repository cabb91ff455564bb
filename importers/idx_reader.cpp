// MNIST idx files (plain or gzip, detected by magic bytes, read through zlib): idx1 ubyte labels and idx3 ubyte
// images. Declared sizes are checked against a cap and the memory budget before anything is decompressed past the
// header or allocated, and a short stream is an error.
#include <zlib.h>

#include <cstring>
#include <new>
#include <vector>

#include "importers/file_bytes.h"
#include "importers/memory_budget.h"
#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

constexpr uint64_t kMaxBytes = uint64_t(4) << 30;  // no idx file we read decodes to more than 4 GiB

struct GzFile {
  gzFile f;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

// Reads exactly n bytes or fails naming the file.
void read_exact(const std::string& path, gzFile f, void* dst, size_t n, const char* what) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    int got = gzread(f, p, chunk);
    if (got <= 0) throw Error(path + ": the file ends inside the " + what + " (truncated?)");
    p += got;
    n -= static_cast<size_t>(got);
  }
}

uint32_t be32(const unsigned char* b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | b[3];
}

Tensor read_idx(const std::string& path) {
  io::MemoryBudget budget;
  io::openable_file(path, "an idx file");
  GzFile gz{gzopen(path.c_str(), "rb")};  // gzread passes plain files through unchanged
  if (!gz.f) throw Error(path + ": cannot open: " + std::strerror(errno));
  unsigned char head[4];
  read_exact(path, gz.f, head, 4, "header");
  const uint32_t magic = be32(head);
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || (head[3] != 1 && head[3] != 3)) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", magic);
    throw Error(path + ": not an idx1/idx3 unsigned-byte file (magic " + buf + ")");
  }
  const int rank = head[3];
  std::vector<int64_t> shape;
  // The non-zero dims are bounded as well: with a 0 among them the file is empty, but whoever multiplies the
  // others later must not overflow.
  uint64_t nonzero = 1;
  bool empty = false;
  for (int i = 0; i < rank; ++i) {
    unsigned char d[4];
    read_exact(path, gz.f, d, 4, "header");
    shape.push_back(be32(d));
    empty = empty || be32(d) == 0;
    if (be32(d) != 0 && (__builtin_mul_overflow(nonzero, uint64_t(be32(d)), &nonzero) || nonzero > kMaxBytes))
      throw Error(path + ": header declares " + shape_str(shape) + "..., more than " + std::to_string(kMaxBytes) +
                  " bytes");
  }
  const uint64_t total = empty ? 0 : nonzero;
  // Held twice while converted: the bytes, then the labels as int64 or the pixels as float32. A gzip bomb (a megabyte
  // that inflates to gigabytes) is refused here, with only its header inflated.
  const uint64_t converted = total * (rank == 1 ? 8 : 4);
  budget.take(path + ":", converted, rank == 1 ? "int64" : "float32", total + converted);
  // Read in chunks, so a header that lies about its size costs no more memory than the data actually present.
  std::vector<unsigned char> bytes;
  const size_t chunk = size_t(1) << 20;
  while (bytes.size() < total) {
    size_t n = std::min<size_t>(chunk, total - bytes.size());
    size_t at = bytes.size();
    bytes.resize(at + n);
    int got = gzread(gz.f, bytes.data() + at, static_cast<unsigned>(n));
    if (got < static_cast<int>(n))
      throw Error(path + ": header declares " + shape_str(shape) + " (" + std::to_string(total) +
                  " bytes) but the data ends after " + std::to_string(at + static_cast<size_t>(std::max(got, 0))));
  }
  Tensor t;
  t.shape = shape;
  if (rank == 1) {
    t.dtype = DType::Int64;
    t.i64.assign(bytes.begin(), bytes.end());
  } else {
    t.f32.assign(bytes.begin(), bytes.end());
  }
  return t;
}

}  // namespace

// Running out of memory after all (others use memory too) is an Error naming the file, not std::bad_alloc.
Tensor load_idx(const std::string& path) {
  try {
    return read_idx(path);
  } catch (const std::bad_alloc&) {
    throw Error(path + ": ran out of memory while reading it");
  }
}

}  // namespace onnxtrain
