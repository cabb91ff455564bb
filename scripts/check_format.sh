#!/usr/bin/env bash
# Fails when a C++ file under version control is not laid out as .clang-format says; prints the files to fix and
# the command that fixes them. The layout was applied to the whole tree once, so any difference is new.
set -euo pipefail
cd "$(dirname "$0")/.."
format=${CLANG_FORMAT:-clang-format}
command -v "$format" >/dev/null || { echo "check_format: $format not found (scripts/setup.sh installs it)"; exit 1; }
mapfile -t sources < <(git ls-files '*.cpp' '*.h')
bad=()
for f in "${sources[@]}"; do
  "$format" --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} file(s) differ from .clang-format's layout:"
  printf '  %s\n' "${bad[@]}"
  echo "fix with: $format -i ${bad[*]}"
  exit 1
fi
echo "check_format: ${#sources[@]} files laid out as .clang-format says"
