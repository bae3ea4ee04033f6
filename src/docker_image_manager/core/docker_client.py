"""Connecting to the Docker daemon, and turning its errors into the core's.

Works with the Docker SDK 4.1 (Noetic's Ubuntu) to 7.x: only the low-level ``APIClient`` is used.
"""
from __future__ import annotations

import contextlib
import http.client
from typing import Any, Callable, Dict, Iterator, Optional

import docker
import requests
import urllib3

from .cancellation import Cancellation, shutdown_response
from .errors import (AuthenticationFailed, Cancelled, DaemonUnavailable, ImageManagerError, InvalidRequest, NotFound,
                     OperationFailed, RegistryError)

DEFAULT_URL = 'unix:///var/run/docker.sock'
QUERY_TIMEOUT = 60


class StreamingClient(docker.APIClient):
    """An APIClient that remembers the response of its last streaming call, so another thread can close it."""

    last_response = None

    def _stream_helper(self, response, decode=False):
        self.last_response = response
        return super()._stream_helper(response, decode=decode)


def connect(url: str = DEFAULT_URL, timeout: Optional[float] = QUERY_TIMEOUT, streaming: bool = False):
    """An APIClient for ``url``; ``timeout=None`` for long operations (no 60 s read limit).

    Raises:
        DaemonUnavailable: the daemon does not answer, with how to fix it.
    """
    cls = StreamingClient if streaming else docker.APIClient
    try:
        return cls(base_url=url, version='auto', timeout=timeout)
    except docker.errors.DockerException as exc:
        raise DaemonUnavailable(unreachable_message(url, exc)) from None


class Connector:
    """Makes clients for one daemon: a short-timeout one for queries, a fresh streaming one per long operation."""

    def __init__(self, url: str = DEFAULT_URL, query_timeout: float = QUERY_TIMEOUT):
        self.url = url
        self.query_timeout = query_timeout

    def query(self):
        return connect(self.url, self.query_timeout)

    def stream(self):
        return connect(self.url, None, streaming=True)


def unreachable_message(url: str, exc: BaseException) -> str:
    return ('cannot reach the Docker daemon at %s (%s); start it (`sudo systemctl start docker`) and make sure '
            'the node\'s user may use it (member of the "docker" group)' % (url, _short(exc)))


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if len(text) < 300 else text[:300] + '...'


def api_error_message(exc: docker.errors.APIError) -> str:
    explanation = getattr(exc, 'explanation', None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode('utf-8', 'replace')
    return (explanation or str(exc)).strip()


def classify(message: str, status: int = 0, what: str = '') -> ImageManagerError:
    """The core error for a daemon message (and HTTP status, when there is one)."""
    lower = message.lower()
    if 'unauthorized' in lower or 'authentication required' in lower or 'incorrect username or password' in lower \
            or 'no basic auth credentials' in lower \
            or status == 401:
        return AuthenticationFailed('%s: the registry refused the credentials (%s); log in with the right user '
                                    'and password' % (what or 'registry', message))
    if status == 404 or 'no such image' in lower or 'no such container' in lower \
            or 'does not exist locally' in lower:
        return NotFound(message)
    if 'no space left on device' in lower:
        return OperationFailed('%s: the disk is full (%s); free space with remove_image (prune_dangling) or '
                               '`docker system prune`' % (what or 'operation', message))
    if status == 400:
        return InvalidRequest(message)
    if any(s in lower for s in ('connection refused', 'no such host', 'i/o timeout', 'server gave http response',
                                'dial tcp', 'tls:', 'x509', 'requested access to the resource is denied',
                                'manifest unknown', 'not found: manifest', 'name unknown')):
        return RegistryError(message)
    return OperationFailed(message)


@contextlib.contextmanager
def translate_errors(what: str, url: str = DEFAULT_URL) -> Iterator[None]:
    """Turn SDK and transport exceptions raised inside the block into the core's errors."""
    try:
        yield
    except ImageManagerError:
        raise
    except docker.errors.APIError as exc:
        status = getattr(getattr(exc, 'response', None), 'status_code', 0) or 0
        raise classify(api_error_message(exc), status, what) from None
    except (requests.exceptions.ConnectionError, ConnectionError, urllib3.exceptions.ProtocolError,
            http.client.HTTPException) as exc:
        # A stream cut mid-read (daemon restarted, socket closed) surfaces as urllib3's ProtocolError.
        raise DaemonUnavailable('%s: connection to the Docker daemon lost or refused (%s); check that dockerd is '
                                'running' % (what, _short(exc))) from None
    except requests.exceptions.RequestException as exc:
        raise DaemonUnavailable('%s: the Docker daemon did not answer (%s)' % (what, _short(exc))) from None
    except docker.errors.DockerException as exc:
        raise DaemonUnavailable(unreachable_message(url, exc)) from None


def stream_chunks(client: StreamingClient, start: Callable[[], Iterator[Dict[str, Any]]],
                  cancellation: Cancellation, what: str) -> Iterator[Dict[str, Any]]:
    """The decoded chunks of a streaming call, made cancellable; the client is closed at the end.

    Once cancel was asked for, whatever the closed connection raises (the SDK, urllib3 and http.client each
    have their own way to fail a read on a shut socket) ends the stream as :class:`Cancelled`.
    """
    stream = None
    try:
        with translate_errors(what):
            cancellation.check()
            stream = start()
            cancellation.on_cancel(lambda: shutdown_response(client.last_response))
            for chunk in stream:
                yield chunk
    except Exception:
        if cancellation.cancelled:
            raise Cancelled('%s cancelled; the daemon stopped it' % what) from None
        raise
    finally:
        if stream is not None:
            stream.close()
        client.close()
    if cancellation.cancelled:
        raise Cancelled('%s cancelled; the daemon stopped it' % what)
