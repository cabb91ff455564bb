#!/usr/bin/env bash
# scripts/check_format.sh against a small git tree made here: a file off .clang-format's layout is named and fails
# the check, and passes once clang-format has laid it out.
# Usage: test_check_format.sh SOURCE_DIR
set -euo pipefail
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/scripts" "$tree/runtime"
cp "$1/.clang-format" "$tree/"
cp "$1/scripts/check_format.sh" "$tree/scripts/"
printf 'int  f( int x ){return x*2;}\n' >"$tree/runtime/bad.cpp"
printf '#pragma once\nint g(int x);\n' >"$tree/runtime/good.h"
git -C "$tree" init -q
git -C "$tree" add -A

if out=$(bash "$tree/scripts/check_format.sh"); then
  echo "FAIL: check_format passed a misformatted file:"; echo "$out"; exit 1
fi
grep -q "runtime/bad.cpp" <<<"$out" || { echo "FAIL: the misformatted file is not named:"; echo "$out"; exit 1; }
if grep -q "runtime/good.h" <<<"$out"; then echo "FAIL: a well-formatted file is named:"; echo "$out"; exit 1; fi

clang-format -i "$tree/runtime/bad.cpp"
out=$(bash "$tree/scripts/check_format.sh") || { echo "FAIL: check_format fails a formatted tree:"; echo "$out"; exit 1; }
echo "check_format: names the misformatted file, passes the formatted tree"
