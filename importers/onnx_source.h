// The parsed ONNX file as the importer kept it, for the exporter to write back. Private to importers/ and
// exporters/: the only headers besides them that may include protobuf.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace onnxtrain::onnx_io {

struct Source {
  onnx::ModelProto proto;
  std::string path;  // the file it was read from
  std::string dir;   // its folder: external data locations are relative to it
  struct Param {
    int tensor;  // index into proto.graph().initializer()
    int value;   // IR value id of the parameter
  };
  std::vector<Param> params;
};

}  // namespace onnxtrain::onnx_io
