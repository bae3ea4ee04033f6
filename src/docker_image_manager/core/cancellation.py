"""A cancellation token that really stops the daemon's work.

Cancelling closes the live HTTP connection of the operation: the daemon sees its client go away and cancels
the build (its RUN container is removed) or push (no manifest is written). Shutting the socket down also wakes
the worker thread blocked reading the stream, even when the daemon prints nothing (``RUN sleep 120``).
"""
from __future__ import annotations

import socket
import threading
from typing import Callable, List

from .errors import Cancelled


class Cancellation:
    """Set from any thread; runs the registered closers once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cancelled = False
        self._closers: List[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            closers, self._closers = self._closers, []
        for close in closers:
            _quietly(close)

    def on_cancel(self, close: Callable[[], None]) -> None:
        """Register ``close`` to run on cancel (at once if already cancelled)."""
        with self._lock:
            if not self._cancelled:
                self._closers.append(close)
                return
        _quietly(close)

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancel was asked for."""
        if self._cancelled:
            raise Cancelled('cancelled on request; the daemon stopped the operation')


def _quietly(close: Callable[[], None]) -> None:
    try:
        close()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail in many ways; all mean "closed"
        pass


def shutdown_response(response) -> None:
    """Close the socket under a streaming ``requests`` response so a blocked read returns at once."""
    sock = None
    try:
        sock = response.raw._fp.fp.raw._sock
    except AttributeError:
        connection = getattr(response.raw, '_connection', None)
        sock = getattr(connection, 'sock', None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    response.close()
