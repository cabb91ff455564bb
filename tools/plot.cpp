// train --plot: see plot.h. Two panels, loss and accuracy against epochs; training per step (bucket means) and per
// epoch, validation per epoch.
#include "tools/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace onnxtrain::cli {
namespace {

struct Series {
  std::string id, label, color;
  std::vector<std::pair<double, double>> points;  // (epoch, value)
  bool markers = false;
  double width = 2;
  double opacity = 1;
};

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// Tick values covering [lo, hi] at a step of 1, 2 or 5 times a power of ten, about `want` of them.
std::vector<double> ticks(double lo, double hi, int want) {
  const double raw = (hi - lo) / want, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string tick_label(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

// One panel at (x0, y0) of size w x h: frame, grid, ticks, axis labels, the series and a legend (top or bottom right).
std::string panel(double x0, double y0, double w, double h, const std::string& ylabel, double xmax, double ylo,
                  double yhi, const std::vector<Series>& series, bool legend_below) {
  const double L = 64, R = 16, T = 14, B = 46;  // margins inside the panel for ticks and labels
  const double px = x0 + L, py = y0 + T, pw = w - L - R, ph = h - T - B;
  auto X = [&](double e) { return px + pw * e / xmax; };
  auto Y = [&](double v) { return py + ph * (1 - (v - ylo) / (yhi - ylo)); };
  std::string s = "<g class=\"panel\" id=\"panel-" + ylabel + "\">\n";
  s += "<rect x=\"" + num(px) + "\" y=\"" + num(py) + "\" width=\"" + num(pw) + "\" height=\"" + num(ph) +
       "\" fill=\"#ffffff\" stroke=\"#444444\"/>\n";
  for (double t : ticks(0, xmax, 8)) {
    s += "<line x1=\"" + num(X(t)) + "\" y1=\"" + num(py) + "\" x2=\"" + num(X(t)) + "\" y2=\"" + num(py + ph) +
         "\" stroke=\"#e4e4e4\"/>\n";
    s += "<text x=\"" + num(X(t)) + "\" y=\"" + num(py + ph + 16) + "\" text-anchor=\"middle\">" + tick_label(t) +
         "</text>\n";
  }
  for (double t : ticks(ylo, yhi, 6)) {
    s += "<line x1=\"" + num(px) + "\" y1=\"" + num(Y(t)) + "\" x2=\"" + num(px + pw) + "\" y2=\"" + num(Y(t)) +
         "\" stroke=\"#e4e4e4\"/>\n";
    s += "<text x=\"" + num(px - 6) + "\" y=\"" + num(Y(t) + 4) + "\" text-anchor=\"end\">" + tick_label(t) +
         "</text>\n";
  }
  s += "<text class=\"axis-label\" x=\"" + num(px + pw / 2) + "\" y=\"" + num(py + ph + 36) +
       "\" text-anchor=\"middle\">epoch</text>\n";
  s += "<text class=\"axis-label\" x=\"" + num(x0 + 16) + "\" y=\"" + num(py + ph / 2) +
       "\" text-anchor=\"middle\" transform=\"rotate(-90 " + num(x0 + 16) + " " + num(py + ph / 2) + ")\">" + ylabel +
       "</text>\n";
  int entries = 0;
  for (const Series& c : series) {
    if (c.points.empty()) continue;
    std::string pts;
    for (auto& [e, v] : c.points) pts += num(X(e)) + "," + num(Y(std::clamp(v, ylo, yhi))) + " ";
    s += "<polyline id=\"" + c.id + "\" points=\"" + pts + "\" fill=\"none\" stroke=\"" + c.color +
         "\" stroke-width=\"" + num(c.width) + "\" stroke-opacity=\"" + num(c.opacity) + "\"/>\n";
    if (c.markers)
      for (auto& [e, v] : c.points)
        s += "<circle cx=\"" + num(X(e)) + "\" cy=\"" + num(Y(std::clamp(v, ylo, yhi))) + "\" r=\"3.5\" fill=\"" +
             c.color + "\"/>\n";
    ++entries;
  }
  // The legend, inside the plot at the right, where the curves are not: above falling loss, below rising accuracy.
  const double lw = 210, lh = 8 + 18.0 * entries, lx = px + pw - lw - 8, ly = legend_below ? py + ph - lh - 8 : py + 8;
  s += "<g class=\"legend\"><rect x=\"" + num(lx) + "\" y=\"" + num(ly) + "\" width=\"" + num(lw) + "\" height=\"" +
       num(lh) + "\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#bbbbbb\"/>\n";
  int k = 0;
  for (const Series& c : series) {
    if (c.points.empty()) continue;
    const double yy = ly + 16 + 18.0 * k++;
    s += "<line x1=\"" + num(lx + 8) + "\" y1=\"" + num(yy - 4) + "\" x2=\"" + num(lx + 34) + "\" y2=\"" + num(yy - 4) +
         "\" stroke=\"" + c.color + "\" stroke-width=\"" + num(c.width) + "\" stroke-opacity=\"" + num(c.opacity) +
         "\"/>\n";
    s += "<text x=\"" + num(lx + 40) + "\" y=\"" + num(yy) + "\">" + escape(c.label) + "</text>\n";
  }
  return s + "</g>\n</g>\n";
}

// Per-step values as bucket means, at most `most` points.
std::vector<std::pair<double, double>> thin(const std::vector<std::pair<double, double>>& p, size_t most) {
  if (p.size() <= most) return p;
  const size_t per = (p.size() + most - 1) / most;
  std::vector<std::pair<double, double>> o;
  for (size_t i = 0; i < p.size(); i += per) {
    double x = 0, y = 0;
    const size_t e = std::min(p.size(), i + per);
    for (size_t j = i; j < e; ++j) x += p[j].first, y += p[j].second;
    o.emplace_back(x / double(e - i), y / double(e - i));
  }
  return o;
}

}  // namespace

void BoundedSeries::add(double x, double y) {
  sx_ += x;
  sy_ += y;
  if (++pending_ < width_) return;
  full_.emplace_back(sx_ / double(width_), sy_ / double(width_));
  sx_ = sy_ = 0;
  pending_ = 0;
  if (full_.size() < 2 * kMost) return;
  for (size_t i = 0; i < kMost; ++i)
    full_[i] = {(full_[2 * i].first + full_[2 * i + 1].first) / 2, (full_[2 * i].second + full_[2 * i + 1].second) / 2};
  full_.resize(kMost);
  width_ *= 2;
}

std::vector<std::pair<double, double>> BoundedSeries::points() const {
  std::vector<std::pair<double, double>> p = full_;
  if (pending_) p.emplace_back(sx_ / double(pending_), sy_ / double(pending_));
  return p;
}

void PlotData::add(const nlohmann::json& r) {
  // Steps sit at step / steps_per_epoch (every epoch but a --steps run's last has that many); epoch ends at epoch.
  const std::string type = r.value("type", "");
  const double x = type == "epoch" ? r.value("epoch", 0.0) : r.value("step", 0.0) / per_;
  xmax_ = std::max(xmax_, x);
  if (type == "step") {
    if (r.contains("loss")) step_loss_.add(x, r["loss"].get<double>());
    if (r.contains("accuracy")) step_acc_.add(x, r["accuracy"].get<double>());
  } else if (type == "epoch") {
    if (r.contains("loss")) epoch_loss_.add(x, r["loss"].get<double>());
    if (r.contains("accuracy")) epoch_acc_.add(x, r["accuracy"].get<double>());
  }
  if (type == "epoch" || type == "val") {
    if (r.contains("val_loss")) val_loss_.add(x, r["val_loss"].get<double>());
    if (r.contains("val_accuracy")) val_acc_.add(x, r["val_accuracy"].get<double>());
  }
}

std::string PlotData::svg(const std::string& title) const {
  const std::string blue = "#1f77b4", orange = "#e6550d";
  Series step_loss{
      "train-loss-steps", "training loss (per step)", blue, thin(step_loss_.points(), 400), false, 1.2, 0.55};
  Series epoch_loss{"train-loss", "training loss (epoch mean)", blue, epoch_loss_.points(), true};
  Series val_loss{"val-loss", "validation loss", orange, val_loss_.points(), true};
  Series step_acc{
      "train-accuracy-steps", "training accuracy (per step)", blue, thin(step_acc_.points(), 400), false, 1.2, 0.55};
  Series epoch_acc{"train-accuracy", "training accuracy (epoch)", blue, epoch_acc_.points(), true};
  Series val_acc{"val-accuracy", "validation accuracy", orange, val_acc_.points(), true};
  const double xmax = xmax_;
  double lo = 0, hi = 0;
  for (const Series* c : {&step_loss, &epoch_loss, &val_loss})
    for (auto& [x, v] : c->points)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (hi <= lo) hi = lo + 1;
  hi += (hi - lo) * 0.05;
  const bool accuracy = !step_acc.points.empty() || !epoch_acc.points.empty() || !val_acc.points.empty();
  const double pw = 560, ph = 400, top = 36, W = accuracy ? 2 * pw : pw, H = top + ph;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
                  "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n";
  s += "<text x=\"" + num(W / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" + escape(title) + "</text>\n";
  s += panel(0, top, pw, ph, "loss", xmax, lo, hi, {step_loss, epoch_loss, val_loss}, false);
  if (accuracy) s += panel(pw, top, pw, ph, "accuracy", xmax, 0, 1, {step_acc, epoch_acc, val_acc}, true);
  return s + "</svg>\n";
}

}  // namespace onnxtrain::cli
