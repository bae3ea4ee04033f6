"""Wrong input and failing work: each answered with success false and a message that says what went wrong."""
from __future__ import annotations

import pytest
from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg, srv
from node_tools import build_goal, call, make_context, run_action
from stack import free_port


@pytest.fixture
def node(ros, start_node, tmp_path):
    return start_node('fault_inputs', params={'allowed_context_roots': [str(tmp_path)], 'push_retries': 0})


def test_wrong_password_and_unknown_registry(node, auth_registry, registry):
    answer = call(node, 'login', srv.Login, registry=auth_registry.host, username=auth_registry.username,
                  password='not-the-password')
    assert not answer.success
    assert 'wrong username or password' in answer.message and auth_registry.host in answer.message
    nowhere = '127.0.0.1:%d' % free_port()
    answer = call(node, 'login', srv.Login, registry=nowhere, username='u', password='p')
    assert not answer.success and nowhere in answer.message
    state, result = run_action(node, 'push', msg.PushGoal(image='%s/app:v1' % nowhere), timeout=60)
    assert state in (GoalStatus.ABORTED, GoalStatus.REJECTED) and not result.success
    assert 'app' in result.message


def test_missing_container_image_and_source(node):
    answer = call(node, 'container_diff', srv.ContainerDiff, container='dimtest-no-such-container')
    assert not answer.success and 'dimtest-no-such-container' in answer.message
    answer = call(node, 'inspect_image', srv.InspectImage, image='dimtest-no-such-image:v9')
    assert not answer.success and 'dimtest-no-such-image' in answer.message
    answer = call(node, 'tag', srv.Tag, source='dimtest-no-such-image:v9', target='dimtest-x:v1')
    assert not answer.success and 'dimtest-no-such-image' in answer.message
    answer = call(node, 'commit', srv.Commit, container='dimtest-no-such-container', target='dimtest-x:v1')
    assert not answer.success and 'dimtest-no-such-container' in answer.message
    state, result = run_action(node, 'push', msg.PushGoal(image='127.0.0.1:1/dimtest-no-such-image:v9'))
    assert not result.success and 'dimtest-no-such-image' in result.message


def test_missing_context_and_dockerfile(node, tmp_path):
    state, result = run_action(node, 'build', build_goal(tmp_path / 'no-such-dir'))
    assert state == GoalStatus.REJECTED and 'not a directory' in result.message
    (tmp_path / 'empty').mkdir()
    state, result = run_action(node, 'build', build_goal(tmp_path / 'empty'))
    assert state == GoalStatus.REJECTED and "no Dockerfile 'Dockerfile'" in result.message


def test_dockerfile_syntax_error(node, base_image, tmp_path):
    context = make_context(tmp_path / 'syntax', 'FROM %s\nRUNN echo typo\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context))
    assert state == GoalStatus.ABORTED
    assert 'unknown instruction' in result.message.lower() and 'RUNN' in result.message.upper(), result.message
    job = call(node, 'get_job_log', srv.GetJobLog, job_id=result.job_id).job
    assert job.state == 'failed' and 'unknown instruction' in job.message.lower()


def test_failing_run_gives_exit_code_and_last_lines(node, base_image, tmp_path):
    context = make_context(tmp_path / 'fails', 'FROM %s\nRUN echo first-line; echo about-to-fail; exit 7\n'
                           % base_image)
    state, result = run_action(node, 'build', build_goal(context, no_cache=True))
    assert state == GoalStatus.ABORTED
    assert 'code: 7' in result.message or 'code 7' in result.message, result.message
    assert 'about-to-fail' in result.message, result.message


def test_run_mount_is_refused_clearly(node, base_image, tmp_path):
    context = make_context(tmp_path / 'mount', 'FROM %s\nRUN --mount=type=cache,target=/c echo hi\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context))
    assert state == GoalStatus.REJECTED
    assert 'RUN --mount' in result.message and 'BuildKit' in result.message


@pytest.mark.parametrize('bad', ['app/UPPER:v1', 'app:', 'app:bad tag', '-app:v1', 'app@sha256:zz'])
def test_invalid_references(node, base_image, tmp_path, bad):
    answer = call(node, 'tag', srv.Tag, source=base_image, target=bad)
    assert not answer.success and 'invalid' in answer.message.lower(), answer.message
    state, result = run_action(node, 'push', msg.PushGoal(image=bad))
    assert state == GoalStatus.REJECTED and not result.success and result.message
    context = make_context(tmp_path / 'ref', 'FROM %s\n' % base_image)
    state, result = run_action(node, 'build', build_goal(context, [bad]))
    assert state == GoalStatus.REJECTED and result.message
