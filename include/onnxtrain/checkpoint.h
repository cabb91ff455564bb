// Training checkpoints (the Trainer's TrainerOptions::checkpoint_dir and resume_from): the model with its weights and,
// beside it, everything else a run needs to continue bitwise (optimizer state, shuffling generator, position in the
// data), plus the run's records so far. Each checkpoint is written whole into a folder of its own and only then
// published, so a kill at any moment leaves the last complete one loadable. What to compare on resume is the
// Trainer's business (trainer.h).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "onnxtrain/files.h"
#include "onnxtrain/model.h"
#include "onnxtrain/train.h"

namespace onnxtrain {

// Where a run stands between two steps.
struct Position {
  int64_t epoch = 1;           // the epoch under way, from 1
  int64_t next = 0;            // the next index into order
  std::vector<int64_t> order;  // this epoch's permutation of the samples
  std::string rng;             // the shuffling generator (std::mt19937_64's own text form), after this epoch's draw
  double loss_sum = 0;         // this epoch's running totals, for its summary line
  int64_t correct = 0, seen = 0;
  int64_t ignored = 0;  // of seen, targets equal to TrainOptions::ignore_index: not in the accuracy
  std::string config;   // the options that must not change on resume: a JSON object's text
  std::string command;  // TrainerOptions::command of the run that wrote it: kept, never compared
  // The Trainer's own state (the schedule's, the best validation, the early-stopping count): a JSON object's text,
  // empty in checkpoints that have none.
  std::string trainer;
};

struct Checkpoint {
  std::string model;  // the checkpoint's model file, for Model::load_weights
  TrainingState state;
  Position position;
};

// A checkpoint folder held by one run. DIR holds: lock (held while a run writes there, with its pid), latest (the
// name of the newest complete step folder), records.jsonl (every record of the run so far, a JSON object a line), and
// step-<N>/{model.onnx[, model.onnx.data...], state.npz, progress.json}. These names, and step-<N>.partial while one
// is written, are the only ones it ever removes, and only those its run made or resumed. A checkpoint holds
// progress.json of constant size: the records' history is the length of records.jsonl that it covers.
class CheckpointDir {
 public:
  CheckpointDir() = default;
  // Opens dir for a run whose inputs those are (creating the folder if missing), and locks it. Refuses, with an
  // Error naming dir: a path that is not a folder; a folder that holds one of inputs (a run would write among its
  // own inputs); a folder another process holds ("being written by pid N"); and, unless resume, a folder holding a
  // checkpoint already (another run's: resuming it would continue the wrong weights, replacing it would delete it).
  // what: how messages name it ("TrainerOptions::checkpoint_dir").
  CheckpointDir(const std::string& dir, const std::string& what, const files::Inputs& inputs, bool resume);
  // The checks of a new run's folder, without creating or locking it: for the folder an interrupt would
  // checkpoint into, checked before the long work. Throws Error naming dir.
  static void check(const std::string& dir, const std::string& what, const files::Inputs& inputs);
  // Whether path names, inside dir, a file a checkpoint folder keeps (latest, lock, records.jsonl, a step folder):
  // another output there would be overwritten or removed by the checkpoints.
  static bool uses_name(const std::string& dir, const std::string& path);
  // The TrainerOptions::command that the newest checkpoint in dir keeps, read without opening or locking the folder
  // (a front end reads it to know the options of the run it resumes); "" when there is none to read.
  static std::string stored_command(const std::string& dir);
  CheckpointDir(CheckpointDir&&) noexcept;
  CheckpointDir& operator=(CheckpointDir&&) noexcept;
  // A folder this run created and never published a checkpoint into is removed again, with what it put there.
  ~CheckpointDir();

  bool open() const { return lock_fd_ >= 0; }
  const std::string& dir() const { return dir_; }

  // The checkpoint latest names; one-line errors name the file that is missing or malformed, and the field.
  Checkpoint read();
  // Each record the checkpoint read() covers, in order, as its text line; each is checked first (an object whose
  // "type" is step, val or epoch, whose numbers are numbers), or Error names the file, line and field.
  void for_each_record(const std::function<void(const std::string& line)>& f) const;

  // Appends one record to records.jsonl (after the ones the resumed checkpoint covers; any later ones, of a run
  // that stopped before checkpointing them, are dropped first).
  void append_record(const std::string& line);

  // Writes a checkpoint of this state, publishes it, and removes the one it replaces. A step already written by
  // this run is not written again. Throws Error naming the file at fault; a failed write leaves no partial folder.
  void write(const Model& model, const TrainingState& state, const Position& pos);
  int64_t last_step() const { return last_step_; }  // the step of the newest checkpoint here, -1 for none

 private:
  void start_records();
  std::string dir_, what_;
  int lock_fd_ = -1;
  std::vector<std::string> made_folders_;  // the folders this run created, deepest first
  std::vector<std::string> created_;       // the files this run created directly in the folder (lock, records)
  bool published_ = false;                 // this run published a checkpoint here
  int64_t last_step_ = -1;
  std::string latest_name_;     // the step folder latest names
  uint64_t records_bytes_ = 0;  // of records.jsonl, what the newest checkpoint covers
  bool legacy_ = false;         // a version-1 checkpoint: its records are kept in its progress.json
  std::vector<std::string> legacy_records_;
  std::FILE* records_ = nullptr;
};

}  // namespace onnxtrain
