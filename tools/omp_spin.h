// How long OpenMP's idle threads spin before they sleep, for the programs built here (the CLI, the bench). libgomp
// spins for some 300,000 iterations by default; when anything else takes a core, each barrier then waits out the
// scheduler's time slice, and a run with as many threads as cores slows by tens of times. A short spin bounds that
// without costing uncontended runs; not spinning at all (OMP_WAIT_POLICY=passive) costs small batches dearly.
// docs/performance.md has the figures.
// libgomp reads its environment when it is loaded, before main, so the program starts itself again once with it set.
// A GOMP_SPINCOUNT or OMP_WAIT_POLICY the user set is left alone. Linux only (/proc/self/exe); elsewhere nothing.
#pragma once
#include <unistd.h>

#include <cstdlib>

namespace onnxtrain::cli {

inline constexpr const char* kSpinCount = "3000";

inline void bound_openmp_spinning(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") || std::getenv("OMP_WAIT_POLICY")) return;
  if (setenv("GOMP_SPINCOUNT", kSpinCount, 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("GOMP_SPINCOUNT");  // exec failed: go on as started, with libgomp's own default
}

}  // namespace onnxtrain::cli
