// The one gate for the files onnxtrain writes and deletes. Outputs are checked by identity (device and inode) against
// the files a run reads, special files are refused, every write goes through a temporary file and a rename, and a
// deletion removes only what this process made. Path strings are never compared to decide that two files are one.
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace onnxtrain::files {

// A file's identity: what stat() says after following symlinks.
struct FileId {
  uint64_t dev = 0, ino = 0;
  bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino; }
  bool operator<(const FileId& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};

// The identity of what path names, symlinks followed; nullopt when nothing is there.
std::optional<FileId> identity(const std::string& path);

// Whether a and b name one file: the same identity when it exists, else the same name in the same folder (by the
// folder's identity), however either is spelled (relative, absolute, through symlinks or "..").
bool same_target(const std::string& a, const std::string& b);

// The files a run reads, by identity, each with what a message calls it ("--data", "MODEL's external data 'w.bin'").
class Inputs {
 public:
  void add(const std::string& path, const std::string& role);  // a path with nothing there is not an input
  // The role of the input that path is (a file that exists, by identity), else nullptr.
  const std::string* role_of(const std::string& path) const;
  // The role of an input that lies inside folder (at any depth), with its path, else nullptr.
  const std::pair<std::string, std::string>* inside(const std::string& folder) const;

 private:
  std::map<FileId, std::pair<std::string, std::string>> by_id_;  // identity -> (role, path as given)
};

// Checks one output before anything is written, and returns the path to write: path itself, or the file a symlink
// at path points to (written through, so the link stays a link). Refuses with an Error naming what and path:
// a target that exists and is not a regular file (a device, a FIFO, a socket, a folder); a target that is one of
// inputs; a folder that is missing or cannot take a new file; a name too long for the folder's file system.
std::string check_output(const std::string& path, const std::string& what = "", const Inputs& inputs = Inputs());

// Writes bytes to path (through check_output) atomically: a temporary file beside the target, fsync, rename, fsync
// of the folder. On any failure the target is as it was and the temporary is removed. Throws Error naming path.
void atomic_write(const std::string& path, const std::string& bytes, const Inputs& inputs = Inputs());

// A file written as it goes (a --log), published only at the end: lines go into a temporary beside the target,
// publish() renames it over the target (checked again first). Destroyed unpublished, it removes its temporary, so a
// failed run leaves the target as it was.
class StreamedFile {
 public:
  StreamedFile() = default;
  explicit StreamedFile(const std::string& path);  // checks path, creates the temporary; throws Error
  StreamedFile(StreamedFile&&) noexcept;
  StreamedFile& operator=(StreamedFile&&) noexcept;
  ~StreamedFile();
  bool open() const { return f_ != nullptr; }
  void write(const std::string& text);  // throws Error naming the target when the disk refuses it
  void publish();                       // flush, fsync, rename; throws Error naming the target
  // Each line written so far, in order (an interrupted run's checkpoint takes the records its --log holds).
  void for_each_line(const std::function<void(const std::string&)>& f);

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

// The temporary name for a file about to be written into folder: ".onnxtrain-tmp.<host>.<pid>.XXXXXX", with X
// filled in by the caller (mkstemp, mkdtemp). A later run recognises leftovers of a dead process by this name.
std::string temporary_template(const std::string& folder);

// Creates a folder (one level) and records that this process made it. Throws Error naming path.
void make_folder(const std::string& path);

// Records that this process made path, so that remove_owned may remove it. make_folder and the writers call it.
void note_created(const std::string& path);
// Records that path, which an earlier run made, now belongs to this one (the checkpoint a run resumes).
void adopt(const std::string& path);

// The one way onnxtrain deletes: removes path only if this process made or adopted it (a folder only once it is
// empty), or if it is a temporary left by a dead onnxtrain process on this machine. Returns whether it removed it.
bool remove_owned(const std::string& path);

// Removes, through remove_owned, the temporaries that dead onnxtrain processes of this machine left in folder.
void remove_stale_temporaries(const std::string& folder);

}  // namespace onnxtrain::files
