"""HTTP clients for the dispatcher: keep-alive pools per target origin, in small shards.

Connections go to a checked IP address, and httpcore pools them by that address; two
hostnames behind one address must not share a TLS connection verified for only one of
them, so each origin (as the target URL writes it) gets pools of its own.

httpcore's pool looks at every connection for every waiting request, so one pool of a
hundred connections spends more CPU choosing a connection than sending on it. Requests
go instead to the least busy of several small pools, a new one opened while all are full
and the dispatcher's concurrency allows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

SHARD_CONNECTIONS = 8


@dataclass(eq=False)
class _Shard:
    client: httpx.AsyncClient
    busy: int = 0


class Clients:
    def __init__(self, connections: int) -> None:
        self.connections = connections
        self._shards: dict[str, list[_Shard]] = {}

    @asynccontextmanager
    async def client_for(self, url: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client for `url`'s origin, counted busy until the block ends."""
        shard = self._pick(_origin(url))
        shard.busy += 1
        try:
            yield shard.client
        finally:
            shard.busy -= 1

    def _pick(self, origin: str) -> _Shard:
        shards = self._shards.setdefault(origin, [])
        least = min(shards, key=lambda s: s.busy, default=None)
        room = len(shards) * SHARD_CONNECTIONS < self.connections
        if least is None or (least.busy >= SHARD_CONNECTIONS and room):
            least = _Shard(_client(min(SHARD_CONNECTIONS, self.connections)))
            shards.append(least)
        return least

    async def aclose(self) -> None:
        shards = [s for group in self._shards.values() for s in group]
        self._shards = {}
        for shard in shards:
            await shard.client.aclose()


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"


def _client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,  # the target named is the only one the guard allowed
        timeout=None,  # the attempt's deadline covers the whole exchange
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
    )
