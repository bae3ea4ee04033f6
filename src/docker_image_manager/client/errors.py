"""The client's one error hierarchy.

Every failure a caller of :class:`~docker_image_manager.client.facade.ImageManagerClient` can see is a
:class:`ClientError` whose text is meant for a person: the node's own ``message`` when it answered
``success: false``, or what is missing and how to fix it when the node or master cannot be reached.
Invalid arguments (caught before anything goes on the wire) are plain :class:`ValueError`.
"""
from __future__ import annotations


class ClientError(Exception):
    """Base class: something the person who asked should read."""


class NodeUnavailable(ClientError):
    """The master, the node, one of its services or action servers cannot be reached."""


class NodeNotFound(NodeUnavailable):
    """Discovery found no docker_image_manager node, or several when exactly one was needed."""

    def __init__(self, message: str, candidates=()):
        super().__init__(message)
        self.candidates = list(candidates)


class RequestFailed(ClientError):
    """The node answered with ``success: false``; ``response`` holds its whole answer."""

    def __init__(self, message: str, response=None):
        super().__init__(message)
        self.response = response


class ActionFailed(RequestFailed):
    """A goal ended without succeeding (failed, cancelled, rejected or lost); ``handle`` says how."""

    def __init__(self, message: str, handle=None):
        super().__init__(message, getattr(handle, 'result', None))
        self.handle = handle

    @property
    def cancelled(self) -> bool:
        """True when the goal ended because it was cancelled."""
        return getattr(self.handle, 'state', '') == 'cancelled'


class Timeout(ClientError):
    """A wait ran out before the goal ended (the goal keeps running on the robot)."""
