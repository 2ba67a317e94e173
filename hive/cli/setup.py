"""`hive init`, `hive schema`, `hive validate`: creating and checking desired state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from desired.bootstrap import init_meta_repo
from desired.files import classify, load_files, parse_agent, parse_settings, read_dir
from desired.repo import MetaRepo
from desired.schema import schema_for
from hive.cli.common import AuthorOpt, JsonOpt, StateDirOpt, author, layout, ok, print_json
from hive_kit.errors import DesiredStateError, Problem, kind_of


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("schema")(schema)
    app.command("validate")(validate)


def init(state_dir: StateDirOpt = None, author_text: AuthorOpt = None, as_json: JsonOpt = False) -> None:
    """Create the state dir and a meta repo holding a swarm of one manager (harmless to re-run)."""
    paths = layout(state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    repo, created = init_meta_repo(paths.meta, author(author_text))
    snap = repo.load()
    if as_json:
        print_json(
            {
                "state_dir": str(paths.root),
                "meta_repo": str(paths.meta),
                "created": created,
                "revision": snap.revision,
                "agents": list(snap.state.agents),
            }
        )
        return
    verb = "created" if created else "already set up; hook and settings refreshed"
    ok(f"state dir {paths.root}: {verb}")
    ok(f"meta repo {paths.meta} @ {snap.short}: agents {', '.join(snap.state.agents)}")
    ok(f"edit with `hive agent ...`, or `git clone {paths.meta}` and push (pushes are validated)")


def schema(
    kind: Annotated[str, typer.Argument(help="agent, swarm, or all.")] = "all",
) -> None:
    """Print the JSON Schema of desired-state files."""
    if kind not in ("agent", "swarm", "all"):
        raise typer.BadParameter(f"{kind!r}: use agent, swarm or all")
    print_json(schema_for(kind))


def _validate_file(path: Path, repo: MetaRepo | None) -> int:
    """Validate one file: alone, then (if a meta repo exists) in place of its twin on main."""
    data = path.read_bytes()
    if path.name == "hive.json":
        rel = "hive.json"
        _, problems = parse_settings(data, str(path))
    else:
        rel = f"agents/{path.stem}.json"
        _, problems = parse_agent(rel, data)
        problems = [Problem(str(path), p.path, p.message, p.fix) for p in problems]
    if problems:
        raise DesiredStateError(problems)
    if repo is not None and classify(rel)[0] in ("agent", "settings"):
        files = repo.files_at()
        files[rel] = data
        load_files(files)
    return 1


def validate(
    path: Annotated[Path, typer.Argument(help="A desired-state directory, hive.json, or an agent file.")],
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check desired state without changing anything; exit 1 lists every problem."""
    if not path.exists():
        raise DesiredStateError(
            [Problem(str(path), "$", "does not exist", "pass a directory or a .json file")]
        )
    meta = layout(state_dir).meta
    repo = MetaRepo(meta) if (meta / "HEAD").exists() else None
    try:
        if path.is_dir():
            state = load_files(read_dir(path))
            summary = f"{path}: valid ({len(state.agents)} agents)"
        else:
            _validate_file(path, repo)
            summary = f"{path}: valid" + (" (and consistent with main)" if repo else "")
    except DesiredStateError as exc:
        if as_json:
            print_json({"valid": False, "problems": [p.__dict__ for p in exc.problems]})
            raise typer.Exit(kind_of(exc).exit_code) from None
        raise
    if as_json:
        print_json({"valid": True, "problems": []})
    else:
        ok(summary)
