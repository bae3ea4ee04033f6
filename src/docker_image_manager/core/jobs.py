"""Long operations as jobs: queued within concurrency limits, cancellable, logged to disk, kept after the fact.

A job's record is appended to ``<state_dir>/jobs.jsonl`` at every state change (the last record of an id wins)
and its log lines stream to ``<state_dir>/logs/<job_id>.log``; memory holds no log, so a build printing
10,000 lines a second or running for hours costs the same RAM. A node restarted reads the history back, and
jobs that were queued or running when it died come back ``interrupted``.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Tuple

from .cancellation import Cancellation
from .errors import Cancelled, ImageManagerError, NotFound

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = (
    'queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')
ACTIVE_STATES = (QUEUED, RUNNING)
KINDS = ('build', 'push', 'pull', 'commit')
POOL_OF_KIND = {'build': 'build', 'push': 'transfer', 'pull': 'transfer', 'commit': 'commit'}
_FLUSH_PERIOD_S = 0.5


class Job:
    """One job's record. Mutated only by the :class:`JobManager` under its lock."""

    __slots__ = ('job_id', 'kind', 'target', 'request', 'state', 'message', 'created', 'started', 'finished',
                 'percent', 'result', 'lines', 'owner')

    def __init__(self, job_id: str, kind: str, target: str, request: Dict[str, Any], owner: str = ''):
        self.job_id = job_id
        self.kind = kind
        self.target = target
        self.request = request
        self.state = QUEUED
        self.message = 'queued'
        self.created = time.time()
        self.started = 0.0
        self.finished = 0.0
        self.percent = 0.0
        self.result: Dict[str, Any] = {}
        self.lines = 0
        self.owner = owner

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_record(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_record(cls, record: Dict[str, Any]) -> 'Job':
        job = cls(record['job_id'], record['kind'], record.get('target', ''), record.get('request') or {})
        for name in cls.__slots__:
            if name in record:
                setattr(job, name, record[name])
        return job

    def copy(self) -> 'Job':
        return Job.from_record(self.to_record())


class LogRecord(NamedTuple):
    index: int
    text: str
    stream: str
    step: int
    total: int


class JobStore:
    """The on-disk history: an append-only index of job records plus one log file per job."""

    def __init__(self, state_dir: str, max_jobs: int = 500, max_log_bytes: int = 500 * 1024 * 1024,
                 max_job_log_bytes: int = 50 * 1024 * 1024):
        self.state_dir = os.path.expanduser(state_dir)
        self.log_dir = os.path.join(self.state_dir, 'logs')
        self.index_path = os.path.join(self.state_dir, 'jobs.jsonl')
        self.max_jobs = max_jobs
        self.max_log_bytes = max_log_bytes
        self.max_job_log_bytes = max_job_log_bytes
        # makedirs gives the mode to the leaf only: create the state dir itself private too.
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.log_dir, mode=0o700, exist_ok=True)
        self._appended = 0

    def log_path(self, job_id: str) -> str:
        return os.path.join(self.log_dir, '%s.log' % job_id)

    def load(self) -> List[Job]:
        """Every kept job, oldest first; jobs left active by a dead node are marked interrupted."""
        jobs: Dict[str, Job] = OrderedDict()
        if os.path.exists(self.index_path):
            with open(self.index_path, encoding='utf-8') as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue  # a record cut short by a crash
                    jobs.pop(record.get('job_id'), None)
                    jobs[record['job_id']] = Job.from_record(record)
        for job in jobs.values():
            if job.active:
                job.message = 'interrupted: the node stopped while this job was %s' % job.state
                job.state = INTERRUPTED
                job.finished = job.finished or time.time()
        kept = list(jobs.values())
        dropped = {job.job_id for job in self.compact(kept)}
        return [job for job in kept if job.job_id not in dropped]

    def append(self, job: Job) -> None:
        with open(self.index_path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps(job.to_record(), sort_keys=True) + '\n')
        self._appended += 1

    def needs_compaction(self) -> bool:
        return self._appended > 4 * self.max_jobs

    def compact(self, jobs: List[Job]) -> List[Job]:
        """Apply retention (oldest finished jobs go first) and rewrite the index. Returns the dropped jobs."""
        dropped: List[Job] = []
        finished = [job for job in jobs if not job.active]
        sizes = {job.job_id: _size(self.log_path(job.job_id)) for job in finished}
        total = sum(sizes.values())
        while finished and (len(jobs) - len(dropped) > self.max_jobs or total > self.max_log_bytes):
            oldest = finished.pop(0)
            dropped.append(oldest)
            total -= sizes[oldest.job_id]
            _remove(self.log_path(oldest.job_id))
        gone = {job.job_id for job in dropped}
        temp = self.index_path + '.tmp'
        with open(temp, 'w', encoding='utf-8') as handle:
            for job in jobs:
                if job.job_id not in gone:
                    handle.write(json.dumps(job.to_record(), sort_keys=True) + '\n')
        os.replace(temp, self.index_path)
        self._appended = 0
        for name in os.listdir(self.log_dir):
            if name.endswith('.log') and name[:-4] not in {job.job_id for job in jobs} - gone:
                _remove(os.path.join(self.log_dir, name))
        return dropped

    def read_log(self, job_id: str, offset: int = 0, max_lines: int = 0) -> Tuple[List[str], int]:
        """Lines ``offset`` .. ``offset + max_lines`` (all when 0) of a job's log, and the next offset."""
        lines: List[str] = []
        index = 0
        path = self.log_path(job_id)
        if not os.path.exists(path):
            return lines, offset
        with open(path, encoding='utf-8', errors='replace') as handle:
            for index, line in enumerate(itertools.islice(handle, offset, None), start=offset):
                # A line without its newline is still being written: the next read returns it whole.
                if (max_lines and len(lines) >= max_lines) or not line.endswith('\n'):
                    return lines, index
                lines.append(line.rstrip('\n'))
        return lines, offset + len(lines)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


