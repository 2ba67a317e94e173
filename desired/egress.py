"""Egress allow-lists: which hosts an agent may reach through the host's proxy.

A pattern is a host or ``host:port``. Hosts match case-insensitively;
``*.example.com`` matches every subdomain of example.com (not example.com
itself, as in TLS certificates); a bare ``*`` matches any host and is
refused unless it carries a port, so "everything" is never one typo away.
IPv6 literals are written in brackets (``[::1]:8080``). A pattern without a
port allows any port of that host.

Pure: parsed and matched here, validated by ``desired.rules`` (a bad
pattern is a Problem naming the file and the fix), enforced by the host's
egress proxy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

OFFICIAL_API = "api.anthropic.com:443"
"""The model API host when no ANTHROPIC_BASE_URL says otherwise."""

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
PATTERN_FIX = "use a host or host:port, e.g. 'api.anthropic.com:443', '*.github.com' or 'pypi.org'"


class PatternError(ValueError):
    """A pattern that is not a host or host:port (the message says why)."""


@dataclass(frozen=True)
class HostPattern:
    host: str  # lower case; "*.suffix" for a wildcard; an IP in canonical form
    port: int | None  # None: any port

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        host = canonical_host(host)
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and host != self.host[2:]
        return host == self.host


def canonical_host(host: str) -> str:
    """Lower case, no trailing dot, IP literals in their one canonical spelling."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise PatternError(f"{text!r}: an IPv6 address needs its closing ']'")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise PatternError(f"{text!r}: expected ':port' after ']'")
        return host, _port(text, rest[1:])
    if text.count(":") > 1:
        raise PatternError(f"{text!r}: write an IPv6 address in brackets, e.g. '[::1]:8080'")
    host, sep, port = text.partition(":")
    return host, (_port(text, port) if sep else None)


def _port(text: str, raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise PatternError(f"{text!r}: the port must be a number from 1 to 65535")
    return int(raw)


def parse_pattern(text: str) -> HostPattern:
    """One allow-list entry, or PatternError saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError("an empty pattern allows nothing; remove it")
    raw = text.strip()
    if "/" in raw or "@" in raw or " " in raw:
        raise PatternError(f"{raw!r} is not a host: leave out the scheme, path and user (just 'host:port')")
    host, port = _split_port(raw)
    host = host.rstrip(".").lower()
    if host == "*":
        if port is None:
            raise PatternError("'*' alone would allow every host on every port; give a port ('*:443')")
        return HostPattern("*", port)
    try:
        return HostPattern(str(ipaddress.ip_address(host)), port)
    except ValueError:
        pass
    name = host[2:] if host.startswith("*.") else host
    if "*" in name:
        raise PatternError(f"{raw!r}: a wildcard is only allowed as the first label ('*.example.com')")
    labels = name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise PatternError(f"{raw!r} is not a valid host name")
    if host.startswith("*.") and len(labels) < 2:
        raise PatternError(f"{raw!r} is too wide: name at least a domain ('*.example.com')")
    return HostPattern(host, port)


def parse_patterns(texts: Iterable[str]) -> tuple[HostPattern, ...]:
    return tuple(parse_pattern(t) for t in texts)


def allows(patterns: Sequence[HostPattern], host: str, port: int) -> HostPattern | None:
    """The first pattern that lets ``host:port`` through, or None (denied)."""
    return next((p for p in patterns if p.matches(host, port)), None)


def model_api_pattern(base_url: str | None) -> str:
    """The allow-list entry for the model API: ANTHROPIC_BASE_URL's host:port, or the official API."""
    if not base_url:
        return OFFICIAL_API
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    if not parts.hostname:
        return OFFICIAL_API
    port = parts.port or (80 if parts.scheme == "http" else 443)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}"
