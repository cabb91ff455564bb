// NumPy .npy and .npz in. The zip container is libzip's job; this file parses only the small npy header, checks
// the declared shape against the memory budget before reading the data and against the bytes actually present
// before allocating, and converts to float32 / int64.
#include <sys/stat.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>

#include "importers/file_bytes.h"
#include "importers/memory_budget.h"
#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

constexpr uint64_t kMaxMember = uint64_t(8) << 30;  // no array we read is over 8 Gi elements
constexpr size_t kMaxHeader = size_t(1) << 20;      // nor has a header over 1 MiB

// The value of 'key' in the .npy header (a Python dict literal): the text between open and close that follows
// "'key':", or (open == 0) everything after the colon. A plain scan: std::regex recurses per character and
// overflows the stack on a long header.
constexpr const char* kSpace = " \t\r\n";

std::string header_value(const std::string& where, const std::string& header, const std::string& key, char open,
                         char close) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos) throw Error(where + ": .npy header has no '" + key + "'");
  p = header.find_first_not_of(kSpace, p + key.size() + 2);
  if (p == std::string::npos || header[p] != ':') throw Error(where + ": .npy header has no value for '" + key + "'");
  p = header.find_first_not_of(kSpace, p + 1);
  if (open == 0) return p == std::string::npos ? "" : header.substr(p);
  size_t end = p == std::string::npos || header[p] != open ? std::string::npos : header.find(close, p + 1);
  if (end == std::string::npos) throw Error(where + ": .npy header has a malformed '" + key + "'");
  return header.substr(p + 1, end - p - 1);
}

struct Descr {
  char kind;  // 'f', 'i', 'u', 'b'
  int size;   // bytes per element
};

// An npy image's header: what it declares, read before any of its data is.
struct NpyHeader {
  std::vector<int64_t> shape;
  std::string descr;
  Descr d{};
  bool fortran = false;
  size_t data_offset = 0;  // where the data starts in the image
  uint64_t n = 0;          // elements
  uint64_t payload = 0;    // the data's bytes, n * d.size

  DType dtype() const { return d.kind == 'f' ? DType::Float32 : DType::Int64; }
  uint64_t converted() const { return n * (d.kind == 'f' ? 4 : 8); }  // as the Tensor holds it (no overflow: n <= 2^33)
  // What converting an image of image_bytes takes: those bytes, the Tensor, and a second copy to reorder Fortran order.
  uint64_t need(uint64_t image_bytes) const {
    return image_bytes + converted() * (fortran && shape.size() > 1 ? 2 : 1);
  }
};

// The bytes the header takes (magic, version, length and the dict), from the image's first 12 bytes or all it has.
size_t header_size(const std::string& where, const std::string& bytes) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw Error(where + ": not an .npy array (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw Error(where + ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw Error(where + ": unsupported .npy format version " + std::to_string(major));
  }
  // NumPy writes headers of a few hundred bytes (and reads none over 10,000 by default); a larger one is not an array
  // we read, and must not make an .npz member decompress gigabytes before it is parsed.
  if (header_len > kMaxHeader)
    throw Error(where + ": .npy header of " + std::to_string(header_len) + " bytes (onnxtrain reads headers up to " +
                std::to_string(kMaxHeader) + ")");
  return offset + header_len;
}

