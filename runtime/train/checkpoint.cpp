// Checkpoints: a locked folder; a step folder written whole, published through `latest`, then the older one dropped;
// records appended to one file whose covered length each checkpoint notes. Reading checks every piece and names the
// file and field at fault. No training logic here: the Trainer decides when to write and what must match.
#include "onnxtrain/checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "onnxtrain-checkpoint";
// 2: records in records.jsonl, progress.json of constant size. 1: every record inside progress.json (still read).
constexpr int kVersion = 2;
constexpr uintmax_t kMaxText = uintmax_t(1) << 31;  // progress.json and latest: far above any real run's

std::string read_text(const fs::path& p) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(p, ec);
  if (ec) throw Error(p.string() + ": cannot read: " + ec.message());
  if (size > kMaxText)
    throw Error(p.string() + ": " + std::to_string(size) + " bytes is too large for a checkpoint file");
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
const std::regex kStepFolder("step-[0-9]{8,19}(\\.partial)?");
// What a step folder holds: the model (and its external data, named after it), the state, the progress.
const std::regex kMember("model\\.onnx|model\\.onnx\\.data[0-9]*|state\\.npz|progress\\.json");

// A step folder of this folder's run becomes this process's to remove: the folder and its members, by name. One
// that holds anything else is not a checkpoint's (nor are members that are not regular files): refused, at the
// start rather than when a checkpoint of that step cannot be published.
void adopt_step(const fs::path& d) {
  std::error_code ec;
  std::vector<std::string> members;
  for (const fs::directory_entry& e : fs::directory_iterator(d, ec)) {
    const std::string f = e.path().filename().string();
    const bool temporary = f.rfind(".onnxtrain-tmp.", 0) == 0;  // a killed write's; removed if its process is gone
    if (!temporary && (!std::regex_match(f, kMember) || !e.is_regular_file(ec) || e.is_symlink(ec)))
      throw Error(d.string() + " holds " + f + ", which onnxtrain did not write; give the checkpoints another folder");
    if (!temporary) members.push_back(e.path().string());
  }
  files::adopt(d.string());
  for (const std::string& m : members) files::adopt(m);
}

// Removes a step folder through the one deletion gate: what this process made or adopted in it, then the folder,
// which stays if anything else is inside.
void remove_step(const fs::path& d) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const fs::directory_entry& e : fs::directory_iterator(d, ec)) entries.push_back(e.path());
  for (const fs::path& p : entries) files::remove_owned(p.string());
  files::remove_owned(d.string());
}

// The fields of progress.json, each checked for its JSON type: a hand-edited file fails here, naming the field,
// and not after an epoch's work.
struct Fields {
  const nlohmann::json& j;
  std::string file;
  const nlohmann::json& at(const char* key) const {
    if (!j.contains(key)) throw Error(file + ": '" + key + "' is missing");
    return j[key];
  }
  int64_t count(const char* key) const {
    const nlohmann::json& v = at(key);
    // A float such as 1e30 would not convert to int64_t; a negative count is no position.
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      throw Error(file + ": '" + key + "' is not a whole number >= 0, got " + v.dump());
    return v.get<int64_t>();
  }
  double number(const char* key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number()) throw Error(file + ": '" + key + "' is not a number, got " + v.dump());
    return v.get<double>();
  }
  std::string text(const char* key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_string()) throw Error(file + ": '" + key + "' is not a string, got " + v.dump());
    return v.get<std::string>();
  }
};

}  // namespace

