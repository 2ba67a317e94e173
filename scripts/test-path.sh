#!/usr/bin/env bash
# Print the PATH the test suite runs under (scripts/test.sh): the one a fresh machine has, so a test
# that runs `python`, `hive` or `pytest` by bare name fails here as it would there, instead of
# finding an interpreter that happens to have the project's packages.
#   - first, .venv-bare/bin: `python`, `python3` of an empty venv (the venv's base interpreter, nothing
#     installed: importing the project fails on its first dependency, "No module named 'typer'"),
#     and `hive`, `hive-harness`, `pytest`, `pip`, `pip3` that fail, saying what to use instead;
#   - then the caller's PATH without the project's venv (.venv/bin, $VIRTUAL_ENV/bin).
# Tests reach the venv only as sys.executable (and its console scripts beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
bare="$(pwd)/.venv-bare"
if [ ! -x "$bare/bin/python3" ]; then
  base=.venv/bin/python; [ -x "$base" ] || base=python3
  "$base" -m venv --without-pip "$bare" >/dev/null
fi
for name in hive hive-harness pytest pip pip3; do
  shim="$bare/bin/$name"
  [ -x "$shim" ] && continue
  cat >"$shim" <<'EOF'
#!/bin/sh
name=$(basename "$0")
echo "a test ran '$name' by bare name, and a fresh machine has none on PATH: use sys.executable" \
  "('python -m ...') or the venv's own script, Path(sys.executable).parent / '$name'" >&2
exit 127
EOF
  chmod 755 "$shim"
done
real() { (cd "$1" 2>/dev/null && pwd -P) || printf '%s' "$1"; }
drop=("$(real .venv/bin)" "$(real "$bare/bin")")
[ -n "${VIRTUAL_ENV:-}" ] && drop+=("$(real "$VIRTUAL_ENV/bin")")
keep=()
IFS=: read -r -a parts <<<"${PATH:-}"
for dir in "${parts[@]}"; do
  [ -n "$dir" ] || continue
  resolved="$(real "$dir")"
  for gone in "${drop[@]}"; do [ "$resolved" = "$gone" ] && continue 2; done
  keep+=("$dir")
done
(IFS=:; printf '%s\n' "$bare/bin${keep[*]:+:${keep[*]}}")
