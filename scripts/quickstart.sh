#!/usr/bin/env bash
# Set up and run hyperhive on its embedded default: a local (bubblewrap) runtime, a swarm of one
# manager, the dashboard on 127.0.0.1. State lives in ./.hive (override with HIVE_STATE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
hive init
exec hive serve "$@"
