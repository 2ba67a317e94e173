"""The bubblewrap command line, as a pure function: what is bound where, and what stays hidden."""

from __future__ import annotations

from pathlib import Path

from reconciler.runtime.sandbox import Entry, bwrap_argv


def test_argv_hides_the_state_root_and_binds_only_this_agent() -> None:
    argv = bwrap_argv(
        bwrap="/usr/bin/bwrap",
        name="coder",
        state_root=Path("/srv/hive"),
        state_dir=Path("/srv/hive/agents/coder/state"),
        config_file=Path("/srv/hive/agents/coder/build/agent.json"),
        socket_dir=Path("/srv/hive/run/agents/coder"),
        command=["hive-harness", "serve", "--role", "agent"],
        top=[Entry("usr", None), Entry("bin", "usr/bin")],
        etc=[Entry("passwd", None)],
        code=[Path("/tmp/clone")],
    )
    text = " ".join(argv)
    assert "--ro-bind /usr /usr" in text and "--symlink usr/bin /bin" in text
    assert "--ro-bind /etc/passwd /etc/passwd" in text
    assert "--tmpfs /srv/hive" in text
    assert "--bind /srv/hive/agents/coder/state /state" in text
    assert "--ro-bind /srv/hive/agents/coder/build/agent.json /etc/hyperhive/agent.json" in text
    assert "--bind /srv/hive/run/agents/coder /run/hive" in text
    assert text.index("--tmpfs /tmp") < text.index("--ro-bind /tmp/clone /tmp/clone")
    assert text.index("--tmpfs /srv/hive") < text.index("--bind /srv/hive/agents/coder/state /state")
    assert text.index("--ro-bind /tmp/clone /tmp/clone") < text.index("--tmpfs /srv/hive")
    assert argv[-5:] == ["--", "hive-harness", "serve", "--role", "agent"]
    assert "--unshare-pid" in argv and "--die-with-parent" not in argv  # agents outlive the daemon
