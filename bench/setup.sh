#!/usr/bin/env bash
# Installs what bench/run.py compares against, beyond scripts/setup.sh: OpenBLAS for PyTorch (Debian's torch calls
# the netlib reference BLAS otherwise) and, if npm is there, ONNX Runtime's Node package into bench/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q "install ok installed" ||
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas0-openmp; }
if command -v npm > /dev/null; then
  npm install --no-save --ignore-scripts --no-audit --no-fund onnxruntime-node
else
  echo "bench/setup.sh: npm not found; the table will have no ONNX Runtime column"
fi
