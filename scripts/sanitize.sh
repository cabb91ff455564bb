#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer into
# build-asan/ and runs it; fails on any sanitizer report, also from the CLI processes the tests start.
# Needs the packages scripts/setup.sh installs; it does not install them itself.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONNXTRAIN_SANITIZE=ON
cmake --build build-asan -j"$(nproc)"

# Reports go to files as well as failing the process with a code no test expects (86), so a report from a child
# process whose exit code a test checks loosely is still caught below.
reports="$PWD/build-asan/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_leaks=1:exitcode=86:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86:log_path=$reports/ubsan"
status=0
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" || status=$?
if compgen -G "$reports/*" > /dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  cat "$reports"/* >&2
  exit 1
fi
exit "$status"
