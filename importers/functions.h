// The model's local functions (ModelProto.functions) expanded into the nodes they stand for, for the import only:
// the model is written back as it was, functions and all. Private to importers/ (protobuf).
#pragma once
#include <onnx/onnx_pb.h>

#include "runtime/ir/graph.h"

namespace onnxtrain::onnx_io {

// gp's nodes with every call of one of m's functions replaced by the function's body, expanded the same way. g gives
// the model's opset (a function must run at it) and names the file in errors; its nodes are not touched.
onnx::GraphProto expand_functions(const onnx::ModelProto& m, const onnx::GraphProto& gp, const ir::Graph& g);

}  // namespace onnxtrain::onnx_io
