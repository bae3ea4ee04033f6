"""Action goals sent to the node, as handles a caller can cancel and wait on.

Uses actionlib's low-level :class:`actionlib.ActionClient` rather than ``SimpleActionClient`` so one client can
have several goals in flight (a push and a pull side by side); each goal is tracked by its own
:class:`GoalHandle`. Cancelling a handle cancels the goal on the robot, which stops the daemon's work.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

import actionlib
from actionlib_msgs.msg import GoalStatus

from .errors import ActionFailed, Timeout

_log = logging.getLogger(__name__)

# The server publishes its status array several times a second; this long without one means it is gone.
SERVER_SILENCE_S = 10.0
# How long a goal may wait for the server to acknowledge it before it counts as lost.
ACK_TIMEOUT_S = 15.0

STATE_PENDING = 'pending'
STATE_ACTIVE = 'active'
STATE_SUCCEEDED = 'succeeded'
STATE_FAILED = 'failed'
STATE_CANCELLED = 'cancelled'
STATE_REJECTED = 'rejected'
STATE_LOST = 'lost'
TERMINAL_STATES = (STATE_SUCCEEDED, STATE_FAILED, STATE_CANCELLED, STATE_REJECTED, STATE_LOST)


class TimedActionClient(actionlib.ActionClient):
    """An ActionClient that remembers when the server last published its status (to notice a dead node)."""

    def __init__(self, ns, action_spec):
        self.last_status_time = 0.0
        super().__init__(ns, action_spec)

    def _status_cb(self, msg):
        self.last_status_time = time.monotonic()
        super()._status_cb(msg)


class GoalHandle:
    """One goal sent to the node's ``~build``, ``~push`` or ``~pull`` action.

    Attributes:
        kind: ``build``, ``push`` or ``pull``.
        target: what the goal is about (the image pushed or pulled, the build's first tag or its context).
        node: the node's name.
        job_id: the node's job id, known from the first feedback or the result ('' until then).
        state: ``pending``, ``active``, then one of ``succeeded``, ``failed``, ``cancelled``, ``rejected``, ``lost``.
        result: the action's result message once the goal ended (None when it never came).
        message: the node's message once the goal ended.
    """

    def __init__(self, kind: str, node: str, client: TimedActionClient, goal,
                 feedback_cb: Optional[Callable] = None, done_cb: Optional[Callable] = None, target: str = ''):
        self.kind = kind
        self.target = target
        self.node = node
        self.job_id = ''
        self.state = STATE_PENDING
        self.result = None
        self.message = ''
        self.cancel_requested = False
        self._client = client
        self._feedback_cb = feedback_cb
        self._done_cb = done_cb
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._sent_at = time.monotonic()
        # actionlib keeps only weak references to its goals: this strong one keeps ours tracked.
        self._gh = client.send_goal(goal, transition_cb=self._on_transition, feedback_cb=self._on_feedback)
        self._watchdog = threading.Thread(target=self._watch, name='goal-watchdog-%s' % kind, daemon=True)
        self._watchdog.start()

    @property
    def done(self) -> bool:
        """True once the goal has ended, whichever way."""
        return self._finished.is_set()

    @property
    def succeeded(self) -> bool:
        """True once the goal ended with success."""
        return self.state == STATE_SUCCEEDED

    def cancel(self) -> None:
        """Ask the node to cancel this goal; it stops the daemon's work and ends the goal as cancelled."""
        if self.done:
            return
        self.cancel_requested = True
        self._gh.cancel()

    def wait(self, timeout: Optional[float] = None):
        """Block until the goal ends and return its result.

        Waits in short slices so a KeyboardInterrupt reaches the caller (who can then :meth:`cancel`).

        Raises:
            ActionFailed: the goal failed, was cancelled, rejected or lost (``.handle`` is this handle).
            Timeout: ``timeout`` seconds passed first; the goal keeps running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(0.1):
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout('the %s goal did not end within %.0f s; it is still running on %s'
                              % (self.kind, timeout, self.node))
        if self.state != STATE_SUCCEEDED:
            raise ActionFailed(self.message, self)
        return self.result

    def _on_feedback(self, _gh, feedback) -> None:
        job_id = getattr(feedback, 'job_id', '') or getattr(getattr(feedback, 'progress', None), 'job_id', '')
        if job_id and not self.job_id:
            self.job_id = job_id
        if self.state == STATE_PENDING:
            self.state = STATE_ACTIVE
        if self._feedback_cb is not None:
            self._call(self._feedback_cb, feedback)

    def _on_transition(self, gh) -> None:
        comm = gh.get_comm_state()
        if comm == actionlib.CommState.ACTIVE and self.state == STATE_PENDING:
            self.state = STATE_ACTIVE
        if comm != actionlib.CommState.DONE:
            return
        status = gh.get_goal_status()
        result = gh.get_result()
        text = gh.get_goal_status_text()
        self._finish(status, result, text)

    def _finish(self, status: int, result, status_text: str) -> None:
        with self._lock:
            if self._finished.is_set():
                return
            self.result = result
            if result is not None and getattr(result, 'job_id', ''):
                self.job_id = result.job_id
            success = bool(getattr(result, 'success', False))
            if status == GoalStatus.SUCCEEDED and success:
                self.state = STATE_SUCCEEDED
            elif status in (GoalStatus.PREEMPTED, GoalStatus.RECALLED):
                self.state = STATE_CANCELLED
            elif status == GoalStatus.REJECTED:
                self.state = STATE_REJECTED
            elif status == GoalStatus.LOST:
                self.state = STATE_LOST
            else:
                self.state = STATE_FAILED
            message = getattr(result, 'message', '') or status_text
            if not message:
                message = {
                    STATE_SUCCEEDED: 'the %s succeeded' % self.kind,
                    STATE_CANCELLED: 'the %s was cancelled' % self.kind,
                    STATE_REJECTED: 'the node rejected the %s goal' % self.kind,
                    STATE_LOST: 'lost track of the %s goal on %s' % (self.kind, self.node),
                }.get(self.state, 'the %s failed without a message from %s' % (self.kind, self.node))
            self.message = message
            self._finished.set()
        if self._done_cb is not None:
            self._call(self._done_cb, self)

    def _lose(self, why: str) -> None:
        self._finish(GoalStatus.LOST, None, why)

    def _watch(self) -> None:
        # actionlib alone never ends a goal whose server died: notice the silence and end it as lost.
        while not self._finished.wait(0.5):
            now = time.monotonic()
            last = self._client.last_status_time
            if last and now - last > SERVER_SILENCE_S:
                self._lose('lost contact with %s while the %s was running (no action status for %.0f s); '
                           'check the node with `rosnode ping %s`; its job may still be listed by '
                           '`imagectl jobs`' % (self.node, self.kind, SERVER_SILENCE_S, self.node))
            elif (self._gh.get_comm_state() == actionlib.CommState.WAITING_FOR_GOAL_ACK
                  and now - self._sent_at > ACK_TIMEOUT_S):
                self._lose('%s did not acknowledge the %s goal within %.0f s; is its action server running?'
                           % (self.node, self.kind, ACK_TIMEOUT_S))

    def _call(self, callback: Callable, arg) -> None:
        try:
            callback(arg)
        except Exception:  # a caller's callback must not break actionlib's thread
            _log.exception('%s callback for the %s goal failed', callback, self.kind)

    def __repr__(self) -> str:
        return '<GoalHandle %s %s job=%s state=%s>' % (self.kind, self.target, self.job_id or '?', self.state)
