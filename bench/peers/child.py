"""Measure one peer inside the peers' virtualenv; prints its Result as JSON on stdout.

    bench/.peers-venv/bin/python -m bench.peers.child NAME --tasks N --single N --samples N

Started by run.py with the repository root as the working directory.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

from bench.peers.common import Peer, Result, Settings, fresh_database, measure

PEERS = {
    "pgqueuer": "bench.peers.pgqueuer_peer:PgQueuerPeer",
    "procrastinate": "bench.peers.procrastinate_peer:ProcrastinatePeer",
    "saq": "bench.peers.saq_peer:SaqPeer",
    "huey-sqlite": "bench.peers.huey_peer:HueySqlitePeer",
    "huey-redis": "bench.peers.huey_peer:HueyRedisPeer",
    "dramatiq": "bench.peers.dramatiq_peer:DramatiqPeer",
    "celery": "bench.peers.celery_peer:CeleryPeer",
    "arq": "bench.peers.arq_peer:ArqPeer",
    "rq": "bench.peers.rq_peer:RqPeer",
}


def load(name: str) -> type[Peer]:
    module, cls = PEERS[name].split(":")
    peer: type[Peer] = getattr(importlib.import_module(module), cls)
    return peer


@contextlib.contextmanager
def prepared(peer: Peer, s: Settings) -> Iterator[None]:
    if peer.database:
        with fresh_database(s.postgres_url, f"bench_{peer.name.replace('-', '_')}") as url:
            peer.url = url
            yield
    elif peer.redis_db is not None:
        import redis

        peer.url = f"{s.redis_url}/{peer.redis_db}"
        client = redis.Redis.from_url(peer.url)
        client.flushdb()
        try:
            yield
        finally:
            client.flushdb()
            client.close()
    else:
        yield


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("name", choices=sorted(PEERS))
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--single", type=int, required=True)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    s = Settings(
        args.tasks,
        args.single,
        args.samples,
        args.concurrency,
        args.postgres_url,
        args.redis_url,
    )
    cls = load(args.name)
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.name}-") as folder:
        peer = cls(s, Path(folder))
        try:
            with prepared(peer, s):
                result = measure(peer, s, log)
        except Exception as exc:
            result = Result(peer.name, peer.store, error=f"{type(exc).__name__}: {exc}")
    result.version = f"{cls.package} {version(cls.package)}"
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