class JobContext:
    """What a running job's work function gets: its cancellation token and a way to log and report progress."""

    def __init__(self, manager: 'JobManager', job: Job, cancellation: Cancellation):
        self._manager = manager
        self.job = job
        self.cancellation = cancellation

    def log(self, text: str, stream: str = 'stdout', step: int = 0, total: int = 0) -> None:
        self._manager._log(self.job, text, stream, step, total)

    def progress(self, percent: float, message: str = '') -> None:
        self._manager._progress(self.job, percent, message)


Work = Callable[[JobContext], Tuple[str, Dict[str, Any]]]
"""A job's work: returns (success message, result fields); raises an ImageManagerError on failure."""


class JobManager:
    """Runs jobs in pools (build, transfer, commit), each with its own limit; FIFO within a pool.

    Listeners get ``on_state(job_copy)`` at every state change and ``on_log(job_copy, LogRecord)`` for every
    log line, on the job's worker thread. A new job never pre-empts a running one: it waits its turn.
    """

    def __init__(self, store: JobStore, limits: Dict[str, int], scrub: Callable[[str], str] = lambda s: s):
        self._store = store
        self._limits = dict(limits)
        self._scrub = scrub
        self._lock = threading.RLock()
        self._ended = threading.Condition(self._lock)
        self._jobs: Dict[str, Job] = OrderedDict((job.job_id, job) for job in store.load())
        self._queues: Dict[str, Deque[Tuple[Job, Work]]] = {}
        self._running: Dict[str, int] = {}
        self._cancellations: Dict[str, Cancellation] = {}
        self._logs: Dict[str, Any] = {}
        self._listeners: List[Any] = []
        self._closed = False
        # State changes reach listeners from one thread, in order, never under the lock: a listener may call
        # into code holding its own locks (actionlib's server lock) that in turn calls back into this manager.
        self._notices: queue.Queue = queue.Queue()
        threading.Thread(target=self._notify, name='job-notices', daemon=True).start()

    def add_listener(self, listener) -> None:
        self._listeners.append(listener)

    # -- submitting and cancelling ---------------------------------------------------------------------------

    @staticmethod
    def new_id(kind: str) -> str:
        return '%s-%s' % (kind, uuid.uuid4().hex[:12])

    def submit(self, kind: str, target: str, request: Dict[str, Any], work: Work, owner: str = '',
               job_id: str = '') -> Job:
        """Queue a job; it starts as soon as its pool has room. Returns a copy of its record.

        Args:
            job_id: an id from :meth:`new_id`, for callers that must know it before the job can end.
        """
        job = Job(job_id or self.new_id(kind), kind, target, request, owner)
        with self._lock:
            if self._closed:
                raise ImageManagerError('the node is shutting down; try again when it is back')
            self._jobs[job.job_id] = job
            self._cancellations[job.job_id] = Cancellation()
            self._queues.setdefault(POOL_OF_KIND.get(kind, kind), deque()).append((job, work))
            self._save(job)
            self._dispatch()
            return job.copy()

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop: a queued job ends at once, a running one when the daemon has stopped its work."""
        with self._lock:
            job = self._require(job_id)
            if not job.active:
                return job.copy()
            cancellation = self._cancellations.get(job_id)
            if job.state == QUEUED:
                for waiting in self._queues.values():
                    for entry in list(waiting):
                        if entry[0] is job:
                            waiting.remove(entry)
                self._finish(job, CANCELLED, 'cancelled while queued', {})
        if cancellation is not None:
            cancellation.cancel()
        return self.get(job_id)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every active job and wait (bounded) for the running ones to end."""
        with self._lock:
            self._closed = True
            active = [job.job_id for job in self._jobs.values() if job.active]
        for job_id in active:
            self.cancel(job_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(self._running.values()):
            time.sleep(0.05)

    # -- queries ---------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._require(job_id).copy()

    def list(self, limit: int = 0, kind: str = '') -> List[Job]:
        """Jobs, newest first."""
        with self._lock:
            jobs = [job.copy() for job in reversed(self._jobs.values()) if not kind or job.kind == kind]
        return jobs[:limit] if limit else jobs

    def wait(self, job_id: str, timeout: float = None) -> Job:
        """Block until a job has ended (or ``timeout`` seconds passed); returns its record."""
        with self._lock:
            self._ended.wait_for(lambda: not self._require(job_id).active, timeout)
            return self._require(job_id).copy()

    def active(self) -> List[Job]:
        with self._lock:
            return [job.copy() for job in self._jobs.values() if job.active]

    def read_log(self, job_id: str, offset: int = 0, max_lines: int = 0) -> Tuple[List[str], int, Job]:
        with self._lock:
            job = self._require(job_id).copy()
            handle = self._logs.get(job_id)
            if handle is not None:
                handle[0].flush()
        lines, next_offset = self._store.read_log(job_id, offset, max_lines)
        return lines, next_offset, job

    def _require(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound('no job %r on this node (list_jobs shows the kept ones)' % job_id)
        return job

    # -- running ---------------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        for pool, waiting in self._queues.items():
            while waiting and self._running.get(pool, 0) < self._limits.get(pool, 1):
                job, work = waiting.popleft()
                self._running[pool] = self._running.get(pool, 0) + 1
                job.state, job.started, job.message = RUNNING, time.time(), 'running'
                self._save(job)
                threading.Thread(target=self._run, args=(pool, job, work), name=job.job_id, daemon=True).start()

    def _run(self, pool: str, job: Job, work: Work) -> None:
        cancellation = self._cancellations[job.job_id]
        state, message, result = FAILED, '', {}
        try:
            message, result = work(JobContext(self, job, cancellation))
            state = CANCELLED if cancellation.cancelled else SUCCEEDED
            if state == CANCELLED:
                message = 'cancelled on request'
        except Cancelled as exc:
            state, message = CANCELLED, str(exc)
        except ImageManagerError as exc:
            state, message = FAILED, str(exc)
            result = dict(getattr(exc, 'result', None) or {})
        except Exception as exc:  # noqa: BLE001 - a bug must end the job, not the node
            state, message = FAILED, 'internal error: %s: %s (see the node log)' % (type(exc).__name__, exc)
            self._log(job, traceback.format_exc(), 'error', 0, 0)
        with self._lock:
            self._finish(job, state, message, result)
            self._running[pool] -= 1
            self._dispatch()

    def _finish(self, job: Job, state: str, message: str, result: Dict[str, Any]) -> None:
        job.state, job.message, job.result, job.finished = state, self._scrub(message), result, time.time()
        if state == SUCCEEDED:
            job.percent = 100.0
        handle = self._logs.pop(job.job_id, None)
        if handle is not None:
            handle[0].close()
        self._cancellations.pop(job.job_id, None)
        self._save(job)
        self._ended.notify_all()
        if self._store.needs_compaction():
            for dropped in self._store.compact(list(self._jobs.values())):
                self._jobs.pop(dropped.job_id, None)

    def _save(self, job: Job) -> None:
        self._store.append(job)
        self._notices.put(job.copy())

    def _notify(self) -> None:
        while True:
            snapshot = self._notices.get()
            for listener in self._listeners:
                _call(listener.on_state, snapshot)

    def _log(self, job: Job, text: str, stream: str, step: int, total: int) -> None:
        text = self._scrub(text)
        with self._lock:
            handle = self._logs.get(job.job_id)
            if handle is None:
                handle = [open(self._store.log_path(job.job_id), 'a', encoding='utf-8'), 0.0, 0]
                self._logs[job.job_id] = handle
            record = LogRecord(job.lines, text, stream, step, total)
            for line in text.splitlines() or ['']:
                job.lines += 1
                if handle[2] < self._store.max_job_log_bytes:
                    handle[0].write(line + '\n')
                    handle[2] += len(line) + 1
                    if handle[2] >= self._store.max_job_log_bytes:
                        handle[0].write('[log truncated: the job log reached its size limit]\n')
            now = time.monotonic()
            if now - handle[1] > _FLUSH_PERIOD_S:
                handle[0].flush()
                handle[1] = now
        for listener in self._listeners:
            _call(listener.on_log, job, record)

    def _progress(self, job: Job, percent: float, message: str) -> None:
        with self._lock:
            job.percent = float(percent)
            if message:
                job.message = self._scrub(message)


def _call(callback, *args) -> None:
    try:
        callback(*args)
    except Exception:  # noqa: BLE001 - a listener's bug must not break the job
        traceback.print_exc()
