"""`conveyor`: the command group. Errors a user can cause print one clear line."""

from __future__ import annotations

import sys

import click

from conveyor.cli.commands.dispatcher import dispatcher
from conveyor.cli.commands.queues import queues
from conveyor.cli.commands.schedules import schedules
from conveyor.cli.commands.server import server
from conveyor.cli.commands.tasks import dlq, enqueue, migrate, tasks
from conveyor.cli.commands.worker import dev, worker
from conveyor.cli.commands.workers import top, workers
from conveyor.cli.commands.workflows import workflows
from conveyor.cli.render import errors
from conveyor.errors import ConveyorError


@click.group()
@click.version_option(package_name="conveyor-queue")
def cli() -> None:
    """Conveyor: a durable task queue on SQLite or PostgreSQL."""


for command in (
    worker,
    dev,
    server,
    dispatcher,
    enqueue,
    tasks,
    dlq,
    migrate,
    queues,
    schedules,
    workflows,
    workers,
    top,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        errors.print("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConveyorError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
