"""A peer that accepts TCP connections and never says a word: the timeout control."""
from __future__ import annotations

import socket
import threading

from .base import LOOPBACK


class SilentEndpoint:
    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._server = socket.socket()
        self._server.bind((host, 0))
        self._server.listen(64)
        self.port: int = self._server.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._held.append(conn)  # keep it open, never read, never write

    def close(self) -> None:
        self._closed = True
        self._server.close()
        for conn in self._held:
            conn.close()

    def __enter__(self) -> SilentEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
