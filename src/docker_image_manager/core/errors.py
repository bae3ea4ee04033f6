"""One error hierarchy for the core.

Every failure the core can foresee is a :class:`ImageManagerError` whose message says what went wrong and,
where there is one, what to do about it. The ROS layer turns these into ``success: false`` plus the message;
nothing else should ever escape to a caller as a bare traceback.
"""
from __future__ import annotations


class ImageManagerError(Exception):
    """Base class: a failure with a message meant for the person who asked."""


class InvalidRequest(ImageManagerError, ValueError):
    """The request is wrong before Docker is touched (bad reference, missing field, ...)."""


class NotAllowed(ImageManagerError):
    """The request is valid but this node's policy refuses it (read_only, allowlists, context roots)."""


class NotFound(ImageManagerError):
    """An image, container, context or job does not exist."""


class DaemonUnavailable(ImageManagerError):
    """The Docker daemon cannot be reached, or the connection to it was lost mid-operation."""


class RegistryError(ImageManagerError):
    """The registry refused or failed a login, push or pull."""


class AuthenticationFailed(RegistryError):
    """Wrong user name or password, or no credentials for a registry that needs them."""


class OperationFailed(ImageManagerError):
    """The daemon ran the operation and it failed (failing RUN, disk full, ...)."""

    def __init__(self, message: str, code: int = 0, log_tail: list = None):
        super().__init__(message)
        self.code = code
        self.log_tail = list(log_tail or [])


class Cancelled(ImageManagerError):
    """The operation was cancelled on request; the daemon's work was stopped."""
