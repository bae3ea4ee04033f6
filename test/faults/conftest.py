"""The fault tests use node_tools.py next to this file; the ROS client is initialised for every test here."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def ros(rospy_client):
    """The test process as a ROS client (rospy initialised once per session)."""
    return rospy_client
