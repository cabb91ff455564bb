// CSV data files: a header row, then rows of numbers, parsed by Debian's libcsv (quoting, embedded commas and line
// breaks as RFC 4180 has them). It reads numbers only: it does not encode categories or fill missing cells, and a
// cell it cannot read is an error naming its row and column, never a silent NaN or a dropped column.
#include <csv.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "importers/file_bytes.h"
#include "importers/memory_budget.h"
#include "onnxtrain/data.h"
#include "onnxtrain/dataset.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

// What libcsv's callbacks build. They run inside C code, so they record the first error instead of throwing; the
// parse is checked after each call.
struct Reader {
  std::string path;
  std::vector<std::string> header;
  std::vector<float> values;  // row-major, one per column
  std::string cell;           // scratch for the field being converted
  int64_t row = 1;            // the record being read; the header is row 1
  size_t column = 0;          // its field being read
  std::string error;

  std::string where(size_t c) const {
    std::string s = path + ": row " + std::to_string(row) + ", column " + std::to_string(c + 1);
    if (c < header.size()) s += " ('" + header[c] + "')";
    return s;
  }

  void field(const char* data, size_t len) {
    if (!error.empty()) return;
    if (row == 1) {
      header.emplace_back(data, len);
      // A spreadsheet's UTF-8 byte-order mark is not part of the first column's name.
      if (header.size() == 1 && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);
      ++column;
      return;
    }
    if (column >= header.size()) {
      error = path + ": row " + std::to_string(row) + " has more cells than the header's " +
              std::to_string(header.size()) + " columns";
      return;
    }
    cell.assign(data, len);
    const size_t b = cell.find_first_not_of(" \t"), e = cell.find_last_not_of(" \t");
    if (b == std::string::npos) {
      error = where(column) + ": empty cell (every cell must be a number)";
      return;
    }
    cell = cell.substr(b, e - b + 1);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(cell.c_str(), &end);
    if (end == cell.c_str() || *end != '\0') {
      error = where(column) + ": '" + cell + "' is not a number";
      return;
    }
    if (!std::isfinite(v) || std::fabs(v) > 3.4028234663852886e38) {
      error = where(column) + ": '" + cell + "' is not a finite float32 number";
      return;
    }
    values.push_back(static_cast<float>(v));
    ++column;
  }

  void end_row() {
    if (!error.empty()) return;
    if (row == 1) {
      for (size_t i = 0; i < header.size(); ++i)
        for (size_t j = 0; j < i; ++j)
          if (header[i] == header[j])
            error = path + ": row 1: column name '" + header[i] + "' appears twice (columns " + std::to_string(j + 1) +
                    " and " + std::to_string(i + 1) + ")";
    } else if (column < header.size()) {
      error = where(column) + ": missing (the row has " + std::to_string(column) + " cells, the header " +
              std::to_string(header.size()) + ")";
      return;
    }
    ++row;
    column = 0;
  }
};

void on_field(void* data, size_t len, void* reader) {
  static_cast<Reader*>(reader)->field(data ? static_cast<const char*>(data) : "", data ? len : 0);
}
void on_row(int, void* reader) { static_cast<Reader*>(reader)->end_row(); }

}  // namespace

CsvTable load_csv(const std::string& path, const std::string& target) {
  const struct stat st = io::openable_file(path, "a CSV file");
  // Each number takes at least two bytes of text ("1,") and four as float32; while it is read, the text is held too.
  const uint64_t size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  io::MemoryBudget budget;
  budget.take(path + ":", size * 2, "float32, at most", size * 3);
  const std::string text = io::file_bytes(path, UINT64_MAX, "a CSV file");

  Reader r;
  r.path = path;
  struct csv_parser parser;
  if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) throw Error(path + ": cannot start the CSV parser");
  const size_t parsed = csv_parse(&parser, text.data(), text.size(), on_field, on_row, &r);
  if (r.error.empty() && parsed != text.size())
    r.error = path + ": row " + std::to_string(r.row) + ": " + csv_strerror(csv_error(&parser)) +
              " (a quote inside an unquoted cell, or text after a closing quote)";
  if (r.error.empty() && csv_fini(&parser, on_field, on_row, &r) != 0)
    r.error = path + ": row " + std::to_string(r.row) + ": a quoted cell is not closed";
  csv_free(&parser);
  if (!r.error.empty()) throw Error(r.error);

  if (r.header.empty()) throw Error(path + ": the file is empty; a CSV needs a header row, then rows of numbers");
  const int64_t n = r.row - 2, cols = static_cast<int64_t>(r.header.size());
  if (n == 0) throw Error(path + ": a header row and no rows of data");

  CsvTable t;
  int64_t ti = -1;
  if (target == kLastColumn) {
    ti = cols - 1;
  } else if (!target.empty()) {
    for (int64_t c = 0; c < cols; ++c)
      if (r.header[c] == target) ti = c;
    if (ti < 0) {
      std::string names;
      for (const std::string& h : r.header) names += (names.empty() ? "" : ", ") + h;
      throw Error(path + ": no column '" + target + "' for the target; the columns: " + names);
    }
  }
  if (ti >= 0 && cols == 1)
    throw Error(path + ": its only column, '" + r.header[0] + "', is the target; no columns are left as features");
  const int64_t f = ti >= 0 ? cols - 1 : cols;
  t.x.dtype = DType::Float32;
  t.x.shape = {n, f};
  t.x.f32.reserve(static_cast<size_t>(n * f));
  if (ti >= 0) {
    t.target = r.header[ti];
    t.y.dtype = DType::Float32;
    t.y.shape = {n};
    t.y.f32.reserve(static_cast<size_t>(n));
  }
  for (int64_t c = 0; c < cols; ++c)
    if (c != ti) t.features.push_back(r.header[c]);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = r.values[i * cols + c];
      (c == ti ? t.y.f32 : t.x.f32).push_back(v);
    }
  return t;
}

}  // namespace onnxtrain
