"""Actions: pause and resume a queue, cancel a task, replay or discard dead letters.

Every one is a POST through `Acting`, which checks the CSRF token and the admin scope,
and answers with a redirect so a reload never repeats it.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from conveyor.dashboard.context import Acting, Refusal, Seen
from conveyor.errors import InvalidTransition, TaskNotFound

router = APIRouter(include_in_schema=False)

BULK_LIMIT = 1000


@router.post("/queues/{name}/pause")
def pause(seen: Acting, name: str) -> Response:
    seen.app.pause(name)
    return seen.redirect(f"/queues/{quote(name, safe='')}")


@router.post("/queues/{name}/resume")
def resume(seen: Acting, name: str) -> Response:
    seen.app.resume(name)
    return seen.redirect(f"/queues/{quote(name, safe='')}")


@router.post("/tasks/{task_id}/cancel")
def cancel(seen: Acting, task_id: str) -> Response:
    try:
        seen.app.cancel(task_id)
    except TaskNotFound as exc:
        raise Refusal(404, str(exc)) from None
    except InvalidTransition as exc:
        raise Refusal(409, f"cannot cancel: {exc}") from None
    return seen.redirect(f"/tasks/{quote(task_id, safe='')}")


@router.post("/tasks/{task_id}/replay")
def replay_one(seen: Acting, task_id: str) -> Response:
    if not seen.app.replay([task_id]):
        raise Refusal(409, f"task {task_id} is not a dead letter (only failed tasks replay)")
    return seen.redirect(f"/tasks/{quote(task_id, safe='')}")


@router.post("/dead-letters/confirm")
def confirm(seen: Acting) -> Response:
    """Step one of a bulk action: show what will happen, and ask."""
    action, ids = _bulk(seen)
    found = []
    for task_id in ids:
        try:
            found.append(seen.app.get(task_id))
        except TaskNotFound:
            continue  # discarded meanwhile: the count of missing ones says so
    return seen.page(
        "confirm.html",
        nav="dead-letters",
        action=action,
        tasks=found,
        missing=len(ids) - len(found),
    )


@router.post("/dead-letters/replay")
def replay(seen: Acting) -> Response:
    _, ids = _bulk(seen)
    replayed = seen.app.replay(ids)
    return seen.redirect(f"/dead-letters?done=replayed&n={len(replayed)}")


@router.post("/dead-letters/discard")
def discard(seen: Acting) -> Response:
    _, ids = _bulk(seen)
    discarded = seen.app.purge(ids)
    return seen.redirect(f"/dead-letters?done=discarded&n={discarded}")


def _bulk(seen: Seen) -> tuple[str, list[str]]:
    assert seen.form is not None
    action = seen.form.get("action") or "replay"
    if action not in ("replay", "discard"):
        raise Refusal(422, f"unknown action {action!r}; use replay or discard")
    ids = [i for i in seen.form.getlist("task_ids") if isinstance(i, str) and i]
    if not ids:
        raise Refusal(422, "select at least one dead letter first")
    if len(ids) > BULK_LIMIT:
        raise Refusal(422, f"select at most {BULK_LIMIT} dead letters at once")
    return str(action), ids
