// What a Model holds: the IR graph the runtime executes and trains, and the opaque parsed ONNX file the exporter
// writes back. Internal to the library.
#pragma once
#include <memory>

#include "importers/onnx_importer.h"
#include "onnxtrain/model.h"
#include "runtime/ir/graph.h"

namespace onnxtrain {

struct Model::Impl {
  ir::Graph graph;
  std::shared_ptr<onnx_io::Source> source;  // the parsed file; only importers/ and exporters/ look inside
  ModelInfo meta;                           // producer, versions, ports and nodes as the file declared them
};

}  // namespace onnxtrain