// Checks one record as read back from a checkpoint: an object whose "type" is step, val or epoch, and whose numbers
// are numbers. Throws Error naming where (file and line) and the field.
static void check_record(const nlohmann::json& r, const std::string& where) {
  if (!r.is_object()) throw Error(where + ": a record is not a JSON object");
  const auto type = r.find("type");
  if (type == r.end() || !type->is_string() || (*type != "step" && *type != "val" && *type != "epoch"))
    throw Error(where + ": 'type' is not step, val or epoch");
  for (const char* key :
       {"epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "batch", "samples_per_s"})
    if (r.contains(key) && !r[key].is_number())
      throw Error(where + ": '" + key + "' is not a number, got " + r[key].dump());
}

namespace {

// What a checkpoint folder that exists must be, for a new run and a resumed one alike: a folder, and none of the
// run's inputs inside it.
void check_existing(const std::string& dir, const std::string& label, const files::Inputs& inputs) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw Error(label + ": is not a folder");
  if (const auto* in = inputs.inside(dir))
    throw Error(label + ": holds " + in->second + ", the " + in->first +
                " this run reads; give the checkpoints a folder of their own");
}

}  // namespace

void CheckpointDir::check(const std::string& dir, const std::string& what, const files::Inputs& inputs) {
  const std::string label = what + " " + dir;
  struct stat st;
  std::error_code ec;
  if (lstat(dir.c_str(), &st) == 0) {
    check_existing(dir, label, inputs);
    if (fs::exists(fs::path(dir) / "latest", ec))
      throw Error(label +
                  ": holds the checkpoint of an earlier run; continue that run with TrainerOptions::resume_from " +
                  dir + ", or give this one another folder");
    if (access(dir.c_str(), W_OK | X_OK) != 0) throw Error(label + ": the folder is not writable");
    return;
  }
  fs::path p = fs::absolute(fs::path(dir), ec).lexically_normal();  // the nearest folder that exists takes it
  while (p.has_relative_path() && !fs::exists(fs::symlink_status(p, ec))) p = p.parent_path();
  if (!fs::is_directory(p, ec) || access(p.c_str(), W_OK | X_OK) != 0)
    throw Error(label + ": cannot be created: '" + p.string() + "' is not a writable folder");
}

std::string CheckpointDir::stored_command(const std::string& dir) {
  try {
    const fs::path root(dir);
    std::error_code ec;
    if (!fs::is_regular_file(root / "latest", ec)) return "";
    std::string latest = read_text(root / "latest");
    latest = latest.substr(0, latest.find('\n'));
    if (!std::regex_match(latest, kStepName)) return "";
    const nlohmann::json j = nlohmann::json::parse(read_text(root / latest / "progress.json"));
    return j.is_object() && j.contains("command") && j["command"].is_string() ? j["command"].get<std::string>() : "";
  } catch (const std::exception&) {
    return "";  // a damaged checkpoint: resuming it says what is wrong
  }
}

CheckpointDir::CheckpointDir(const std::string& dir, const std::string& what, const files::Inputs& inputs, bool resume)
    : dir_(dir), what_(what) {
  const std::string label = what + " " + dir;
  struct stat st;
  if (lstat(dir.c_str(), &st) == 0 || stat(dir.c_str(), &st) == 0) {
    check_existing(dir, label, inputs);
  } else {
    if (resume) throw Error(label + ": no such checkpoint folder");
    // Created one level at a time, each remembered, so that a run that never checkpoints removes exactly these.
    std::vector<std::string> missing;
    fs::path top = fs::path(dir).lexically_normal();
    if (!top.has_filename()) top = top.parent_path();  // "ck/"
    for (fs::path p = top; !p.empty() && p.has_filename(); p = p.parent_path()) {
      std::error_code ec;
      if (fs::exists(fs::symlink_status(p, ec))) break;
      missing.push_back(p.string());
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) files::make_folder(*it);
    made_folders_ = missing;
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) throw Error(label + ": the folder is not writable");

  // The lock: flock, which the kernel drops when its holder dies, so a kill -9 never leaves the folder locked.
  const std::string lock = dir + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (lock_fd_ >= 0) {
    files::note_created(lock);
    created_.push_back(lock);
  } else {
    if (lstat(lock.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
      throw Error(label + ": its 'lock' is not a regular file");
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (lock_fd_ < 0) throw Error(label + ": cannot open its lock file: " + std::strerror(errno));
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = pread(lock_fd_, pid, sizeof pid - 1, 0);
    close(lock_fd_);
    lock_fd_ = -1;
    std::string holder = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
    holder = holder.substr(0, holder.find('\n'));
    throw Error(label + ": is being written by " + (holder.empty() ? "another process" : "pid " + holder) +
                " (another onnxtrain train); wait for it to end, or give another folder");
  }
  // The pid is for the message a second run prints; a lock file that cannot take it locks all the same.
  const std::string me = std::to_string(getpid()) + "\n";
  if (ftruncate(lock_fd_, 0) == 0) {
    const ssize_t wrote = pwrite(lock_fd_, me.data(), me.size(), 0);
    (void)wrote;
  }

  const fs::path root(dir);
  std::error_code ec;
  if (fs::exists(root / "latest", ec)) {
    std::string latest = read_text(root / "latest");
    latest = latest.substr(0, latest.find('\n'));
    if (!std::regex_match(latest, kStepName))
      throw Error((root / "latest").string() + ": does not name a checkpoint folder (step-NNNNNNNN)");
    if (!resume)
      throw Error(label + ": holds the checkpoint of an earlier run (" + latest +
                  "); continue that run with TrainerOptions::resume_from " + dir + ", or give this one another folder");
    latest_name_ = latest;
    last_step_ = std::stoll(latest.substr(5));
  } else if (resume) {
    throw Error(label + ": holds no complete checkpoint (no 'latest' file)");
  }
  // What this folder's run left (the checkpoint resumed, a step folder a kill interrupted, the records) is this
  // run's now, by the names the checkpoint code makes and no others.
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const std::string f = e.path().filename().string();
    if (std::regex_match(f, kStepFolder) && e.is_directory(ec) && !e.is_symlink(ec)) adopt_step(e.path());
    if ((f == "records.jsonl" || f == "lock" || f == "latest") && e.is_regular_file(ec) && !e.is_symlink(ec))
      files::adopt(e.path().string());
  }
}

bool CheckpointDir::uses_name(const std::string& dir, const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash), name = path.substr(slash + 1);
  static const std::regex kNames("latest|lock|records\\.jsonl|step-[0-9]{8,19}(\\.partial)?");
  return files::same_target(folder, dir) && std::regex_match(name, kNames);
}

CheckpointDir::CheckpointDir(CheckpointDir&& o) noexcept { *this = std::move(o); }

CheckpointDir& CheckpointDir::operator=(CheckpointDir&& o) noexcept {
  std::swap(dir_, o.dir_);
  std::swap(what_, o.what_);
  std::swap(lock_fd_, o.lock_fd_);
  std::swap(made_folders_, o.made_folders_);
  std::swap(created_, o.created_);
  std::swap(published_, o.published_);
  std::swap(last_step_, o.last_step_);
  std::swap(latest_name_, o.latest_name_);
  std::swap(records_bytes_, o.records_bytes_);
  std::swap(legacy_, o.legacy_);
  std::swap(legacy_records_, o.legacy_records_);
  std::swap(records_, o.records_);
  return *this;
}

CheckpointDir::~CheckpointDir() {
  if (records_) std::fclose(records_);
  if (lock_fd_ < 0) return;
  // Nothing published: what this run added to the folder goes again, and the folder too if this run made it.
  if (!published_) {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) files::remove_owned(*it);
    for (const std::string& f : made_folders_) files::remove_owned(f);  // deepest first; only if empty
  }
  close(lock_fd_);
}

