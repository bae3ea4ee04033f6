"""The Docker daemon away at start and lost mid-operation, through a socket proxy the test controls."""
from __future__ import annotations

import time

import pytest
from actionlib_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticStatus

from docker_image_manager import msg, srv
from node_tools import (ActionRun, DockerProxy, build_goal, call, diagnostics_of, make_context, run_action,
                        wait_for)


@pytest.fixture
def proxy(tmp_path):
    proxy = DockerProxy(tmp_path / 'docker-proxy.sock')
    yield proxy
    proxy.stop()


def test_daemon_down_at_start_then_up(ros, start_node, proxy, base_image, tmp_path):
    node = start_node('fault_down', params={'docker_url': proxy.url, 'diagnostics_period_s': 0.5,
                                            'allowed_context_roots': [str(tmp_path)]})
    status = diagnostics_of(node)
    assert status.level == DiagnosticStatus.ERROR
    assert 'cannot reach the Docker daemon' in status.message and 'systemctl start docker' in status.message
    answer = call(node, 'list_images', srv.ListImages)
    assert not answer.success
    assert 'cannot reach the Docker daemon' in answer.message or 'connection' in answer.message.lower()
    state, result = run_action(node, 'pull', msg.PullGoal(image=base_image), timeout=60)
    assert state == GoalStatus.ABORTED and not result.success
    assert 'Docker daemon' in result.message

    proxy.start()
    wait_for(lambda: diagnostics_of(node).level == DiagnosticStatus.OK, 30, 'diagnostics OK')
    answer = wait_for(lambda: (lambda a: a if a.success else None)(call(node, 'list_images', srv.ListImages)),
                      30, 'list_images to succeed')
    assert any(base_image in image.repo_tags for image in answer.images)
    context = make_context(tmp_path / 'ctx', 'FROM %s\nRUN echo recovered\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context))
    assert state == GoalStatus.SUCCEEDED, result.message


def cut_and_expect_lost(node, run, proxy, what: str) -> None:
    """Cut the daemon connection under a running goal: it must fail clearly and soon, and the node serve on."""
    began = time.monotonic()
    proxy.cut()
    state, result = run.wait(60)
    assert time.monotonic() - began < 30, '%s hung after the connection was cut' % what
    assert state == GoalStatus.ABORTED
    assert 'connection to the Docker daemon' in result.message and 'lost' in result.message, result.message
    assert call(node, 'get_job_log', srv.GetJobLog, job_id=result.job_id).job.state == 'failed'
    assert call(node, 'list_images', srv.ListImages).success  # the node serves on


def test_connection_lost_mid_build(ros, start_node, proxy, base_image, cleanup, prefix, tmp_path):
    proxy.start()
    node = start_node('fault_build', params={'docker_url': proxy.url, 'allowed_context_roots': [str(tmp_path)]})
    context = make_context(tmp_path / 'ctx', 'FROM %s\nRUN echo started; sleep 20; echo never\n' % base_image)
    run = ActionRun(node, 'build', build_goal(context, [cleanup.image(prefix + '-cut:v1')], no_cache=True))
    wait_for(lambda: any('started' in f.line for f in run.feedback), 60, 'the RUN to start')
    cut_and_expect_lost(node, run, proxy, 'the job')


def test_connection_lost_mid_push(ros, start_node, proxy, base_image, registry, docker_api, cleanup, prefix,
                                  tmp_path):
    proxy.start()
    node = start_node('fault_push', params={'docker_url': proxy.url, 'allowed_context_roots': [str(tmp_path)],
                                            'push_retries': 0})
    target = registry.ref(prefix + '/cutpush', 'v1')
    context = make_context(tmp_path / 'ctx', 'FROM %s\nRUN head -c 150000000 /dev/urandom > /big\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context, [cleanup.image(target)]))
    assert state == GoalStatus.SUCCEEDED, result.message
    run = ActionRun(node, 'push', msg.PushGoal(image=target))
    wait_for(lambda: any(layer.status == 'Pushing' and layer.current > 0
                         for f in run.feedback for layer in f.progress.layers), 60, 'a layer to be pushing')
    cut_and_expect_lost(node, run, proxy, 'the push')
    assert registry.manifest_digest(prefix + '/cutpush', 'v1') is None
