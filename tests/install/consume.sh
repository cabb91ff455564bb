#!/usr/bin/env bash
# The installed package as another project uses it: cmake --install into a fresh prefix, then examples/consumer
# (find_package(onnxtrain), onnxtrain::onnxtrain), copied alone out of the tree, configured and built against that
# prefix alone, and its program run.
#   consume.sh BUILD_DIR SOURCE_DIR CXX_COMPILER
set -euo pipefail
build=$1 src=$2 cxx=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/onnxtrain_install_XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > /dev/null
for f in bin/onnxtrain include/onnxtrain/train.h lib/cmake/onnxtrain/onnxtrainConfig.cmake; do
  [ -e "$work/prefix/$f" ] || { echo "consume.sh: the install has no $f" >&2; exit 1; }
done
"$work/prefix/bin/onnxtrain" --version
cp -r "$src/examples/consumer" "$work/project"  # alone: nothing of the tree beside it
cmake -S "$work/project" -B "$work/consumer" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$work/prefix" > /dev/null
cmake --build "$work/consumer" > /dev/null
"$work/consumer/train_mlp" "$src/models/fashion_mlp.onnx" "$work/trained.onnx" "$work/checkpoint"
