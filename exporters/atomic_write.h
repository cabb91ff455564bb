// Atomic file replacement: every file onnxtrain writes goes through here, so a failed run leaves old files intact.
#pragma once
#include <string>

namespace onnxtrain {

// Writes bytes to path atomically: a temporary file in path's folder, fsync, rename. Throws Error naming path on failure;
// the previous file at path is left as it was.
void atomic_write(const std::string& path, const std::string& bytes);

// Fails early, before long work, when path's folder cannot take a new file. Throws Error naming path.
void check_writable(const std::string& path);

}  // namespace onnxtrain
