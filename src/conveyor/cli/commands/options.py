"""Options shared by the long-running commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from conveyor.cli.eventloop import LOOPS

F = TypeVar("F", bound=Callable[..., Any])


def with_log_options(fn: F) -> F:
    fn = click.option(
        "--log-format", default="human", show_default=True, type=click.Choice(["human", "json"])
    )(fn)
    return click.option(
        "--log-level",
        default="info",
        show_default=True,
        type=click.Choice(["debug", "info", "warning", "error"]),
    )(fn)


def with_loop_option(fn: F) -> F:
    return click.option(
        "--loop",
        "event_loop",
        envvar="CONVEYOR_LOOP",
        default="auto",
        show_default=True,
        type=click.Choice(LOOPS),
        help="Event loop: auto takes uvloop where it is installed, else asyncio "
        "(env CONVEYOR_LOOP).",
    )(fn)
