"""image_manager_gui, the standalone window, as a person starts it: it connects to the node and closes on Ctrl-C."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import stack

GUI = str(Path(__file__).resolve().parents[2] / 'scripts' / 'image_manager_gui')


def subscribers_of(master_uri: str, topic: str):
    import rosgraph

    _, subscribers, _ = rosgraph.Master('/dimtest_gui_check', master_uri=master_uri).getSystemState()
    return next((nodes for name, nodes in subscribers if name == topic), [])


def test_window_subscribes_to_the_chosen_node_and_quits_on_sigint(roscore, start_node):
    node = start_node(ns='guiscript')
    env = stack.system_env(dict(roscore.env, QT_QPA_PLATFORM='offscreen'))
    env.pop('ROS_HOSTNAME', None)
    proc = subprocess.Popen([sys.executable, GUI, '--node', node.name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, env=env)
    try:
        deadline = time.monotonic() + 60
        subscribed = []
        while time.monotonic() < deadline and proc.poll() is None:
            subscribed = [n for n in subscribers_of(roscore.uri, node.service('jobs'))
                          if n.startswith('/image_manager_gui')]
            if subscribed:
                break
            time.sleep(0.2)
        assert subscribed, 'the window never subscribed to %s (exit %s)' % (node.service('jobs'), proc.poll())
        for topic in ('build_log', 'push_progress', 'pull_progress'):
            assert subscribed[0] in subscribers_of(roscore.uri, node.service(topic))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        stack.stop_process(proc, signal.SIGKILL, group=False)
    assert proc.returncode == 0, err
    assert 'Traceback' not in err, err


def test_window_without_a_master_says_so(tmp_path):
    env = stack.system_env({'ROS_MASTER_URI': 'http://127.0.0.1:%d' % stack.free_port(),
                            'QT_QPA_PLATFORM': 'offscreen'})
    result = subprocess.run([sys.executable, GUI], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env, timeout=60)
    assert result.returncode == 1
    assert 'cannot reach the ROS master' in result.stderr
