// train --plot: the run's loss and accuracy curves as a self-contained SVG, drawn from the same records as --log.
// It draws lines, axes, ticks and legends by hand (a few hundred bytes of markup each); it rasterizes nothing.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace onnxtrain::cli {

// Points in bounded memory: up to kMost they are kept as given; past that, neighbours merge into their means (the
// bucket doubling each time), so that a run of a million steps costs what one of a few thousand does.
class BoundedSeries {
 public:
  static constexpr size_t kMost = 4096;
  void add(double x, double y);
  std::vector<std::pair<double, double>> points() const;  // the means so far, the unfinished bucket's last

 private:
  std::vector<std::pair<double, double>> full_;
  size_t width_ = 1, pending_ = 0;
  double sx_ = 0, sy_ = 0;
};

// What --plot draws, gathered one --log record at a time ({"type": "step"|"epoch"|"val", "epoch", "step", "loss",
// "accuracy"?, "val_loss"?, "val_accuracy"?}, as check_record admits them). steps_per_epoch places step records along
// the epoch axis. The accuracy panel is drawn only when the records carry accuracy.
class PlotData {
 public:
  explicit PlotData(int64_t steps_per_epoch = 1) : per_(double(steps_per_epoch > 1 ? steps_per_epoch : 1)) {}
  void add(const nlohmann::json& record);
  std::string svg(const std::string& title) const;

 private:
  double per_, xmax_ = 1;
  BoundedSeries step_loss_, step_acc_, epoch_loss_, epoch_acc_, val_loss_, val_acc_;
};

}  // namespace onnxtrain::cli
