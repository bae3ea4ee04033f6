"""Transfer progress of a push or pull, aggregated over its layers, and a rate limiter for publishing it."""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional

from .streams import LayerStatus

# Statuses after which a layer needs no more bytes moved. "Mounted from repo" is matched by prefix.
_FINISHED = ('Pushed', 'Layer already exists', 'Mounted from', 'Pull complete', 'Already exists',
             'Download complete', 'Verifying Checksum', 'Extracting')
# Statuses whose byte counts are the transfer itself (Extracting counts local work, not the transfer).
_MOVING = ('Pushing', 'Downloading')
_RATE_SMOOTHING = 0.3


class LayerState(NamedTuple):
    id: str
    status: str
    current: int
    total: int


class Snapshot(NamedTuple):
    """What a progress message carries at one moment."""

    layers: List[LayerState]
    bytes_done: int
    bytes_total: int
    percent: float
    rate_bps: float
    eta_s: float
    done: bool
    error: str


class TransferTracker:
    """Per-layer state of one transfer plus overall bytes, percent, smoothed rate and ETA.

    Layers that already exist in the registry (or locally, for a pull), or were mounted from another
    repository, count as done. Percent stays below 100 until :meth:`finish` says the transfer ended.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._layers: Dict[str, LayerState] = OrderedDict()
        self._finished: Dict[str, bool] = {}
        self._rate = 0.0
        self._last_bytes = 0
        self._last_time = clock()
        self._done = False
        self._error = ''

    def update(self, event: LayerStatus) -> None:
        """Take one layer event from the stream."""
        old = self._layers.get(event.id)
        total = event.total or (old.total if old else 0)
        current = event.current
        finished = event.status.startswith(_FINISHED)
        if finished:
            current = total
        elif not event.status.startswith(_MOVING):
            # Preparing, Waiting, Retrying ...: keep what was already moved.
            current = old.current if old else 0
        if total and current > total:
            # A push counts compressed bytes against the layer's uncompressed size: a tiny layer reports
            # 2560 of 5, a big one ends a little over its total.
            current = total
        self._layers[event.id] = LayerState(event.id, event.status, current, total)
        self._finished[event.id] = finished or self._finished.get(event.id, False)
        self._update_rate()

    def finish(self, error: str = '') -> None:
        """Mark the transfer ended, successfully (``error`` empty) or not."""
        self._done = True
        self._error = error

    def _bytes(self):
        done = sum(layer.current for layer in self._layers.values())
        total = sum(layer.total for layer in self._layers.values())
        return done, total

    def _update_rate(self) -> None:
        now = self._clock()
        elapsed = now - self._last_time
        if elapsed < 0.2:
            return
        done, _ = self._bytes()
        instant = max(0, done - self._last_bytes) / elapsed
        self._rate = instant if self._rate == 0 else (
            _RATE_SMOOTHING * instant + (1 - _RATE_SMOOTHING) * self._rate)
        self._last_bytes, self._last_time = done, now

    def changed_layers(self, seen: Dict[str, str]) -> List[LayerState]:
        """Layers whose status differs from ``seen`` (layer id -> status), which is updated."""
        changed = [layer for layer in self._layers.values() if seen.get(layer.id) != layer.status]
        for layer in changed:
            seen[layer.id] = layer.status
        return changed

    def snapshot(self) -> Snapshot:
        """The current state, ready to publish."""
        done, total = self._bytes()
        layers = list(self._layers.values())
        all_finished = bool(layers) and all(self._finished.get(layer.id) for layer in layers)
        if self._done and not self._error:
            percent = 100.0
        elif total > 0:
            percent = 100.0 * done / total
        elif layers:
            percent = 100.0 * sum(1 for layer in layers if self._finished.get(layer.id)) / len(layers)
        else:
            percent = 0.0
        if not (self._done and not self._error):
            percent = min(percent, 99.9 if all_finished else 99.0)
        remaining = max(0, total - done)
        eta = remaining / self._rate if self._rate > 0 and remaining and not self._done else 0.0
        return Snapshot(layers, done, total, percent, self._rate if not self._done else 0.0, eta,
                        self._done, self._error)


class RateLimiter:
    """Lets at most ``hz`` emissions a second through; :meth:`ready` with ``final=True`` always passes.

    A rate of 0 or less lets everything through.
    """

    def __init__(self, hz: float, clock: Callable[[], float] = time.monotonic):
        self._period = 1.0 / hz if hz > 0 else 0.0
        self._clock = clock
        self._last: Optional[float] = None

    def ready(self, final: bool = False) -> bool:
        """True when an update may be emitted now (and records it as emitted)."""
        now = self._clock()
        if final or self._last is None or now - self._last >= self._period:
            self._last = now
            return True
        return False

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Block until an update may be emitted without exceeding the rate (at most one period), and record it.

        For an update that must go out, such as a transfer's last one: sent at once, it would be one more than
        ``hz`` in the second before it.
        """
        if self._last is not None:
            delay = self._period - (self._clock() - self._last)
            if delay > 0:
                sleep(delay)
        self._last = self._clock()
