// The gate for every file onnxtrain writes or deletes (include/onnxtrain/files.h): outputs checked by identity and
// kind, atomic writes through recognisable temporaries, and a registry of what this process made, which alone may be
// deleted. It knows nothing of models or checkpoints.
#include "onnxtrain/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <vector>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain::files {
namespace {

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string errno_text() { return std::strerror(errno); }

// What a symlink chain at path ends in (which need not exist: a dangling link is written through, creating its
// target). Only the last component is followed; folders on the way are the kernel's business.
std::string follow_links(const std::string& path) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p;
    if (hops == 40) throw Error(path + ": cannot write: too many levels of symbolic links");
    std::vector<char> buf(PATH_MAX + 1);
    const ssize_t n = readlink(p.c_str(), buf.data(), PATH_MAX);
    if (n < 0) throw Error(path + ": cannot write: cannot read the symbolic link: " + errno_text());
    const std::string target(buf.data(), static_cast<size_t>(n));
    p = target[0] == '/' ? target : folder_of(p) + "/" + target;
  }
}

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a folder";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// This machine, for temporary names: two hosts sharing a folder must not take each other's live temporaries for
// leftovers. FNV-1a of the host name.
std::string host_tag() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  uint32_t h = 2166136261u;
  for (const char* c = host; *c; ++c) h = (h ^ static_cast<unsigned char>(*c)) * 16777619u;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

// What this process made (or adopted), by identity of the entry itself (lstat): a symlink someone puts at one of
// our names later does not make its target ours.
std::mutex g_mutex;
std::set<FileId> g_owned;
std::set<std::string> g_cleaned;  // folders whose stale temporaries were already removed

std::optional<FileId> entry_identity(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// A temporary of a dead onnxtrain process of this machine: our name pattern, our host, a pid that is gone.
bool stale_temporary(const std::string& path) {
  static const std::regex pattern(R"(\.onnxtrain-tmp\.([0-9a-f]{8})\.([0-9]{1,10})\.[A-Za-z0-9]{6})");
  std::smatch m;
  const std::string name = base_of(path);
  if (!std::regex_match(name, m, pattern) || m[1].str() != host_tag()) return false;
  const long long pid = std::stoll(m[2].str());
  if (pid <= 0 || pid > INT_MAX || pid == getpid()) return false;
  if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) return false;  // alive, or not ours to judge
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

[[noreturn]] void refuse(const std::string& label, const std::string& why) { throw Error(label + ": " + why); }

}  // namespace

std::optional<FileId> identity(const std::string& path) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

bool same_target(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  const auto ia = identity(a), ib = identity(b);
  if (ia || ib) return ia && ib && *ia == *ib;
  // Neither exists yet: the same name in the same folder.
  const std::string ta = follow_links(a), tb = follow_links(b);
  const auto fa = identity(folder_of(ta)), fb = identity(folder_of(tb));
  return fa && fb && *fa == *fb && base_of(ta) == base_of(tb);
}

void Inputs::add(const std::string& path, const std::string& role) {
  if (const auto id = identity(path)) by_id_.emplace(*id, std::make_pair(role, path));
}

const std::string* Inputs::role_of(const std::string& path) const {
  const auto id = identity(path);
  if (!id) return nullptr;
  const auto it = by_id_.find(*id);
  return it == by_id_.end() ? nullptr : &it->second.first;
}

const std::pair<std::string, std::string>* Inputs::inside(const std::string& folder) const {
  const auto fid = identity(folder);
  if (!fid) return nullptr;
  for (const auto& [id, role_path] : by_id_) {
    // Walk up from the input's own folder, comparing identities: "..", symlinks and spellings do not matter.
    char* real = realpath(role_path.second.c_str(), nullptr);
    if (!real) continue;
    std::string p = real;
    std::free(real);
    while (true) {
      p = folder_of(p);
      const auto pid = identity(p);
      if (pid && *pid == *fid) return &role_path;
      if (p == "/") break;
    }
  }
  return nullptr;
}

std::string check_output(const std::string& path, const std::string& what, const Inputs& inputs) {
  const std::string label = what.empty() ? path : what + " " + path;
  if (path.empty()) refuse(what.empty() ? "output" : what, "the path is empty");
  const std::string target = follow_links(path);
  struct stat st;
  if (stat(target.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode))
      refuse(label,
             std::string("cannot write: it is ") + kind_of(st.st_mode) + ", and onnxtrain replaces only regular files");
    if (const std::string* role = inputs.role_of(target))
      refuse(label, "is the " + *role + " this run reads; writing there would destroy it");
  }
  const std::string dir = folder_of(target);
  errno = 0;
  if (stat(dir.c_str(), &st) != 0) refuse(label, "cannot write: folder '" + dir + "': " + errno_text());
  if (!S_ISDIR(st.st_mode)) refuse(label, "cannot write: '" + dir + "' is a file, not a folder");
  if (access(dir.c_str(), W_OK | X_OK) != 0) refuse(label, "cannot write: folder '" + dir + "' is not writable");
  long name_max = pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  const size_t longest = std::max(base_of(target).size(), temporary_template(dir).size() - dir.size() - 1);
  if (longest > static_cast<size_t>(name_max))
    refuse(label, "cannot write: the name '" + base_of(target) + "' is longer than the " + std::to_string(name_max) +
                      " characters the folder's file system takes");
  return target;
}

