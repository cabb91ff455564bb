// Atomic writes: temp file beside the target, write all, fsync, rename, fsync the folder. No partial file is ever
// left under the target's name; on any failure the temp file is removed and the old target is untouched.
#include "exporters/atomic_write.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "onnxtrain/data.h"
#include "onnxtrain/error.h"

namespace onnxtrain {
namespace {

std::string folder_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": cannot write: " + what + ": " + std::strerror(errno));
}

}  // namespace

void check_writable(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    errno = EISDIR;
    fail(path, "it is a folder");
  }
  std::string dir = folder_of(path);
  if (stat(dir.c_str(), &st) != 0) fail(path, "folder '" + dir + "'");  // ENOENT: "No such file or directory"
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    fail(path, "'" + dir + "' is a file, not a folder");
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) fail(path, "folder '" + dir + "' is not writable");
}

void atomic_write(const std::string& path, const std::string& bytes) {
  check_writable(path);
  std::string tmpl = path + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) fail(path, "cannot create a temporary file");
  std::string tmp(name.data());
  auto abandon = [&](const std::string& what) {
    int saved = errno;
    close(fd);
    unlink(tmp.c_str());
    errno = saved;
    fail(path, what);
  };
  // Keep the permissions an existing target had; a new file gets the usual 0644 (less the umask).
  struct stat st;
  mode_t mode = 0666;
  if (stat(path.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    mode_t um = umask(0);
    umask(um);
    mode &= ~um;
  }
  if (fchmod(fd, mode) != 0) abandon("cannot set permissions");
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write failed");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) abandon("fsync failed");
  if (close(fd) != 0) {
    int saved = errno;
    unlink(tmp.c_str());
    errno = saved;
    fail(path, "close failed");
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    unlink(tmp.c_str());
    errno = saved;
    fail(path, "rename failed");
  }
  int dfd = open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

void save_text(const std::string& path, const std::string& text) { atomic_write(path, text); }

}  // namespace onnxtrain
