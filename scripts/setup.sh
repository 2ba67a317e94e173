#!/usr/bin/env bash
# Install everything hyperhive needs on a fresh Debian machine (run as root), idempotently.
#   scripts/setup.sh          runtime: git, bubblewrap, nix-instantiate, node + the claude CLI, a venv
#   scripts/setup.sh --dev    also what the tests need: Chromium, pytest, ruff, mypy, import-linter, eslint, tsc
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# python3-venv: Debian leaves ensurepip out of python3, and `python3 -m venv` fails without it
apt_packages=(git bubblewrap nix-bin python3 python3-venv ca-certificates)
command -v npm >/dev/null 2>&1 || apt_packages+=(nodejs npm)
[ "$DEV" = 1 ] && apt_packages+=(chromium curl)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  say "python: creating .venv"
  python3 -m venv .venv
fi
extras=""
[ "$DEV" = 1 ] && extras="[dev]"
say "python: installing hyperhive${extras} into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extras}"

if [ -f package.json ]; then
  # devDependencies are the front end's linters (eslint, tsc): only the tests need them. Said
  # explicitly, so NODE_ENV=production or an npm `omit` setting cannot drop them under --dev.
  npm_deps="--omit=dev"; npm_what="the claude CLI"
  if [ "$DEV" = 1 ]; then npm_deps="--include=dev"; npm_what="the claude CLI and the front-end linters"; fi
  say "npm: installing $npm_what"
  if [ -f package-lock.json ]; then npm ci "$npm_deps" --no-audit --no-fund --loglevel=error; else npm install "$npm_deps" --no-audit --no-fund --loglevel=error; fi
fi
say "set up: $(.venv/bin/hive --help >/dev/null && echo 'hive ready') ($(pwd)/.venv/bin/hive)"
