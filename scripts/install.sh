#!/usr/bin/env bash
# Installs patchswap (editable) with its dependencies, and Fashion-MNIST from Debian's
# `dataset-fashion-mnist` package when apt is available and the data is not there yet.
# Usage: scripts/install.sh [pip extras, e.g. test]
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:+[$1]}
python3 -m pip install --quiet --disable-pip-version-check -e ".${extras}"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }) \
      || echo "note: could not install dataset-fashion-mnist; the demo will say how to get the data"
  else
    echo "note: Fashion-MNIST not found; run 'sudo apt-get install dataset-fashion-mnist' or pass --set data.root=DIR"
  fi
fi
