// train --plot: the run's loss and accuracy curves as a self-contained SVG, drawn from the same records as --log.
// It draws lines, axes, ticks and legends by hand (a few hundred bytes of markup each); it rasterizes nothing.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace onnxtrain::cli {

// records: the array of --log objects so far ({"type": "step"|"epoch"|"val", "epoch", "loss", "accuracy"?, "val_loss"?,
// "val_accuracy"?}); steps_per_epoch places step records along the epoch axis. Per-step values are averaged in
// buckets so that a long run stays a light file. The accuracy panel is drawn only when the records carry accuracy.
std::string plot_svg(const nlohmann::json& records, int64_t steps_per_epoch, const std::string& title);

}  // namespace onnxtrain::cli
