"""Every write to desired state: ``write`` (commit or propose a change), and whole-document editing.

``write`` is the one editing API: the CLI's writes, the dashboard's forms and
the manager's ops all commit or propose through it. (Following Forgejo is
not a write: ``desired.remote`` fast-forwards `main` to a validated commit.)

Whole-swarm editing as one JSON document (`hive desired edit`, the dashboard's editor):

The document is ``{"hive.json": {...}, "agents": {"<name>": {...}}}``. The
CLI merges an edit, field by field, into whatever `main` is when it is saved
(``rebase_edit``, ``desired.merge``): someone else's change to another field
is kept; if they changed one of the same fields differently meanwhile, the
edit is refused, naming the field and both values, rather than silently
overwriting their change.

The dashboard is stricter, like a saved Terraform plan: the operator saw a
diff and a plan against one revision, so the edit lands only on exactly that
revision (``commit_edit``: compare-and-swap on `main`); if `main` moved, it
is refused (``StaleEdit``) with what moved, and nothing is written.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desired import proposals
from desired.changes import apply_changes
from desired.files import (
    DuplicateKeyError,
    classify,
    dump_files,
    load_files,
    no_duplicate_keys,
    validate_changes,
)
from desired.merge import MergeConflict, merge_files
from desired.repo import MAIN, Author, CommitInfo, MetaRepo, Mutation, commit_info, file_changes
from desired.rules import HIVE_FILE
from desired.schema import DesiredState
from hive_kit.changes import ChangeSet
from hive_kit.errors import ConflictError, DesiredStateError, Problem

DOC_FILE = "desired-state.json"


class DocumentSyntaxError(DesiredStateError):
    """The document is not JSON at all (as opposed to JSON that breaks a rule)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        self.line, self.column = line, column
        what = f"not valid JSON: line {line} column {column}: {message}"
        super().__init__([Problem(DOC_FILE, "$", what, "fix the JSON syntax")])


def document_text(state: DesiredState) -> str:
    """The document as `hive desired edit` opens it (and the dashboard shows it)."""
    return json.dumps(to_document(state), indent=2, ensure_ascii=False) + "\n"


def to_document(state: DesiredState) -> dict[str, Any]:
    return {
        HIVE_FILE: state.settings.model_dump(mode="json"),
        "agents": {name: spec.model_dump(mode="json") for name, spec in state.agents.items()},
    }


