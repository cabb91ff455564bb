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
  // Initializers the exporter tied: an Identity of an initializer, read as a parameter, became a parameter of its own
  // (importers/onnx_importer.cpp, untie_identities). The exporter writes each as an initializer of its own, a copy of
  // `from`'s TensorProto under the Identity's output name, and drops the Identity node.
  struct Untied {
    int from;          // index into proto.graph().initializer() of the initializer the Identity read
    int value;         // IR value id of the new parameter (named as the Identity's output)
    std::string node;  // the Identity node's output name, which identifies it in proto.graph().node()
  };
  std::vector<Untied> untied;
};

}  // namespace onnxtrain::onnx_io
