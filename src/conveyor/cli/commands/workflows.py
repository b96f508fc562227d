"""`conveyor workflows show`: a workflow's members, their states and what each waits for."""

from __future__ import annotations

import click

from conveyor.cli.options import client, url_option
from conveyor.cli.render import workflow_table


@click.group()
def workflows() -> None:
    """Inspect workflows (chains, groups, chords) and batches."""


@workflows.command("show")
@click.argument("workflow_id")
@url_option
def workflows_show(workflow_id: str, url: str | None) -> None:
    """Every member of a workflow or batch, in enqueue order, with its parents."""
    workflow_table(client(url).workflow(workflow_id))
