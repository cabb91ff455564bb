// Suggestions, underscore spellings, OMP_NUM_THREADS and the stored arguments of a resumed run (cli_usage.h).
#include "tools/cli_usage.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace onnxtrain::cli {

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours, each 1.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

bool is_flag(const CLI::Option& o) { return !o.get_positional() && o.get_expected_min() == 0; }

bool is_path(const CLI::Option& o) {
  const std::string t = o.get_type_name();
  return t == "FILE" || t == "DIR" || t == "MODEL" || t == "DATA";
}

// How the option is named in a stored list: its first long name, or a positional's name.
std::string stored_name(const CLI::Option& o) {
  return o.get_positional() || o.get_lnames().empty() ? o.get_name() : "--" + o.get_lnames()[0];
}

}  // namespace

std::string closest(const std::string& given, const std::vector<std::string>& names) {
  std::string best, prefixed;
  size_t best_d = std::string::npos;
  int prefixes = 0;
  for (const std::string& n : names) {
    const size_t d = distance(given, n);
    if (d < best_d) best_d = d, best = n;
    if (given.size() >= 3 && n.size() > given.size() && n.compare(0, given.size(), given) == 0)
      ++prefixes, prefixed = n;
  }
  const std::string bare =
      given.substr(given.find_first_not_of('-') == std::string::npos ? 0 : given.find_first_not_of('-'));
  const size_t limit = bare.size() <= 4 ? 1 : 2;
  if (!best.empty() && best_d <= limit) return best;
  // A prefix long enough to mean something ("--check" for --checkpoint), when it names one option alone.
  return prefixes == 1 && bare.size() >= 3 ? prefixed : std::string();
}

std::vector<std::string> option_names(const CLI::App& cmd) {
  std::vector<std::string> names = {"--help"};
  for (const CLI::Option* o : cmd.get_options())
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
  return names;
}

std::vector<std::string> dashed_options(std::vector<std::string> args) {
  for (std::string& a : args) {
    if (a == "--") break;
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
    const size_t end = std::min(a.find('='), a.size());
    std::replace(a.begin() + 2, a.begin() + static_cast<std::ptrdiff_t>(end), '_', '-');
  }
  return args;
}

void threads_from_environment(CLI::App& cmd) {
  CLI::Option* t = cmd.get_option_no_throw("--threads");
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (!t || t->count() > 0 || !env || !*env) return;
  std::string first(env);
  first = first.substr(0, first.find(','));  // OpenMP's nested list: the outermost level's count
  first.erase(0, first.find_first_not_of(" \t"));
  first.erase(first.find_last_not_of(" \t") + 1);
  try {
    t->add_result(first);
    t->run_callback();
  } catch (const CLI::Error&) {
    throw CLI::ValidationError("OMP_NUM_THREADS", "is '" + std::string(env) +
                                                      "'; as the default of --threads it must be a whole number "
                                                      "from 1 to 1024 (or unset)");
  }
}

std::string given_arguments(const CLI::App& cmd, const std::vector<std::string>& skip) {
  nlohmann::json list = nlohmann::json::array();
  for (int positional = 1; positional >= 0; --positional)
    for (const CLI::Option* o : cmd.get_options()) {
      if (o->get_positional() != (positional == 1) || o->count() == 0) continue;
      const std::string name = stored_name(*o);
      if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
      nlohmann::json group = {name};
      if (!is_flag(*o))
        for (const std::string& v : o->results())
          group.push_back(is_path(*o) && v != "fashion-mnist" ? std::filesystem::absolute(v).lexically_normal().string()
                                                              : v);
      list.push_back(group);
    }
  return list.dump();
}

std::vector<std::string> with_stored_arguments(const CLI::App& cmd, const std::vector<std::string>& args,
                                               const std::string& stored) {
  const auto bad = [](const std::string& why) { return CLI::ValidationError("--resume", why); };
  nlohmann::json list;
  try {
    list = nlohmann::json::parse(stored);
  } catch (const nlohmann::json::exception&) {
    throw bad("the checkpoint's record of the command line is not JSON");
  }
  if (!list.is_array()) throw bad("the checkpoint's record of the command line is not a list");
  std::vector<std::string> front, back;
  for (const nlohmann::json& group : list) {
    if (!group.is_array() || group.empty() ||
        !std::all_of(group.begin(), group.end(), [](const nlohmann::json& v) { return v.is_string(); }))
      throw bad("the checkpoint's record of the command line holds " + group.dump() + ", not a list of strings");
    const std::string name = group[0].get<std::string>();
    const CLI::Option* o = cmd.get_option_no_throw(name);
    if (!o)
      throw bad("the checkpoint's run was started with " + name +
                ", which this onnxtrain does not know; give the options on the command line");
    if (o->count() > 0) continue;  // given now: it wins (and the Trainer checks it against the checkpoint)
    bool excluded = false;         // by an option given now (--epochs given drops a stored --steps)
    for (const CLI::Option* x : o->get_excludes()) excluded = excluded || x->count() > 0;
    for (const CLI::Option* g : cmd.get_options())
      if (g->count() > 0) {
        const auto ex = g->get_excludes();
        excluded = excluded || ex.count(const_cast<CLI::Option*>(o)) > 0;
      }
    if (excluded) continue;
    if (o->get_positional()) {
      for (size_t i = 1; i < group.size(); ++i) front.push_back(group[i].get<std::string>());
    } else if (group.size() == 1) {
      back.push_back(name);
    } else {
      for (size_t i = 1; i < group.size(); ++i) back.push_back(name), back.push_back(group[i].get<std::string>());
    }
  }
  std::vector<std::string> out = front;
  out.insert(out.end(), args.begin(), args.end());
  out.insert(out.end(), back.begin(), back.end());
  return out;
}

}  // namespace onnxtrain::cli
