#!/usr/bin/env bash
# Installs onnxtrain's Debian packages (apt-get, through sudo when not root) and builds it into build/.
# It installs nothing from outside Debian's archive.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make pkg-config
  libdnnl-dev ocl-icd-opencl-dev libonnx-dev libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev
  libzip-dev zlib1g-dev libcsv-dev libcli11-dev nlohmann-json3-dev clang-format
  tmux  # the progress line's test reads it off a real terminal
  python3 python3-onnx python3-numpy python3-torch
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # With recommends: libdnnl-dev only recommends the OpenCL headers its CMake config requires, and the set installed
  # this way is the one tested.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"  # extra CMake options, as CI passes -DONNXTRAIN_WERROR=ON
cmake --build build -j"$(nproc)"
