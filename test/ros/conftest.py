"""Fixtures of the node tests: a rospy client process, topic collectors, build contexts."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

from rosnode_helpers import Topics
from stack import make_context


@pytest.fixture
def topics(rospy_client) -> Iterator[Topics]:
    """``topics(name, type)`` -> a connected :class:`Collector`; all unregistered after the test."""
    made = Topics()
    yield made
    made.close()


@pytest.fixture
def contexts(tmp_path) -> Callable[[str, str], Path]:
    """``contexts(name, dockerfile_text)`` -> a build context directory under ``tmp_path / 'contexts'``."""
    root = tmp_path / 'contexts'
    root.mkdir()

    def make(name: str, dockerfile: str) -> Path:
        return make_context(root / name, textwrap.dedent(dockerfile))

    make.root = root
    return make
