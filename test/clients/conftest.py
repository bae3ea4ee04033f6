"""Fixtures for the client tests: one Qt application (offscreen unless a display is chosen) and their own registry."""
from __future__ import annotations

import os

import pytest

import stack

os.environ.setdefault('QT_QPA_PLATFORM', 'offscreen')


@pytest.fixture(scope='session')
def qapp():
    """The one QApplication of the test session."""
    from python_qt_binding.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(['pytest'])
    yield app


@pytest.fixture(scope='session')
def registry(tmp_path_factory):
    """A registry of the client tests' own (overrides the shared one for test/clients).

    Pushing the base image's layer into the shared registry would change what later tests elsewhere see
    (a layer then arrives "Mounted from" instead of "Pushed").
    """
    reg = stack.Registry(tmp_path_factory.mktemp('clients-registry')).start()
    yield reg
    reg.stop()
