"""Fixtures for the client tests: a Qt application (offscreen) and a way to wait on it without sleeping blind."""
from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')


@pytest.fixture(scope='session')
def qapp():
    """The one QApplication of the test session."""
    from python_qt_binding.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(['pytest'])
    yield app


def process_until(app, condition, timeout: float = 30.0, what: str = 'condition') -> None:
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
