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
from pyforgejo.types import Comment, CommitStatus, Repository, User

from tests.conftest import subprocess_env

STATES = ("pending", "success", "error", "failure", "warning")  # Forgejo's CommitStatusState


def body_model(method: Any) -> type[pydantic.BaseModel]:
    """The request body of a pyforgejo operation, as a model: its keyword-only arguments."""
    hints = typing.get_type_hints(method)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(method).parameters.items():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or name == "request_options":
            continue
        required = param.default is inspect.Parameter.empty
        fields[name] = (hints[name], ... if required else None)
    config = pydantic.ConfigDict(extra="forbid")
    return pydantic.create_model(f"{method.__name__}_body", __config__=config, **fields)


CREATE_STATUS = body_model(AsyncRepositoryClient.repo_create_status)
CREATE_COMMENT = body_model(AsyncIssueClient.create_comment)
EDIT_COMMENT = body_model(AsyncIssueClient.edit_comment)
ENDPOINTS = (
    "GET /api/v1/repos/{owner}/{repo}",
    "POST /api/v1/repos/{owner}/{repo}/statuses/{sha}",
    "GET /api/v1/repos/{owner}/{repo}/issues/{index}/comments",
    "POST /api/v1/repos/{owner}/{repo}/issues/{index}/comments",
    "PATCH /api/v1/repos/{owner}/{repo}/issues/comments/{id}",
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

    def open_pull(self, branch: str, title: str) -> int:
        pr = PullRequest(len(self.pulls) + 1, branch, title)
        self.pulls[pr.number] = pr
        self._pull_ref(pr)
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
