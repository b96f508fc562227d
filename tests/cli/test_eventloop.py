"""The event loop the long-running commands run on (`--loop`)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from conveyor.cli import eventloop
from conveyor.errors import ConfigurationError


async def loop_kind() -> str:
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def test_auto_takes_uvloop_where_it_is_installed() -> None:
    assert eventloop.run(loop_kind()) == "uvloop"
    assert eventloop.run(loop_kind(), "uvloop") == "uvloop"


def test_asyncio_is_the_standard_loop() -> None:
    assert eventloop.run(loop_kind(), "asyncio") == "asyncio"


def test_auto_without_uvloop_falls_back_to_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert eventloop.run(loop_kind()) == "asyncio"


def test_uvloop_asked_for_but_missing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    main = loop_kind()
    with pytest.raises(ConfigurationError, match="'uvloop' is not installed"):
        eventloop.run(main, "uvloop")
    main.close()


def test_an_unknown_loop_is_named() -> None:
    main = loop_kind()
    with pytest.raises(ConfigurationError, match="unknown event loop 'trio'"):
        eventloop.run(main, "trio")
    main.close()
