#!/usr/bin/env bash
# Build the agent image (Containerfile) with rootful podman, check it, and optionally import it
# into a node's containerd. docs/kubernetes.md, "The agent image", says when and why.
#
#   bash scripts/agent-image.sh [--import CONTAINERD_SOCKET] [--no-check]
#
# Settings (environment):
#   HIVE_IMAGE       the tag to build             (default localhost/hyperhive-agent:1, the driver's default)
#   HIVE_IMAGE_BASE  the Debian bookworm base     (default: localhost/hyperhive-debian:bookworm, which
#                    this script makes with debootstrap from the Debian archive if podman lacks it;
#                    docker.io/library/debian:bookworm-slim does as well where Docker Hub is reachable)
#   HIVE_DEBIAN_MIRROR  for debootstrap          (default http://deb.debian.org/debian)
#   HIVE_CLAUDE_CODE the npm version of @anthropic-ai/claude-code (default: package-lock.json's, the one
#                    the tests drive; newer ones may need a newer Node than bookworm's 18)
#   PYTHON           the Python whose pip builds the wheels (default: the checkout's .venv, else python3)
#   HIVE_IMAGE_CA    a CA bundle npm trusts during the build, for a TLS-intercepting proxy (default:
#                    the host's /etc/ssl/certs/ca-certificates.crt; empty: none). A build secret:
#                    never stored in the image.
#
# The wheels are built here, on the host, at the versions the checkout's venv has (its tested
# versions), and copied in: the build itself fetches only from the Debian archive and npm.
# Exit codes: 0 built (and checked, and imported); 1 a step failed (its output says which);
# 2 bad arguments or a missing tool.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${HIVE_IMAGE:-localhost/hyperhive-agent:1}"
BASE="${HIVE_IMAGE_BASE:-localhost/hyperhive-debian:bookworm}"
MIRROR="${HIVE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
IMPORT=""
CHECK=1

die() { echo "agent-image: $1" >&2; exit "${2:-1}"; }
say() { echo "agent-image: $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --import) [[ $# -ge 2 ]] || die "--import needs containerd's socket, e.g. RUN_DIR/containerd/containerd.sock" 2
              IMPORT="$2"; shift 2 ;;
    --no-check) CHECK=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1; see --help" 2 ;;
  esac
done

command -v podman >/dev/null || die "podman is not installed: apt-get install podman" 2
[[ $EUID -eq 0 ]] || die "run as root: the build uses rootful podman" 2
[[ -z "$IMPORT" ]] || command -v ctr >/dev/null || die "--import needs ctr (containerd)" 2

CLAUDE="${HIVE_CLAUDE_CODE:-$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["packages"]["node_modules/@anthropic-ai/claude-code"]["version"])' "$ROOT/package-lock.json")}"

STAGE="$(mktemp -d /tmp/hyperhive-image.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT

base_image() {
  if podman image exists "$BASE"; then
    say "base $BASE: present"
    return
  fi
  [[ "$BASE" == localhost/hyperhive-debian:* ]] || return 0  # a registry image: podman build pulls it
  command -v debootstrap >/dev/null || die "no base image $BASE and no debootstrap: apt-get install debootstrap" 2
  say "base $BASE: debootstrap --variant=minbase bookworm from $MIRROR (a few minutes, once)"
  local rootfs="$STAGE/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$STAGE/debootstrap.log" 2>&1 ||
    { tail -20 "$STAGE/debootstrap.log" >&2; die "debootstrap failed"; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
}

wheels() {
  say "wheels: hyperhive from this checkout, the harness extra at the venv's versions"
  mkdir -p "$STAGE/wheels" "$STAGE/src"
  git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$STAGE/src" 2>/dev/null) || true
  "$PY" -m pip wheel -q --no-deps "$STAGE/src" -w "$STAGE/wheels" >&2
  "$PY" - "$ROOT/pyproject.toml" >"$STAGE/harness.txt" <<'EOF'
import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["harness"]))
EOF
  "$PY" -m pip freeze --exclude-editable | grep '==' | grep -v '^hyperhive' >"$STAGE/constraints.txt" || true
  # CPython 3.11 on Debian bookworm here as in the image: a wheel pip builds here installs there
  "$PY" -m pip wheel -q -c "$STAGE/constraints.txt" -r "$STAGE/harness.txt" -w "$STAGE/wheels" >&2
  rm -rf "$STAGE/src"
}

base_image
wheels
cp "$ROOT/Containerfile" "$STAGE/Containerfile"
say "build $IMAGE (claude-code $CLAUDE)"
CA="${HIVE_IMAGE_CA-/etc/ssl/certs/ca-certificates.crt}"
SECRET=()
if [[ -n "$CA" ]]; then
  [[ -r "$CA" ]] || die "HIVE_IMAGE_CA=$CA is not a readable file; name a CA bundle or set it empty" 2
  SECRET=(--secret "id=npm-ca,src=$CA")
fi
podman build --network host --build-arg "BASE=$BASE" --build-arg "CLAUDE_CODE=$CLAUDE" "${SECRET[@]}" \
  -t "$IMAGE" -f "$STAGE/Containerfile" "$STAGE"

if [[ $CHECK -eq 1 ]]; then
  say "check: hive-harness --help and claude --version inside $IMAGE"
  podman run --rm --network none --entrypoint hive-harness "$IMAGE" --help >"$STAGE/help.txt" ||
    { cat "$STAGE/help.txt" >&2; die "hive-harness --help failed in $IMAGE"; }
  grep -q serve "$STAGE/help.txt" || die "hive-harness --help in $IMAGE does not offer serve"
  podman run --rm --network none --entrypoint claude "$IMAGE" --version ||
    die "claude --version failed in $IMAGE"
  [[ "$(podman run --rm --network none --entrypoint id "$IMAGE" -u)" == 65534 ]] ||
    die "$IMAGE does not run as uid 65534"
  if podman run --rm --network none --entrypoint "/opt/hyperhive/bin/python" "$IMAGE" \
      -c 'import pygit2' 2>/dev/null; then
    die "$IMAGE has pygit2: the host's dependencies leaked into the agent image"
  fi
fi

if [[ -n "$IMPORT" ]]; then
  say "import $IMAGE into containerd at $IMPORT (namespace k8s.io)"
  podman save --format docker-archive "$IMAGE" | ctr --address "$IMPORT" -n k8s.io images import - >&2
fi
say "done: $IMAGE"
