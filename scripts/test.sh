#!/usr/bin/env bash
# The whole test suite, from nothing: install (scripts/setup.sh --dev), then lint, types, layers, tests.
# pytest runs on the PATH of a fresh machine (scripts/test-path.sh): a test that runs `python`,
# `hive` or `pytest` by bare name fails here, as it would there.
# The front end's checks use the project's own node_modules (npx --no-install never fetches).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
PY=.venv/bin/python
echo "==> ruff";          "$PY" -m ruff format --check . && "$PY" -m ruff check .
echo "==> mypy";          "$PY" -m mypy hive_kit desired hive_core reconciler hive_harness hive_web hive
echo "==> import layers"; .venv/bin/lint-imports
echo "==> eslint";        npx --no-install eslint hive_web/static/js
echo "==> tsc";           npx --no-install tsc --noEmit -p jsconfig.json
# on a fresh machine's PATH: no interpreter but the venv's has the project (scripts/test-path.sh)
echo "==> pytest";        env -u VIRTUAL_ENV -u PYTHONPATH -u PYTHONHOME PATH="$(scripts/test-path.sh)" "$PY" -m pytest "$@"
