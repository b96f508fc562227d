"""Refuses request bodies that nest JSON deeper than any valid request needs, before parsing.

JSON decoders recurse: a 256 KiB body of `[[[[…` makes the parser give up with an error
that names nothing, and a body just shallow enough to parse still costs deep recursion in
validation and in every worker that decodes it later. Task arguments and results may
nest `MAX_DEPTH` levels (checked per value by the schemas); a body gets a few levels more
for its own envelope (`{"tasks": [{"payload": {…`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.errors import error_response
from conveyor.core.payload import MAX_DEPTH, text_too_deep

ENVELOPE_LEVELS = 8
BODY_DEPTH = MAX_DEPTH + ENVELOPE_LEVELS
"""Most levels of arrays and objects in a whole request body."""


class JsonDepth:
    """Reads an API request's body in full (the body limit bounds it) and refuses it with
    422 when it nests deeper than `BODY_DEPTH`; passes it on unchanged otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if text_too_deep(body, BODY_DEPTH):
            response = error_response(
                422,
                "too_deeply_nested",
                f"the request body nests JSON arrays and objects more than {BODY_DEPTH} "
                f"levels deep; task arguments and results may nest at most {MAX_DEPTH}",
            )
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
