"""The command group imports a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys

import click

from conveyor.cli.main import COMMANDS, cli

HEAVY = ("rich", "yaml", "croniter", "fastapi", "uvicorn", "jinja2")


def test_every_listed_command_loads_under_its_own_name() -> None:
    ctx = click.Context(cli)
    assert cli.list_commands(ctx) == list(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command)
        assert command.name == name


def test_an_unknown_command_is_refused_by_name() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from conveyor.cli.main import main; main()", "wroker"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "No such command 'wroker'" in result.stderr


def test_a_worker_imports_none_of_what_other_commands_need() -> None:
    probe = (
        "import sys, click\n"
        "from conveyor.cli.main import cli\n"
        "cli.get_command(click.Context(cli), 'worker')\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
