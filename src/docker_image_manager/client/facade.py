"""One facade over the node's public ROS contract: services, actions and topics.

:class:`ImageManagerClient` is all imagectl and the rqt widget know about ROS. Every service method returns the
node's response and raises a :class:`~.errors.ClientError` instead of handing back ``success: false``; every
action method returns a :class:`~.goals.GoalHandle`; every subscription is remembered so :meth:`close` can undo it.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import rospy

from docker_image_manager import msg as dim_msg
from docker_image_manager import srv as dim_srv

from .discovery import check_master, discover_nodes, normalize_node_name
from .errors import ClientError, NodeUnavailable, RequestFailed
from .goals import GoalHandle, TimedActionClient

DEFAULT_TIMEOUT_S = 5.0
JOB_TERMINAL_STATES = ('succeeded', 'failed', 'cancelled', 'interrupted')

_BUILD_FIELDS = ('context', 'dockerfile', 'tags', 'build_args', 'labels', 'no_cache', 'pull', 'target')
_LIST_FIELDS = ('tags', 'build_args', 'labels')
_ACTIONS = {
    'build': dim_msg.BuildAction,
    'push': dim_msg.PushAction,
    'pull': dim_msg.PullAction,
}


def init_node(name: str = 'docker_image_manager_client') -> None:
    """Start this process's rospy node (anonymous, without rospy's SIGINT handler) unless already started.

    Ctrl-C then reaches the caller as KeyboardInterrupt, so a client can cancel its goal before it exits.

    Raises:
        NodeUnavailable: the ROS master does not answer.
    """
    if rospy.core.is_initialized():
        return
    check_master()
    rospy.init_node(name, anonymous=True, disable_signals=True, log_level=rospy.WARN)


class Subscription:
    """A topic subscription made through the facade; :meth:`unregister` ends it (idempotent)."""

    def __init__(self, subscriber: rospy.Subscriber):
        self._subscriber = subscriber
        self.topic = subscriber.name

    def unregister(self) -> None:
        if self._subscriber is not None:
            self._subscriber.unregister()
            self._subscriber = None


class ImageManagerClient:
    """Talks to one docker_image_manager node, e.g. ``ImageManagerClient('/robot1/docker_image_manager')``.

    The process must already be a rospy node (:func:`init_node`, or rqt did it).

    Args:
        node: the node's name (= the namespace of its services, actions and topics).
        timeout: seconds to wait for a service or action server to appear before giving up.
    """

    def __init__(self, node: str, timeout: float = DEFAULT_TIMEOUT_S):
        if not rospy.core.is_initialized():
            raise ClientError('this process is not a ROS node yet: call docker_image_manager.client.init_node()')
        self.node = normalize_node_name(node)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._actions: Dict[str, TimedActionClient] = {}
        self._subscriptions: List[Subscription] = []
        self._closed = False

    # -- services -------------------------------------------------------------------------------------------

    def list_images(self, filter: str = '', all: bool = False) -> dim_srv.ListImagesResponse:
        """``docker images [FILTER] [-a]``: the response's ``images`` are ImageInfo messages."""
        return self._call('list_images', dim_srv.ListImages, filter=filter, all=all)

    def inspect_image(self, image: str) -> dim_srv.InspectImageResponse:
        """One image (name, name:tag, id or id prefix) with its ``layers``, base first."""
        return self._call('inspect_image', dim_srv.InspectImage, image=image)

    def list_containers(self, all: bool = False) -> dim_srv.ListContainersResponse:
        """``docker ps [-a]``: the response's ``containers`` are ContainerInfo messages."""
        return self._call('list_containers', dim_srv.ListContainers, all=all)

    def container_diff(self, container: str) -> dim_srv.ContainerDiffResponse:
        """``docker diff``: the response's ``added``, ``changed`` and ``deleted`` paths."""
        return self._call('container_diff', dim_srv.ContainerDiff, container=container)

    def commit(self, container: str, target: str = '', message: str = '', author: str = '',
               changes: Sequence[str] = (), no_pause: bool = False) -> dim_srv.CommitResponse:
        """``docker commit``: a new image from a container; the response has ``image_id`` and ``job_id``."""
        return self._call('commit', dim_srv.Commit, container=container, target=target, message=message,
                          author=author, changes=list(changes), no_pause=no_pause)

    def tag(self, source: str, target: str) -> dim_srv.TagResponse:
        """``docker tag SOURCE TARGET``."""
        return self._call('tag', dim_srv.Tag, source=source, target=target)

    def login(self, registry: str, username: str, password: str) -> dim_srv.LoginResponse:
        """``docker login`` on the robot; the password only travels in this request and is never logged."""
        return self._call('login', dim_srv.Login, registry=registry, username=username, password=password)

    def remove_image(self, image: str, force: bool = False,
                     prune_dangling: bool = False) -> dim_srv.RemoveImageResponse:
        """``docker rmi [-f]`` (optionally pruning dangling images); the response has ``reclaimed_bytes``."""
        return self._call('remove_image', dim_srv.RemoveImage, image=image, force=force,
                          prune_dangling=prune_dangling)

    def list_jobs(self, limit: int = 0, kind: str = '') -> dim_srv.ListJobsResponse:
        """The node's jobs, newest first (``limit`` 0 = all it keeps; ``kind`` build/push/pull/commit)."""
        return self._call('list_jobs', dim_srv.ListJobs, limit=limit, kind=kind)

    def get_job_log(self, job_id: str, offset: int = 0, max_lines: int = 0) -> dim_srv.GetJobLogResponse:
        """Lines of a job's log from ``offset``; the response has ``lines``, ``next_offset`` and ``job``."""
        return self._call('get_job_log', dim_srv.GetJobLog, job_id=job_id, offset=offset, max_lines=max_lines)

    def iter_job_log(self, job_id: str, follow: bool = False, poll_s: float = 0.5) -> Iterator[str]:
        """Every line of a job's log; with ``follow`` keep polling until the job has ended.

        Raises:
            ClientError: as :meth:`get_job_log`.
        """
        offset = 0
        while True:
            response = self.get_job_log(job_id, offset=offset)
            for line in response.lines:
                yield line
            offset = response.next_offset if response.next_offset >= offset else offset + len(response.lines)
            if not follow or response.job.state in JOB_TERMINAL_STATES:
                if follow and response.lines:
                    continue  # drain what the job wrote after its last poll
                return
            time.sleep(poll_s)

    # -- actions --------------------------------------------------------------------------------------------

    def build(self, goal_fields, feedback_cb: Optional[Callable] = None,
              done_cb: Optional[Callable] = None) -> GoalHandle:
        """Send a ``~build`` goal.

        Args:
            goal_fields: a dict of BuildGoal fields (``context`` required; ``dockerfile``, ``tags``,
                ``build_args``, ``labels``, ``no_cache``, ``pull``, ``target``) or a BuildGoal.
            feedback_cb: called with each BuildFeedback (``job_id``, ``step``, ``total_steps``, ``line``),
                on a rospy thread.
            done_cb: called with the handle once the goal ended, on a rospy thread.

        Raises:
            ValueError: unknown fields or no context.
            NodeUnavailable: the node's build action server does not answer.
        """
        goal = self._build_goal(goal_fields)
        return self._send('build', goal, feedback_cb, done_cb, goal.tags[0] if goal.tags else goal.context)

    def push(self, image: str, feedback_cb: Optional[Callable] = None,
             done_cb: Optional[Callable] = None) -> GoalHandle:
        """Send a ``~push`` goal for ``image`` (repo:tag); feedback is a PushFeedback with ``progress``.

        actionlib drops a feedback that reaches this client after the result, so the last one may never come:
        the result's ``progress`` is that last message (``done: true``).
        """
        if not image.strip():
            raise ValueError('push needs an image reference such as registry:5000/repo:tag')
        return self._send('push', dim_msg.PushGoal(image=image.strip()), feedback_cb, done_cb, image.strip())

    def pull(self, image: str, feedback_cb: Optional[Callable] = None,
             done_cb: Optional[Callable] = None) -> GoalHandle:
        """Send a ``~pull`` goal for ``image``; feedback is a PullFeedback with ``progress`` (the last one is
        also the result's ``progress``, as for :meth:`push`)."""
        if not image.strip():
            raise ValueError('pull needs an image reference such as registry:5000/repo:tag')
        return self._send('pull', dim_msg.PullGoal(image=image.strip()), feedback_cb, done_cb, image.strip())

    # -- topics ---------------------------------------------------------------------------------------------

    def subscribe_build_log(self, callback: Callable) -> Subscription:
        """Every BuildLog line of every build on the node (``~build_log``)."""
        return self._subscribe('build_log', dim_msg.BuildLog, callback, 1000)

    def subscribe_push_progress(self, callback: Callable) -> Subscription:
        """TransferProgress of every push (``~push_progress``)."""
        return self._subscribe('push_progress', dim_msg.TransferProgress, callback, 50)

    def subscribe_pull_progress(self, callback: Callable) -> Subscription:
        """TransferProgress of every pull (``~pull_progress``)."""
        return self._subscribe('pull_progress', dim_msg.TransferProgress, callback, 50)

    def subscribe_jobs(self, callback: Callable) -> Subscription:
        """JobStatus of every job state change (``~jobs``, latched: the last one arrives at once)."""
        return self._subscribe('jobs', dim_msg.JobStatus, callback, 200)

    # -- life cycle -----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Unregister every subscription and action client made by this facade (goals keep running)."""
        with self._lock:
            self._closed = True
            subscriptions, self._subscriptions = self._subscriptions, []
            actions, self._actions = self._actions, {}
        for subscription in subscriptions:
            subscription.unregister()
        for client in actions.values():
            client.stop()

    def __enter__(self) -> 'ImageManagerClient':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return 'ImageManagerClient(%r)' % self.node

    # -- plumbing -------------------------------------------------------------------------------------------

    def _call(self, name: str, srv_type, **fields):
        service = self.node + '/' + name
        try:
            rospy.wait_for_service(service, timeout=self.timeout)
        except rospy.ROSInterruptException as exc:
            raise ClientError('interrupted while waiting for %s' % service) from exc
        except rospy.ROSException as exc:
            raise NodeUnavailable('the service %s is not available (waited %.0f s); is the node %s running? '
                                  'See `rosservice list` or run imagectl without --node to list the nodes'
                                  % (service, self.timeout, self.node)) from exc
        proxy = rospy.ServiceProxy(service, srv_type)
        try:
            response = proxy.call(srv_type._request_class(**fields))
        except rospy.ServiceException as exc:
            raise NodeUnavailable('calling %s failed: %s' % (service, exc)) from exc
        finally:
            proxy.close()
        if not response.success:
            raise RequestFailed(response.message or '%s failed without a message from the node' % service,
                                response)
        return response

    def _subscribe(self, topic: str, msg_type, callback: Callable, queue_size: int) -> Subscription:
        subscription = Subscription(rospy.Subscriber(self.node + '/' + topic, msg_type, callback,
                                                     queue_size=queue_size))
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def _action_client(self, kind: str) -> TimedActionClient:
        with self._lock:
            if self._closed:
                raise ClientError('this client for %s was closed' % self.node)
            client = self._actions.get(kind)
            if client is None:
                client = TimedActionClient(self.node + '/' + kind, _ACTIONS[kind])
                self._actions[kind] = client
        if not client.wait_for_server(rospy.Duration(self.timeout)):
            raise NodeUnavailable('the action server %s/%s is not available (waited %.0f s); is the node %s '
                                  'running?' % (self.node, kind, self.timeout, self.node))
        return client

    def _send(self, kind: str, goal, feedback_cb, done_cb, target: str) -> GoalHandle:
        return GoalHandle(kind, self.node, self._action_client(kind), goal, feedback_cb, done_cb, target)

    @staticmethod
    def _build_goal(goal_fields):
        if isinstance(goal_fields, dim_msg.BuildGoal):
            goal = goal_fields
        else:
            unknown = sorted(set(goal_fields) - set(_BUILD_FIELDS))
            if unknown:
                raise ValueError('unknown build field(s): %s (known: %s)'
                                 % (', '.join(unknown), ', '.join(_BUILD_FIELDS)))
            fields = dict(goal_fields)
            for name in _LIST_FIELDS:
                value = fields.get(name, [])
                if isinstance(value, str):
                    raise ValueError('build field %s must be a list of strings, not a string' % name)
                fields[name] = list(value)
            goal = dim_msg.BuildGoal(**fields)
        if not goal.context.strip():
            raise ValueError('build needs a context directory on the robot')
        return goal


class ClientPool:
    """The robots on the master: discovers their nodes and keeps one :class:`ImageManagerClient` per node."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S):
        self.timeout = timeout
        self._clients: Dict[str, ImageManagerClient] = {}
        self._lock = threading.Lock()

    def discover(self) -> List[str]:
        """Names of the docker_image_manager nodes running now (see :func:`discover_nodes`)."""
        return discover_nodes()

    def get(self, node: str) -> ImageManagerClient:
        """The (shared) client for ``node``."""
        node = normalize_node_name(node)
        with self._lock:
            client = self._clients.get(node)
            if client is None:
                client = ImageManagerClient(node, self.timeout)
                self._clients[node] = client
            return client

    def close(self) -> None:
        """Close every client made by this pool."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
