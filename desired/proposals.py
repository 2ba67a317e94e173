"""Git-native approvals: proposals, approve, deny — all derived from refs and tags.

A proposal is a commit on branch ``proposals/<id>`` (a child of `main` when
proposed) with an annotated tag ``proposal/<id>`` whose tagger is the author
and whose message is the description. Approve merges the branch into `main`
(fast-forward, or a merge commit of the two merged field by field by
``desired.merge``; a conflict is refused naming the file, the field and both
values, and so is a merge whose result breaks a rule) and
tags ``approved/<id>`` on the commit that landed. Deny tags ``denied/<id>``
on the proposal with the note as message. The reconciler later adds
``deployed/<id>`` or ``failed/<id>``. There is no other record: `hive
pending`, the history tab and the diff are read back from these refs, so a
clone of the meta repo carries the whole audit trail.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pygit2

from desired.files import validate_changes
from desired.merge import MergeConflict, merge_trees
from desired.repo import (
    MAIN,
    Author,
    CommitInfo,
    FileChanges,
    MetaRepo,
    Mutation,
    commit_info,
    file_changes,
)
from desired.schema import DesiredState
from hive_kit.errors import ConflictError, NotFoundError, TemporaryError, UserError
from hive_kit.names import ProposalId

BRANCH = "refs/heads/proposals/"
_PROPOSAL, _APPROVED, _DENIED = "proposal/", "approved/", "denied/"
_DEPLOYED, _FAILED = "deployed/", "failed/"


class ProposalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True)
class Resolution:
    by: str
    at: datetime
    note: str
    commit: str


@dataclass(frozen=True)
class Proposal:
    id: ProposalId
    author: str
    description: str
    created_at: datetime
    commit: str
    status: ProposalStatus
    resolution: Resolution | None
    deploy: str | None
    """'deployed' or 'failed: <error>' once the reconciler has acted on an approved proposal."""


def _tag_meta(repo: MetaRepo, name: str) -> tuple[str, datetime, str, str] | None:
    tag = repo.tag_object(name)
    if tag is None:
        return None
    tagger = tag.tagger
    who = f"{tagger.name} <{tagger.email}>" if tagger else "unknown"
    when = datetime.fromtimestamp(tagger.time, tz=UTC) if tagger else datetime.now(tz=UTC)
    return who, when, (tag.message or "").strip(), str(tag.target)


def _ids(repo: MetaRepo) -> list[ProposalId]:
    return sorted(ProposalId(int(k)) for k in repo.tags(_PROPOSAL) if k.isdigit())


def get(repo: MetaRepo, pid: ProposalId) -> Proposal:
    meta = _tag_meta(repo, f"{_PROPOSAL}{pid}")
    if meta is None:
        raise NotFoundError(f"no proposal {pid}; `hive pending` lists open ones")
    author, created, description, commit = meta
    resolution, status = None, ProposalStatus.PENDING
    for prefix, kind in ((_APPROVED, ProposalStatus.APPROVED), (_DENIED, ProposalStatus.DENIED)):
        found = _tag_meta(repo, f"{prefix}{pid}")
        if found is not None:
            status = kind
            resolution = Resolution(by=found[0], at=found[1], note=found[2], commit=found[3])
    deploy = None
    if _tag_meta(repo, f"{_DEPLOYED}{pid}") is not None:
        deploy = "deployed"
    failed = _tag_meta(repo, f"{_FAILED}{pid}")
    if failed is not None:
        deploy = f"failed: {failed[2]}"
    branch = repo.head(f"{BRANCH}{pid}")
    if status is ProposalStatus.PENDING and branch is not None:
        commit = str(branch)  # an operator may have pushed amendments to the branch
    return Proposal(pid, author, description, created, commit, status, resolution, deploy)


def list_all(repo: MetaRepo) -> list[Proposal]:
    return [get(repo, pid) for pid in _ids(repo)]


def pending(repo: MetaRepo) -> list[Proposal]:
    return [p for p in list_all(repo) if p.status is ProposalStatus.PENDING]


def propose(repo: MetaRepo, mutate: Mutation, *, author: Author, description: str) -> Proposal:
    """Record a change as a proposal on top of current `main`; `main` itself is not touched."""
    if not description.strip():
        raise UserError("a proposal needs a description (--description) saying what it is for")
    base = repo.head(MAIN)
    if base is None:
        raise NotFoundError(f"the meta repo {repo.path} has no main branch; run `hive init`")
    base_commit = repo.commit_at(base)
    old = repo.load_tree(base_commit.tree)
    new = mutate(old)
    changes = file_changes(old, new)
    if not changes:
        raise UserError("the proposed change would change nothing in desired state")
    validate_changes(new, changes)  # an invalid proposal is refused up front
    return _record(repo, base, changes, author, description)


def propose_files(
    repo: MetaRepo, base: pygit2.Oid, changes: FileChanges, *, author: Author, description: str
) -> Proposal:
    """Record ``changes`` (files exactly as given, already validated) on top of `main` commit ``base``.

    For a commit the manager made in its clone (``desired.bundles``): its files keep their bytes,
    so the proposal's diff is that commit's diff.
    """
    if not description.strip():
        raise UserError("a proposal needs a description saying what it is for")
    if not changes:
        raise UserError("the proposed change would change nothing in desired state")
    return _record(repo, base, changes, author, description)


def _record(
    repo: MetaRepo, base: pygit2.Oid, changes: FileChanges, author: Author, description: str
) -> Proposal:
    tree = repo.write_tree(repo.commit_at(base).tree, changes)
    oid = repo.create_commit(tree, [base], author, description)
    ids = _ids(repo)
    pid = ProposalId(ids[-1] + 1 if ids else 1)
    while not _claim(repo, pid, oid, author, description):
        pid = ProposalId(pid + 1)
    repo.git.references.create(f"{BRANCH}{pid}", oid, force=True)
    return get(repo, pid)


def _claim(repo: MetaRepo, pid: ProposalId, oid: pygit2.Oid, author: Author, description: str) -> bool:
    """Create proposal/<pid>; False if another proposer took that id first."""
    for _ in range(200):
        try:
            return repo.create_tag(f"{_PROPOSAL}{pid}", oid, author, description)
        except (ValueError, pygit2.GitError) as exc:
            text = str(exc).lower()
            if "exists" in text:
                return False
            if "lock" not in text:
                raise
            time.sleep(random.uniform(0.001, 0.01))  # noqa: S311 - another writer holds the ref lock
    raise TemporaryError(f"the tag proposal/{pid} stayed locked; retry the proposal")


def diff(repo: MetaRepo, proposal: Proposal) -> str:
    """What the proposal changes, relative to the state it was proposed against."""
    head = pygit2.Oid(hex=proposal.commit)
    main = repo.head(MAIN)
    if main is None:
        return repo.diff(None, head)
    base = repo.git.merge_base(main, head)
    if base == head:  # already merged: show the proposal commit against its own parent
        parents = repo.commit_at(head).parent_ids
        return repo.diff(parents[0] if parents else None, head)
    return repo.diff(base, head)


def _require_pending(repo: MetaRepo, pid: ProposalId) -> Proposal:
    proposal = get(repo, pid)
    if proposal.status is not ProposalStatus.PENDING:
        res = proposal.resolution
        who = f" by {res.by} at {res.at:%Y-%m-%d %H:%M}" if res else ""
        raise UserError(f"proposal {pid} is already {proposal.status.value}{who}")
    return proposal


def approve(repo: MetaRepo, pid: ProposalId, *, by: Author, note: str = "") -> Proposal:
    """Merge the proposal into `main` and tag approved/<id>. Conflicts change nothing."""
    proposal = _require_pending(repo, pid)
    head = pygit2.Oid(hex=proposal.commit)
    landed = _merge_into_main(repo, pid, head, proposal, by)
    message = note.strip() or f"approved proposal {pid}: {proposal.description.splitlines()[0]}"
    repo.create_tag(f"{_APPROVED}{pid}", pygit2.Oid(hex=landed.revision), by, message)
    repo.delete_ref(f"{BRANCH}{pid}")
    return get(repo, pid)


def record_approval(repo: MetaRepo, pid: ProposalId, commit: str, *, by: Author, note: str) -> Proposal:
    """Tag approved/<id> on ``commit``, a commit already on `main` that contains the proposal.

    For a merge made elsewhere (a pull request merged in Forgejo, followed here like a push):
    the merge is recorded, never made again, so `main` stays the forge's commit.
    """
    proposal = _require_pending(repo, pid)
    landed, head, main = repo.resolve(commit).id, pygit2.Oid(hex=proposal.commit), repo.head(MAIN)
    if main is None or not (main == landed or repo.git.descendant_of(main, landed)):
        raise ConflictError(f"{commit[:12]} is not on main; proposal {pid} is not approved by it")
    if not (landed == head or repo.git.descendant_of(landed, head)):
        raise ConflictError(
            f"{commit[:12]} does not contain proposal {pid}'s commit {proposal.commit[:12]}; "
            "it was not approved (the pull request's branch moved away from the proposal?)"
        )
    repo.create_tag(f"{_APPROVED}{pid}", landed, by, note.strip() or f"approved proposal {pid}")
    repo.delete_ref(f"{BRANCH}{pid}")
    return get(repo, pid)


def _merge_into_main(
    repo: MetaRepo, pid: ProposalId, head: pygit2.Oid, proposal: Proposal, by: Author
) -> CommitInfo:
    while True:
        main = repo.head(MAIN)
        if main is None:
            raise NotFoundError("the meta repo has no main branch; run `hive init`")
        if repo.git.descendant_of(main, head) or main == head:
            return commit_info(repo.commit_at(main))  # already landed (e.g. an approve cut short)
        if repo.git.descendant_of(head, main):
            repo.load_tree(repo.commit_at(head).tree)
            new = head
        else:
            tree = _merged_tree(repo, pid, main, head)
            try:
                repo.load_tree(repo.tree_at(tree))
            except UserError as exc:
                raise ConflictError(
                    f"proposal {pid} merges cleanly but the result is invalid; nothing was changed.\n{exc}"
                ) from exc
            title = proposal.description.splitlines()[0]
            new = repo.create_commit(tree, [main, head], by, f"Merge proposal {pid}: {title}")
        if repo.compare_and_swap(MAIN, main, new, f"hive: approve proposal {pid}"):
            return commit_info(repo.commit_at(new))


def _merged_tree(repo: MetaRepo, pid: ProposalId, main: pygit2.Oid, head: pygit2.Oid) -> pygit2.Oid:
    """Main and the proposal merged by field (``desired.merge``), from their merge base."""
    base = repo.git.merge_base(main, head)
    trees = [repo.commit_at(oid).tree for oid in (main, head)]
    try:
        return merge_trees(repo, repo.commit_at(base).tree if base is not None else None, *trees)
    except MergeConflict as exc:
        lines = "\n".join(f"  {line}" for line in exc.lines("main", f"proposal {pid}"))
        raise MergeConflict(
            exc.conflicts,
            f"proposal {pid} conflicts with main; nothing was changed:\n{lines}\n"
            f"Deny it (`hive deny {pid} --note ...`) and propose again on top of current main.",
        ) from None


def deny(repo: MetaRepo, pid: ProposalId, *, by: Author, note: str = "") -> Proposal:
    """Tag denied/<id> holding who and why; `main` is untouched."""
    proposal = _require_pending(repo, pid)
    repo.create_tag(
        f"{_DENIED}{pid}", pygit2.Oid(hex=proposal.commit), by, note.strip() or "(no reason given)"
    )
    repo.delete_ref(f"{BRANCH}{pid}")
    return get(repo, pid)


def proposed_state(repo: MetaRepo, proposal: Proposal) -> DesiredState:
    return repo.load_tree(repo.commit_at(pygit2.Oid(hex=proposal.commit)).tree)


def approvals_by_commit(repo: MetaRepo) -> dict[str, tuple[ProposalId, str]]:
    """Commit on main → (proposal id, approver), read from the approved/<id> tags."""
    found: dict[str, tuple[ProposalId, str]] = {}
    for suffix in repo.tags(_APPROVED):
        if suffix.isdigit():
            meta = _tag_meta(repo, f"{_APPROVED}{suffix}")
            if meta is not None:
                found[meta[3]] = (ProposalId(int(suffix)), meta[0])
    return found


_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$")
_AGENT = re.compile(r"^agents/([a-z][a-z0-9-]*)\.json$")
_SEED = re.compile(r"^agents/([a-z][a-z0-9-]*)/seed/(\S+)$")


def drafted(diff: str) -> list[dict[str, Any]]:
    """The agents a proposal's diff adds, each with the seed files (paths under /state) it carries.

    Read from the diff text alone (``new file mode`` under a ``diff --git`` header), so `hive pending`
    and the dashboard mark a draft from what they already hold.
    """
    added: list[str] = []
    seeds: dict[str, list[str]] = {}
    path = ""
    for line in diff.splitlines():
        header = _HEADER.match(line)
        if header:
            path = header.group(2)
            seed = _SEED.match(path)
            if seed:
                seeds.setdefault(seed.group(1), []).append(seed.group(2))
        elif line.startswith("new file mode") and (agent := _AGENT.match(path)):
            added.append(agent.group(1))
    return [{"name": name, "seeds": sorted(seeds.get(name, []))} for name in added]


def to_json(proposal: Proposal, diff: str | None = None) -> dict[str, object]:
    """One JSON shape for a proposal, used by `hive pending --json` and the dashboard alike.

    With a diff, ``drafts`` lists the agents it adds and their seed files (``drafted``).
    """
    res = proposal.resolution
    return {
        "id": proposal.id,
        "status": proposal.status.value,
        "author": proposal.author,
        "description": proposal.description,
        "created_at": proposal.created_at.timestamp(),
        "commit": proposal.commit,
        "deploy": proposal.deploy,
        "resolution": (
            {"by": res.by, "at": res.at.timestamp(), "note": res.note, "commit": res.commit} if res else None
        ),
        "diff": diff,
        "drafts": drafted(diff) if diff is not None else None,
    }
