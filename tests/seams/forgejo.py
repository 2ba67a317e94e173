"""A Forgejo API stand-in: a small aiohttp server on 127.0.0.1 over a real bare git repo.

It replaces a Forgejo server, which cannot run on this machine (no Go
toolchain, no network to fetch a release). Everything around it is real:
the bare repo hyperhive fetches from with `git`, the HTTP requests
``hive_core.forge.client`` makes through ``pyforgejo``, the signed webhook
deliveries it plays to the dashboard.

It accepts exactly the endpoints hyperhive uses (``ENDPOINTS``) and answers
anything else with 404, recording it in ``unexpected`` so a test can assert
hyperhive called nothing more. Every request body is validated against the
same definitions the client is generated from: the keyword arguments of the
``pyforgejo`` method for that operation, turned into a pydantic model that
forbids unknown fields (pyforgejo inlines request bodies, so its method
signature *is* the model), plus Forgejo's own narrower rules where pyforgejo
is looser (a status ``state`` is one of five words; pyforgejo types it
``str``). Responses are built from pyforgejo's response models
(``CommitStatus``, ``Comment``, ``Repository``) so they have Forgejo's shape.

Runs on its own thread and event loop, so sync tests and the dashboard's
loop can both use it; ``stop()``/``start()`` keep the port, so a test can
make the forge unreachable and bring it back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import inspect
import itertools
import json
import re
import subprocess
import threading
import typing
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from aiohttp import web
from pyforgejo.issue.client import AsyncIssueClient
from pyforgejo.repository.client import AsyncRepositoryClient
from pyforgejo.repository.raw_client import AsyncRawRepositoryClient
from pyforgejo.types import Comment, CommitStatus, PrBranchInfo, Repository, User
from pyforgejo.types import PullRequest as PullModel

from tests.conftest import subprocess_env

STATES = ("pending", "success", "error", "failure", "warning")  # Forgejo's CommitStatusState


def wire_names(raw_method: Any) -> dict[str, str]:
    """keyword argument → JSON key, from pyforgejo's raw client (``"MergeCommitID": merge_commit_id``)."""
    source = inspect.getsource(raw_method)
    block = source[source.index("json={") : source.index("}", source.index("json={"))]
    return {kwarg: wire for wire, kwarg in re.findall(r'"([A-Za-z_]+)":\s*([a-z_]+),', block)}


def body_model(method: Any, raw_method: Any = None) -> type[pydantic.BaseModel]:
    """The request body of a pyforgejo operation, as a model: its keyword-only arguments (under the
    JSON keys its raw client sends them as, where those differ)."""
    hints = typing.get_type_hints(method)
    aliases = wire_names(raw_method) if raw_method is not None else {}
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(method).parameters.items():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or name == "request_options":
            continue
        required = param.default is inspect.Parameter.empty
        default = pydantic.Field(... if required else None, alias=aliases.get(name, name))
        fields[name] = (hints[name], default)
    config = pydantic.ConfigDict(extra="forbid", populate_by_name=False)
    return pydantic.create_model(f"{method.__name__}_body", __config__=config, **fields)


CREATE_STATUS = body_model(AsyncRepositoryClient.repo_create_status)
CREATE_COMMENT = body_model(AsyncIssueClient.create_comment)
EDIT_COMMENT = body_model(AsyncIssueClient.edit_comment)
CREATE_PULL = body_model(AsyncRepositoryClient.repo_create_pull_request)
EDIT_PULL = body_model(AsyncRepositoryClient.repo_edit_pull_request)
MERGE_PULL = body_model(
    AsyncRepositoryClient.repo_merge_pull_request, AsyncRawRepositoryClient.repo_merge_pull_request
)
ENDPOINTS = (
    "GET /api/v1/repos/{owner}/{repo}",
    "POST /api/v1/repos/{owner}/{repo}/statuses/{sha}",
    "GET /api/v1/repos/{owner}/{repo}/issues/{index}/comments",
    "POST /api/v1/repos/{owner}/{repo}/issues/{index}/comments",
    "PATCH /api/v1/repos/{owner}/{repo}/issues/comments/{id}",
    "GET /api/v1/repos/{owner}/{repo}/pulls/{base}/{head}",
    "POST /api/v1/repos/{owner}/{repo}/pulls",
    "PATCH /api/v1/repos/{owner}/{repo}/pulls/{index}",
    "POST /api/v1/repos/{owner}/{repo}/pulls/{index}/merge",
)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=subprocess_env(), check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr}")
    return done.stdout.strip()


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class PullRequest:
    number: int
    head: str  # branch name
    title: str
    state: str = "open"
    body: str = ""
    merged: bool = False
    merge_sha: str | None = None
    by_api: bool = False  # opened through the API (hyperhive's proposals), not by a person


