#!/usr/bin/env bash
# The test suite: install with test extras, lint, pytest, then the wheel as users install it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
python3 -m ruff check src tests benchmarks
python3 -m pytest -q "$@"
scripts/check_package.sh
