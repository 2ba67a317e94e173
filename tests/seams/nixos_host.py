"""A NixOS host, as far as the nixos runtime can tell: the recording stand-in for
``nixos-container`` and ``journalctl`` (``nixos_container.py``) first on PATH, and the
flake-input pins the NixOS module sets for the daemon (``HIVE_HYPERHIVE_INPUT``,
``HIVE_NIXPKGS_INPUT``).

Replaced, and why: there is no NixOS here (no systemd-nspawn machines, no journal, no
/nix/store), so the commands are stand-ins that record every call, and the pins name store
paths that do not exist (nothing here builds them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

STAND_IN = Path(__file__).with_name("nixos_container.py")
PINS = {"HIVE_HYPERHIVE_INPUT": "hyperhive-source", "HIVE_NIXPKGS_INPUT": "source"}


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-ins first on PATH and set the host's pins; returns the file of recorded calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("nixos-container", "journalctl"):  # one stand-in, answering by the name it runs as
        script = bin_dir / command
        script.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
        script.chmod(0o755)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("NIXOS_CONTAINER_RECORD", str(record))
    monkeypatch.setenv("NIXOS_CONTAINER_STATE", str(tmp_path / "containers"))
    monkeypatch.setenv("NIXOS_CONTAINER_CONF_DIR", str(tmp_path / "conf"))
    for var, name in PINS.items():
        monkeypatch.setenv(var, f"path:/nix/store/{'0' * 32}-{name}")
    return record
