"""``docker push``, ``docker pull`` and ``docker login``, with per-layer progress.

Push and pull run on their own :class:`~.docker_client.StreamingClient`, so cancelling closes that connection and
the daemon stops the transfer (a push cancelled before its manifest leaves the remote tag where it was).
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional

from . import references
from .cancellation import Cancellation
from .credentials import Credentials, scrub
from .docker_client import Connector, classify, stream_chunks, translate_errors
from .errors import (AuthenticationFailed, Cancelled, DaemonUnavailable, ImageManagerError, InvalidRequest,
                     RegistryError)
from .policy import Policy
from .progress import TransferTracker
from .streams import LayerStatus, PullResult, PushResult, Status, StreamError, transfer_events


class PushOutcome(NamedTuple):
    digest: str
    size: int
    attempts: int


class PullOutcome(NamedTuple):
    image_id: str
    digest: str
    up_to_date: bool  # the local image already was the registry's: nothing was downloaded


ProgressCallback = Callable[[TransferTracker, Optional[str]], None]
"""Called with the tracker after each layer event, and with a status line (or None)."""


def _run_stream(stream_call, client, tracker: TransferTracker, on_progress: ProgressCallback,
                cancellation: Cancellation, what: str):
    """Iterate a push/pull stream; returns its end marker or raises the stream's error."""
    end = None
    for event in transfer_events(stream_chunks(client, stream_call, cancellation, what)):
        if isinstance(event, LayerStatus):
            tracker.update(event)
            on_progress(tracker, None)
        elif isinstance(event, Status):
            on_progress(tracker, event.text)
        elif isinstance(event, (PushResult, PullResult)):
            end = event
        elif isinstance(event, StreamError):
            if cancellation.cancelled:
                raise Cancelled('%s cancelled; the daemon stopped it' % what)
            raise classify(event.message, 0, what)
    if end is None:
        raise DaemonUnavailable('%s ended without its final result: the connection to the Docker daemon was '
                                'lost' % what)
    return end


def check_push(policy: Policy, image: str) -> references.Reference:
    policy.check_write('push')
    ref = references.parse_push(image)
    policy.check_registry(ref.registry, 'push')
    return ref


def push(docker: Connector, ref: references.Reference, credentials: Credentials,
         tracker: TransferTracker, on_progress: ProgressCallback, cancellation: Cancellation,
         retries: int = 0, backoff_s: float = 2.0) -> PushOutcome:
    """Push ``repo:tag``; transient registry failures are retried ``retries`` times with doubling backoff.

    Args:
        docker: makes a fresh streaming client for each attempt.

    Raises:
        AuthenticationFailed, RegistryError, DaemonUnavailable, Cancelled, NotFound.
    """
    repository, tag = references.split_tag(ref)
    auth = credentials.auth_config(ref.registry)
    attempt = 0
    while True:
        attempt += 1
        client = docker.stream()
        try:
            # Bound now: the lambda must push with this attempt's client, not a later one.
            end = _run_stream(lambda client=client: client.push(repository, tag, stream=True, decode=True,
                                                                auth_config=auth),
                              client, tracker, on_progress, cancellation, 'push %s' % str(ref))
            return PushOutcome(end.digest, end.size, attempt)
        except (AuthenticationFailed, Cancelled):
            raise
        except (RegistryError, DaemonUnavailable) as exc:
            if attempt > retries or cancellation.cancelled:
                text = scrub(str(exc), credentials.secrets()) + (
                    ' (after %d attempts)' % attempt if attempt > 1 else '')
                if isinstance(exc, RegistryError):
                    # The daemon's text alone ("dial tcp ...: connection refused") says neither what nor why.
                    text = ('push %s failed: %s; check that registry %s is running and reachable from the robot, '
                            'then push again (layers it already has are not sent again)'
                            % (ref, text, ref.registry or 'docker.io'))
                raise type(exc)(text) from None
            on_progress(tracker, 'push failed (%s); retrying in %.0f s, attempt %d of %d'
                        % (exc, backoff_s * 2 ** (attempt - 1), attempt + 1, retries + 1))
            deadline = time.monotonic() + backoff_s * 2 ** (attempt - 1)
            while time.monotonic() < deadline and not cancellation.cancelled:
                time.sleep(0.1)
            cancellation.check()


def check_pull(policy: Policy, image: str) -> references.Reference:
    policy.check_write('pull')
    ref = references.parse(image)
    policy.check_registry(ref.registry, 'pull')
    return ref


def pull(docker: Connector, ref: references.Reference, credentials: Credentials, tracker: TransferTracker,
         on_progress: ProgressCallback, cancellation: Cancellation) -> PullOutcome:
    """Pull ``repo[:tag|@digest]`` (no tag = latest, never every tag)."""
    auth = credentials.auth_config(ref.registry)
    tag = ref.digest or ref.tag or 'latest'
    client = docker.stream()
    end = _run_stream(lambda: client.pull(ref.repository, tag, stream=True, decode=True, auth_config=auth),
                      client, tracker, on_progress, cancellation, 'pull %s' % str(ref))
    local = '%s@%s' % (ref.repository, ref.digest) if ref.digest else '%s:%s' % (ref.repository, tag)
    query = docker.query()
    try:
        with translate_errors('inspect pulled image'):
            image_id = query.inspect_image(local)['Id']
    finally:
        query.close()
    return PullOutcome(image_id, end.digest, end.up_to_date)


def check_login(policy: Policy, registry: str, username: str, password: str) -> None:
    """The checks of a login that need no daemon: policy, a username and a password, a valid registry host."""
    policy.check_write('login')
    policy.check_registry(registry, 'login')
    if not username or not password:
        raise InvalidRequest('login needs a username and a password')
    if registry:  # host[:port], optionally with a scheme and path as in Docker's config keys
        references.parse('%s/probe' % registry.split('://')[-1].rstrip('/'))


def login(client, policy: Policy, credentials: Credentials, registry: str, username: str, password: str) -> str:
    """Check the credentials with the registry (always asking it again) and keep them for later pushes.

    Returns:
        The daemon's status text. Never contains the password.
    """
    check_login(policy, registry, username, password)
    try:
        with translate_errors('login to %s' % (registry or 'Docker Hub')):
            answer = client.login(username, password=password, registry=registry or None, reauth=True)
    except ImageManagerError as exc:
        message = scrub(str(exc), [password])
        if isinstance(exc, AuthenticationFailed) or 'unauthorized' in message.lower():
            raise AuthenticationFailed('login to %s as %r failed: wrong username or password'
                                       % (registry or 'Docker Hub', username)) from None
        raise type(exc)(message) from None
    credentials.set(registry, username, password)
    status = (answer or {}).get('Status') or 'Login Succeeded'
    return scrub(status, [password])
