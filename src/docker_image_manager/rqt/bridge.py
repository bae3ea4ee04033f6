"""Getting work off the GUI thread and results back onto it.

rospy callbacks and worker threads never touch Qt widgets. They :meth:`GuiQueue.post` a callable instead; a
100 ms QTimer on the GUI thread runs what was queued (rqt_console's pattern). Blocking service calls run on a
:class:`Worker` pool (rqt_reconfigure's pattern) and report back through the same queue.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Hashable, List, Optional, Tuple

from python_qt_binding.QtCore import QObject, QTimer

FLUSH_INTERVAL_MS = 100


class GuiQueue(QObject):
    """Callables queued from any thread and run, in order, on the GUI thread by a timer."""

    def __init__(self, parent: Optional[QObject] = None, interval_ms: int = FLUSH_INTERVAL_MS):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._items: List[Tuple[Optional[Hashable], Callable, tuple]] = []
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.flush)
        self._timer.start(interval_ms)

    def post(self, fn: Callable, *args: Any) -> None:
        """Run ``fn(*args)`` on the GUI thread at the next flush."""
        with self._lock:
            self._items.append((None, fn, args))

    def post_latest(self, key: Hashable, fn: Callable, *args: Any) -> None:
        """Like :meth:`post`, but replaces a still-pending call with the same ``key`` (e.g. progress of a job)."""
        with self._lock:
            for index, (pending, _, _) in enumerate(self._items):
                if pending is not None and pending == key:
                    self._items[index] = (key, fn, args)
                    return
            self._items.append((key, fn, args))

    def flush(self) -> None:
        """Run everything queued so far (the timer does this; tests may call it directly)."""
        with self._lock:
            items, self._items = self._items, []
        for _, fn, args in items:
            fn(*args)

    def stop(self) -> None:
        """Stop the timer and drop what is still queued."""
        self._timer.stop()
        with self._lock:
            self._items = []


class Worker:
    """Runs blocking calls on a small thread pool and hands their outcome to the GUI thread."""

    def __init__(self, gui: GuiQueue, max_workers: int = 4):
        self._gui = gui
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix='image-manager-gui')
        self._lock = threading.Lock()
        self._pending = 0
        self._closed = False

    @property
    def busy(self) -> int:
        """How many calls are queued or running."""
        with self._lock:
            return self._pending

    def run(self, fn: Callable[[], Any], on_done: Optional[Callable[[Any], None]] = None,
            on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        """Call ``fn()`` on a worker; then ``on_done(result)`` or ``on_error(exception)`` on the GUI thread."""
        with self._lock:
            if self._closed:
                return
            self._pending += 1
        self._executor.submit(self._call, fn, on_done, on_error)

    def _call(self, fn, on_done, on_error) -> None:
        try:
            result = fn()
        except Exception as exc:  # handed to the GUI as a readable message, never lost on this thread
            if on_error is not None:
                self._gui.post(on_error, exc)
        else:
            if on_done is not None:
                self._gui.post(on_done, result)
        finally:
            with self._lock:
                self._pending -= 1

    def shutdown(self) -> None:
        """Refuse new calls; running ones finish in the background."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False)
