// The training progress on stderr: on a terminal one line redrawn in place, fitted to the terminal's width and
// redrawn when it changes (SIGWINCH); elsewhere (a log file, CI) a plain line every few seconds, with no '\r'.
// Formatting is pure (progress_line, plain_line) so that it can be tested at any width; it computes nothing.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace onnxtrain::cli {

// What the line shows: tqdm's fields, for one epoch of a run.
struct Progress {
  int64_t epoch = 0, epochs = 0;
  int64_t step = 0, steps = 0;  // steps of this epoch done, and in it
  double fraction = 0;          // of the epoch's samples done, 0 to 1
  double elapsed = 0;           // seconds of training in this epoch
  double eta = -1;              // seconds left in the epoch; < 0: not known yet
  double run_eta = -1;          // seconds left in the run
  double rate = 0;              // samples per second; 0: not known yet
  double loss = 0;              // the epoch's running mean
  double lr = 0;                // the step's learning rate
};

// "1:02:03" past an hour, else "02:03", as tqdm writes an interval; "?" for a negative (unknown) one.
std::string interval(double seconds);

// Columns a UTF-8 string takes on a terminal: one per code point (the line holds no wide characters).
int display_width(const std::string& utf8);

// The terminal's line, in at most width - 1 columns, so that it never wraps (the last column would wrap on some
// terminals). When narrow, fields go in this order: the bar, lr, samples/s, the run's ETA, the step counts, the
// elapsed time, the epoch's ETA, the loss; below that the line is cut. unicode: the bar in block characters (a UTF-8
// terminal), else '#'.
std::string progress_line(const Progress& p, int width, bool unicode);

// The line for a log: every field, no bar, no control characters.
std::string plain_line(const Progress& p);

// Shows Progress on stderr: Terminal redraws one line (at most 10 times a second, and at once after a resize),
// Plain writes a line every `every` seconds, Quiet nothing.
class ProgressPrinter {
 public:
  enum class Mode { Terminal, Plain, Quiet };
  // quiet: Quiet; else Terminal when stderr is a terminal, Plain otherwise. Terminal installs a SIGWINCH handler
  // (it only sets a flag), and restores the old one when the printer goes.
  ProgressPrinter(bool quiet, double every);
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void show(const Progress& p);
  // Erases the terminal's line, so that other output starts on a clean line (the next show draws it again).
  void clear();
  Mode mode() const { return mode_; }

 private:
  int width() const;
  Mode mode_;
  double every_;
  bool unicode_ = false;
  bool drawn_ = false;  // the terminal's line holds progress
  int width_ = 80;
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;  // a line was shown (last_ is set)
};

}  // namespace onnxtrain::cli
