"""Push and pull progress: rate-limited, mirrored in the action feedback, and always closed by a ``done`` message."""
from __future__ import annotations

import pytest
from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg
from rosnode_helpers import call, ok, run_goal, state_name

RATE_HZ = 4.0


def test_push_progress_is_rate_limited_and_mirrored_in_feedback(start_node, topics, docker_api, base_image,
                                                                 registry, prefix, cleanup, contexts):
    node = start_node(ns='tpush', params={'allowed_context_roots': [str(contexts.root)],
                                          'progress_rate_hz': RATE_HZ})
    # Random bytes do not compress: the push takes long enough for several progress messages.
    context = contexts('random', 'FROM %s\nRUN dd if=/dev/urandom of=/blob bs=1M count=48\n' % base_image)
    ref = cleanup.image(registry.ref(prefix + '/tpush', '1'))
    state, built = run_goal(node, 'build', context=str(context), tags=[ref], no_cache=True)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), built.message)

    progress = topics(node.service('push_progress'), msg.TransferProgress)
    feedback = []
    state, pushed = run_goal(node, 'push', image=ref, feedback=feedback)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), pushed.message)
    assert pushed.digest == registry.manifest_digest(prefix + '/tpush', '1')

    final = progress.wait_for(lambda m: m.job_id == pushed.job_id and m.done, what='final push progress')
    mine = progress.where(lambda m: m.job_id == pushed.job_id)
    assert mine[-1] is final
    assert len(mine) >= 2, 'a 48 MB push sent no progress before its end'
    running = mine[:-1]
    # At most progress_rate_hz a second (the final message is always sent); header stamps are wall time.
    gaps = [b.header.stamp.to_sec() - a.header.stamp.to_sec() for a, b in zip(running, running[1:])]
    assert all(gap >= 0.8 / RATE_HZ for gap in gaps), gaps
    assert all(not m.done and m.percent < 100.0 for m in running)
    assert final.percent == pytest.approx(100.0)
    assert final.bytes_total > 48 * 1000 * 1000 and final.bytes_done == final.bytes_total
    assert any(layer.status == 'Pushed' for layer in final.layers)

    # The feedback is the topic's data, message for message. The final feedback and the result travel on
    # different topics: a client that sees the result first drops that feedback (actionlib's rule).
    fed = [(f.progress.job_id, f.progress.percent, f.progress.bytes_done, f.progress.done) for f in feedback]
    published = [(m.job_id, m.percent, m.bytes_done, m.done) for m in mine]
    assert fed in (published, published[:-1])
    # So the result carries that last message too.
    assert (pushed.progress.job_id, pushed.progress.percent, pushed.progress.bytes_done, pushed.progress.done) \
        == published[-1]
    assert [(layer.id, layer.status) for layer in pushed.progress.layers] \
        == [(layer.id, layer.status) for layer in final.layers]

    log = ok(call(node, 'get_job_log', job_id=pushed.job_id, offset=0, max_lines=0))
    assert any(line.endswith(': Pushed') for line in log.lines), log.lines


def test_failed_transfers_end_with_done_and_the_error(start_node, topics, registry, prefix):
    node = start_node(ns='tfail')
    pull_progress = topics(node.service('pull_progress'), msg.TransferProgress)
    push_progress = topics(node.service('push_progress'), msg.TransferProgress)

    never = registry.ref(prefix + '/never-pushed', '1')
    state, pulled = run_goal(node, 'pull', image=never)
    assert state == GoalStatus.ABORTED, (state_name(state), pulled.message)
    assert not pulled.success and pulled.message
    final = pull_progress.wait_for(lambda m: m.job_id == pulled.job_id and m.done, what='final pull progress')
    assert final.error
    assert final.percent < 100.0
    assert pulled.progress.done and pulled.progress.error == final.error

    missing = registry.ref(prefix + '/not-here', '1')
    state, pushed = run_goal(node, 'push', image=missing)
    assert state == GoalStatus.ABORTED, (state_name(state), pushed.message)
    assert missing in pushed.message or 'does not exist' in pushed.message, pushed.message
    final = push_progress.wait_for(lambda m: m.job_id == pushed.job_id and m.done, what='final push progress')
    assert final.error
    assert registry.tags(prefix + '/not-here') == []

    states = {job.job_id: job.state for job in ok(call(node, 'list_jobs', limit=0, kind='')).jobs}
    assert states == {pulled.job_id: 'failed', pushed.job_id: 'failed'}
