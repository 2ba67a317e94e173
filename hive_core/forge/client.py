"""The Forgejo API calls hyperhive makes, through ``pyforgejo``, with its errors translated.

``pyforgejo`` is generated (by fern) from Forgejo's own OpenAPI document, so
paths, bodies and response models follow Forgejo's API rather than our
reading of it; docs/gitops.md says why we chose it. Two of its habits are
avoided on purpose: its top-level ``PyforgejoApi`` runs ``load_dotenv()`` on
import (it would pull a stray ``.env`` into the daemon's environment), so
only the per-resource clients are built here, over our own httpx client;
and its built-in retries sleep inside the call, so they are off
(``max_retries: 0``): the sender retries with its own backoff, in the open.

Every failure leaves as ``TemporaryError`` (network, 5xx, 429: try again
later) or ``PermanentError`` (401/403/404/422: the token, the repo or the
request is wrong; still retried, slowly, since the operator may fix the
token meanwhile), each with a sentence saying what to check.
"""

from __future__ import annotations

from typing import Any

import httpx
from pyforgejo.core.api_error import ApiError
from pyforgejo.core.client_wrapper import AsyncClientWrapper
from pyforgejo.core.request_options import RequestOptions
from pyforgejo.issue.client import AsyncIssueClient
from pyforgejo.repository.client import AsyncRepositoryClient

from hive_core.forge.connection import Connection
from hive_core.forge.report import MARKER
from hive_kit.errors import HiveError, PermanentError, TemporaryError

TIMEOUT = 20.0
NO_RETRIES: RequestOptions = {"max_retries": 0}


class ForgeClient:
    """One connection's API: statuses on commits, and the one plan comment on a pull request."""

    def __init__(self, connection: Connection, token: str, *, timeout: float = TIMEOUT) -> None:
        self.connection = connection
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        wrapper = AsyncClientWrapper(
            api_key=token, base_url=connection.api_url, timeout=timeout, httpx_client=self._http
        )
        self._repos = AsyncRepositoryClient(client_wrapper=wrapper)
        self._issues = AsyncIssueClient(client_wrapper=wrapper)

    async def close(self) -> None:
        await self._http.aclose()

    async def check(self) -> str:
        """The repo's full name, if the token can read it (``hive forge connect`` asks this)."""
        c = self.connection
        repo = await _call(
            f"reading {c.full_name}", self._repos.repo_get(c.owner, c.repo, request_options=NO_RETRIES)
        )
        return str(repo.full_name or c.full_name)

    async def set_status(self, sha: str, context: str, state: str, description: str, target_url: str) -> int:
        c = self.connection
        made = await _call(
            f"setting {context} on {sha[:12]}",
            self._repos.repo_create_status(
                c.owner,
                c.repo,
                sha,
                context=context,
                state=state,
                description=description,
                target_url=target_url or None,
                request_options=NO_RETRIES,
            ),
        )
        return int(made.id or 0)

    async def find_comment(self, pr: int) -> int | None:
        """The id of hyperhive's plan comment on ``pr`` (by its marker), if there is one."""
        c = self.connection
        found = await _call(
            f"listing the comments of #{pr}",
            self._issues.get_comments(c.owner, c.repo, pr, request_options=NO_RETRIES),
        )
        for comment in found:
            if (comment.body or "").startswith(MARKER) and comment.id is not None:
                return int(comment.id)
        return None

    async def create_comment(self, pr: int, body: str) -> int:
        c = self.connection
        made = await _call(
            f"commenting on #{pr}",
            self._issues.create_comment(c.owner, c.repo, pr, body=body, request_options=NO_RETRIES),
        )
        return int(made.id or 0)

    async def edit_comment(self, comment_id: int, body: str) -> None:
        c = self.connection
        await _call(
            f"editing comment {comment_id}",
            self._issues.edit_comment(c.owner, c.repo, comment_id, body=body, request_options=NO_RETRIES),
        )

    async def find_pull(self, branch: str) -> tuple[int, str, str] | None:
        """(number, html_url, state) of the pull request from ``branch`` into main, if there is one."""
        c = self.connection
        found = await _call(
            f"looking up the pull request of {branch}",
            self._repos.repo_get_pull_request_by_base_head(
                c.owner, c.repo, "main", branch, request_options=NO_RETRIES
            ),
            missing_ok=True,
        )
        if found is None:
            return None
        return (
            int(found.number or 0),
            str(found.html_url or ""),
            "merged" if found.merged else str(found.state),
        )

    async def create_pull(self, branch: str, title: str, body: str) -> tuple[int, str]:
        c = self.connection
        made = await _call(
            f"opening a pull request from {branch}",
            self._repos.repo_create_pull_request(
                c.owner, c.repo, base="main", head=branch, title=title, body=body, request_options=NO_RETRIES
            ),
        )
        return int(made.number or 0), str(made.html_url or "")

    async def close_pull(self, number: int) -> None:
        c = self.connection
        await _call(
            f"closing #{number}",
            self._repos.repo_edit_pull_request(
                c.owner, c.repo, number, state="closed", request_options=NO_RETRIES
            ),
        )

    async def mark_merged(self, number: int, sha: str) -> None:
        """Record #``number`` as merged by ``sha``, a commit already on Forgejo's main (no new commit)."""
        c = self.connection
        await _call(
            f"marking #{number} merged as {sha[:12]}",
            self._repos.repo_merge_pull_request(
                c.owner, c.repo, number, do="manually-merged", merge_commit_id=sha, request_options=NO_RETRIES
            ),
        )


class CommentGone(PermanentError):
    """The plan comment was deleted in Forgejo; a new one is made."""


async def _call(what: str, call: Any, *, missing_ok: bool = False) -> Any:
    try:
        return await call
    except ApiError as exc:
        if missing_ok and exc.status_code == 404:
            return None
        raise _api_error(what, exc) from None
    except httpx.TimeoutException:
        raise TemporaryError(f"{what}: Forgejo did not answer within {TIMEOUT:.0f}s") from None
    except httpx.HTTPError as exc:
        raise TemporaryError(f"{what}: cannot reach Forgejo ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:  # an answer that is not Forgejo's JSON
        raise TemporaryError(f"{what}: Forgejo's answer was not understood ({exc})") from None


def _api_error(what: str, exc: ApiError) -> HiveError:
    code = exc.status_code or 0
    body = exc.body if isinstance(exc.body, dict) else {}
    said = str(body.get("message") or exc.body or "")[:200]
    if code == 401:
        return PermanentError(
            f"{what}: Forgejo refused the token (401); `hive forge connect` with a valid one"
        )
    if code == 403:
        return PermanentError(
            f"{what}: the token may not do this (403); it needs the write:repository and write:issue scopes"
        )
    if code == 404:
        gone = CommentGone if "editing comment" in what else PermanentError
        return gone(f"{what}: not found (404): {said}; check --repo and that the token's user can see it")
    if code in (429,) or code >= 500:
        return TemporaryError(f"{what}: Forgejo answered {code}: {said}")
    return PermanentError(f"{what}: Forgejo refused the request ({code}): {said}")
