"""A push queue's HTTP target as a value: where the dispatcher POSTs each task.

Only the shape is checked here (scheme, host, `{type}` placement, method, headers,
deadline); whether the address may be reached at all is the SSRF guard's job
(`conveyor.push.guard`), which needs the operator's allow-list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from conveyor.core.limits import parse_duration
from conveyor.errors import ConfigurationError

DEFAULT_DEADLINE = 30.0
MAX_DEADLINE = 1800.0
"""Cloud Tasks' limit for HTTP targets: a request may take up to 30 minutes."""
METHODS = ("POST", "PUT", "PATCH")
RESERVED_HEADERS = ("conveyor-", "content-type", "content-length", "host")
"""Headers the dispatcher sets itself; a target may not override them."""

_SENSITIVE = re.compile(r"authorization|cookie|token|secret|key|password|signature", re.I)
"""Header names whose values are credentials: shown as set, never in clear."""
REDACTED = "(set)"
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PLACEHOLDER = "{type}"


@dataclass(frozen=True, slots=True)
class Target:
    """`url` may hold `{type}` in its path, replaced by the task's type on each request.

    >>> Target.parse("https://svc.example.com/tasks/{type}").deadline
    30.0
    """

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    deadline: float = DEFAULT_DEADLINE
    """Seconds the handler has to answer before the attempt fails."""

    @classmethod
    def parse(cls, value: Any) -> Target:
        """A Target from a URL string, a mapping (`url`, `method`, `headers`,
        `deadline`) or a Target; every problem names the field."""
        if isinstance(value, Target):
            return check_target(value)
        if isinstance(value, str):
            return check_target(cls(url=value))
        if not isinstance(value, Mapping):
            raise ConfigurationError(
                f"target must be a URL or a mapping with url/method/headers/deadline, "
                f"not {type(value).__name__}"
            )
        unknown = sorted(set(value) - {"url", "method", "headers", "deadline"})
        if unknown:
            raise ConfigurationError(
                f"target: unknown field(s) {', '.join(map(str, unknown))}; "
                "known: url, method, headers, deadline"
            )
        if "url" not in value:
            raise ConfigurationError("target needs a url")
        return check_target(
            cls(
                url=value["url"],
                method=value.get("method") or "POST",
                headers=_headers(value.get("headers")),
                deadline=_deadline(value.get("deadline")),
            )
        )

    def url_for(self, task_type: str) -> str:
        """The URL for one task, with `{type}` filled in (percent-encoded)."""
        return self.url.replace(_PLACEHOLDER, quote(task_type, safe=""))

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "deadline": self.deadline,
        }

    def shown(self) -> dict[str, Any]:
        """`to_json` for people and the API: credential headers' values redacted.

        >>> Target("https://a.example/", headers={"Authorization": "Bearer x"}).shown()["headers"]
        {'Authorization': '(set)'}
        """
        headers = {k: REDACTED if _SENSITIVE.search(k) else v for k, v in self.headers.items()}
        return {**self.to_json(), "headers": headers}


def check_target(t: Target) -> Target:
    """Refuse a target that cannot work, naming the URL and the reason."""
    if not isinstance(t.url, str) or not t.url:
        raise ConfigurationError("target url must be a non-empty string")
    _check_url(t.url)
    method = t.method.upper() if isinstance(t.method, str) else t.method
    if method not in METHODS:
        raise ConfigurationError(
            f"target {t.url!r}: method {t.method!r} must be one of {', '.join(METHODS)}"
        )
    _check_headers(t)
    deadline = t.deadline
    if (
        not isinstance(deadline, int | float)
        or math.isnan(deadline)
        or not (0 < deadline <= MAX_DEADLINE)
    ):
        raise ConfigurationError(
            f"target {t.url!r}: deadline {deadline!r} must be above 0 and at most "
            f"{MAX_DEADLINE:.0f} seconds (30 minutes)"
        )
    return Target(t.url, method, dict(t.headers), float(deadline))


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError as exc:
        raise ConfigurationError(f"target {url!r} is not a valid URL: {exc}") from None
    if any(ord(c) < 33 or c == "\x7f" for c in url):
        raise ConfigurationError(f"target {url!r}: spaces and control characters must be encoded")
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"target {url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise ConfigurationError(f"target {url!r}: the URL has no host")
    if parts.username or parts.password:
        raise ConfigurationError(
            f"target {url!r}: credentials in the URL would be stored in clear; "
            "pass them in headers instead"
        )
    if parts.fragment:
        raise ConfigurationError(f"target {url!r}: a URL fragment is never sent; remove it")
    if any(c in part for part in (parts.netloc, parts.query) for c in "{}"):
        raise ConfigurationError(f"target {url!r}: '{{type}}' may only appear in the path")
    stripped = parts.path.replace(_PLACEHOLDER, "")
    if "{" in stripped or "}" in stripped:
        raise ConfigurationError(f"target {url!r}: the only placeholder is '{{type}}'")


def _check_headers(t: Target) -> None:
    for name, value in t.headers.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ConfigurationError(f"target {t.url!r}: header name {name!r} is not valid")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ConfigurationError(
                f"target {t.url!r}: header {name!r} must be a single-line string"
            )
        if name.lower().startswith(RESERVED_HEADERS):
            raise ConfigurationError(
                f"target {t.url!r}: header {name!r} is set by the dispatcher itself"
            )


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError("target headers must be a mapping of name to value")
    return {str(k): v for k, v in value.items()}


def _deadline(value: Any) -> float:
    if value is None:
        return DEFAULT_DEADLINE
    if isinstance(value, bool):
        raise ConfigurationError(f"target deadline {value!r} must be a duration")
    try:
        return parse_duration(value)
    except ConfigurationError as exc:
        raise ConfigurationError(f"target deadline: {exc}") from None
