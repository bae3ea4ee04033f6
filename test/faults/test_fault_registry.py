"""The registry killed mid-push: retries, a clear failure, a remote tag untouched, and a later push that resumes."""
from __future__ import annotations

from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg, srv
from node_tools import ActionRun, build_goal, call, make_context, run_action, wait_for


def test_registry_killed_mid_push_then_back(ros, start_node, base_image, registry, cleanup, prefix, tmp_path):
    node = start_node('fault_registry', params={'allowed_context_roots': [str(tmp_path)], 'push_retries': 1,
                                                'push_retry_backoff_s': 0.2})
    repo = prefix + '/regkill'
    target = registry.ref(repo, 'v1')
    context = make_context(tmp_path / 'ctx', 'FROM %s\nRUN head -c 200000000 /dev/urandom > /big\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context, [cleanup.image(target)]))
    assert state == GoalStatus.SUCCEEDED, result.message

    run = ActionRun(node, 'push', msg.PushGoal(image=target))

    def base_pushed_big_pushing():
        layers = run.feedback[-1].progress.layers if run.feedback else []
        # The base layer may already be in the shared test registry (another repository: "Mounted from").
        return (any(layer.status.startswith(('Pushed', 'Layer already exists', 'Mounted from')) for layer in layers)
                and any(layer.status == 'Pushing' and layer.current > 0 for layer in layers))

    try:
        wait_for(base_pushed_big_pushing, 60, 'the base layer pushed and the big one pushing', period=0.05)
        registry.kill()
        # The daemon retries each layer itself (5 s, 10 s, ... apart) before the node's own retry.
        state, result = run.wait(240)
    finally:
        registry.start()
    assert state == GoalStatus.ABORTED
    assert 'push' in result.message and 'after 2 attempts' in result.message, result.message
    assert result.digest == ''
    assert registry.manifest_digest(repo, 'v1') is None, 'the tag points at a half-pushed image'
    lines = call(node, 'get_job_log', srv.GetJobLog, job_id=result.job_id).lines
    assert any('retrying' in line for line in lines), lines[-20:]

    run = ActionRun(node, 'push', msg.PushGoal(image=target))
    state, result = run.wait(240)
    assert state == GoalStatus.SUCCEEDED, result.message
    assert result.digest.startswith('sha256:')
    assert registry.manifest_digest(repo, 'v1') == result.digest
    statuses = [layer.status for f in run.feedback for layer in f.progress.layers]
    lines = call(node, 'get_job_log', srv.GetJobLog, job_id=result.job_id).lines
    # The base layer made it before the kill: the second push does not send it again.
    assert any('Layer already exists' in text for text in statuses + lines), (statuses[-10:], lines[-10:])


def test_push_to_a_stopped_registry_fails_fast_and_clearly(ros, start_node, base_image, registry, cleanup,
                                                          prefix, docker_api):
    node = start_node('fault_regdown', params={'push_retries': 2, 'push_retry_backoff_s': 0.1})
    target = cleanup.image(registry.ref(prefix + '/regdown', 'v1'))
    repository, tag = target.rsplit(':', 1)
    docker_api.tag(base_image, repository, tag)
    registry.stop()
    try:
        state, result = run_action(node, 'push', msg.PushGoal(image=target), timeout=120)
    finally:
        registry.start()
    assert state == GoalStatus.ABORTED
    assert registry.host in result.message and 'after 3 attempts' in result.message, result.message
    state, result = run_action(node, 'push', msg.PushGoal(image=target), timeout=120)
    assert state == GoalStatus.SUCCEEDED, result.message