Checkpoint CheckpointDir::read() {
  const fs::path step_dir = fs::path(dir_) / latest_name_;
  Checkpoint c;
  c.model = (step_dir / "model.onnx").string();
  if (!fs::exists(c.model)) throw Error(c.model + ": missing from the checkpoint");

  const fs::path progress = step_dir / "progress.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(progress));
  } catch (const nlohmann::json::exception& e) {
    throw Error(progress.string() + ": malformed: " + std::string(e.what()));
  }
  if (!j.is_object()) throw Error(progress.string() + ": not an onnxtrain checkpoint");
  const Fields f{j, progress.string()};
  if (!j.contains("format") || j["format"] != kFormat) throw Error(progress.string() + ": not an onnxtrain checkpoint");
  const nlohmann::json& version = f.at("version");
  if (!version.is_number_integer() || (version.get<int64_t>() != 1 && version.get<int64_t>() != kVersion))
    throw Error(progress.string() + ": checkpoint format version " + version.dump() + "; this onnxtrain reads 1 and " +
                std::to_string(kVersion));
  c.state.steps = f.count("step");
  Position& p = c.position;
  p.epoch = f.count("epoch");
  if (p.epoch < 1) throw Error(progress.string() + ": 'epoch' counts from 1, got 0");
  p.next = f.count("next");
  p.rng = f.text("rng");
  p.loss_sum = f.number("loss_sum");
  p.correct = f.count("correct");
  p.seen = f.count("seen");
  p.ignored = j.contains("ignored") ? f.count("ignored") : 0;  // written only when some were
  const nlohmann::json& config = f.at("config");
  if (!config.is_object()) throw Error(progress.string() + ": 'config' is not an object");
  if (config.contains("threads") && !config["threads"].is_number_integer())
    throw Error(progress.string() + ": 'config' 'threads' is not a whole number");
  p.config = config.dump();
  if (j.contains("command")) p.command = f.text("command");
  if (j.contains("trainer")) {
    if (!j["trainer"].is_object()) throw Error(progress.string() + ": 'trainer' is not an object");
    p.trainer = j["trainer"].dump();
  }
  if (version == 1) {
    const nlohmann::json& records = f.at("records");
    if (!records.is_array()) throw Error(progress.string() + ": 'records' is not a list");
    legacy_ = true;
    legacy_records_.clear();
    for (const nlohmann::json& r : records) legacy_records_.push_back(r.dump());
    records_bytes_ = 0;
  } else {
    records_bytes_ = static_cast<uint64_t>(f.count("records_bytes"));
    std::error_code ec;
    const uintmax_t have = fs::file_size(fs::path(dir_) / "records.jsonl", ec);
    if (ec || have < records_bytes_)
      throw Error((fs::path(dir_) / "records.jsonl").string() + ": holds " +
                  (ec ? "nothing" : std::to_string(have) + " bytes") + ", less than the " +
                  std::to_string(records_bytes_) + " bytes of records its checkpoint covers");
  }
  if (static_cast<int64_t>(c.state.steps) != last_step_)
    throw Error(progress.string() + ": 'step' is " + std::to_string(c.state.steps) + " in the folder " + latest_name_);

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

