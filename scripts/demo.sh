#!/usr/bin/env bash
# The main job: install, then hard label vs patch swap on Fashion-MNIST (`patchswap demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec patchswap demo "$@"
