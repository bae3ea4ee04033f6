"""JobStore and JobManager on a real state directory: history, interruption, retention, log paging, memory."""
from __future__ import annotations

import json
import threading
import time
import tracemalloc

import pytest

from docker_image_manager.core.errors import NotFound, OperationFailed
from docker_image_manager.core.jobs import (CANCELLED, FAILED, INTERRUPTED, SUCCEEDED, JobManager, JobStore)

LIMITS = {'build': 1, 'transfer': 2, 'commit': 1}


def manager(state_dir, **store_args) -> JobManager:
    return JobManager(JobStore(str(state_dir), **store_args), LIMITS)


def lines_work(count, width=0, started=None, release=None):
    def work(ctx):
        if started is not None:
            started.set()
        if release is not None:
            release.wait(30)
        for number in range(count):
            ctx.log('line %d %s' % (number, 'x' * width))
        return 'done', {'image_id': 'sha256:feed'}
    return work


def test_history_survives_a_new_manager(tmp_path):
    first = manager(tmp_path)
    job = first.submit('build', 'app:v1', {'context': '/src'}, lines_work(3))
    first.wait(job.job_id, 10)
    failing = first.submit('push', 'reg/app:v1', {'image': 'reg/app:v1'},
                           lambda ctx: (_ for _ in ()).throw(OperationFailed('registry said no')))
    first.wait(failing.job_id, 10)

    second = manager(tmp_path)
    jobs = {j.job_id: j for j in second.list()}
    assert jobs[job.job_id].state == SUCCEEDED
    assert jobs[job.job_id].result == {'image_id': 'sha256:feed'}
    assert jobs[job.job_id].request == {'context': '/src'}
    assert jobs[failing.job_id].state == FAILED
    assert jobs[failing.job_id].message == 'registry said no'
    assert [j.job_id for j in second.list()] == [failing.job_id, job.job_id]  # newest first
    lines, next_offset, _ = second.read_log(job.job_id)
    assert lines == ['line 0 ', 'line 1 ', 'line 2 ']
    assert next_offset == 3


def test_jobs_active_when_the_node_died_come_back_interrupted(tmp_path):
    first = manager(tmp_path)
    started, release = threading.Event(), threading.Event()
    running = first.submit('build', 'a', {}, lines_work(1, started=started, release=release))
    queued = first.submit('build', 'b', {}, lines_work(1))
    assert started.wait(10)
    # No shutdown: the second manager reads the index as a killed node left it.
    second = manager(tmp_path)
    try:
        for job_id, was in ((running.job_id, 'running'), (queued.job_id, 'queued')):
            job = second.get(job_id)
            assert job.state == INTERRUPTED
            assert was in job.message
            assert job.finished > 0
    finally:
        release.set()
        first.wait(running.job_id, 10)


def test_retention_by_count_drops_the_oldest_and_their_logs(tmp_path):
    first = manager(tmp_path, max_jobs=3)
    ids = []
    for number in range(6):
        job = first.submit('commit', 't%d' % number, {}, lines_work(2))
        first.wait(job.job_id, 10)
        ids.append(job.job_id)
    store = JobStore(str(tmp_path), max_jobs=3)
    kept = [job.job_id for job in store.load()]
    assert kept == ids[3:]
    assert sorted(p.stem for p in (tmp_path / 'logs').glob('*.log')) == sorted(ids[3:])
    with open(store.index_path) as handle:
        assert len(handle.readlines()) == 3
    with pytest.raises(NotFound):
        manager(tmp_path, max_jobs=3).get(ids[0])


def test_retention_by_log_size(tmp_path):
    first = manager(tmp_path)
    ids = []
    for number in range(4):
        job = first.submit('commit', 't%d' % number, {}, lines_work(100, width=90))  # ~10 KB of log each
        first.wait(job.job_id, 10)
        ids.append(job.job_id)
    kept = [job.job_id for job in JobStore(str(tmp_path), max_log_bytes=25 * 1024).load()]
    assert kept == ids[2:]


def test_compaction_while_running_keeps_active_jobs(tmp_path):
    # needs_compaction triggers after 4 * max_jobs appends; the running job must survive it.
    jobs = manager(tmp_path, max_jobs=2)
    started, release = threading.Event(), threading.Event()
    long_job = jobs.submit('build', 'long', {}, lines_work(5, started=started, release=release))
    assert started.wait(10)
    for number in range(8):
        job = jobs.submit('commit', 'c%d' % number, {}, lines_work(1))
        jobs.wait(job.job_id, 10)
    release.set()
    assert jobs.wait(long_job.job_id, 10).state == SUCCEEDED
    assert jobs.read_log(long_job.job_id)[0] == ['line %d ' % n for n in range(5)]
    assert [job.job_id for job in manager(tmp_path, max_jobs=2).list()][0] == long_job.job_id
    assert len(manager(tmp_path, max_jobs=2).list()) == 2


