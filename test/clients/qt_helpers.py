"""Waiting on the Qt event loop in tests, without blind sleeps."""
from __future__ import annotations

import time

import pytest


def process_until(app, condition, timeout: float = 120.0, what: str = 'condition') -> None:
    """Run the Qt event loop until ``condition()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return
        time.sleep(0.02)
    app.processEvents()
    if not condition():
        pytest.fail('timed out after %.0f s waiting for %s' % (timeout, what))
