// Float32 tensor data kept in files beside the model (TensorProto.data_location = EXTERNAL): each location confined
// to the model's folder, each region checked against the file's size and claimed by one tensor only, before anything
// is allocated for it. Private to importers/ (protobuf).
#pragma once
#include <onnx/onnx_pb.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace onnxtrain::onnx_io {

// Where a tensor's bytes are: a region of an external file, or (path empty) inside the model.
struct ExternalRef {
  std::string path;      // the file as opened; empty when the data is inside the model
  std::string location;  // as the model spells it, for messages
  int64_t offset = 0;
};

// One model's external files. Errors are one line: "<source>: <what>: ...", what naming the tensor.
class ExternalData {
 public:
  // source: the model file, for messages; dir: its folder, which locations are relative to.
  ExternalData(std::string source, std::string dir) : source_(std::move(source)), dir_(std::move(dir)) {}

  // Where t's bytes (bytes of them, for its shape) are, from its external_data entries: the file exists, is regular,
  // lies inside the model's folder and holds them; their region is claimed, so that no other tensor may overlap it.
  ExternalRef locate(const std::string& what, const onnx::TensorProto& t, size_t bytes);

  // Reads the bytes locate found into dst.
  void read(const std::string& what, const ExternalRef& ref, size_t bytes, float* dst) const;

 private:
  struct Region {
    std::string what;     // the tensor, as messages name it
    int64_t offset, end;  // its bytes [offset, end) of the file
  };

  [[noreturn]] void fail(const std::string& what) const;
  std::string confined_path(const std::string& what, const std::string& location) const;
  void claim_region(const std::string& what, const ExternalRef& ref, int64_t bytes, std::pair<dev_t, ino_t> file);

  std::string source_, dir_;
  std::map<std::pair<dev_t, ino_t>, std::map<int64_t, Region>> regions_;  // external file -> regions by offset
};

}  // namespace onnxtrain::onnx_io
