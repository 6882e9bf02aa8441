#!/usr/bin/env bash
# The test suite: install with test extras, lint, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
python3 -m ruff check src tests benchmarks
python3 -m pytest -q "$@"
