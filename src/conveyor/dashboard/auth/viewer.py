"""The viewer of one request: their session and what its token lets them do.

Scopes follow the API's: `read` to look, `admin` (which implies every scope) to act.
With no tokens configured the dashboard is open, like the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conveyor.dashboard.auth.session import ANONYMOUS, Session, SessionCodec

EVERYTHING = frozenset({"enqueue", "read", "work", "admin"})


@dataclass(frozen=True, slots=True)
class Viewer:
    session: Session
    scopes: frozenset[str]
    fresh: bool
    """The session was made for this request: its cookie must be sent back."""
    open: bool
    """No tokens are configured; nobody logs in or out."""

    @property
    def logged_in(self) -> bool:
        return self.open or self.session.fingerprint != ANONYMOUS

    @property
    def can_read(self) -> bool:
        return bool(self.scopes & {"read", "admin"})

    @property
    def can_act(self) -> bool:
        return "admin" in self.scopes


class Gatekeeper:
    """Maps sessions to scopes through the configured tokens' fingerprints."""

    def __init__(self, codec: SessionCodec, tokens: Mapping[str, frozenset[str]]) -> None:
        self.codec = codec
        self.open = not tokens
        self._scopes = {codec.fingerprint(t): scopes for t, scopes in tokens.items()}

    def scopes_of_token(self, token: str) -> frozenset[str] | None:
        return self._scopes.get(self.codec.fingerprint(token))

    def viewer(self, cookie: str | None) -> Viewer:
        session = self.codec.decode(cookie)
        fresh = session is None
        if session is None:
            session = Session.new()
        if self.open:
            return Viewer(session, EVERYTHING, fresh, open=True)
        scopes = self._scopes.get(session.fingerprint, frozenset())
        if session.fingerprint != ANONYMOUS and not scopes:
            # The token was removed from the configuration: start over, logged out.
            return Viewer(Session.new(), frozenset(), True, open=False)
        return Viewer(session, scopes, fresh, open=False)
