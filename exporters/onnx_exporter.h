// The ONNX exporter's entry points (exporters/onnx_exporter.cpp): a loaded model written back with its trained
// weights, and the files such a write touches, for checking them before the long work. No protobuf in this header.
#pragma once
#include <string>
#include <vector>

#include "onnxtrain/files.h"

namespace onnxtrain::ir {
struct Graph;
}

namespace onnxtrain::onnx_io {

struct Source;

// The files a model was read from: the .onnx file, then each external data file.
std::vector<std::string> model_files(const Source& source);

// Checks every file a save to path would write (the model and its external data), against inputs and against the
// source's own files (unless the save replaces them in place); returns them. Throws Error naming the file at fault.
std::vector<std::string> check_export(const Source& source, const std::string& path, const files::Inputs& inputs);

// Writes source back to path with the initializers' values taken from graph, after check_export.
void export_model(const Source& source, const ir::Graph& graph, const std::string& path, const files::Inputs& inputs);

}  // namespace onnxtrain::onnx_io
