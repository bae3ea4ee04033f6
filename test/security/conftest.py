"""The security tests use node_tools.py in test/faults; the ROS client is initialised for every test here."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "faults"))


@pytest.fixture
def ros(rospy_client):
    """The test process as a ROS client (rospy initialised once per session)."""
    return rospy_client
