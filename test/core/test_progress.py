"""TransferTracker over recorded push and pull streams (test/data/streams), and RateLimiter, on a fake clock."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

import pytest

from docker_image_manager.core import streams
from docker_image_manager.core.progress import RateLimiter, Snapshot, TransferTracker
from docker_image_manager.core.streams import LayerStatus

STREAMS = Path(__file__).resolve().parents[1] / 'data' / 'streams'


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def layer_events(case: str) -> List[LayerStatus]:
    with open(STREAMS / (case + '.jsonl')) as handle:
        chunks = [json.loads(line) for line in handle if line.strip()]
    return [event for event in streams.transfer_events(chunks) if isinstance(event, LayerStatus)]


def replay(case: str, clock: FakeClock = None, step_s: float = 0.5):
    """Feed a recorded stream to a tracker, one event every ``step_s`` fake seconds; returns it and its snapshots."""
    clock = clock or FakeClock()
    tracker = TransferTracker(clock=clock)
    snapshots: List[Snapshot] = []
    for event in layer_events(case):
        clock.advance(step_s)
        tracker.update(event)
        snapshots.append(tracker.snapshot())
    return tracker, snapshots


SUCCESSFUL = ['push_ok', 'push_same_repo_tag', 'push_second_tag', 'pull_ok']


@pytest.mark.parametrize('case', SUCCESSFUL)
def test_percent_reaches_100_only_after_finish(case):
    tracker, snapshots = replay(case)
    assert snapshots, case
    assert all(0.0 <= s.percent < 100.0 and not s.done for s in snapshots)
    # Every layer is done by the last event, which shows, but only finish() says the transfer ended.
    assert snapshots[-1].percent >= 99.0
    tracker.finish()
    final = tracker.snapshot()
    assert (final.percent, final.done, final.error) == (100.0, True, '')
    assert (final.rate_bps, final.eta_s) == (0.0, 0.0)


@pytest.mark.parametrize('case', SUCCESSFUL + ['push_auth_fail', 'push_registry_drops'])
def test_bytes_done_never_exceed_bytes_total(case):
    _, snapshots = replay(case)
    for snapshot in snapshots:
        assert 0 <= snapshot.bytes_done <= snapshot.bytes_total, snapshot
        for layer in snapshot.layers:
            assert 0 <= layer.current <= layer.total or layer.total == 0, layer


def test_a_tiny_layer_pushed_counts_its_total_not_the_compressed_bytes():
    # Recorded: a 5-byte layer is reported as "Pushing" 2560 of 5 (compressed bytes against the diff size).
    tracker = TransferTracker(clock=FakeClock())
    tracker.update(LayerStatus('tiny', 'Pushing', 2560, 5))
    assert (tracker.snapshot().bytes_done, tracker.snapshot().bytes_total) == (5, 5)


def test_push_ok_ends_with_every_byte_of_every_layer_moved():
    tracker, snapshots = replay('push_ok')
    last = snapshots[-1]
    assert last.bytes_total > 1000000  # the recorded image holds a 3 MB random layer
    assert last.bytes_done == last.bytes_total
    assert [layer.status for layer in last.layers] == ['Pushed'] * 4
    # Layers are listed in the order the daemon first named them.
    preparing = [e.id for e in layer_events('push_ok') if e.status == 'Preparing']
    assert [layer.id for layer in last.layers] == preparing


@pytest.mark.parametrize('case, status', [('push_same_repo_tag', 'Layer already exists'),
                                          ('push_second_tag', 'Mounted from ')])
def test_layers_already_in_the_registry_count_as_done(case, status):
    tracker, snapshots = replay(case)
    last = snapshots[-1]
    assert len(last.layers) == 4
    assert all(layer.status.startswith(status) for layer in last.layers)
    # No bytes move and none are known, yet every layer is finished: percent says so.
    assert last.percent == pytest.approx(99.9)
    # Before those lines only "Preparing" was known: nothing is done.
    assert snapshots[3].percent == 0.0


def test_pull_counts_a_layer_that_already_exists_as_done():
    tracker = TransferTracker(clock=FakeClock())
    tracker.update(LayerStatus('a', 'Already exists', 0, 0))
    tracker.update(LayerStatus('b', 'Pulling fs layer', 0, 0))
    assert tracker.snapshot().percent == pytest.approx(50.0)
    tracker.update(LayerStatus('b', 'Downloading', 100, 400))
    assert tracker.snapshot().percent == pytest.approx(25.0)
    tracker.update(LayerStatus('b', 'Pull complete', 0, 0))
    snapshot = tracker.snapshot()
    assert (snapshot.bytes_done, snapshot.bytes_total) == (400, 400)
    assert 99.0 <= snapshot.percent < 100.0


def test_pull_ok_recorded_ends_complete_with_the_base_layer_already_there():
    tracker, snapshots = replay('pull_ok')
    last = snapshots[-1]
    statuses = sorted(layer.status for layer in last.layers)
    assert statuses == ['Already exists', 'Pull complete', 'Pull complete', 'Pull complete']
    assert last.bytes_done == last.bytes_total > 3000000
    assert last.percent == pytest.approx(99.9)


def test_a_failed_transfer_never_shows_100():
    tracker, snapshots = replay('push_registry_drops')
    assert all(layer.status.startswith('Retrying in ') for layer in snapshots[-1].layers)
    tracker.finish(error='EOF')
    final = tracker.snapshot()
    assert final.done and final.error == 'EOF'
    assert final.percent < 99.0


def test_retrying_keeps_the_bytes_already_moved():
    tracker = TransferTracker(clock=FakeClock())
    tracker.update(LayerStatus('a', 'Pushing', 300, 1000))
    tracker.update(LayerStatus('a', 'Retrying in 5 seconds', 0, 0))
    snapshot = tracker.snapshot()
    assert (snapshot.bytes_done, snapshot.bytes_total) == (300, 1000)
    assert snapshot.layers[0].status == 'Retrying in 5 seconds'


def test_no_tracker_input_means_zero_percent():
    snapshot = TransferTracker(clock=FakeClock()).snapshot()
    assert (snapshot.percent, snapshot.bytes_done, snapshot.bytes_total, snapshot.layers) == (0.0, 0, 0, [])


def test_rate_and_eta_follow_the_fake_clock():
    clock = FakeClock()
    tracker = TransferTracker(clock=clock)
    clock.advance(1.0)
    tracker.update(LayerStatus('a', 'Pushing', 1000, 10000))
    first = tracker.snapshot()
    assert first.rate_bps == pytest.approx(1000.0)
    assert first.eta_s == pytest.approx(9.0)
    clock.advance(1.0)
    tracker.update(LayerStatus('a', 'Pushing', 3000, 10000))  # 2000 B/s over the last second
    second = tracker.snapshot()
    assert 1000.0 < second.rate_bps < 2000.0  # smoothed between the old and the new rate
    assert second.eta_s == pytest.approx(7000 / second.rate_bps)


def test_no_time_passing_gives_no_rate_and_no_eta():
    clock = FakeClock()
    tracker = TransferTracker(clock=clock)
    for event in layer_events('push_ok'):
        tracker.update(event)
    snapshot = tracker.snapshot()
    assert (snapshot.rate_bps, snapshot.eta_s) == (0.0, 0.0)


def test_recorded_push_has_a_positive_rate_and_a_finite_eta_while_moving():
    _, snapshots = replay('push_ok', step_s=0.5)
    moving = [s for s in snapshots if s.bytes_done < s.bytes_total and s.rate_bps > 0]
    assert moving
    for snapshot in moving:
        assert snapshot.eta_s == pytest.approx((snapshot.bytes_total - snapshot.bytes_done) / snapshot.rate_bps)


# --------------------------------------------------------------------------------------------------
# RateLimiter


def emissions(limiter: RateLimiter, clock: FakeClock, seconds: float, every_s: float) -> List[float]:
    """Ask the limiter every ``every_s`` fake seconds for ``seconds``; the times it said yes."""
    times = []
    for i in range(int(round(seconds / every_s))):
        clock.now = 100.0 + i * every_s
        if limiter.ready():
            times.append(clock.now)
    return times


@pytest.mark.parametrize('hz', [1.0, 5.0, 20.0])
def test_at_most_hz_emissions_in_any_second(hz):
    clock = FakeClock()
    times = emissions(RateLimiter(hz, clock=clock), clock, seconds=10.0, every_s=0.001)
    assert times[0] == 100.0  # the first one passes
    for i, start in enumerate(times):
        in_window = [t for t in times[i:] if t < start + 1.0 - 1e-9]
        assert len(in_window) <= hz, (start, in_window)
    # ... and it does not starve: close to hz a second over the whole run.
    assert len(times) >= 0.9 * hz * 10


def test_final_always_passes_and_restarts_the_period():
    clock = FakeClock()
    limiter = RateLimiter(5.0, clock=clock)
    assert limiter.ready()
    assert not limiter.ready()
    assert limiter.ready(final=True)
    clock.advance(0.1)
    assert limiter.ready(final=True)
    assert not limiter.ready()  # the final emission counts as one
    clock.advance(0.2)
    assert limiter.ready()


def test_wait_delays_a_must_send_update_to_the_end_of_the_period():
    clock = FakeClock()
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(5.0, clock=clock)
    limiter.wait(sleep)
    assert slept == []  # nothing emitted before: no wait
    clock.advance(0.05)
    limiter.wait(sleep)
    assert slept == [pytest.approx(0.15)]
    assert not limiter.ready()  # the waited-for emission counts as one
    clock.advance(0.3)
    limiter.wait(sleep)
    assert len(slept) == 1  # a period has passed: no wait


@pytest.mark.parametrize('hz', [0.0, -1.0])
def test_no_rate_lets_everything_through(hz):
    clock = FakeClock()
    limiter = RateLimiter(hz, clock=clock)
    assert all(limiter.ready() for _ in range(100))