def test_log_paging_returns_every_line_exactly_once_while_the_job_writes(tmp_path):
    jobs = manager(tmp_path)
    count = 20000
    # Long lines make the writer's buffer flush mid-line, the case where a reader could see half a line.
    job = jobs.submit('build', 'app', {}, lines_work(count, width=700))
    seen = []
    offset = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        lines, offset, status = jobs.read_log(job.job_id, offset, 333)
        seen.extend(lines)
        if not status.active and not lines:
            break
    assert status.state == SUCCEEDED
    assert len(seen) == count
    assert seen == ['line %d %s' % (n, 'x' * 700) for n in range(count)]


def test_log_paging_offsets(tmp_path):
    jobs = manager(tmp_path)
    job = jobs.submit('build', 'app', {}, lines_work(10))
    jobs.wait(job.job_id, 10)
    assert jobs.read_log(job.job_id, 0, 4)[:2] == (['line %d ' % n for n in range(4)], 4)
    assert jobs.read_log(job.job_id, 8, 4)[:2] == (['line 8 ', 'line 9 '], 10)
    assert jobs.read_log(job.job_id, 10, 4)[:2] == ([], 10)
    assert jobs.read_log(job.job_id, 50, 0)[:2] == ([], 50)
    with pytest.raises(NotFound):
        jobs.read_log('build-nosuchjob')


def test_a_long_log_goes_to_disk_not_to_memory(tmp_path):
    jobs = manager(tmp_path)
    tracemalloc.start()
    try:
        job = jobs.submit('build', 'app', {}, lines_work(1000))
        jobs.wait(job.job_id, 10)  # warm up: files, threads, caches
        before = tracemalloc.get_traced_memory()[0]
        job = jobs.submit('build', 'app', {}, lines_work(200000, width=100))  # ~22 MB of log
        assert jobs.wait(job.job_id, 120).state == SUCCEEDED
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert (tmp_path / 'logs' / (job.job_id + '.log')).stat().st_size > 20 * 1024 * 1024
    assert after - before < 2 * 1024 * 1024, 'the log stayed in memory: %d bytes more' % (after - before)
    assert jobs.get(job.job_id).lines == 200000


def test_cancel_a_queued_job_and_the_record_says_so(tmp_path):
    jobs = manager(tmp_path)
    started, release = threading.Event(), threading.Event()
    first = jobs.submit('build', 'a', {}, lines_work(1, started=started, release=release))
    assert started.wait(10)
    second = jobs.submit('build', 'b', {}, lines_work(1))
    assert jobs.cancel(second.job_id).state == CANCELLED
    release.set()
    jobs.wait(first.job_id, 10)
    with open(JobStore(str(tmp_path)).index_path) as handle:
        records = [json.loads(line) for line in handle]
    assert [r['state'] for r in records if r['job_id'] == second.job_id][-1] == CANCELLED


def test_secrets_are_scrubbed_from_messages_and_logs(tmp_path):
    jobs = JobManager(JobStore(str(tmp_path)), LIMITS, scrub=lambda text: text.replace('hunter2', '***'))

    def work(ctx):
        ctx.log('password hunter2 in a line')
        raise OperationFailed('denied for hunter2')

    job = jobs.submit('push', 'r/a:b', {'image': 'r/a:b'}, work)
    done = jobs.wait(job.job_id, 10)
    assert done.message == 'denied for ***'
    assert jobs.read_log(job.job_id)[0] == ['password *** in a line']
    for path in tmp_path.rglob('*'):
        if path.is_file():
            assert b'hunter2' not in path.read_bytes(), path


def test_a_half_written_last_line_is_left_for_the_next_read(tmp_path):
    store = JobStore(str(tmp_path))
    with open(store.log_path('build-x'), 'w') as handle:
        handle.write('one\ntwo\nthr')
    assert store.read_log('build-x', 0, 0) == (['one', 'two'], 2)
    with open(store.log_path('build-x'), 'a') as handle:
        handle.write('ee\n')
    assert store.read_log('build-x', 2, 0) == (['three'], 3)


def test_the_state_dir_is_private(tmp_path):
    store = JobStore(str(tmp_path / 'a' / 'state'))
    assert (tmp_path / 'a' / 'state').stat().st_mode & 0o777 == 0o700
    assert (tmp_path / 'a' / 'state' / 'logs').stat().st_mode & 0o777 == 0o700
    assert store.load() == []