void CheckpointDir::for_each_record(const std::function<void(const std::string& line)>& f) const {
  if (legacy_) {
    const std::string where = dir_ + "/" + latest_name_ + "/progress.json";
    for (size_t k = 0; k < legacy_records_.size(); ++k) {
      check_record(nlohmann::json::parse(legacy_records_[k]), where + " record " + std::to_string(k + 1));
      f(legacy_records_[k]);
    }
    return;
  }
  const std::string path = dir_ + "/records.jsonl";
  std::ifstream in(path, std::ios::binary);
  uint64_t bytes = 0;
  int64_t line_no = 0;
  for (std::string line; bytes < records_bytes_ && std::getline(in, line);) {
    ++line_no;
    bytes += line.size() + 1;
    const std::string where = path + " line " + std::to_string(line_no);
    if (bytes > records_bytes_) throw Error(where + ": cut short");
    nlohmann::json r;
    try {
      r = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + ": malformed: " + std::string(e.what()));
    }
    check_record(r, where);
    f(line);
  }
  if (bytes < records_bytes_) throw Error(path + ": cannot read the records its checkpoint covers");
}

void CheckpointDir::start_records() {
  const std::string path = dir_ + "/records.jsonl";
  struct stat st;
  const bool existed = lstat(path.c_str(), &st) == 0;
  if (existed && !S_ISREG(st.st_mode)) throw Error(path + ": is not a regular file");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) throw Error(path + ": cannot write: " + std::strerror(errno));
  if (!existed) {
    files::note_created(path);
    created_.push_back(path);
  }
  // Records after the newest checkpoint's belong to a run that stopped before checkpointing them: dropped.
  if (ftruncate(fd, static_cast<off_t>(records_bytes_)) != 0 || lseek(fd, 0, SEEK_END) < 0) {
    close(fd);
    throw Error(path + ": cannot write: " + std::strerror(errno));
  }
  records_ = fdopen(fd, "a");
  if (!records_) {
    close(fd);
    throw Error(path + ": cannot write: " + std::strerror(errno));
  }
  if (legacy_) {  // a version-1 checkpoint: its records move into the file
    legacy_ = false;
    for (const std::string& r : legacy_records_) append_record(r);
  }
  legacy_records_.clear();
}