def from_document(text: str, base: DesiredState) -> DesiredState:
    """Parse an edited document; agent.nix and other files carry over from ``base``."""
    # Comment lines are blanked, not dropped, so line numbers in errors match the editor's.
    body = "\n".join("" if line.lstrip().startswith("//") else line for line in text.splitlines())
    try:
        doc = json.loads(body, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise DocumentSyntaxError(exc.lineno, exc.colno, exc.msg) from None
    except DuplicateKeyError as exc:
        raise DesiredStateError(
            [Problem(DOC_FILE, "$", f"key {exc.args[0]!r} appears twice in one object", "keep one of them")]
        ) from None
    if not isinstance(doc, dict) or set(doc) - {HIVE_FILE, "agents"}:
        raise DesiredStateError(
            [
                Problem(
                    DOC_FILE,
                    "$",
                    'must be an object with keys "hive.json" and "agents"',
                    "restore the two top-level keys",
                )
            ]
        )
    agents = doc.get("agents", {})
    if not isinstance(agents, dict):
        raise DesiredStateError(
            [
                Problem(
                    DOC_FILE,
                    "$.agents",
                    "must be an object keyed by agent name",
                    'use {"name": {...}}',
                )
            ]
        )
    files = {k: v for k, v in dump_files(base).items() if classify(k)[0] not in ("settings", "agent")}
    files[HIVE_FILE] = json.dumps(doc.get(HIVE_FILE, {})).encode()
    for name, spec in agents.items():
        if isinstance(spec, dict):
            spec.setdefault("name", name)
        files[f"agents/{name}.json"] = json.dumps(spec).encode()
    for path in [k for k in files if k.count("/") >= 2 and k.startswith("agents/")]:
        if path.split("/")[1] not in agents:  # removing an agent drops its agent.nix and seeds too
            files.pop(path)
    return load_files(files)


def replacement(files: Mapping[str, bytes]) -> Mutation:
    """A mutation to exactly ``files`` (`hive desired import`), validated now, before anything is written."""
    wanted = load_files(files)
    return lambda _old: wanted


def rebase_edit(base: DesiredState, edited: DesiredState) -> Mutation:
    """A mutation that merges the edit into the latest state by field, refusing real conflicts.

    Three-way (``desired.merge``): base = what the edit started from, ours = `main` now,
    theirs = the edit. Someone else's change to another field of the same agent is kept.
    """
    before, after = dump_files(base), dump_files(edited)

    def mutate(latest: DesiredState) -> DesiredState:
        if latest == base:
            return edited
        try:
            merged = merge_files(before, dump_files(latest), after)
        except MergeConflict as exc:
            lines = "\n".join(f"  {line}" for line in exc.lines("main", "your edit"))
            raise MergeConflict(
                exc.conflicts,
                f"main changed the same fields while you were editing; nothing was saved:\n{lines}\n"
                "Run the edit again to start from the current state.",
            ) from None
        return load_files(merged)

    return mutate


class StaleEdit(ConflictError):
    """`main` is no longer the revision the edit was made against; nothing was written."""

    def __init__(self, base: str, main: str) -> None:
        self.base, self.main = base, main
        super().__init__(
            f"desired state changed since you opened it (at {base[:12]}; main is now {main[:12]}): "
            "nothing was saved. Reload to edit the current state, or see the diff of what changed."
        )


@dataclass(frozen=True)
class DocumentEdit:
    """An edited document, validated against the revision it was made from."""

    base: str
    main: str
    old: DesiredState
    new: DesiredState
    changes: dict[str, bytes | None]
    diff: str

    @property
    def stale(self) -> bool:
        return self.base != self.main


def prepare_edit(repo: MetaRepo, text: str, base: str) -> DocumentEdit:
    """Parse and validate ``text`` as an edit of revision ``base``; writes nothing.

    Raises `DesiredStateError` (with `DocumentSyntaxError` for broken JSON)
    exactly as a commit or a push of the same files would.
    """
    commit = repo.resolve(base)
    old = repo.load_tree(commit.tree)
    new = from_document(text, old)
    changes = file_changes(old, new)
    if changes:
        validate_changes(new, changes)
    before = repo.files_at(str(commit.id))
    head = repo.head(MAIN)
    return DocumentEdit(
        base=str(commit.id),
        main=str(head) if head is not None else "",
        old=old,
        new=new,
        changes=changes,
        diff=files_diff(before, changes),
    )


def files_diff(before: dict[str, bytes], changes: dict[str, bytes | None]) -> str:
    """A unified diff (``a/``, ``b/`` paths, like git's) of ``changes`` applied to ``before``."""
    out: list[str] = []
    for path in sorted(changes):
        old, new = before.get(path), changes[path]
        diff = difflib.unified_diff(
            _lines(old),
            _lines(new),
            fromfile=f"a/{path}" if old is not None else "/dev/null",
            tofile=f"b/{path}" if new is not None else "/dev/null",
        )
        out.extend(line if line.endswith("\n") else line + "\n" for line in diff)
    return "".join(out)


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode(errors="replace").splitlines(keepends=True)


def commit_edit(repo: MetaRepo, edit: DocumentEdit, *, author: Author, message: str) -> CommitInfo | None:
    """Commit ``edit`` on exactly its base revision, or refuse with `StaleEdit`; None if unchanged."""
    base = repo.resolve(edit.base).id
    _require_unmoved(repo, edit.base)
    if not edit.changes:
        return None
    tree = repo.write_tree(repo.commit_at(base).tree, edit.changes)
    oid = repo.create_commit(tree, [base], author, message)
    if not repo.compare_and_swap(MAIN, base, oid, f"hive: {message.splitlines()[0]}"):
        head = repo.head(MAIN)  # another writer won the race between our check and our swap
        raise StaleEdit(edit.base, str(head) if head is not None else "")
    return commit_info(repo.commit_at(oid))


def propose_edit(
    repo: MetaRepo, edit: DocumentEdit, *, author: Author, description: str
) -> proposals.Proposal:
    """Record ``edit`` as a proposal on top of its base revision (which must still be `main`)."""
    _require_unmoved(repo, edit.base)
    wanted = edit.new

    def mutate(latest: DesiredState) -> DesiredState:
        if latest != edit.old:
            raise StaleEdit(edit.base, str(repo.head(MAIN)))
        return wanted

    return proposals.propose(repo, mutate, author=author, description=description)


def _require_unmoved(repo: MetaRepo, base: str) -> None:
    head = repo.head(MAIN)
    if head is None or str(head) != base:
        raise StaleEdit(base, str(head) if head is not None else "")


@dataclass(frozen=True)
class WriteResult:
    """What one write to desired state did: a commit on `main`, a proposal, or nothing at all."""

    summary: str
    revision: str | None = None  # the new `main`, when committed
    proposal: proposals.Proposal | None = None  # when proposed

    @property
    def changed(self) -> bool:
        return self.revision is not None or self.proposal is not None

    def to_json(self) -> dict[str, Any]:
        if self.proposal is not None:
            return {
                "proposal": self.proposal.id,
                "commit": self.proposal.commit,
                "status": self.proposal.status.value,
                "summary": self.summary,
            }
        return {"changed": self.changed, "revision": self.revision, "summary": self.summary}


def write(
    repo: MetaRepo,
    change: ChangeSet | Mutation,
    *,
    author: Author,
    message: str = "",
    propose: bool = False,
) -> WriteResult:
    """The one way every editor writes desired state: commit ``change`` to `main`, or propose it.

    The CLI, the dashboard and the manager's ops all come here, so a write is
    validated, committed (compare-and-swap on `main`, retried on a lost race)
    or recorded as a proposal the same way whoever asks. ``message`` defaults
    to the change's own summary; a bare mutation (``rebase_edit``,
    ``replacement``) needs one.
    """
    if isinstance(change, ChangeSet):
        changes = change
        mutate: Mutation = lambda state: apply_changes(state, changes)  # noqa: E731
        summary = message or changes.summary()
    else:
        mutate, summary = change, message
    if not summary:
        raise ValueError("a write needs a message when its change is a bare mutation")
    if propose:
        return WriteResult(
            summary, proposal=proposals.propose(repo, mutate, author=author, description=summary)
        )
    info = repo.commit(mutate, author=author, message=summary)
    return WriteResult(summary, revision=info.revision if info else None)
