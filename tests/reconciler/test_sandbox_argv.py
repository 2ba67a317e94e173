"""The bubblewrap command line, as a pure function: what is bound where, and what stays hidden."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hive_core.identities import AgentIds
from reconciler.runtime.sandbox import (
    AgentBox,
    Entry,
    HostRoot,
    MetaBind,
    bwrap_argv,
    exact_paths,
    group_text,
    passwd_text,
    sandbox_env,
)
from reconciler.runtime.seccomp import userns_filter

IDS = AgentIds(60123, 60123)
ROOT = HostRoot(
    top=(Entry("bin", "usr/bin"), Entry("lib64", None)),
    etc=("resolv.conf", "ssl"),
    ro_paths=(
        Path("/root/.pyenv/versions/3.11.7"),
        Path("/srv/checkout/.venv"),
        Path("/srv/checkout/hive_kit"),
        Path("/srv/checkout/hive_kit/sub"),  # inside another: no bind of its own
        Path("/usr/lib/python3/dist-packages"),  # under /usr: already there
        Path("/home/op/.local/share/claude/versions/2.1.197"),
    ),
    nix=False,
    setpriv="/usr/bin/setpriv",
)
BOX = AgentBox(
    name="coder",
    ids=IDS,
    state_dir=Path("/srv/hive/agents/coder/state"),
    run_dir=Path("/srv/hive/run/agents/coder"),
    config_file=Path("/srv/hive/agents/coder/build/agent.json"),
    passwd=Path("/srv/hive/agents/coder/build/passwd"),
    group=Path("/srv/hive/agents/coder/build/group"),
)
COMMAND = ["/srv/checkout/.venv/bin/python", "-m", "hive_harness", "serve", "--role", "agent"]


def _pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_the_root_is_an_allow_list_and_the_agent_drops_to_its_own_uid() -> None:
    argv = bwrap_argv("/usr/bin/bwrap", ROOT, BOX, COMMAND)
    binds = _pairs(argv, "--ro-bind")
    sources = {src for src, _ in binds}
    assert ("/usr", "/usr") in binds and ("/lib64", "/lib64") in binds
    assert ("usr/bin", "/bin") in _pairs(argv, "--symlink")
    assert {"/etc/resolv.conf", "/etc/ssl"} <= sources
    assert not {s for s in sources if s.startswith("/etc/") and s not in ("/etc/resolv.conf", "/etc/ssl")}
    assert (str(BOX.passwd), "/etc/passwd") in binds and (str(BOX.group), "/etc/group") in binds
    assert (str(BOX.config_file), "/etc/hyperhive/agent.json") in binds
    # exact paths, nothing around them: no /root, /home or /srv as a whole, no checkout beyond its parts
    for path in ("/root/.pyenv/versions/3.11.7", "/srv/checkout/.venv", "/srv/checkout/hive_kit"):
        assert (path, path) in binds
    assert "/home/op/.local/share/claude/versions/2.1.197" in sources
    assert not sources & {"/", "/root", "/home", "/srv", "/srv/checkout", "/srv/hive", "/var", "/work"}
    assert "/srv/checkout/hive_kit/sub" not in sources and "/usr/lib/python3/dist-packages" not in sources
    # their parents exist only as passable, unlistable directories
    dirs = {argv[i + 1]: argv[i - 1] for i, a in enumerate(argv) if a == "--dir" and argv[i - 2] == "--perms"}
    for parent in ("/root", "/root/.pyenv", "/srv", "/srv/checkout", "/home", "/home/op/.local/share"):
        assert dirs[parent] == "0711", parent
    # writable: only /state and the run dir; private tmpfs for /tmp and /var/tmp
    assert _pairs(argv, "--bind") == [(str(BOX.state_dir), "/state"), (str(BOX.run_dir), "/run/hive")]
    tmpfs = [argv[i + 1] for i, a in enumerate(argv) if a == "--tmpfs"]
    assert tmpfs == ["/tmp", "/var/tmp"]
    assert [argv[i - 1] for i, a in enumerate(argv) if a == "--tmpfs"] == ["1777", "1777"]
    # own namespaces, the network one included; agents outlive the daemon
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try"):
        assert flag in argv
    assert "--die-with-parent" not in argv and "--share-net" not in argv
    # bwrap keeps only what setpriv needs; setpriv drops to the agent's uid with nothing left
    dash = argv.index("--")
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert [argv[i + 1] for i, a in enumerate(argv[:dash]) if a == "--cap-add"] == [
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_SETPCAP",
    ]
    assert argv[dash + 1 :] == [
        "/usr/bin/setpriv",
        "--reuid",
        "60123",
        "--regid",
        "60123",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        *COMMAND,
    ]


def test_a_seccomp_program_goes_to_bwrap_by_descriptor() -> None:
    argv = bwrap_argv("/usr/bin/bwrap", ROOT, BOX, COMMAND, seccomp_fd=7)
    assert argv[argv.index("--seccomp") + 1] == "7" and argv.index("--seccomp") < argv.index("--")
    assert "--seccomp" not in bwrap_argv("/usr/bin/bwrap", ROOT, BOX, COMMAND)
    program = userns_filter("x86_64")
    assert program is not None and len(program) % 8 == 0 and userns_filter("aarch64") is not None
    assert userns_filter("riscv64") is None


def test_order_matters_tmpfs_before_what_lies_in_it() -> None:
    root = HostRoot((), (), (Path("/tmp/ci-clone/.venv"),), False, "/usr/bin/setpriv")
    argv = bwrap_argv("/usr/bin/bwrap", root, BOX, COMMAND)
    text = " ".join(argv)
    assert (
        text.index("--tmpfs /tmp") < text.index("--dir /tmp/ci-clone") < text.index("--ro-bind /tmp/ci-clone")
    )
    assert text.index("--dir /etc ") < text.index("--ro-bind /srv/hive/agents/coder/build/passwd /etc/passwd")


def test_nix_is_bound_whole_and_what_lies_in_it_needs_nothing_more() -> None:
    paths = [Path("/nix/store/abc-python/"), Path("/nix/store/def-util-linux/bin/setpriv"), Path("/opt/x")]
    assert exact_paths(paths, nix=True) == [Path("/opt/x")]
    assert exact_paths(paths, nix=False) == [Path("/opt/x"), *paths[:2]]


def test_passwd_and_group_name_only_root_and_the_agent() -> None:
    assert passwd_text("coder", IDS).splitlines() == [
        "root:x:0:0:root:/root:/usr/sbin/nologin",
        "coder:x:60123:60123:hyperhive agent coder:/state/home:/bin/sh",
    ]
    assert group_text("coder", IDS) == "root:x:0:\ncoder:x:60123:\n"
    assert passwd_text("root", IDS).splitlines()[1].startswith("agent:x:60123:")


def test_the_environment_names_the_sandbox_paths() -> None:
    env = sandbox_env(
        {"PATH": "/usr/bin"},
        marker="k/coder",
        sandboxed=True,
        name="coder",
        state_dir=BOX.state_dir,
        config=BOX.config_file,
        socket=BOX.run_dir / "hive.sock",
    )
    assert (
        env["HIVE_SOCKET"] == "/run/hive/hive.sock" and env["HIVE_EGRESS_SOCKET"] == "/run/hive/egress.sock"
    )
    assert env["HIVE_PAGE_SOCKET"] == "/run/hive/page/page.sock" and env["HOME"] == "/state/home"
    assert env["HIVE_CONTAINER"] == "k/coder" and env["USER"] == "coder"
    plain = sandbox_env(
        {},
        marker="k/coder",
        sandboxed=False,
        name="coder",
        state_dir=BOX.state_dir,
        config=BOX.config_file,
        socket=BOX.run_dir / "hive.sock",
    )
    assert plain["HIVE_EGRESS_SOCKET"] == str(BOX.run_dir / "egress.sock")


def test_a_venv_reached_through_a_link_is_bound_where_the_command_names_it() -> None:
    """`/opt/app/.venv` → `/srv/app/.venv`: the command runs `/opt/app/.venv/bin/python` (resolving it
    would lose the venv), so the real directory is bound again at that name, after its parents."""
    root = HostRoot(
        (), (), (Path("/srv/app/.venv"),), False, "/usr/bin/setpriv",
        aliases=((Path("/opt/app/.venv"), Path("/srv/app/.venv")),),
    )  # fmt: skip
    argv = bwrap_argv("/usr/bin/bwrap", root, BOX, ["/opt/app/.venv/bin/python", "-m", "hive_harness"])
    binds = _pairs(argv, "--ro-bind")
    assert ("/srv/app/.venv", "/srv/app/.venv") in binds and ("/srv/app/.venv", "/opt/app/.venv") in binds
    text = " ".join(argv)
    assert text.index("--dir /opt/app") < text.index("--ro-bind /srv/app/.venv /opt/app/.venv")


def test_only_the_manager_sees_the_meta_repo_and_only_its_objects_and_refs() -> None:
    """The meta repo's own config (a remote URL may carry a token), hooks and logs are never bound."""
    assert not [
        dst
        for _src, dst in _pairs(bwrap_argv("/usr/bin/bwrap", ROOT, BOX, COMMAND), "--ro-bind")
        if dst.startswith("/meta.git")
    ]
    view = Path("/srv/hive/agents/boss/build/meta-view")
    manager = dataclasses.replace(BOX, name="boss", meta=MetaBind(view, Path("/srv/hive/meta.git")))
    argv = bwrap_argv("/usr/bin/bwrap", ROOT, manager, COMMAND)
    meta = [(src, dst) for src, dst in _pairs(argv, "--ro-bind") if dst.startswith("/meta.git")]
    assert meta == [
        (str(view), "/meta.git"),
        ("/srv/hive/meta.git/objects", "/meta.git/objects"),
        ("/srv/hive/meta.git/refs", "/meta.git/refs"),
    ]
    assert not [a for a in _pairs(argv, "--bind") if a[1].startswith("/meta.git")], "never writable"