void CheckpointDir::append_record(const std::string& line) {
  if (!records_) start_records();
  if (std::fputs(line.c_str(), records_) < 0 || std::fputc('\n', records_) < 0)
    throw Error(dir_ + "/records.jsonl: cannot write: " + std::strerror(errno));
}

void CheckpointDir::write(const Model& model, const TrainingState& state, const Position& pos) {
  if (state.steps == last_step_) return;  // this step is the newest checkpoint already (an interrupt right after)
  if (!records_) start_records();
  if (std::fflush(records_) != 0 || fsync(fileno(records_)) != 0)
    throw Error(dir_ + "/records.jsonl: cannot write: " + std::strerror(errno));
  const long covered = std::ftell(records_);
  if (covered < 0) throw Error(dir_ + "/records.jsonl: cannot write: " + std::strerror(errno));

  const fs::path root(dir_);
  const std::string name = step_name(state.steps);
  const fs::path final_dir = root / name, partial = root / (name + ".partial");
  std::error_code ec;
  if (fs::exists(fs::symlink_status(partial, ec))) remove_step(partial);  // a kill's leftover of this run
  files::make_folder(partial.string());
  try {
    model.save((partial / "model.onnx").string());
    std::map<std::string, Tensor> arrays;
    for (auto& [key, t] : state.optimizer) arrays["optimizer/" + key] = t;
    Tensor order;
    order.dtype = DType::Int64;
    order.shape = {static_cast<int64_t>(pos.order.size())};
    order.i64 = pos.order;
    arrays["order"] = std::move(order);
    save_npz((partial / "state.npz").string(), arrays);
    nlohmann::json j = {{"format", kFormat},
                        {"version", kVersion},
                        {"step", state.steps},
                        {"epoch", pos.epoch},
                        {"next", pos.next},
                        {"rng", pos.rng},
                        {"loss_sum", pos.loss_sum},
                        {"correct", pos.correct},
                        {"seen", pos.seen},
                        {"config", pos.config.empty() ? nlohmann::json() : nlohmann::json::parse(pos.config)},
                        {"records_bytes", covered}};
    if (!pos.command.empty()) j["command"] = pos.command;
    if (pos.ignored > 0) j["ignored"] = pos.ignored;
    if (!pos.trainer.empty()) j["trainer"] = nlohmann::json::parse(pos.trainer);
    files::atomic_write((partial / "progress.json").string(), j.dump() + "\n");
    if (fs::exists(fs::symlink_status(final_dir, ec))) remove_step(final_dir);  // never published: stale
    if (fs::exists(fs::symlink_status(final_dir, ec)))
      throw Error(final_dir.string() + ": is in the way of the new checkpoint and not onnxtrain's to remove");
    fs::rename(partial, final_dir, ec);
    if (ec) throw Error(final_dir.string() + ": cannot publish the checkpoint: " + ec.message());
  } catch (...) {
    remove_step(partial);
    throw;
  }
  files::atomic_write((root / "latest").string(), name + "\n");  // the moment the new checkpoint counts
  published_ = true;
  last_step_ = state.steps;
  records_bytes_ = static_cast<uint64_t>(covered);
  latest_name_ = name;
  // The checkpoint it replaces, and leftovers of this run: step folders by name, through the deletion gate.
  std::vector<fs::path> old;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
    const std::string f = e.path().filename().string();
    if (f != name && std::regex_match(f, kStepFolder)) old.push_back(e.path());
  }
  for (const fs::path& p : old) remove_step(p);
}

}  // namespace onnxtrain
