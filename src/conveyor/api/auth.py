"""Bearer tokens with scopes: `enqueue`, `read`, `work`, `admin` (admin implies all).

Tokens come from configuration as `token:scope+scope` entries separated by commas, e.g.
`CONVEYOR_API_TOKENS="s3cret:admin,producer-1:enqueue+read"`. With no tokens configured
every request is allowed, and the server refuses to listen beyond loopback unless told to.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from conveyor.api.errors import ApiError
from conveyor.errors import ConfigurationError

SCOPES = frozenset({"enqueue", "read", "work", "admin"})


@dataclass(frozen=True, slots=True)
class Tokens:
    scopes_by_token: dict[str, frozenset[str]]

    @property
    def enabled(self) -> bool:
        return bool(self.scopes_by_token)

    @classmethod
    def parse(cls, text: str | None) -> Tokens:
        """Read `token:scope+scope,...`.

        >>> Tokens.parse("a:admin,b:read+enqueue").scopes_by_token["b"] == {"read", "enqueue"}
        True
        """
        found: dict[str, frozenset[str]] = {}
        for raw in (text or "").split(","):
            entry = raw.strip()
            if not entry:
                continue
            token, _, scopes_text = entry.rpartition(":")
            scopes = frozenset(s for s in scopes_text.split("+") if s)
            if not token or not scopes or not scopes <= SCOPES:
                raise ConfigurationError(
                    f"API token entry {_redacted(entry)!r} must look like TOKEN:SCOPE[+SCOPE], "
                    f"with scopes from {', '.join(sorted(SCOPES))}"
                )
            found[token] = scopes
        return cls(found)

    def scopes_of(self, presented: str) -> frozenset[str] | None:
        """The scopes of the token presented, or None when no token matches.

        Every configured token is compared, in constant time, with no early exit: how long
        the answer takes says nothing about which token (or how much of one) matched.
        """
        given = presented.encode()
        found: frozenset[str] | None = None
        for token, scopes in self.scopes_by_token.items():
            if hmac.compare_digest(token.encode(), given):
                found = scopes
        return found


def _redacted(entry: str) -> str:
    token, colon, scopes = entry.rpartition(":")
    if not colon:  # no scopes given: the whole entry is the secret
        return f"{entry[:2]}…"
    return f"{token[:2]}…:{scopes}" if token else entry


@dataclass(frozen=True, slots=True)
class RequireScope:
    """A FastAPI dependency that lets a request through only with `scope` (or `admin`).

    A value rather than a closure, so a test can read which scope each route asks for.
    A coroutine, though it does no I/O: FastAPI would run a plain function in its
    thread pool, a thread hop on every request.
    """

    scope: str

    async def __call__(self, request: Request) -> None:
        self.check(request)

    def check(self, request: Request) -> None:
        """Raise `ApiError` (401, 403) unless the request may act with this scope."""
        tokens: Tokens = request.app.state.tokens
        if not tokens.enabled:
            return
        header = request.headers.get("authorization", "")
        kind, _, presented = header.partition(" ")
        if kind.lower() != "bearer" or not presented:
            raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer …)")
        # The token itself never appears in a message or a log line.
        scopes = tokens.scopes_of(presented.strip())
        if scopes is None:
            raise ApiError(401, "unauthorized", "unknown bearer token")
        if self.scope not in scopes and "admin" not in scopes:
            raise ApiError(403, "forbidden", f"this token lacks the {self.scope!r} scope")


def require(scope: str) -> RequireScope:
    """A FastAPI dependency that lets the request through only with `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(sorted(SCOPES))}")
    return RequireScope(scope)
