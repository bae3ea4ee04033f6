"""Drive the node as a PC on the ROS network would: service proxies, action clients and topic collectors.

Nothing here talks to Docker; the tests compare what the node says with what the daemon and registry hold.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional, Tuple

import actionlib
import pytest
import rospy
from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg, srv

WAIT_S = 30.0

SERVICE_TYPES = {
    'list_images': srv.ListImages,
    'inspect_image': srv.InspectImage,
    'list_containers': srv.ListContainers,
    'container_diff': srv.ContainerDiff,
    'commit': srv.Commit,
    'tag': srv.Tag,
    'login': srv.Login,
    'remove_image': srv.RemoveImage,
    'list_jobs': srv.ListJobs,
    'get_job_log': srv.GetJobLog,
}

ACTION_TYPES = {
    'build': (msg.BuildAction, msg.BuildGoal),
    'push': (msg.PushAction, msg.PushGoal),
    'pull': (msg.PullAction, msg.PullGoal),
}

STATE_NAMES = {getattr(GoalStatus, name): name for name in (
    'PENDING', 'ACTIVE', 'PREEMPTED', 'SUCCEEDED', 'ABORTED', 'REJECTED', 'PREEMPTING', 'RECALLING', 'RECALLED',
    'LOST')}


def call(node, name: str, **fields):
    """Call one of the node's services with ``fields``; returns the response."""
    service = node.service(name)
    rospy.wait_for_service(service, timeout=WAIT_S)
    return rospy.ServiceProxy(service, SERVICE_TYPES[name])(**fields)


def ok(response):
    """``response`` after checking that it says success (the message otherwise shows in the failure)."""
    assert response.success, response.message
    return response


def action_client(node, name: str) -> actionlib.SimpleActionClient:
    """A fresh SimpleActionClient on one of the node's actions, connected to the server."""
    client = actionlib.SimpleActionClient(node.service(name), ACTION_TYPES[name][0])
    if not client.wait_for_server(rospy.Duration(WAIT_S)):
        pytest.fail('action server %s did not appear within %.0f s' % (node.service(name), WAIT_S))
    return client


def goal(name: str, **fields):
    return ACTION_TYPES[name][1](**fields)


TERMINAL_STATES = (GoalStatus.PREEMPTED, GoalStatus.SUCCEEDED, GoalStatus.ABORTED, GoalStatus.REJECTED,
                   GoalStatus.RECALLED, GoalStatus.LOST)


def finish(client: actionlib.SimpleActionClient, timeout: float = 120.0) -> Tuple[int, Any]:
    """Wait for the client's goal to end; returns (final GoalStatus, result).

    Besides ``wait_for_result`` this watches the goal handle itself: when the server rejects a goal at once,
    its status and result can arrive before ``SimpleActionClient.send_goal`` has stored the handle, and the
    client then drops those transitions ("Got a transition callback on a goal handle that we're not
    tracking") and would wait for ever, though the handle holds the final state and result.
    """
    deadline = time.monotonic() + timeout
    while not client.wait_for_result(rospy.Duration(0.2)):
        if client.get_state() in TERMINAL_STATES and client.get_result() is not None:
            break
        if time.monotonic() > deadline:
            pytest.fail('the goal did not end within %.0f s (state %s)'
                        % (timeout, STATE_NAMES.get(client.get_state(), client.get_state())))
    return client.get_state(), client.get_result()


def run_goal(node, name: str, timeout: float = 120.0, feedback: Optional[List] = None, **fields):
    """Send one goal on a fresh client and wait for its end; returns (final state, result)."""
    client = action_client(node, name)
    client.send_goal(goal(name, **fields), feedback_cb=feedback.append if feedback is not None else None)
    return finish(client, timeout)


def state_name(state: int) -> str:
    return STATE_NAMES.get(state, str(state))


class Collector:
    """Keeps every message of one topic, for tests to wait on and look through."""

    def __init__(self, topic: str, msg_type) -> None:
        self.topic = topic
        self.messages: List[Any] = []
        self._cond = threading.Condition()
        self.subscriber = rospy.Subscriber(topic, msg_type, self._on_message, queue_size=100000)

    def _on_message(self, message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def connected(self, timeout: float = WAIT_S) -> 'Collector':
        """Wait until a publisher is connected, so nothing published from now on is missed."""
        deadline = time.monotonic() + timeout
        while self.subscriber.get_num_connections() < 1:
            if time.monotonic() > deadline:
                pytest.fail('no publisher of %s connected within %.0f s' % (self.topic, timeout))
            time.sleep(0.05)
        return self

    def where(self, predicate: Callable[[Any], bool] = lambda m: True) -> List[Any]:
        with self._cond:
            return [m for m in self.messages if predicate(m)]

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = WAIT_S, what: str = '',
                 after: int = 0) -> Any:
        """The first message matching ``predicate``, waiting up to ``timeout`` seconds for it.

        Args:
            after: look only at messages received after the first ``after`` ones (``len(where())`` earlier).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages[after:]:
                    if predicate(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail('no %s on %s within %.0f s (%d messages seen; last: %s)'
                                % (what or 'matching message', self.topic, timeout, len(self.messages),
                                   self.messages[-1] if self.messages else None))
                self._cond.wait(remaining)

    def close(self) -> None:
        self.subscriber.unregister()


class Topics:
    """Makes collectors and unregisters them all at the end of the test (the ``topics`` fixture)."""

    def __init__(self) -> None:
        self._collectors: List[Collector] = []

    def __call__(self, topic: str, msg_type, connect: bool = True) -> Collector:
        collector = Collector(topic, msg_type)
        self._collectors.append(collector)
        return collector.connected() if connect else collector

    def close(self) -> None:
        for collector in self._collectors:
            collector.close()
