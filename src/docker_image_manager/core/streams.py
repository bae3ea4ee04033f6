"""The Engine's JSON progress stream, as small typed events.

The daemon answers build, push and pull with HTTP 200 and a stream of JSON objects; a failure is just another
object (``{"errorDetail": {...}, "error": "..."}``), so the low-level SDK never raises for it. These pure
functions turn each decoded chunk into one event, and :func:`require_end` turns a finished stream into
success or a clear failure.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional

_STEP_RE = re.compile(r'^Step (\d+)/(\d+) : ')
_SUCCESS_BUILT_RE = re.compile(r'^Successfully built ([0-9a-f]{12,64})\s*$')
_DIGEST_RE = re.compile(r'(?:^|\s)(?:Digest: |digest: )(sha256:[0-9a-f]{64})')
_EXIT_CODE_RE = re.compile(r'returned a non-zero code: (\d+)')
# The classic builder wraps a RUN's stderr in ANSI colour codes ("\x1b[91m...\x1b[0m").
_ANSI_RE = re.compile(r'\x1b\[[0-9;]*m')
_STDERR_CHUNK_RE = re.compile(r'^\x1b\[91m(.*)\x1b\[0m$', re.S)


class LogLine(NamedTuple):
    """A line of build output (``stream`` is ``stdout`` or ``status``); ``step``/``total`` from "Step k/n"."""

    text: str
    step: int
    total: int
    stream: str


class LayerStatus(NamedTuple):
    """A layer's state in a push or pull: the daemon's status text and its byte counts (0 when unknown)."""

    id: str
    status: str
    current: int
    total: int


class Status(NamedTuple):
    """A status line that is not about one layer (e.g. "The push refers to repository [...]")."""

    text: str


class BuildResult(NamedTuple):
    """The build's end marker: the id of the image built."""

    image_id: str


class PushResult(NamedTuple):
    """The push's end marker (its aux object): the tag pushed, the manifest digest, the manifest size."""

    tag: str
    digest: str
    size: int


class PullResult(NamedTuple):
    """The pull's end marker: "Status: Downloaded newer image" / "Image is up to date", with the digest."""

    digest: str
    up_to_date: bool


class StreamError(NamedTuple):
    """An error chunk: the daemon's own message and code (for a failing RUN, its exit code)."""

    message: str
    code: int


Event = Any  # one of the NamedTuples above


def parse_build_chunk(chunk: Dict[str, Any], step: int = 0, total: int = 0) -> List[Event]:
    """Events of one decoded build chunk.

    Args:
        chunk: one JSON object of the build stream.
        step, total: the step the build is in, carried by the caller, so lines between "Step" headers keep it.

    Returns:
        Zero or more events; a ``stream`` chunk may hold several lines.
    """
    events: List[Event] = []
    error = _error_of(chunk)
    if error is not None:
        return [error]
    aux = chunk.get('aux')
    if isinstance(aux, dict) and aux.get('ID'):
        return [BuildResult(aux['ID'])]
    text = chunk.get('stream')
    if text is not None:
        for raw in text.splitlines():
            line = _ANSI_RE.sub('', raw)
            if raw and not line:
                continue  # nothing but colour codes
            match = _STEP_RE.match(line)
            if match:
                step, total = int(match.group(1)), int(match.group(2))
            events.append(LogLine(line, step, total, 'stdout'))
            built = _SUCCESS_BUILT_RE.match(line)
            if built:
                events.append(BuildResult(built.group(1)))
        return events
    if chunk.get('status'):
        text = chunk['status']
        if chunk.get('progress'):
            text += ' ' + chunk['progress']
        if chunk.get('id'):
            text = '%s: %s' % (chunk['id'], text)
        events.append(LogLine(text, step, total, 'status'))
    return events


def parse_transfer_chunk(chunk: Dict[str, Any]) -> List[Event]:
    """Events of one decoded push or pull chunk."""
    error = _error_of(chunk)
    if error is not None:
        return [error]
    aux = chunk.get('aux')
    if isinstance(aux, dict) and aux.get('Digest'):
        return [PushResult(aux.get('Tag', ''), aux['Digest'], int(aux.get('Size') or 0))]
    status = chunk.get('status')
    if not status:
        return []
    if chunk.get('id') and not status.startswith(('Pulling from', 'Digest:', 'Status:')):
        detail = chunk.get('progressDetail') or {}
        return [LayerStatus(chunk['id'], status, int(detail.get('current') or 0), int(detail.get('total') or 0))]
    if status.startswith('Status: '):
        digest = ''
        return [Status(status), PullResult(digest, 'up to date' in status)]
    return [Status(status)]


def _error_of(chunk: Dict[str, Any]) -> Optional[StreamError]:
    if 'error' not in chunk and 'errorDetail' not in chunk:
        return None
    detail = chunk.get('errorDetail') or {}
    message = (detail.get('message') or chunk.get('error') or 'unknown error').strip()
    code = detail.get('code')
    if not code:
        match = _EXIT_CODE_RE.search(message)
        code = int(match.group(1)) if match else 0
    return StreamError(message, int(code))


def build_events(chunks: Iterable[Dict[str, Any]]) -> Iterator[Event]:
    """All events of a build stream, with the step carried from line to line.

    A line may come in pieces (the builder sends "Step k/n : ..." and its newline as two chunks, and a RUN's
    output as the process writes it): the pieces are joined, so each LogLine is one whole line. A RUN's
    stderr (each write its own colour-wrapped chunk) is joined apart from its stdout, so a stderr line
    arriving in the middle of a stdout line does not split or glue them.
    """
    step = total = 0
    pending = {'stdout': '', 'stderr': ''}
    for chunk in chunks:
        text = chunk.get('stream')
        if isinstance(text, str) and _error_of(chunk) is None and not chunk.get('aux'):
            stderr = _STDERR_CHUNK_RE.match(text)
            which = 'stderr' if stderr else 'stdout'
            text = pending[which] + (stderr.group(1) if stderr else text)
            end = text.rfind('\n') + 1
            pending[which] = text[end:]
            pieces = [{'stream': text[:end]}] if end else []
        else:
            pieces = [{'stream': rest} for rest in pending.values() if rest] + [chunk]
            pending = dict.fromkeys(pending, '')
        for piece in pieces:
            for event in parse_build_chunk(piece, step, total):
                if isinstance(event, LogLine):
                    step, total = event.step, event.total
                yield event
    for rest in pending.values():
        if rest:
            yield from parse_build_chunk({'stream': rest}, step, total)


def transfer_events(chunks: Iterable[Dict[str, Any]]) -> Iterator[Event]:
    """All events of a push or pull stream; a pull's digest is attached to its end marker."""
    digest = ''
    for chunk in chunks:
        for event in parse_transfer_chunk(chunk):
            if isinstance(event, Status):
                digest = digest_of_status(event.text) or digest
            if isinstance(event, PullResult):
                event = event._replace(digest=digest)
            yield event


def digest_of_status(text: str) -> str:
    """The ``sha256:...`` digest a status line names, or ``''``."""
    match = _DIGEST_RE.search(text)
    return match.group(1) if match else ''
