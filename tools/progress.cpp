// The progress line's formatting (pure, tested at every width) and its printer (terminal or plain, SIGWINCH).
#include "tools/progress.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace onnxtrain::cli {

namespace {

std::string format(const char* fmt, double v) {
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

std::string rate_text(double r) { return format(r >= 100 ? "%.0f" : r >= 10 ? "%.1f" : "%.2f", r) + " samples/s"; }

// The fields a line holds, in the order they are dropped when the terminal is narrow.
enum Field { kBar, kLr, kRate, kRun, kCounts, kElapsed, kEta, kLoss, kFields };

// The bar of w columns for fraction f: block characters in eighths (as tqdm draws it on a UTF-8 terminal), or '#'.
std::string bar(double f, int w, bool unicode) {
  f = std::min(1.0, std::max(0.0, f));
  std::string s;
  if (!unicode) {
    const int full = static_cast<int>(f * w);
    return std::string(static_cast<size_t>(full), '#') + std::string(static_cast<size_t>(w - full), ' ');
  }
  static const char* const kEighths[] = {"", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b", "\u258a", "\u2589"};
  const int eighths = static_cast<int>(f * w * 8);
  const int full = eighths / 8, part = eighths % 8;
  for (int i = 0; i < full; ++i) s += "\u2588";
  int used = full;
  if (part > 0 && used < w) s += kEighths[part], ++used;
  return s + std::string(static_cast<size_t>(w - used), ' ');
}

// The line with the fields in `on`; the bar, when on, takes the columns left over, and needs 10 of them.
std::string compose(const Progress& p, const bool on[kFields], int room, bool unicode) {
  const std::string left = "epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs) + ":" +
                           format("%3.0f", std::floor(100 * std::min(1.0, std::max(0.0, p.fraction)))) + "%";
  std::string right;
  if (on[kCounts]) right.append(1, ' ').append(std::to_string(p.step)).append(1, '/').append(std::to_string(p.steps));
  std::vector<std::string> items;
  if (on[kElapsed] && on[kEta])
    items.push_back(interval(p.elapsed) + "<" + interval(p.eta));
  else if (on[kEta])
    items.push_back("ETA " + interval(p.eta));
  if (on[kRun]) items.push_back("run ETA " + interval(p.run_eta));
  if (on[kRate] && p.rate > 0) items.push_back(rate_text(p.rate));
  if (on[kLoss]) items.push_back("loss=" + format("%.4f", p.loss));
  if (on[kLr]) items.push_back("lr=" + format("%.3g", p.lr));
  if (!items.empty()) {
    right += " [";
    for (size_t i = 0; i < items.size(); ++i) right += (i ? ", " : "") + items[i];
    right += "]";
  }
  if (!on[kBar]) return left + right;
  const int w = room - display_width(left) - 2 - display_width(right);
  if (w < 10) return std::string();
  return left + "|" + bar(p.fraction, w, unicode) + "|" + right;
}

volatile sig_atomic_t g_resized = 0;
void on_resize(int) { g_resized = 1; }
struct sigaction g_old_winch;

// The locale's character set is UTF-8 (the first of LC_ALL, LC_CTYPE, LANG that is set decides, as setlocale does).
bool utf8_locale() {
  for (const char* var : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* v = std::getenv(var);
    if (!v || !*v) continue;
    std::string s(v);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s.find("utf-8") != std::string::npos || s.find("utf8") != std::string::npos;
  }
  return false;
}

}  // namespace

std::string interval(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  const long long t = static_cast<long long>(seconds);
  char b[48];
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%02lld:%02lld", t / 60, t % 60);
  return b;
}

int display_width(const std::string& utf8) {
  int n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;  // continuation bytes take no column
  return n;
}

std::string progress_line(const Progress& p, int width, bool unicode) {
  const int room = width - 1;
  if (room <= 0) return std::string();
  bool on[kFields];
  for (bool& f : on) f = true;
  for (int drop = 0; drop <= kFields; ++drop) {
    if (drop > 0) on[drop - 1] = false;
    const std::string line = compose(p, on, room, unicode);
    if (!line.empty() && display_width(line) <= room) return line;
  }
  // Narrower than "epoch 12/20: 43%": its first columns (plain ASCII, so bytes are columns).
  return compose(p, on, room, unicode).substr(0, static_cast<size_t>(room));
}

std::string plain_line(const Progress& p) {
  std::string s = "epoch " + std::to_string(p.epoch) + "/" + std::to_string(p.epochs) + ": " +
                  format("%.0f", std::floor(100 * std::min(1.0, std::max(0.0, p.fraction)))) + "%, step " +
                  std::to_string(p.step) + "/" + std::to_string(p.steps) + ", " + interval(p.elapsed) +
                  " elapsed, ETA " + interval(p.eta) + ", run ETA " + interval(p.run_eta);
  if (p.rate > 0) s += ", " + rate_text(p.rate);
  return s + ", loss " + format("%.4f", p.loss) + ", lr " + format("%.3g", p.lr);
}

ProgressPrinter::ProgressPrinter(bool quiet, double every)
    : mode_(quiet                   ? Mode::Quiet
            : isatty(STDERR_FILENO) ? Mode::Terminal
                                    : Mode::Plain),
      every_(every) {
  if (mode_ != Mode::Terminal) return;
  unicode_ = utf8_locale();
  struct sigaction sa = {};
  sa.sa_handler = on_resize;
  sa.sa_flags = SA_RESTART;  // a resize must not fail a read or write under way
  sigaction(SIGWINCH, &sa, &g_old_winch);
  width_ = width();
}

ProgressPrinter::~ProgressPrinter() {
  if (mode_ == Mode::Terminal) sigaction(SIGWINCH, &g_old_winch, nullptr);
}

int ProgressPrinter::width() const {
  struct winsize ws = {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 80;
}

void ProgressPrinter::show(const Progress& p) {
  if (mode_ == Mode::Quiet) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = shown_ ? std::chrono::duration<double>(now - last_).count() : 0;
  if (mode_ == Mode::Plain) {
    // The first line comes `every` seconds into the run, then one each `every` seconds.
    if (!shown_) {
      shown_ = true;
      last_ = now;
    } else if (since >= every_) {
      std::fprintf(stderr, "%s\n", plain_line(p).c_str());
      std::fflush(stderr);
      last_ = now;
    }
    return;
  }
  const bool resized = g_resized != 0;
  if (resized) {
    g_resized = 0;
    width_ = width();
  }
  if (shown_ && since < 0.1 && !resized && drawn_) return;  // at most 10 redraws a second
  std::fprintf(stderr, "\r%s\033[K", progress_line(p, width_, unicode_).c_str());
  std::fflush(stderr);
  shown_ = drawn_ = true;
  last_ = now;
}

void ProgressPrinter::clear() {
  if (mode_ != Mode::Terminal || !drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace onnxtrain::cli
