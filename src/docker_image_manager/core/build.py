"""``docker build``: validate the request, stream the context, and turn the daemon's stream into events.

The context is tarred on the fly into the request body (chunked), never into a temporary file or memory, so
a 1 GB context costs neither disk nor RAM on a small robot.
"""
from __future__ import annotations

import os
import re
import tarfile
import threading
from collections import deque
from typing import Callable, Dict, Iterator, List, NamedTuple, Sequence

from docker.utils.build import exclude_paths

from . import references
from .cancellation import Cancellation
from .docker_client import Connector, classify, stream_chunks, translate_errors
from .errors import DaemonUnavailable, InvalidRequest, NotAllowed, OperationFailed
from .policy import Policy
from .streams import BuildResult, LogLine, StreamError, build_events

CHUNK = 64 * 1024
_KEY_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_MOUNT_RE = re.compile(r'^\s*RUN\s+(?:--\S+\s+)*--mount[=\s]', re.IGNORECASE | re.MULTILINE)
_DOCKERFILE_LIMIT = 1024 * 1024
LOG_TAIL = 20


class BuildRequest(NamedTuple):
    context: str
    dockerfile: str
    tags: List[str]
    build_args: Dict[str, str]
    labels: Dict[str, str]
    no_cache: bool
    pull: bool
    target: str


def _pairs(items: Sequence[str], what: str, key_re=None) -> Dict[str, str]:
    result: Dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key or (key_re is not None and not key_re.match(key)):
            raise InvalidRequest('invalid %s %r: expected KEY=VALUE' % (what, item))
        result[key] = value
    return result


def make_request(policy: Policy, context: str, dockerfile: str = '', tags: Sequence[str] = (),
                 build_args: Sequence[str] = (), labels: Sequence[str] = (), no_cache: bool = False,
                 pull: bool = False, target: str = '') -> BuildRequest:
    """A checked build request: paths inside the allowed roots, valid tags, KEY=VALUE pairs, no BuildKit syntax.

    Raises:
        InvalidRequest, NotAllowed, NotFound: before Docker is touched.
    """
    policy.check_write('build')
    paths = policy.build_paths(context, dockerfile)
    for tag_text in tags:
        references.parse_target(tag_text)
    if target and not re.match(r'^[A-Za-z0-9][A-Za-z0-9_.-]*$', target):
        raise InvalidRequest('invalid target stage %r' % target)
    path = os.path.join(paths.context, paths.dockerfile)
    if os.path.getsize(path) > _DOCKERFILE_LIMIT:
        raise InvalidRequest('Dockerfile %r is larger than 1 MiB' % dockerfile)
    with open(path, encoding='utf-8', errors='replace') as handle:
        if _MOUNT_RE.search(handle.read()):
            raise NotAllowed('Dockerfile %r uses "RUN --mount", which only BuildKit supports; this node builds '
                             'with the classic builder of Docker 20.10. Use COPY/ADD instead, or build with '
                             '`DOCKER_BUILDKIT=1 docker build` on the robot' % paths.dockerfile)
    return BuildRequest(paths.context, paths.dockerfile, list(tags), _pairs(build_args, 'build arg', _KEY_RE),
                        _pairs(labels, 'label'), bool(no_cache), bool(pull), target)


def context_stream(context: str, dockerfile: str) -> Iterator[bytes]:
    """The build context as an uncompressed tar, in chunks, honouring ``.dockerignore``."""
    patterns: List[str] = []
    ignore = os.path.join(context, '.dockerignore')
    if os.path.exists(ignore):
        with open(ignore) as handle:
            patterns = [line.strip() for line in handle
                        if line.strip() and not line.strip().startswith('#')]
    read_fd, write_fd = os.pipe()
    failure: List[BaseException] = []

    def write_tar() -> None:
        try:
            with os.fdopen(write_fd, 'wb', buffering=CHUNK) as pipe, tarfile.open(fileobj=pipe, mode='w|') as tar:
                for path in sorted(exclude_paths(context, patterns, dockerfile=dockerfile)):
                    full = os.path.join(context, path)
                    info = tar.gettarinfo(full, arcname=path)
                    if info is None:  # sockets
                        continue
                    if info.mtime < 0 or info.mtime > 8 ** 11 - 1:
                        info.mtime = int(info.mtime)
                    if info.isfile():
                        with open(full, 'rb') as data:
                            tar.addfile(info, data)
                    else:
                        tar.addfile(info)
        except BrokenPipeError:
            pass  # the request was cancelled: the reader closed its end
        except OSError as exc:
            failure.append(exc)

    writer = threading.Thread(target=write_tar, name='build-context', daemon=True)
    writer.start()
    with os.fdopen(read_fd, 'rb') as pipe:
        while True:
            chunk = pipe.read(CHUNK)
            if not chunk:
                break
            yield chunk
    writer.join()
    if failure:
        raise OperationFailed('cannot read the build context: %s' % failure[0])


def build(docker: Connector, request: BuildRequest, on_line: Callable[[LogLine], None],
          cancellation: Cancellation) -> str:
    """Run a build; every output line goes to ``on_line``. Returns the image id.

    Args:
        docker: makes the streaming client used for this build only (closed on cancel) and a query client.

    Raises:
        OperationFailed: the daemon's message (a failing RUN carries its exit code and the last lines).
        Cancelled, DaemonUnavailable.
    """
    cancellation.check()
    tags = request.tags
    tail: deque = deque(maxlen=LOG_TAIL)
    image_id = ''
    error = None
    client = docker.stream()

    def start():
        return client.build(fileobj=context_stream(request.context, request.dockerfile), custom_context=True,
                            dockerfile=request.dockerfile, tag=tags[0] if tags else None,
                            buildargs=request.build_args or None, labels=request.labels or None,
                            nocache=request.no_cache, pull=request.pull, target=request.target or None,
                            rm=True, forcerm=True, decode=True)

    for event in build_events(stream_chunks(client, start, cancellation, 'build')):
        if isinstance(event, LogLine):
            tail.append(event.text)
            on_line(event)
        elif isinstance(event, BuildResult) and len(event.image_id) > len(image_id):
            image_id = event.image_id  # the aux "sha256:..." over "Successfully built <short id>"
        elif isinstance(event, StreamError):
            error = event
            on_line(LogLine(event.message, 0, 0, 'error'))
    if error is not None:
        last = [line for line in tail if line != error.message and line.strip()
                and not line.startswith((' ---> ', 'Removing intermediate container'))][-5:]
        text = '%s%s' % (error.message, ('; last lines: ' + ' | '.join(last)) if last else '')
        # A RUN that fills the disk fails with its own exit code; the cause is in its output, not in the error.
        full = next((line for line in [error.message] + list(tail) if 'no space left on device' in line.lower()),
                    None)
        if full is not None:
            text = '%s. %s' % (classify(full.strip(), 0, 'build failed'), text)
        else:
            text = 'build failed: ' + text
        raise OperationFailed(text, error.code, list(tail))
    if not image_id:
        raise DaemonUnavailable('build ended without an image id: the connection to the Docker daemon was lost')
    if len(tags) > 1:
        query = docker.query()
        try:
            with translate_errors('tag the built image'):
                for extra in tags[1:]:
                    repository, tag = references.split_tag(references.parse_target(extra))
                    query.tag(image_id, repository, tag or 'latest', force=True)
        finally:
            query.close()
    return image_id