std::string temporary_template(const std::string& folder) {
  return folder + "/.onnxtrain-tmp." + host_tag() + "." + std::to_string(getpid()) + ".XXXXXX";
}

void note_created(const std::string& path) {
  if (const auto id = entry_identity(path)) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_owned.insert(*id);
  }
}

void adopt(const std::string& path) { note_created(path); }

bool remove_owned(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return false;
  const FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_owned.count(id) && !stale_temporary(path)) return false;
  }
  // A folder only once empty: whatever someone else put in one of ours stays, and so does the folder.
  if ((S_ISDIR(st.st_mode) ? rmdir(path.c_str()) : unlink(path.c_str())) != 0) return false;
  std::lock_guard<std::mutex> lock(g_mutex);
  g_owned.erase(id);
  return true;
}

void remove_stale_temporaries(const std::string& folder) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_cleaned.insert(folder).second) return;
  }
  std::vector<std::string> names;
  if (DIR* d = opendir(folder.c_str())) {
    while (const dirent* e = readdir(d))
      if (std::strncmp(e->d_name, ".onnxtrain-tmp.", 15) == 0) names.push_back(e->d_name);
    closedir(d);
  }
  for (const std::string& n : names) remove_owned(folder + "/" + n);
}

void make_folder(const std::string& path) {
  if (mkdir(path.c_str(), 0777) != 0) throw Error(path + ": cannot create the folder: " + errno_text());
  note_created(path);
}

namespace {

// The permissions a new file gets: an existing target's own, else 0666 less the umask.
mode_t mode_for(const std::string& target) {
  struct stat st;
  if (stat(target.c_str(), &st) == 0) return st.st_mode & 07777;
  const mode_t um = umask(0);
  umask(um);
  return 0666 & ~um;
}

// A new temporary beside target, registered as ours. Returns its descriptor; the name goes to *tmp.
int create_temporary(const std::string& target, std::string* tmp) {
  const std::string dir = folder_of(target);
  remove_stale_temporaries(dir);
  std::string name = temporary_template(dir);
  const int fd = mkstemp(name.data());
  if (fd < 0) throw Error(target + ": cannot write: cannot create a temporary file: " + errno_text());
  note_created(name);
  *tmp = name;
  return fd;
}

void sync_folder(const std::string& target) {
  const int dfd = open(folder_of(target).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

}  // namespace

void atomic_write(const std::string& path, const std::string& bytes, const Inputs& inputs) {
  const std::string target = check_output(path, "", inputs);
  std::string tmp;
  const int fd = create_temporary(target, &tmp);
  auto abandon = [&](const std::string& what, bool open) {
    const std::string why = errno_text();
    if (open) close(fd);
    remove_owned(tmp);
    throw Error(path + ": cannot write: " + what + ": " + why);
  };
  if (fchmod(fd, mode_for(target)) != 0) abandon("cannot set permissions", true);
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write failed", true);
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) abandon("fsync failed", true);
  if (close(fd) != 0) abandon("close failed", false);
  if (rename(tmp.c_str(), target.c_str()) != 0) abandon("rename failed", false);
  sync_folder(target);
}

StreamedFile::StreamedFile(const std::string& path) : path_(path) {
  const std::string target = check_output(path);
  const int fd = create_temporary(target, &tmp_);
  f_ = fdopen(fd, "w");
  if (!f_) {
    close(fd);
    remove_owned(tmp_);
    throw Error(path + ": cannot write: " + errno_text());
  }
}

StreamedFile::StreamedFile(StreamedFile&& o) noexcept : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), f_(o.f_) {
  o.f_ = nullptr;
  o.tmp_.clear();
}

StreamedFile& StreamedFile::operator=(StreamedFile&& o) noexcept {
  if (this != &o) {
    this->~StreamedFile();
    path_ = std::move(o.path_);
    tmp_ = std::move(o.tmp_);
    f_ = o.f_;
    o.f_ = nullptr;
    o.tmp_.clear();
  }
  return *this;
}

StreamedFile::~StreamedFile() {
  if (f_) std::fclose(f_);
  f_ = nullptr;
  if (!tmp_.empty()) remove_owned(tmp_);
}

void StreamedFile::write(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), f_) != text.size())
    throw Error(path_ + ": cannot write: " + errno_text());
}

void StreamedFile::for_each_line(const std::function<void(const std::string&)>& f) {
  if (!f_) return;
  if (std::fflush(f_) != 0) throw Error(path_ + ": cannot write: " + errno_text());
  std::ifstream in(tmp_, std::ios::binary);
  for (std::string line; std::getline(in, line);) f(line);
}

void StreamedFile::publish() {
  const std::string target = check_output(path_);
  std::FILE* f = f_;
  f_ = nullptr;
  const bool ok = std::fflush(f) == 0 && fchmod(fileno(f), mode_for(target)) == 0 && fsync(fileno(f)) == 0;
  const std::string why = errno_text();
  if (std::fclose(f) != 0 || !ok) throw Error(path_ + ": cannot write: " + why);
  if (rename(tmp_.c_str(), target.c_str()) != 0) throw Error(path_ + ": cannot write: rename failed: " + errno_text());
  tmp_.clear();
  sync_folder(target);
}

}  // namespace onnxtrain::files

namespace onnxtrain {

void save_text(const std::string& path, const std::string& text) { files::atomic_write(path, text); }

}  // namespace onnxtrain
