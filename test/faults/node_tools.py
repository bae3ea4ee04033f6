"""Helpers for the fault, security and load tests: a Docker socket proxy the test can cut, action and service
calls on a node started by ``start_node``, a recorder of everything the node publishes, and its pid."""
from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import xmlrpc.client
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from stack import DOCKER_SOCKET, make_context, wait_for  # noqa: F401 (re-exported for the fault tests)

ACTION_TIMEOUT = 300.0


class DockerProxy:
    """A unix socket at ``path`` that forwards every connection to the real Docker socket.

    ``start()`` listens, ``stop()`` stops listening and drops every connection (the daemon is "down"),
    ``cut()`` drops every open connection but keeps listening (the daemon restarted under a running job).
    """

    def __init__(self, path: Path, target: str = DOCKER_SOCKET):
        self.path = str(path)
        self.url = 'unix://' + self.path
        self.target = target
        self._listener: Optional[socket.socket] = None
        self._pairs: List[Tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.connections = 0

    def start(self) -> 'DockerProxy':
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.cut()

    def cut(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                with contextlib.suppress(ValueError):
                    self._pairs.remove((a, b))


def call(node, name: str, srv_type, timeout: float = 30.0, **fields):
    """Call one of the node's services with ``fields``; returns the response."""
    import rospy
    service = node.service(name)
    rospy.wait_for_service(service, timeout)
    return rospy.ServiceProxy(service, srv_type)(**fields)


class ActionRun:
    """One goal sent with a SimpleActionClient; records every feedback."""

    def __init__(self, node, name: str, goal):
        import actionlib
        from docker_image_manager import msg
        action_type = {'build': msg.BuildAction, 'push': msg.PushAction, 'pull': msg.PullAction}[name]
        self.feedback: List = []
        self.client = actionlib.SimpleActionClient(node.service(name), action_type)
        if not self.client.wait_for_server(_duration(30)):
            raise AssertionError('action server %s did not appear' % node.service(name))
        self.client.send_goal(goal, feedback_cb=self.feedback.append)

    def wait(self, timeout: float = ACTION_TIMEOUT):
        """(GoalStatus state, result) once the goal ended; fails if it did not end within ``timeout``."""
        from actionlib_msgs.msg import GoalStatus
        ended = (GoalStatus.PREEMPTED, GoalStatus.SUCCEEDED, GoalStatus.ABORTED, GoalStatus.REJECTED,
                 GoalStatus.RECALLED)
        deadline = time.monotonic() + timeout
        # SimpleActionClient.wait_for_result can miss the end of a goal rejected at once: poll the state too.
        while not self.client.wait_for_result(_duration(1.0)):
            if self.client.get_state() in ended and self.client.get_result() is not None:
                break
            if time.monotonic() > deadline:
                raise AssertionError('goal still running after %.0f s (state %s)'
                                     % (timeout, self.client.get_state()))
        return self.client.get_state(), self.client.get_result()

    def job_id(self, timeout: float = 30.0) -> str:
        return wait_for(lambda: next((f.job_id if hasattr(f, 'job_id') else f.progress.job_id
                                      for f in self.feedback), ''), timeout, 'the first feedback')


def run_action(node, name: str, goal, timeout: float = ACTION_TIMEOUT):
    return ActionRun(node, name, goal).wait(timeout)


def _duration(seconds: float):
    import rospy
    return rospy.Duration(seconds)


def build_goal(context, tags=(), **fields):
    from docker_image_manager import msg
    return msg.BuildGoal(context=str(context), tags=list(tags), **fields)


class TopicRecorder:
    """Subscribes (as raw bytes) to every topic the node publishes, plus /rosout and /diagnostics.

    Action topics are left out: rospy shares one subscription per topic within a process, so a raw
    subscriber would hand this process's action clients undecoded messages. Record what the action clients
    receive (``ActionRun.feedback`` and results) instead.
    """

    def __init__(self, node):
        self.node = node
        self.raw: Dict[str, List[bytes]] = {}
        self._subs = []
        self._lock = threading.Lock()
        self.subscribe_all()

    def subscribe_all(self) -> None:
        import rosgraph
        import rospy
        master = rosgraph.Master('/dimtest_recorder')
        names = {topic for topic, _ in master.getPublishedTopics('')
                 if topic.startswith(self.node.name + '/') and not _is_action_topic(topic)}
        names |= {'/rosout', '/rosout_agg', '/diagnostics'}
        for topic in sorted(names - set(self.raw)):
            self.raw[topic] = []
            self._subs.append(rospy.Subscriber(topic, rospy.AnyMsg, self._store, callback_args=topic,
                                               queue_size=10000))

    def _store(self, message, topic: str) -> None:
        with self._lock:
            self.raw[topic].append(bytes(message._buff))

    def count(self, topic: str) -> int:
        with self._lock:
            return len(self.raw.get(topic, []))

    def everything(self) -> bytes:
        with self._lock:
            return b'\n'.join(b'\n'.join(chunks) for chunks in self.raw.values())

    def close(self) -> None:
        for sub in self._subs:
            sub.unregister()


def _is_action_topic(topic: str) -> bool:
    parent, _, last = topic.rpartition('/')
    return parent.rpartition('/')[2] in ('build', 'push', 'pull') and last in (
        'goal', 'cancel', 'status', 'feedback', 'result')


def node_pid(node) -> int:
    """The pid of the node process (not roslaunch), from its XML-RPC ``getPid``."""
    import rosgraph
    uri = rosgraph.Master('/dimtest_pid').lookupNode(node.name)
    code, _, pid = xmlrpc.client.ServerProxy(uri).getPid('/dimtest_pid')
    assert code == 1
    return pid


def rss_kb(pid: int) -> int:
    with open('/proc/%d/status' % pid) as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for pid %d' % pid)


def diagnostics_of(node, timeout: float = 15.0):
    """The next /diagnostics status published by ``node``."""
    import rospy
    from diagnostic_msgs.msg import DiagnosticArray
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        array = rospy.wait_for_message('/diagnostics', DiagnosticArray, timeout=timeout)
        for status in array.status:
            if status.name.startswith(node.name + ':'):
                return status
    raise AssertionError('no /diagnostics from %s within %.0f s' % (node.name, timeout))
