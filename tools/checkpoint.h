// Training checkpoints for `onnxtrain train --checkpoint DIR` and `--resume DIR`: the model with its weights and,
// beside it, everything else a run needs to continue bitwise (optimizer state, shuffling generator, position in the
// data, the records so far). Each checkpoint is written whole into a folder of its own and only then published, so
// a kill at any moment leaves the last complete one loadable. What to compare on resume is the caller's business.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "onnxtrain/model.h"
#include "onnxtrain/train.h"

namespace onnxtrain::cli {

// Where a run stands between two steps.
struct Position {
  int64_t epoch = 1;            // the epoch under way, from 1
  int64_t next = 0;             // the next index into order
  std::vector<int64_t> order;   // this epoch's permutation of the samples
  std::string rng;              // the shuffling generator (std::mt19937_64's own text form), after this epoch's draw
  double loss_sum = 0;          // this epoch's running totals, for its summary line
  int64_t correct = 0, seen = 0;
  nlohmann::json records = nlohmann::json::array();  // every step and epoch record so far (--log, --plot)
  nlohmann::json config;        // the options that must not change on resume
};

struct Checkpoint {
  std::string model;            // the checkpoint's model file, for Model::load_weights
  TrainingState state;
  Position position;
};

// DIR layout: step-<N>/{model.onnx, state.npz, progress.json}, and latest naming the newest complete step folder.
// A new checkpoint is written into step-<N>.partial, renamed, published through latest (atomically), and only then
// are older ones removed. Throws Error naming the file at fault.
void write_checkpoint(const std::string& dir, const Model& model, const TrainingState& state, const Position& pos);

// Reads the checkpoint latest names; one-line errors name the file that is missing or malformed.
Checkpoint read_checkpoint(const std::string& dir);

// Creates dir if missing and refuses, before training, one that cannot take checkpoints. Returns the topmost folder
// it created ("" when dir existed), for the caller to remove if the run ends before a checkpoint is published.
std::string check_checkpoint_dir(const std::string& dir);

}  // namespace onnxtrain::cli
