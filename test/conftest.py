"""Shared fixtures for every test of the project: the real stack from stack.py (see its docstring)."""
from __future__ import annotations

import os
import sys

from stack import (  # noqa: F401  (fixtures are found by name in this module)
    auth_registry,
    base_image,
    cleanup,
    docker_api,
    prefix,
    registry,
    roscore,
    rospy_client,
    start_node,
)


def pytest_report_header(config):
    return ['python: %s (%s)' % (sys.executable, sys.version.split()[0]),
            'ROS_PACKAGE_PATH: %s' % os.environ.get('ROS_PACKAGE_PATH', '(unset: run `make test`)')]
