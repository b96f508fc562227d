"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor.app import Conveyor

F = TypeVar("F", bound=Callable[..., Any])

url_option = click.option(
    "--url",
    envvar="CONVEYOR_URL",
    default=None,
    help="Store URL: sqlite:///file.db or postgresql://user@host/db (env CONVEYOR_URL).",
)


push_allow_option = click.option(
    "--push-allow",
    envvar="CONVEYOR_PUSH_ALLOW",
    default=None,
    help="URL patterns push targets must match, comma-separated, e.g. "
    "'https://*.example.com/*,http://127.0.0.1:*' (env CONVEYOR_PUSH_ALLOW).",
)


def client(url: str | None, push_allow: str | None = None) -> Conveyor:
    """The Conveyor for this command; its store is closed when the command ends."""
    app = Conveyor(url, push_allow=push_allow)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(app.close)
    return app
