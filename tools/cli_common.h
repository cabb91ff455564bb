// What the CLI's commands share: fitting a data set to a model's input, and describing a loss/accuracy result.
// Command-line parsing stays in onnxtrain.cpp; computing stays in the library.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "onnxtrain/dataset.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"

namespace onnxtrain::cli {

// Per-sample dims of the model's input as declared, -1 where symbolic.
std::vector<int64_t> sample_dims(const ModelInfo::Port& p);

// The model's input of that name (a training session's input()).
ModelInfo::Port input_port(const Model& model, const std::string& name);

// Loads a data set (.npz, .npy, idx, or fashion-mnist) for the model's inputs named inputs (a training session's
// inputs(): with --output, other inputs may feed only other outputs; every input for run), each fitted to its input's
// shape and dtype (load_inputs). One input: its array is x_key (--input-key), else the input's own name, else x.
// Several: each under its own name, and x_key is refused. Throws Error naming the file, the model or the input.
Dataset load_for(const Model& model, const std::vector<std::string>& inputs, const std::string& spec, Split split,
                 const std::string& x_key, const std::string& y_key);

// Where a command finds the labels beside --data: --target-key in an .npz, --target-col in a .csv (for train and
// eval, whose losses need labels, the last column by default; for run, none unless named), --labels FILE.npy
// beside .npy or idx features.
struct LabelArgs {
  std::string target_key = "y", target_col, labels;
};

// load_for with the labels found as LabelArgs says. needed: the command needs labels (train, eval), so a CSV's last
// column is its target by default.
Dataset load_data(const Model& model, const std::vector<std::string>& inputs, const std::string& spec, Split split,
                  const std::string& x_key, const LabelArgs& labels, bool needed);

// --target-col names a column of .csv data and --labels gives the labels of .npy or idx features: given for other
// data, each is refused as bad usage naming the option and the data (it would do nothing, or hide the file's own).
// data: every data set the command reads (--data, --val); --target-col needs a .csv among them.
void check_target_col(const CLI::App& cmd, const std::vector<std::string>& data);
// labels_option (--labels, --val-labels) for the data set it labels.
void check_labels_for(const std::string& labels_option, const std::string& labels, const std::string& data);

// A library message with the API's option names ("OptimizerConfig::lr", "TrainerOptions::resume_from") as the
// command line's flags ("--lr", "--resume"), for errors, warnings and notes.
std::string flag_names(std::string text);

// "loss 0.4123, accuracy 0.8512", or "loss 0.001234" for targets that are not class labels.
std::string describe(const EvalResult& r);

}  // namespace onnxtrain::cli
