// The elements of an ONNX TensorProto of any dtype onnxtrain carries, as native bytes: the one decoder of raw_data
// and the typed fields, shared by the model importer and the test-data reader. Private to importers/ (protobuf).
// It does not read external data and does not allocate: callers size the output from the shape first. Also the
// test for the default domain, which the importer and the function expansion share.
#pragma once
#include <onnx/onnx_pb.h>

#include <string>

#include "onnxtrain/tensor.h"

namespace onnxtrain::onnx_io {

// The DType of an ONNX element type; false for those onnxtrain does not carry (string, complex).
bool dtype_of(int onnx_type, DType* out);

// Copies t's n elements of dtype d (t.data_type()'s) into out (n * dtype_size(d) bytes), from raw_data or the typed
// field they are stored in. Returns "" or what is wrong: "raw_data has 3 bytes but its shape needs 8". With out null
// it only checks, so that a caller allocates for a shape only once the data is known to fill it: a hostile file may
// declare a shape of billions of elements over a few bytes.
std::string read_elements(const onnx::TensorProto& t, DType d, size_t n, void* out);

// Whether an op or opset_import's domain is ONNX's default one: "" or "ai.onnx".
inline bool default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

}  // namespace onnxtrain::onnx_io
