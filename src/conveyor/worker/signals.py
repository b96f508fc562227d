"""First SIGTERM/SIGINT: stop claiming and drain. A second one: stop now."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def install(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None], kill: Callable[[], None]
) -> None:
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        (stop if received == 1 else kill)()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)


def uninstall(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
