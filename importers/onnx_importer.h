// ONNX in: ModelProto -> IR graph, with each op version's defaults and checks. This header is protobuf-free; the
// parsed file travels as an opaque onnx_io::Source that only importers/ and exporters/ open.
#pragma once
#include <memory>
#include <string>

#include "onnxtrain/model.h"
#include "runtime/ir/graph.h"

namespace onnxtrain::onnx_io {

struct Source;  // importers/onnx_source.h

struct Imported {
  ir::Graph graph;
  std::shared_ptr<Source> source;
  ModelInfo meta;  // everything but the initializer list and parameter counts
};

// Throws Error (one line naming the file, node and tensor) on anything it cannot run faithfully.
Imported import_model(const std::string& path);

// The file's declarations without the import's checks (Model::describe).
ModelInfo describe_model(const std::string& path);

}  // namespace onnxtrain::onnx_io
