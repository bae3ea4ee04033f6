"""The node runs under the interpreter the test run asked for (``DIM_NODE_PYTHON``, e.g. `make test-py38`)."""
from __future__ import annotations

import os
import subprocess
import sys
import xmlrpc.client

import rosgraph

from stack import NODE_PYTHON_ENV


def node_pid(master_uri: str, node_name: str) -> int:
    node_uri = rosgraph.Master('/dimtest_interpreter', master_uri=master_uri).lookupNode(node_name)
    code, message, pid = xmlrpc.client.ServerProxy(node_uri).getPid('/dimtest_interpreter')
    assert code == 1, message
    return pid


def python_version_of(executable: str) -> str:
    return subprocess.run([executable, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()


def test_node_runs_under_the_requested_interpreter(roscore, start_node, prefix):
    node = start_node(prefix.replace('-', '_') + '_interp')
    pid = node_pid(roscore.uri, node.name)
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = [arg.decode() for arg in f.read().split(b'\0') if arg]
    running = os.path.realpath('/proc/%d/exe' % pid)
    requested = os.environ.get(NODE_PYTHON_ENV)
    if requested:
        # A venv's python is a symlink to the base interpreter: compare what each one is.
        assert argv[0] == requested, argv
        assert running == os.path.realpath(requested)
        assert python_version_of(running) == python_version_of(requested)
    else:
        # The script's shebang (or catkin's relay of it) names Debian's python3.
        assert python_version_of(running) == python_version_of('/usr/bin/python3')
    assert any(arg.endswith('/image_manager_node') for arg in argv), argv


def test_tests_run_under_the_interpreter_make_chose():
    expected = os.environ.get('DIM_EXPECT_PYTHON')
    if expected:
        assert '%d.%d' % sys.version_info[:2] == expected
    else:
        assert sys.version_info >= (3, 8)
