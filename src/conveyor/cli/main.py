"""`conveyor`: the command group. Errors a user can cause print one clear line."""

from __future__ import annotations

import importlib
import sys

import click

from conveyor.errors import ConveyorError

COMMANDS = {
    "worker": "conveyor.cli.commands.worker:worker",
    "dev": "conveyor.cli.commands.worker:dev",
    "server": "conveyor.cli.commands.server:server",
    "dispatcher": "conveyor.cli.commands.dispatcher:dispatcher",
    "enqueue": "conveyor.cli.commands.tasks:enqueue",
    "tasks": "conveyor.cli.commands.tasks:tasks",
    "dlq": "conveyor.cli.commands.tasks:dlq",
    "migrate": "conveyor.cli.commands.tasks:migrate",
    "queues": "conveyor.cli.commands.queues:queues",
    "schedules": "conveyor.cli.commands.schedules:schedules",
    "workflows": "conveyor.cli.commands.workflows:workflows",
    "workers": "conveyor.cli.commands.workers:workers",
    "top": "conveyor.cli.commands.workers:top",
}
"""Each command and where it lives, in the order `--help` lists them."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command runs.

    A worker starts in a third less time when it does not import what the other
    commands need (rich's tables, the HTTP server, YAML).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, name = where.split(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="conveyor-queue")
def cli() -> None:
    """Conveyor: a durable task queue on SQLite or PostgreSQL."""


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        _print_error("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConveyorError as exc:
        _print_error(f"[red]error:[/red] {exc}")
        sys.exit(1)


def _print_error(markup: str) -> None:
    from conveyor.cli.render import errors

    errors.print(markup, highlight=False)
