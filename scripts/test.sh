#!/usr/bin/env bash
# The whole test suite, from nothing: install (scripts/setup.sh --dev), then lint, types, layers, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
PY=.venv/bin/python
echo "==> ruff";          "$PY" -m ruff format --check . && "$PY" -m ruff check .
echo "==> mypy";          "$PY" -m mypy hive_kit desired hive_core reconciler hive_harness hive_web hive
echo "==> import layers"; .venv/bin/lint-imports
echo "==> pytest";        "$PY" -m pytest "$@"
