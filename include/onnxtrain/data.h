// Data files in and out: NumPy .npy/.npz (np.savez and np.savez_compressed), CSV, and MNIST idx (.gz or plain).
// Readers check every declared size against the bytes present before allocating; they never trust a header.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "onnxtrain/files.h"
#include "onnxtrain/tensor.h"

namespace onnxtrain {

// .npy: '<f4' and '<f8' load as Float32 (float64 is narrowed), '<i8', '<i4', '|u1', '|i1' and '|b1' as Int64.
// C or Fortran order. Anything else is an Error naming the file (and the key, for npz).
Tensor load_npy(const std::string& path);

// .npz: every member, keyed by its name without the ".npy" suffix.
std::map<std::string, Tensor> load_npz(const std::string& path);

// Writes an uncompressed .npz (as np.savez) atomically: a temporary file in the target's folder, then rename.
// Each tensor in its NumPy dtype ('<f4', '<i8', '|u1', ...); bfloat16, which NumPy lacks, widened to '<f4'. On
// failure the previous file is left as it was.
// inputs: files the write must not replace (files::check_output).
void save_npz(const std::string& path, const std::map<std::string, Tensor>& arrays,
              const files::Inputs& inputs = files::Inputs());

// Writes text (a log, a report) atomically, as every output: a temporary file beside path, then rename.
void save_text(const std::string& path, const std::string& text);

// A CSV file (RFC 4180, parsed by libcsv) with a header row naming its columns; every other cell a number (strtod's
// forms, finite). target: the name of the target column, kLastColumn (dataset.h) for the last, "" for none.
// Non-numeric or empty cells, rows of another length, a target column it lacks, a header alone or an empty file are
// each an Error naming the file, the row (the header is row 1) and the column.
struct CsvTable {
  std::vector<std::string> features;  // the feature columns' names, in file order
  std::string target;                 // the target column's name; "" for none
  Tensor x;                           // (N, features) float32
  Tensor y;                           // (N) float32; empty without a target
};
CsvTable load_csv(const std::string& path, const std::string& target);

// MNIST idx (idx1 ubyte labels -> Int64 (N); idx3 ubyte images -> Float32 (N, rows, cols) with raw 0..255 values).
// Gzip is detected from the magic bytes, not the name.
Tensor load_idx(const std::string& path);

}  // namespace onnxtrain

namespace onnxtrain {

// A serialized ONNX TensorProto (the input_N.pb / output_N.pb files of ONNX's test data sets), in its own dtype:
// float32 in f32, int64 in i64, every other numeric type and bool in bytes. Strings, complex numbers, external data
// and size mismatches are an Error naming the file.
Tensor load_onnx_tensor(const std::string& path, std::string* name = nullptr);

// A serialized TensorProto, SequenceProto or OptionalProto, as kind says (a model port's kind: the files do not
// say which they are). Sequences and optionals of tensors, sequences and optionals.
Value load_onnx_value(const std::string& path, Value::Kind kind);

}  // namespace onnxtrain