// Parses the header at the start of bytes, which must hold all of it (header_size).
NpyHeader parse_header(const std::string& where, const std::string& bytes) {
  NpyHeader h;
  h.data_offset = header_size(where, bytes);
  const size_t offset = bytes[6] == 1 ? 10 : 12;
  if (h.data_offset > bytes.size()) throw Error(where + ": truncated .npy header");
  const std::string header = bytes.substr(offset, h.data_offset - offset);

  h.descr = header_value(where, header, "descr", '\'', '\'');
  h.fortran = header.find("'fortran_order'") != std::string::npos &&
              header_value(where, header, "fortran_order", 0, 0).compare(0, 4, "True") == 0;
  std::vector<int64_t>& shape = h.shape;
  const std::string dims = header_value(where, header, "shape", '(', ')');
  std::stringstream parts(dims);
  for (std::string part; std::getline(parts, part, ',');) {
    part.erase(0, part.find_first_not_of(kSpace));
    part.erase(part.find_last_not_of(kSpace) + 1);
    if (!part.empty() && part.back() == 'L') part.pop_back();  // Python 2's long literal: (3L, 4L)
    if (part.empty() && parts.eof()) break;                    // the trailing comma of (3,)
    if (part.empty() || part.size() > 18 || part.find_first_not_of("0123456789") != std::string::npos)
      throw Error(where + ": .npy shape (" + dims + ") is invalid");
    shape.push_back(std::stoll(part));
  }

  const std::string& descr = h.descr;
  Descr& d = h.d;
  if (descr == "<f4")
    d = {'f', 4};
  else if (descr == "<f8")
    d = {'f', 8};
  else if (descr == "<i8")
    d = {'i', 8};
  else if (descr == "<i4")
    d = {'i', 4};
  else if (descr == "|i1" || descr == "<i1")
    d = {'i', 1};
  else if (descr == "|u1" || descr == "<u1")
    d = {'u', 1};
  else if (descr == "|b1")
    d = {'b', 1};
  else
    throw Error(where + ": dtype '" + descr +
                "' is not supported (float32/64, int32/64, uint8, int8 or bool, little-endian)");

  // n elements; the non-zero dims are bounded even when a 0 makes the array empty, so that no product of some of
  // the dims, formed later, can overflow.
  uint64_t n = 1, nonzero = 1;
  for (int64_t s : shape) {
    n *= uint64_t(s);
    if (s != 0 && (__builtin_mul_overflow(nonzero, uint64_t(s), &nonzero) || nonzero > kMaxMember))
      throw Error(where + ": .npy shape " + shape_str(shape) + " has more than " + std::to_string(kMaxMember) +
                  " elements");
  }
  h.n = n;
  h.payload = n * uint64_t(d.size);  // n <= 2^33, size <= 8: no overflow
  return h;
}

// Converts the npy image in bytes, whose header is h, checking the declared shape against the bytes that follow it
// before allocating. where names it in messages.
Tensor parse_npy(const std::string& where, const std::string& bytes, const NpyHeader& h) {
  const std::vector<int64_t>& shape = h.shape;
  const Descr& d = h.d;
  const uint64_t n = h.n;
  const size_t offset = h.data_offset;
  if (h.payload > bytes.size() - offset)
    throw Error(where + ": header declares shape " + shape_str(shape) + " of " + h.descr + " but only " +
                std::to_string(bytes.size() - offset) + " bytes follow");

  Tensor t;
  t.shape = shape;
  t.dtype = h.dtype();
  const char* p = bytes.data() + offset;
  auto load = [&](auto* dst) {
    for (uint64_t i = 0; i < n; ++i) {
      const char* e = p + i * d.size;
      using T = std::remove_pointer_t<decltype(dst)>;
      if (d.kind == 'f' && d.size == 4) {
        float v;
        std::memcpy(&v, e, 4);
        dst[i] = static_cast<T>(v);
      } else if (d.kind == 'f') {
        double v;
        std::memcpy(&v, e, 8);
        dst[i] = static_cast<T>(v);
      } else if (d.size == 8) {
        int64_t v;
        std::memcpy(&v, e, 8);
        dst[i] = static_cast<T>(v);
      } else if (d.size == 4) {
        int32_t v;
        std::memcpy(&v, e, 4);
        dst[i] = static_cast<T>(v);
      } else if (d.kind == 'i')
        dst[i] = static_cast<T>(static_cast<int8_t>(*e));
      else
        dst[i] = static_cast<T>(static_cast<uint8_t>(*e));
    }
  };
  if (t.dtype == DType::Float32) {
    t.f32.resize(n);
    load(t.f32.data());
  } else {
    t.i64.resize(n);
    load(t.i64.data());
  }
  if (h.fortran && shape.size() > 1) {
    // Column-major to row-major: walk the C-order index, read at its Fortran offset.
    auto reorder = [&](auto& v) {
      auto src = v;
      std::vector<int64_t> idx(shape.size(), 0);
      for (uint64_t c = 0; c < n; ++c) {
        uint64_t f = 0, stride = 1;
        for (size_t k = 0; k < shape.size(); ++k) f += uint64_t(idx[k]) * stride, stride *= uint64_t(shape[k]);
        v[c] = src[f];
        for (size_t k = shape.size(); k-- > 0;)
          if (++idx[k] < shape[k])
            break;
          else
            idx[k] = 0;
      }
    };
    t.dtype == DType::Float32 ? reorder(t.f32) : reorder(t.i64);
  }
  return t;
}

