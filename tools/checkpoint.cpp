// Checkpoints: write a step folder whole, publish it through `latest`, then drop the older ones; read back what
// `latest` names, checking every piece. No training logic here: the CLI decides when to write and what must match.
#include "tools/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain::cli {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "onnxtrain-checkpoint";
constexpr int kVersion = 1;
constexpr uintmax_t kMaxText = uintmax_t(1) << 31;  // progress.json and latest: far above any real run's records

std::string read_text(const fs::path& p) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(p, ec);
  if (ec) throw Error(p.string() + ": cannot read: " + ec.message());
  if (size > kMaxText) throw Error(p.string() + ": " + std::to_string(size) + " bytes is too large for a checkpoint file");
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in && !in.eof()) throw Error(p.string() + ": cannot read");
  return s.str();
}

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

const std::regex kStepName("step-[0-9]{8,19}");

}  // namespace

std::string check_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  std::string made;  // the topmost folder that does not exist yet
  for (fs::path p = fs::absolute(dir, ec); !p.empty() && p.has_relative_path() && !fs::exists(p, ec); p = p.parent_path())
    made = p.string();
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw Error("--checkpoint " + dir + ": cannot create the folder" + (ec ? ": " + ec.message() : ""));
  Model::check_writable((fs::path(dir) / "latest").string());
  return made;
}

void write_checkpoint(const std::string& dir, const Model& model, const TrainingState& state, const Position& pos) {
  const fs::path root(dir);
  const std::string name = step_name(state.steps);
  const fs::path final_dir = root / name, partial = root / (name + ".partial");
  std::error_code ec;
  // The newest published checkpoint is this very step (interrupted right after writing it): nothing to add.
  if (fs::exists(root / "latest") && fs::is_directory(final_dir)) {
    std::string latest = read_text(root / "latest");
    if (latest.substr(0, latest.find('\n')) == name) return;
  }
  fs::remove_all(partial, ec);
  if (!fs::create_directory(partial, ec)) throw Error(partial.string() + ": cannot create: " + ec.message());

  model.save((partial / "model.onnx").string());
  std::map<std::string, Tensor> arrays;
  for (auto& [key, t] : state.optimizer) arrays["optimizer/" + key] = t;
  Tensor order;
  order.dtype = DType::Int64;
  order.shape = {static_cast<int64_t>(pos.order.size())};
  order.i64 = pos.order;
  arrays["order"] = std::move(order);
  save_npz((partial / "state.npz").string(), arrays);
  nlohmann::json j = {{"format", kFormat}, {"version", kVersion}, {"step", state.steps}, {"epoch", pos.epoch},
                      {"next", pos.next}, {"rng", pos.rng}, {"loss_sum", pos.loss_sum}, {"correct", pos.correct},
                      {"seen", pos.seen}, {"config", pos.config}, {"records", pos.records}};
  save_text((partial / "progress.json").string(), j.dump() + "\n");

  fs::remove_all(final_dir, ec);  // a stale copy of this step that was never published
  fs::rename(partial, final_dir, ec);
  if (ec) throw Error(final_dir.string() + ": cannot publish the checkpoint: " + ec.message());
  save_text((root / "latest").string(), name + "\n");  // the moment the new checkpoint counts
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const std::string f = e.path().filename().string();
    if (f != name && f.rfind("step-", 0) == 0) fs::remove_all(e.path(), ec);  // older ones and stray partials
  }
}

Checkpoint read_checkpoint(const std::string& dir) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw Error("--resume " + dir + ": no such checkpoint folder");
  if (!fs::exists(root / "latest")) throw Error("--resume " + dir + ": holds no complete checkpoint (no 'latest' file)");
  std::string latest = read_text(root / "latest");
  latest = latest.substr(0, latest.find('\n'));
  if (!std::regex_match(latest, kStepName))
    throw Error((root / "latest").string() + ": does not name a checkpoint folder (step-NNNNNNNN)");
  const fs::path step_dir = root / latest;
  Checkpoint c;
  c.model = (step_dir / "model.onnx").string();
  if (!fs::exists(c.model)) throw Error(c.model + ": missing from the checkpoint");

  const fs::path progress = step_dir / "progress.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(progress));
    if (j.at("format") != kFormat) throw Error(progress.string() + ": not an onnxtrain checkpoint");
    if (j.at("version") != kVersion)
      throw Error(progress.string() + ": checkpoint format version " + j.at("version").dump() + ", this onnxtrain reads " +
                  std::to_string(kVersion));
    // Counts must be JSON integers: a float such as 1e30 would not convert to int64_t.
    const auto count = [&](const char* key) {
      const nlohmann::json& v = j.at(key);
      if (!v.is_number_integer()) throw Error(progress.string() + ": '" + key + "' is not a whole number");
      return v.get<int64_t>();
    };
    c.state.steps = count("step");
    Position& p = c.position;
    p.epoch = count("epoch");
    p.next = count("next");
    p.rng = j.at("rng").get<std::string>();
    p.loss_sum = j.at("loss_sum").get<double>();
    p.correct = count("correct");
    p.seen = count("seen");
    p.config = j.at("config");
    p.records = j.at("records");
    if (!p.records.is_array()) throw Error(progress.string() + ": 'records' is not a list");
  } catch (const nlohmann::json::exception& e) {
    throw Error(progress.string() + ": malformed: " + std::string(e.what()));
  }
  if (c.state.steps < 0 || c.position.epoch < 1 || c.position.next < 0 || c.position.seen < 0 || c.position.correct < 0)
    throw Error(progress.string() + ": negative or zero counts where positive ones belong");

  const std::string state_path = (step_dir / "state.npz").string();
  std::map<std::string, Tensor> arrays = load_npz(state_path);
  auto order = arrays.find("order");
  if (order == arrays.end() || order->second.dtype != DType::Int64 || order->second.shape.size() != 1)
    throw Error(state_path + ": no int64 'order' vector");
  c.position.order = std::move(order->second.i64);
  arrays.erase(order);
  for (auto& [key, t] : arrays) {
    if (key.rfind("optimizer/", 0) != 0) throw Error(state_path + ": unexpected array '" + key + "'");
    c.state.optimizer[key.substr(10)] = std::move(t);
  }
  return c;
}

}  // namespace onnxtrain::cli
