// NumPy .npz out, as np.savez writes it: one stored (uncompressed) .npy member per array, zipped by libzip in
// memory and then written atomically.
#include <zip.h>

#include <cstring>
#include <memory>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"
#include "onnxtrain/files.h"

namespace onnxtrain {
namespace {

// NumPy's name for a dtype; bfloat16, which NumPy lacks, is written widened to float32 (exactly).
const char* descr(DType d) {
  switch (d) {
    case DType::Float32:
    case DType::BFloat16: return "<f4";
    case DType::Int64: return "<i8";
    case DType::UInt8: return "|u1";
    case DType::Int8: return "|i1";
    case DType::UInt16: return "<u2";
    case DType::Int16: return "<i2";
    case DType::Int32: return "<i4";
    case DType::UInt32: return "<u4";
    case DType::UInt64: return "<u8";
    case DType::Bool: return "|b1";
    case DType::Float16: return "<f2";
    case DType::Float64: return "<f8";
  }
  return "|u1";
}

std::string npy_bytes(const Tensor& t) {
  // Python tuple syntax: (), (3,), (3, 4).
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
  shape += t.shape.size() == 1 ? ",)" : ")";
  std::string header =
      std::string("{'descr': '") + descr(t.dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and a newline so the data starts on a 64-byte boundary, as numpy does.
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  if (t.dtype == DType::BFloat16) {
    for (size_t i = 0; i + 1 < t.bytes.size(); i += 2) {
      const uint32_t bits = uint32_t(t.bytes[i] | (t.bytes[i + 1] << 8)) << 16;  // the high half of a float32
      out.append(reinterpret_cast<const char*>(&bits), 4);
    }
  } else {
    out.append(static_cast<const char*>(t.data()), t.data_bytes());
  }
  return out;
}

}  // namespace

void save_npz(const std::string& path, const std::map<std::string, Tensor>& arrays, const files::Inputs& inputs) {
  files::check_output(path, "", inputs);
  auto fail = [&](const std::string& what) { throw Error(path + ": cannot build the .npz: " + what); };
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!src) fail(zip_error_strerror(&err));
  std::unique_ptr<zip_source_t, void (*)(zip_source_t*)> src_guard(src, zip_source_free);
  zip_source_keep(src);  // keep the buffer after zip_close, to read the archive back
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
  if (!za) fail(zip_error_strerror(&err));
  std::vector<std::string> members;  // must outlive zip_close
  members.reserve(arrays.size());
  for (auto& [name, t] : arrays) {
    members.push_back(npy_bytes(t));
    zip_source_t* s = zip_source_buffer(za, members.back().data(), members.back().size(), 0);
    zip_int64_t idx = s ? zip_file_add(za, (name + ".npy").c_str(), s, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
      if (s) zip_source_free(s);
      std::string why = zip_strerror(za);
      zip_discard(za);
      fail(why);
    }
    zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), ZIP_CM_STORE, 0);
  }
  if (zip_close(za) != 0) {
    std::string why = zip_strerror(za);
    zip_discard(za);
    fail(why);
  }
  std::string bytes;
  if (zip_source_open(src) != 0) fail("cannot reopen the archive buffer");
  char buf[1 << 16];
  zip_int64_t got;
  while ((got = zip_source_read(src, buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(got));
  zip_source_close(src);
  if (got < 0) fail("cannot read the archive buffer");
  files::atomic_write(path, bytes, inputs);
}

}  // namespace onnxtrain
