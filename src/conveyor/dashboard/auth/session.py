"""The dashboard's session cookie: an HMAC-signed value, never the raw token.

The cookie holds a fingerprint of the token (an HMAC of it under the server secret), the
session's CSRF token and an expiry, signed with the same secret. Scopes are looked up
from the configured tokens on every request, so removing a token from the configuration
ends the sessions opened with it. Without the secret nobody can forge or alter a cookie,
and a stolen cookie never reveals the token itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

COOKIE = "conveyor_session"
LIFETIME_SECONDS = 12 * 3600
SECRET_ENV = "CONVEYOR_SESSION_SECRET"
ANONYMOUS = ""
"""The fingerprint of a session that presented no token (every session, without tokens)."""


@dataclass(frozen=True, slots=True)
class Session:
    fingerprint: str
    csrf: str
    expires: float

    @classmethod
    def new(cls, fingerprint: str = ANONYMOUS, now: float | None = None) -> Session:
        at = time.time() if now is None else now
        return cls(fingerprint, secrets.token_urlsafe(24), at + LIFETIME_SECONDS)


def session_secret(environ: Mapping[str, str] = os.environ) -> bytes:
    """The secret from CONVEYOR_SESSION_SECRET, else a random one for this process.

    A random secret logs everyone out at restart and does not work across several
    servers behind a load balancer; set the variable for those.
    """
    configured = environ.get(SECRET_ENV, "")
    return configured.encode() if configured else secrets.token_bytes(32)


class SessionCodec:
    """Turns sessions into cookie values and back, refusing anything not signed here."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def fingerprint(self, token: str) -> str:
        return hmac.new(self._secret, b"token:" + token.encode(), hashlib.sha256).hexdigest()

    def encode(self, session: Session) -> str:
        body = json.dumps(
            {"f": session.fingerprint, "c": session.csrf, "e": session.expires},
            separators=(",", ":"),
        ).encode()
        data = base64.urlsafe_b64encode(body).decode().rstrip("=")
        return f"{data}.{self._sign(data)}"

    def decode(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value; None if it is missing, altered or expired."""
        if not value or "." not in value:
            return None
        data, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(data)):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
            session = Session(str(fields["f"]), str(fields["c"]), float(fields["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session

    def _sign(self, data: str) -> str:
        digest = hmac.new(self._secret, b"session:" + data.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
