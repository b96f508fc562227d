"""`GET /api/v1/workflows/{id}`: every member of a workflow with its status and parents."""

from __future__ import annotations

from conveyor import Conveyor, chord, group
from conveyor.core.task import Completion
from tests.api.conftest import API, READER, TOKENS, StartServer


def test_a_workflow_shows_each_member_with_its_parents(
    app: Conveyor, start_server: StartServer
) -> None:
    @app.task
    def part(n: int) -> int:
        return n

    @app.task
    def total(values: list[int]) -> int:
        return sum(values)

    handle = chord(group([part.s(1), part.s(2)]), total.s()).enqueue()
    [claimed] = app.store.claim(["default"], 1, "w", 30)
    app.store.complete([Completion(claimed.lease, 1)])
    server = start_server(TOKENS)

    assert server.client().get(f"{API}/workflows/{handle.id}").status_code == 401
    response = server.client(READER).get(f"{API}/workflows/{handle.id}")

    assert response.status_code == 200, response.text
    body = response.json()
    first, second, callback = (t.id for t in handle.tasks)
    assert body["workflow_id"] == handle.id
    assert body["status"] == "running"
    assert body["counts"] == {"completed": 1, "queued": 1, "waiting": 1}
    assert [(m["task_id"], m["type"], m["status"], m["parents"]) for m in body["tasks"]] == [
        (first, "part", "completed", []),
        (second, "part", "queued", []),
        (callback, "total", "waiting", [first, second]),
    ]
    assert {m["workflow_id"] for m in body["tasks"]} == {handle.id}


def test_an_unknown_workflow_is_404_naming_it(app: Conveyor, start_server: StartServer) -> None:
    response = start_server().client().get(f"{API}/workflows/nope")

    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]
