"""One push attempt: resolve and check the target's address → POST the payload, signed
→ classify the response → an outcome for the store.

Like the handler executor, this is a boundary that catches everything: a refused target,
a connection error or a missed deadline becomes the attempt's error, never an exception
in the worker. A 2xx completes the task; anything else is a failed attempt retried by the
queue's policy, no sooner than a `Retry-After` on 429/503 asks.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from conveyor.core import payload
from conveyor.core.queue import QueueSettings
from conveyor.core.retry import retry_delay
from conveyor.core.target import Target
from conveyor.core.task import AttemptError, Claimed, Completion, Failure, JSONValue, Task
from conveyor.push import signing
from conveyor.push.clients import Clients
from conveyor.push.guard import AllowList, IPAddress, TargetRefused
from conveyor.worker.executor import Outcome

RESULT_LIMIT = 64 * 1024
"""Largest response body kept as a task's result; a longer one is kept truncated."""
SNIPPET_LIMIT = 500
"""Characters of a failed response's body kept in the error history."""
USER_AGENT = "conveyor-push/1"


class PushExecutor:
    """Runs attempts of push queues; `targets` maps each queue to its current settings
    and is kept up to date by the dispatcher."""

    def __init__(
        self,
        targets: Mapping[str, QueueSettings],
        allow: AllowList,
        worker_id: str,
        clients: Clients,
    ) -> None:
        self.targets = targets
        self.allow = allow
        self.worker_id = worker_id
        self.clients = clients

    async def execute(self, claimed: Claimed) -> Outcome:
        task = claimed.task
        settings = self.targets.get(task.queue)
        if settings is None or settings.target is None:
            return self._failure(claimed, f"queue {task.queue!r} has no push target any more")
        if task.args:
            message = (
                f"task {task.name!r} has positional args; a push request's body is the "
                "keyword arguments as one JSON object, so enqueue with kwargs only"
            )
            return self._failure(claimed, message, retry=False)
        target = settings.target
        deadline = min(target.deadline, task.timeout or target.deadline)
        try:
            async with asyncio.timeout(deadline):
                return await self._deliver(claimed, target, settings.secrets)
        except TimeoutError:
            return self._failure(claimed, f"no response within the deadline of {deadline:g}s")
        except TargetRefused as exc:
            return self._failure(claimed, str(exc))
        except (httpx.HTTPError, OSError) as exc:
            return self._failure(claimed, f"connection error: {type(exc).__name__}: {exc}")
        except Exception as exc:  # the boundary: a surprise fails the attempt, not the loop
            return self._failure(claimed, f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())

    async def _deliver(self, claimed: Claimed, target: Target, secrets: list[str]) -> Outcome:
        task = claimed.task
        url = target.url_for(task.name)
        address = await self.allow.resolve(url)
        body = payload.dumps(task.kwargs).encode()
        async with self.clients.client_for(url) as client:
            request = client.build_request(
                target.method,
                pinned(url, address),
                content=body,
                headers=request_headers(task, target, url, secrets, body),
                extensions=sni(url),
            )
            response = await client.send(request, stream=True)
            try:
                content = await _read_at_most(response, RESULT_LIMIT + 1)
            finally:
                await response.aclose()
        return self._classify(claimed, response, content)

    def _classify(self, claimed: Claimed, response: httpx.Response, content: bytes) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:
            return Completion(claimed.lease, result_of(response, content))
        text = content[:SNIPPET_LIMIT].decode("utf-8", "replace")
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            message += f" (redirect to {where!r} not followed)"
        if text:
            message += f": {text}"
        wait = retry_after(response.headers) if status in (429, 503) else None
        return self._failure(claimed, message, at_least=wait)

    def _failure(
        self,
        claimed: Claimed,
        message: str,
        retry: bool = True,
        at_least: float | None = None,
        tb: str = "",
    ) -> Failure:
        task = claimed.task
        error = AttemptError(
            attempt=task.attempts,
            error=message,
            traceback=tb,
            at=datetime.now(UTC).isoformat(),
            worker_id=self.worker_id,
        )
        delay = retry_delay(task.retry, task.attempts) if retry else None
        if delay is not None and at_least is not None:
            delay = max(delay, at_least)
        return Failure(claimed.lease, error, delay)


def request_headers(
    task: Task, target: Target, url: str, secrets: list[str], body: bytes
) -> dict[str, str]:
    """The target's own headers, then Conveyor's, which a target may not override."""
    headers = dict(target.headers)
    headers.update(
        {
            "Host": httpx.URL(url).netloc.decode("ascii"),
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Conveyor-Task-Id": task.id,
            "Conveyor-Task-Type": task.name,
            "Conveyor-Queue": task.queue,
            "Conveyor-Attempt": str(task.attempts),
            "Conveyor-Scheduled-At": task.run_at.isoformat(),
        }
    )
    if secrets:
        headers[signing.HEADER] = signing.sign(secrets, body)
    return headers


def pinned(url: str, address: IPAddress) -> httpx.URL:
    """The URL with its host replaced by the address that was checked, so the connection
    goes where the guard looked (no second DNS lookup to rebind)."""
    return httpx.URL(url).copy_with(host=str(address))


def sni(url: str) -> dict[str, Any]:
    """TLS still names (and verifies the certificate of) the host in the target URL."""
    parsed = httpx.URL(url)
    return {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}


def result_of(response: httpx.Response, content: bytes) -> JSONValue:
    """A JSON body becomes the task's result; one over the limit is kept truncated."""
    if not content or "json" not in response.headers.get("content-type", ""):
        return None
    if len(content) > RESULT_LIMIT:
        text = content[:RESULT_LIMIT].decode("utf-8", "replace")
        return {"truncated": True, "limit": RESULT_LIMIT, "body": text}
    try:
        return json.loads(content)
    except ValueError:
        return {"invalid_json": True, "body": content.decode("utf-8", "replace")}


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (a number of seconds or an HTTP date).

    >>> retry_after({"retry-after": "2"})
    2.0
    >>> retry_after({"retry-after": "soon"}) is None
    True
    """
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)
