// External data of a model's float32 tensors: parsing the location, offset and length entries, confining the file to
// the model's folder, and keeping regions disjoint. The importer calls it; it reads nothing else of the model.
#include "importers/external_data.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "onnxtrain/error.h"

namespace onnxtrain::onnx_io {

void ExternalData::fail(const std::string& what) const { throw Error(source_ + ": " + what); }

// The external file for a location, confined to the model's folder: relative, no '..', no symlink escape.
std::string ExternalData::confined_path(const std::string& what, const std::string& location) const {
  if (location.empty()) fail(what + " has external data with no location");
  if (location[0] == '/')
    fail(what + ": external data location '" + location + "' is absolute; it must be relative to the model's folder");
  std::stringstream parts(location);
  for (std::string part; std::getline(parts, part, '/');)
    if (part == "..") fail(what + ": external data location '" + location + "' leaves the model's folder");
  std::string full = dir_ + "/" + location;
  char dir_real[PATH_MAX], file_real[PATH_MAX];
  if (!realpath(dir_.c_str(), dir_real)) fail(what + ": cannot resolve the model's folder");
  if (!realpath(full.c_str(), file_real))
    fail(what + ": external data file '" + location + "' not found beside the model");
  std::string d(dir_real), f(file_real);
  if (f.compare(0, d.size() + 1, d + "/") != 0)
    fail(what + ": external data location '" + location + "' resolves outside the model's folder");
  return full;
}

ExternalRef ExternalData::locate(const std::string& what, const onnx::TensorProto& t, size_t bytes) {
  ExternalRef ref;
  int64_t length = -1;
  std::set<std::string> seen;
  for (const auto& kv : t.external_data()) {
    // The exporter reads the first of a key, this loop would keep the last: a repeated key is refused.
    if (!seen.insert(kv.key()).second) fail(what + ": external data key '" + kv.key() + "' is given twice");
    if (kv.key() == "location") ref.location = kv.value();
    if (kv.key() == "offset" || kv.key() == "length") {
      // Decimal digits only, all of them: strtoll alone would stop at an embedded NUL, which the exporter's parse
      // does not, and would take a sign or spaces. LLONG_MAX: it overflowed.
      const std::string& text = kv.value();
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        fail(what + ": external data " + kv.key() + " '" + text + "' is not a valid size");
      const long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (v == LLONG_MAX) fail(what + ": external data " + kv.key() + " '" + text + "' is not a valid size");
      (kv.key() == "offset" ? ref.offset : length) = v;
    }
  }
  ref.path = confined_path(what, ref.location);
  if (length >= 0 && static_cast<size_t>(length) != bytes)
    fail(what + ": external data length " + std::to_string(length) + " does not match " + std::to_string(bytes) +
         " bytes for its shape");
  struct stat st;
  if (stat(ref.path.c_str(), &st) != 0) fail(what + ": cannot stat external data file '" + ref.location + "'");
  if (!S_ISREG(st.st_mode)) fail(what + ": external data '" + ref.location + "' is not a regular file");
  const int64_t size = st.st_size;
  if (ref.offset > size || static_cast<int64_t>(bytes) > size - ref.offset)
    fail(what + ": external data at offset " + std::to_string(ref.offset) + " needs " + std::to_string(bytes) +
         " bytes but '" + ref.location + "' has " + std::to_string(size));
  claim_region(what, ref, static_cast<int64_t>(bytes), {st.st_dev, st.st_ino});
  return ref;
}

// Tensors may share a file but not its bytes: write-back saves each initializer into its own region, so two that
// overlap (or are the same region) would save one's trained values over the other's, and a reload would read weights
// that are not the ones trained. Disjoint regions inside the file also keep what is allocated for them within the
// files' sizes, however many tensors a model lists. Empty tensors claim nothing.
void ExternalData::claim_region(const std::string& what, const ExternalRef& ref, int64_t bytes,
                                std::pair<dev_t, ino_t> file) {
  if (bytes == 0) return;
  std::map<int64_t, Region>& taken = regions_[file];  // the file, however its location spells it
  const int64_t end = ref.offset + bytes;
  auto next = taken.lower_bound(ref.offset);  // the first region starting at or after this one
  const Region* other = nullptr;
  if (next != taken.end() && next->first < end) other = &next->second;
  if (!other && next != taken.begin() && std::prev(next)->second.end > ref.offset) other = &std::prev(next)->second;
  if (other)
    fail(what + ": its external data (bytes " + std::to_string(ref.offset) + " to " + std::to_string(end) + " of '" +
         ref.location + "') overlaps that of " + other->what + " (bytes " + std::to_string(other->offset) + " to " +
         std::to_string(other->end) + "); each tensor needs a region of its own");
  taken[ref.offset] = {what, ref.offset, end};
}

void ExternalData::read(const std::string& what, const ExternalRef& ref, size_t bytes, float* dst) const {
  std::ifstream f(ref.path, std::ios::binary);
  f.seekg(ref.offset);
  f.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(bytes));
  if (!f) fail(what + ": cannot read external data from '" + ref.location + "'");
}

}  // namespace onnxtrain::onnx_io
