"""A TCP proxy in front of PostgreSQL that a test can take down and bring back.

Until the first `up()` nothing listens on its port, as when a database is not there yet.
`down()` cuts every connection through it and turns away new ones (counted in
`refused`), which is what a worker sees when its database goes away, without touching
the PostgreSQL server that other tests share.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Outage:
    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        user = f"{parts.username}@" if parts.username else ""
        self.url = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))
        self.refused = 0
        self._accepting = False
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def up(self) -> None:
        with self._lock:
            self._accepting = True
        if self._listener is None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
            self._spawn(self._accept, listener)

    def down(self) -> None:
        """Cut every open connection and turn new ones away."""
        with self._lock:
            self._accepting = False
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _close(sock)

    def close(self) -> None:
        self.down()
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        for thread in self._threads:
            thread.join(5)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                accepting = self._accepting
                self.refused += not accepting
            if not accepting:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                _close(client)
                continue
            with self._lock:
                cut = not self._accepting  # went down while we dialled
                if not cut:
                    self._sockets |= {client, server}
            if cut:
                _close(client)
                _close(server)
                continue
            self._spawn(_pump, client, server)
            self._spawn(_pump, server, client)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