std::string read_file(const std::string& path) { return io::file_bytes(path, UINT64_MAX, "an .npy file"); }

// The first n bytes of a regular file (all of it when shorter).
std::string head_of(const std::string& path, size_t n) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string head(n, '\0');
  head.resize(std::fread(head.data(), 1, n, f));
  std::fclose(f);
  return head;
}

Tensor read_npy(const std::string& path) {
  io::MemoryBudget budget;
  const struct stat st = io::openable_file(path, "an .npy file");
  if (S_ISREG(st.st_mode)) {
    // The header first: a file larger than memory is refused before it is read. (A pipe can be read only once.)
    const NpyHeader h = parse_header(path, head_of(path, kMaxHeader + 12));
    budget.take(path + ":", h.converted(), dtype_name(h.dtype()), h.need(static_cast<uint64_t>(st.st_size)));
    const std::string bytes = read_file(path);
    return parse_npy(path, bytes, parse_header(path, bytes));  // parsed again: the file may have changed
  }
  const std::string bytes = read_file(path);
  const NpyHeader h = parse_header(path, bytes);
  budget.take(path + ":", h.converted(), dtype_name(h.dtype()), h.need(bytes.size()));
  return parse_npy(path, bytes, h);
}

std::map<std::string, Tensor> read_npz(const std::string& path) {
  io::MemoryBudget budget;  // for all the members together: they are held at once
  int err = 0;
  io::openable_file(path, "an .npz file");
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!za) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, err);
    std::string msg = err == ZIP_ER_OPEN ? std::string("cannot open: ") + std::strerror(errno)
                                         : std::string("not an .npz (zip) file: ") + zip_error_strerror(&ze);
    zip_error_fini(&ze);
    throw Error(path + ": " + msg);
  }
  std::unique_ptr<zip_t, int (*)(zip_t*)> guard(za, zip_close);
  std::map<std::string, Tensor> out;
  const zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) != 0) throw Error(path + ": unreadable zip entry");
    std::string name = st.name;
    const std::string where = path + ": member '" + name + "'";
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > kMaxMember)
      throw Error(where + " is larger than " + std::to_string(kMaxMember) + " bytes");
    zip_file_t* zf = zip_fopen_index(za, static_cast<zip_uint64_t>(i), 0);
    if (!zf) throw Error(where + ": " + zip_strerror(za));
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> file_guard(zf, zip_fclose);
    // Grow with what actually decompresses, not with what the directory claims, and decompress the header alone
    // until what it declares is known to fit: a bomb (megabytes that inflate to gigabytes) is refused unread.
    std::string bytes;
    auto read_to = [&](uint64_t want) {  // until bytes holds want bytes or the member ends
      char buf[1 << 16];
      while (bytes.size() < want) {
        const zip_int64_t got = zip_fread(zf, buf, std::min<uint64_t>(sizeof buf, want - bytes.size()));
        if (got < 0) throw Error(where + ": " + zip_file_strerror(zf));
        if (got == 0) return;
        bytes.append(buf, static_cast<size_t>(got));
      }
    };
    read_to(12);
    read_to(header_size(where, bytes));
    const NpyHeader h = parse_header(where, bytes);
    const uint64_t image = h.data_offset + h.payload;
    if (image > st.size)  // the directory's size, before inflating anything more
      throw Error(where + ": header declares shape " + shape_str(h.shape) + " of " + h.descr + " but only " +
                  std::to_string(st.size - std::min<uint64_t>(st.size, h.data_offset)) + " bytes follow");
    budget.take(where, h.converted(), dtype_name(h.dtype()), h.need(image));
    // One byte past the array: a member that ends there is read to its end, where libzip checks its CRC.
    read_to(image + 1);
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
    out[name] = parse_npy(where, bytes, h);
  }
  if (out.empty()) throw Error(path + ": the .npz holds no arrays");
  return out;
}

}  // namespace

// Running out of memory after all (the budget is the machine's figure when the load starts, and others use memory
// too) is an Error naming the file, not "internal error: std::bad_alloc".
Tensor load_npy(const std::string& path) {
  try {
    return read_npy(path);
  } catch (const std::bad_alloc&) {
    throw Error(path + ": ran out of memory while reading it");
  }
}

std::map<std::string, Tensor> load_npz(const std::string& path) {
  try {
    return read_npz(path);
  } catch (const std::bad_alloc&) {
    throw Error(path + ": ran out of memory while reading it");
  }
}

}  // namespace onnxtrain
