"""Each agent's egress allow-list as the proxy asks for it: per connection, so it must be cheap.

The effective list is the model API (always: an agent that cannot reach it
cannot think) plus the agent's own ``egress`` list, or ``hive.json``'s when
it has none (``DesiredState.egress_for``). The model API is
``ANTHROPIC_BASE_URL``'s host:port from the daemon's environment, else from
``<state>/secrets.env``, else the official API: the same place, in the same
order, that the runtime takes it from for the agents (an agent's own
``secrets.env`` in its state dir may point *its* claude elsewhere, but the
proxy does not follow it there).

Parsed lists are cached per desired revision and model API, so a connection
costs one cached ref check and one ``stat`` of the secrets file. A desired
state change reaches the next connection without restarting anything.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from desired.egress import OFFICIAL_API, HostPattern, PatternError, model_api_pattern, parse_pattern
from desired.repo import Snapshot
from hive_kit.envfile import parse_env

log = logging.getLogger(__name__)

BASE_URL_KEY = "ANTHROPIC_BASE_URL"


class ModelApi:
    """The model API's allow-list entry: the daemon's environment first, then the secrets file."""

    def __init__(self, secrets: Path, environ: Mapping[str, str] = os.environ) -> None:
        self._secrets = secrets
        self._environ = environ
        self._stamp: tuple[int, int] | None = None
        self._from_file: str | None = None

    def pattern(self) -> str:
        base_url = self._environ.get(BASE_URL_KEY) or self._file_value()
        return model_api_pattern(base_url)

    def _file_value(self) -> str | None:
        try:
            st = self._secrets.stat()
        except OSError:
            self._stamp, self._from_file = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._from_file = parse_env(self._secrets.read_text(errors="replace"), (BASE_URL_KEY,)).get(
                    BASE_URL_KEY
                )
            except OSError:
                self._from_file = None
            self._stamp = stamp
        return self._from_file


def _parse(texts: Sequence[str], agent: str) -> list[HostPattern]:
    out = []
    for text in texts:
        try:
            out.append(parse_pattern(text))
        except PatternError as exc:  # validation refuses these on write; never let one break the proxy
            log.error("egress pattern %r of %s ignored: %s", text, agent, exc)
    return out


class EgressPolicies:
    """``policy(name)``: the parsed effective allow-list, cached per (desired revision, model API)."""

    def __init__(self, snapshot: Callable[[], Snapshot], model_api: Callable[[], str]) -> None:
        self._snapshot = snapshot
        self._model_api = model_api
        self._key: tuple[str, str] | None = None
        self._cache: dict[str, tuple[HostPattern, ...]] = {}

    def texts(self, name: str) -> list[str]:
        """The effective list as written: the model API first."""
        state = self._snapshot().state
        own = state.egress_for(name) if name in state.agents else ()
        return list(dict.fromkeys([self._model_api(), *own]))

    def policy(self, name: str) -> tuple[HostPattern, ...]:
        snapshot, api = self._snapshot(), self._model_api()
        if self._key != (snapshot.revision, api):
            self._key, self._cache = (snapshot.revision, api), {}
        cached = self._cache.get(name)
        if cached is None:
            model = _parse([api], name) or [parse_pattern(OFFICIAL_API)]
            own = snapshot.state.egress_for(name) if name in snapshot.state.agents else ()
            cached = self._cache[name] = tuple(dict.fromkeys([*model, *_parse(own, name)]))
        return cached
