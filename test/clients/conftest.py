"""Fixtures for the client tests: one Qt application, offscreen unless a display is chosen."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')


@pytest.fixture(scope='session')
def qapp():
    """The one QApplication of the test session."""
    from python_qt_binding.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(['pytest'])
    yield app