@dataclass
class Call:
    method: str
    path: str
    status: int
    body: Any = None


@dataclass
class ForgejoStandIn:
    """One Forgejo repo (``owner/name``) with its bare git repo, API, pull requests and webhook payloads."""

    root: Path
    owner: str = "ops"
    name: str = "swarm"
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    port: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    # ---- git ------------------------------------------------------------------------------------

    @property
    def bare(self) -> Path:
        return self.root / f"{self.owner}/{self.name}.git"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def seed(self, meta: Path) -> None:
        """Create the repo from the meta repo's main, as an operator seeds a new Forgejo repo."""
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "--bare", "-b", "main", str(self.bare))
        git(self.root, "--git-dir", str(meta), "push", "-q", str(self.bare), "main")
        git(self.root, "clone", "-q", str(self.bare), str(self.work))
        git(self.work, "config", "user.name", "Reviewer")
        git(self.work, "config", "user.email", "reviewer@example.test")

    def commit(self, branch: str, rel: str, content: str, message: str) -> str:
        """Commit one file on ``branch`` (made from main if new) and push it; the new head."""
        exists = git(self.work, "branch", "--list", branch)
        git(self.work, "checkout", "-q", branch if exists else "-b", *([] if exists else [branch, "main"]))
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        for pr in self.pulls.values():  # Forgejo keeps refs/pull/N/head at the PR's branch head
            if pr.head == branch and pr.state == "open":
                self._pull_ref(pr)
        return git(self.work, "rev-parse", "HEAD")

    def head(self, branch: str) -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}")

    def open_pull(self, branch: str, title: str, body: str = "", *, by_api: bool = False) -> int:
        pr = PullRequest(len(self.pulls) + 1, branch, title, body=body, by_api=by_api)
        self._pull_ref(pr)
        self.pulls[pr.number] = pr  # last: a test waiting for it sees it whole
        return pr.number

    def _pull_ref(self, pr: PullRequest) -> None:
        git(self.bare, "update-ref", f"refs/pull/{pr.number}/head", self.head(pr.head))

    # ---- webhook deliveries (what Forgejo sends) -----------------------------------------------

    def _repo_json(self) -> dict[str, Any]:
        return self._repository().model_dump(mode="json", exclude_none=True)

    def push_payload(self, branch: str, after: str, before: str = "0" * 40) -> dict[str, Any]:
        return {
            "ref": f"refs/heads/{branch}",
            "before": before,
            "after": after,
            "commits": [{"id": after, "message": "change\n"}],
            "repository": self._repo_json(),
            "pusher": {"login": "reviewer"},
        }

    def pull_payload(self, number: int, action: str, sha: str | None = None) -> dict[str, Any]:
        pr = self.pulls[number]
        head = sha or self.head(pr.head)
        return {
            "action": action,
            "number": number,
            "pull_request": {
                "id": 1000 + number,
                "number": number,
                "title": pr.title,
                "state": pr.state,
                "merged": False,
                "head": {"ref": pr.head, "sha": head, "label": pr.head, "repo": self._repo_json()},
                "base": {"ref": "main", "sha": self.head("main"), "label": "main"},
                "html_url": f"{self.url}/{self.owner}/{self.name}/pulls/{number}",
            },
            "repository": self._repo_json(),
            "sender": {"login": "reviewer"},
        }

    @staticmethod
    def sign(secret: str, body: bytes) -> str:
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    # ---- the API --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _user(self) -> User:
        return User(id=1, login="hyperhive-bot", full_name="hyperhive", email="bot@example.test")

    def _repository(self) -> Repository:
        html = f"{self.url}/{self.owner}/{self.name}"
        return Repository(
            id=1,
            name=self.name,
            full_name=f"{self.owner}/{self.name}",
            owner=User(id=2, login=self.owner),
            default_branch="main",
            html_url=html,
            clone_url=f"{html}.git",
            empty=False,
            private=True,
        )

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        base = "/api/v1/repos/{owner}/{repo}"
        app.router.add_get(base, self._get_repo)
        app.router.add_post(base + "/statuses/{sha}", self._create_status)
        app.router.add_get(base + "/issues/{index}/comments", self._list_comments)
        app.router.add_post(base + "/issues/{index}/comments", self._create_comment)
        app.router.add_patch(base + "/issues/comments/{id}", self._edit_comment)
        app.router.add_post(base + "/pulls", self._create_pull)
        app.router.add_patch(base + "/pulls/{index:[0-9]+}", self._edit_pull)
        app.router.add_post(base + "/pulls/{index:[0-9]+}/merge", self._merge_pull)
        app.router.add_get(base + "/pulls/{base}/{head:.+}", self._pull_by_head)  # Forgejo: /{base}/*
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        try:
            if request.headers.get("Authorization") != f"token {self.token}":
                raise web.HTTPUnauthorized(
                    text=json.dumps({"message": "token is required"}), content_type="application/json"
                )
            here = (request.match_info.get("owner"), request.match_info.get("repo"))
            if here != (self.owner, self.name) and request.match_info.route.resource is not None:
                raise _error(web.HTTPNotFound, "The target couldn't be found.")
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status == 404 and request.match_info.route.resource is None:
                self.unexpected.append(f"{request.method} {request.path}")
            self.calls.append(Call(request.method, request.path, exc.status, body))
            raise
        self.calls.append(Call(request.method, request.path, response.status, body))
        return response

    @staticmethod
    def _body(model: type[pydantic.BaseModel], raw: Any) -> Any:
        try:
            return model.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise _error(web.HTTPUnprocessableEntity, str(exc)) from None

    async def _get_repo(self, request: web.Request) -> web.Response:
        return _json(self._repository())

    async def _create_status(self, request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        body = self._body(CREATE_STATUS, await request.json())
        if body.state not in STATES:
            raise _error(web.HTTPUnprocessableEntity, f"state: must be one of {', '.join(STATES)}")
        try:
            git(self.bare, "cat-file", "-e", f"{sha}^{{commit}}")
        except RuntimeError:
            raise _error(web.HTTPNotFound, f"commit {sha} does not exist") from None
        made = CommitStatus(
            id=next(self._ids),
            context=body.context,
            description=body.description,
            status=body.state,
            target_url=body.target_url,
            creator=self._user(),
            created_at=_now(),
            updated_at=_now(),
            url=f"{self.url}/api/v1/repos/{self.owner}/{self.name}/statuses/{sha}",
        )
        self.statuses.setdefault(sha, []).append(made.model_dump(mode="json", exclude_none=True))
        return _json(made, status=201)

    def _issue(self, request: web.Request) -> int:
        index = int(request.match_info["index"])
        if index not in self.pulls:
            raise _error(web.HTTPNotFound, "issue does not exist")
        return index

    async def _list_comments(self, request: web.Request) -> web.Response:
        index = self._issue(request)
        mine = [c for c in self.comments.values() if c["issue"] == index]
        return web.json_response([c["json"] for c in sorted(mine, key=lambda c: c["json"]["id"])])

    async def _create_comment(self, request: web.Request) -> web.Response:
        index = self._issue(request)
        body = self._body(CREATE_COMMENT, await request.json())
        cid = next(self._ids)
        html = f"{self.url}/{self.owner}/{self.name}/pulls/{index}#issuecomment-{cid}"
        made = Comment(
            id=cid, body=body.body, user=self._user(), html_url=html, created_at=_now(), updated_at=_now()
        )
        self.comments[cid] = {"issue": index, "json": made.model_dump(mode="json", exclude_none=True)}
        return _json(made, status=201)

    async def _edit_comment(self, request: web.Request) -> web.Response:
        cid = int(request.match_info["id"])
        if cid not in self.comments:
            raise _error(web.HTTPNotFound, "comment does not exist")
        body = self._body(EDIT_COMMENT, await request.json())
        kept = self.comments[cid]["json"]
        made = Comment.model_validate({**kept, "body": body.body, "updated_at": _now()})
        self.comments[cid]["json"] = made.model_dump(mode="json", exclude_none=True)
        return _json(made)

    def _pull_json(self, pr: PullRequest) -> PullModel:
        html = f"{self.url}/{self.owner}/{self.name}/pulls/{pr.number}"
        return PullModel(
            id=1000 + pr.number,
            number=pr.number,
            title=pr.title,
            body=pr.body,
            state=pr.state,
            merged=pr.merged,
            merge_commit_sha=pr.merge_sha,
            html_url=html,
            head=PrBranchInfo(ref=pr.head, label=pr.head, sha=self._head_or_none(pr.head)),
            base=PrBranchInfo(ref="main", label="main", sha=self.head("main")),
            user=self._user(),
        )

    def _head_or_none(self, branch: str) -> str | None:
        try:
            return self.head(branch)
        except RuntimeError:
            return None

    def _known_pull(self, request: web.Request) -> PullRequest:
        pr = self.pulls.get(int(request.match_info["index"]))
        if pr is None:
            raise _error(web.HTTPNotFound, "pull request does not exist")
        return pr

    async def _pull_by_head(self, request: web.Request) -> web.Response:
        base, head = request.match_info["base"], request.match_info["head"]
        found = [p for p in self.pulls.values() if p.head == head and base == "main"]
        if not found:
            raise _error(web.HTTPNotFound, "pull request does not exist")
        return _json(self._pull_json(found[-1]))

    async def _create_pull(self, request: web.Request) -> web.Response:
        body = self._body(CREATE_PULL, await request.json())
        if body.base != "main" or not body.head or not body.title:
            raise _error(web.HTTPUnprocessableEntity, "base must be main; head and title are required")
        if self._head_or_none(body.head) is None:
            raise _error(web.HTTPNotFound, f"branch {body.head} does not exist")
        if any(p.head == body.head and p.state == "open" for p in self.pulls.values()):
            raise _error(web.HTTPConflict, f"pull request for {body.head} already exists")
        number = self.open_pull(body.head, body.title, body.body or "", by_api=True)
        return _json(self._pull_json(self.pulls[number]), status=201)

    async def _edit_pull(self, request: web.Request) -> web.Response:
        pr = self._known_pull(request)
        body = self._body(EDIT_PULL, await request.json())
        if body.state is not None:
            if body.state not in ("open", "closed"):
                raise _error(web.HTTPUnprocessableEntity, "state: must be open or closed")
            if pr.merged:
                raise _error(web.HTTPConflict, "a merged pull request cannot change state")
            pr.state = body.state
        return _json(self._pull_json(pr), status=201)

    async def _merge_pull(self, request: web.Request) -> web.Response:
        """Only ``manually-merged`` (hyperhive merged it itself and pushed main), as Forgejo checks it."""
        pr = self._known_pull(request)
        body = self._body(MERGE_PULL, await request.json())
        if body.do != "manually-merged" or not body.merge_commit_id:
            raise _error(web.HTTPMethodNotAllowed, "the stand-in honours only Do=manually-merged")
        if pr.merged or pr.state != "open":
            raise _error(web.HTTPMethodNotAllowed, "the pull request is not open")
        sha = body.merge_commit_id
        try:
            git(self.bare, "merge-base", "--is-ancestor", sha, "refs/heads/main")
            git(self.bare, "merge-base", "--is-ancestor", f"refs/pull/{pr.number}/head", sha)
        except RuntimeError:
            raise _error(
                web.HTTPMethodNotAllowed, f"{sha} is not on main or does not contain the pull request's head"
            ) from None
        pr.merged, pr.merge_sha, pr.state = True, sha, "closed"
        return web.Response(status=200)

    # ---- what a person does in Forgejo's web UI --------------------------------------------------

    def merge(self, number: int) -> str:
        """Press "Merge" (style: merge commit): a merge commit of the PR's head on main; its id."""
        pr = self.pulls[number]
        git(self.work, "fetch", "-q", "origin")
        git(self.work, "checkout", "-q", "main")
        git(self.work, "reset", "-q", "--hard", "origin/main")
        git(self.work, "merge", "-q", "--no-ff", "-m", f"Merge pull request #{number}", f"origin/{pr.head}")
        git(self.work, "push", "-q", "origin", "HEAD:refs/heads/main")
        pr.merged, pr.merge_sha, pr.state = True, self.head("main"), "closed"
        return str(pr.merge_sha)

    def close(self, number: int) -> None:
        self.pulls[number].state = "closed"

    def closed_payload(self, number: int, login: str = "reviewer") -> dict[str, Any]:
        pr = self.pulls[number]
        payload = self.pull_payload(number, "closed", sha=self._head_or_none(pr.head) or "0" * 40)
        payload["pull_request"] |= {"merged": pr.merged, "merge_commit_sha": pr.merge_sha}
        if pr.merged:
            payload["pull_request"]["merged_by"] = {"login": login}
        payload["sender"] = {"login": login}
        return payload

    def comment_payload(self, number: int, body: str, login: str = "reviewer") -> dict[str, Any]:
        return {
            "action": "created",
            "issue": {"number": number, "pull_request": {"merged": False}, "title": self.pulls[number].title},
            "comment": {"id": next(self._ids), "body": body, "user": {"login": login}},
            "repository": self._repo_json(),
            "sender": {"login": login},
        }

    # ---- for tests ------------------------------------------------------------------------------

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c["json"] for c in self.comments.values() if c["issue"] == number]

    def status_of(self, sha: str, context: str) -> dict[str, Any] | None:
        """The newest status of ``context`` on ``sha`` (what Forgejo shows on the commit)."""
        found = [s for s in self.statuses.get(sha, []) if s.get("context") == context]
        return found[-1] if found else None

    def start(self) -> ForgejoStandIn:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._runner = web.AppRunner(self._app(), access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            self.port = int(self._runner.addresses[0][1])
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="forgejo-stand-in", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Forgejo stand-in did not start")
        return self

    def stop(self) -> None:
        """Make the forge unreachable (connection refused on its port) until ``start()``."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None


def _json(model: pydantic.BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json", exclude_none=True), status=status)


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    # Forgejo's APIError shape: {"message": ..., "url": ...}
    return kind(text=json.dumps({"message": message, "url": ""}), content_type="application/json")
