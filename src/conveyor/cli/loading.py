"""Finding the user's Conveyor app from a MODULE:ATTRIBUTE string."""

from __future__ import annotations

import importlib
import os
import sys

from conveyor.app import Conveyor
from conveyor.errors import ConfigurationError


def load_app(spec: str) -> Conveyor:
    """Import `package.module:app` from the current directory and return the app.

    >>> load_app("examples.app:app")  # doctest: +SKIP
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"app {spec!r} must look like MODULE:APP, e.g. myproject.tasks:app"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"cannot import module {module_name!r} of app {spec!r}: {exc}"
        ) from None
    app = getattr(module, attribute, None)
    if not isinstance(app, Conveyor):
        found = type(app).__name__ if app is not None else "missing"
        raise ConfigurationError(f"{spec!r} is {found}, not a Conveyor app")
    return app
