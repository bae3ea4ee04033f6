"""What the node refuses, and where a password must never show up, on a real node."""
from __future__ import annotations

import base64
import os
import subprocess

import pytest
from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg, srv
from node_tools import ActionRun, DockerProxy, TopicRecorder, build_goal, call, make_context, run_action, wait_for
from stack import system_env


def test_a_password_never_leaves_the_node(ros, start_node, roscore, auth_registry, base_image, docker_api,
                                          cleanup, prefix, tmp_path):
    ros_home = tmp_path / 'ros_home'
    ros_home.mkdir()
    node = start_node('sec_leak', params={'push_retries': 1, 'push_retry_backoff_s': 0.1},
                      env={'ROS_HOME': str(ros_home), 'ROS_LOG_DIR': str(ros_home / 'log')})
    recorder = TopicRecorder(node)
    password = auth_registry.password
    target = cleanup.image(auth_registry.ref(prefix + '/secret', 'v1'))
    repository, tag = target.rsplit(':', 1)
    docker_api.tag(base_image, repository, tag)
    try:
        wrong = call(node, 'login', srv.Login, registry=auth_registry.host, username=auth_registry.username,
                     password=password + 'x')
        assert not wrong.success
        answer = call(node, 'login', srv.Login, registry=auth_registry.host, username=auth_registry.username,
                      password=password)
        assert answer.success, answer.message
        recorder.subscribe_all()
        pushed = ActionRun(node, 'push', msg.PushGoal(image=target))
        state, result = pushed.wait()
        assert state == GoalStatus.SUCCEEDED, result.message
        recorder.subscribe_all()
        auth_registry.stop()
        try:
            failing = ActionRun(node, 'push', msg.PushGoal(image=target))
            state, failed = failing.wait(120)
        finally:
            auth_registry.start()
        assert state == GoalStatus.ABORTED
        jobs = call(node, 'list_jobs', srv.ListJobs, limit=0, kind='')
        logs = [call(node, 'get_job_log', srv.GetJobLog, job_id=job.job_id) for job in jobs.jobs]
        wait_for(lambda: recorder.count(node.service('jobs')) > 0, 10, 'a ~jobs message')
    finally:
        recorder.close()
    node.stop()  # flushes every log file

    secrets = {password, password + 'x'}
    forms = set()
    for secret in secrets:
        forms |= {secret.encode(), base64.b64encode(secret.encode()),
                  base64.b64encode(('%s:%s' % (auth_registry.username, secret)).encode())}
    dump = subprocess.run(['rosparam', 'dump'], stdout=subprocess.PIPE, check=True,
                          env=system_env(roscore.env)).stdout
    places = {'rosparam dump': dump, 'topics': recorder.everything(),
              'service and action answers': repr((wrong, answer, result, failed, jobs, logs, pushed.feedback,
                                                        failing.feedback)).encode(),
              'node output': node.log().encode()}
    for root in (node.state_dir, ros_home, roscore.log_dir):
        for directory, _, files in os.walk(str(root)):
            for name in files:
                with open(os.path.join(directory, name), 'rb') as handle:
                    places[os.path.join(directory, name)] = handle.read()
    assert len(places) > 6 and recorder.count('/rosout') + len(recorder.raw) > 3
    assert any(name.startswith(str(node.state_dir)) for name in places)
    leaks = [(where, form) for where, data in places.items() for form in forms if form in data]
    assert not leaks, leaks


def test_policy_refuses_before_docker_is_called(ros, start_node, base_image, tmp_path):
    proxy = DockerProxy(tmp_path / 'counting.sock').start()
    root = tmp_path / 'allowed'
    context = make_context(root / 'app', 'FROM %s\n' % base_image)
    outside = make_context(tmp_path / 'outside', 'FROM %s\n' % base_image)
    (root / 'escape').symlink_to(outside, target_is_directory=True)
    (context / 'Dockerfile.out').symlink_to(outside / 'Dockerfile')
    try:
        node = start_node('sec_policy', params={
            'docker_url': proxy.url, 'allowed_context_roots': [str(root)],
            'allowed_registries': ['127.0.0.1:5999'], 'allow_remove': False, 'diagnostics_period_s': 3600})
        before = proxy.connections
        for goal, what in ((build_goal(root / 'app' / '..' / '..' / 'outside'), 'outside allowed_context_roots'),
                           (build_goal(root / 'escape'), 'outside allowed_context_roots'),
                           (build_goal(context, dockerfile='../../outside/Dockerfile'), 'outside the build context'),
                           (build_goal(context, dockerfile='Dockerfile.out'), 'outside the build context')):
            state, result = run_action(node, 'build', goal)
            assert state == GoalStatus.REJECTED and what in result.message, result.message
        for name, goal in (('push', msg.PushGoal(image='127.0.0.1:6000/app:v1')),
                           ('pull', msg.PullGoal(image='busybox:latest'))):
            state, result = run_action(node, name, goal)
            assert state == GoalStatus.REJECTED and 'allowed_registries' in result.message, result.message
        answer = call(node, 'login', srv.Login, registry='evil.example.com:443', username='u', password='p')
        assert not answer.success and 'allowed_registries' in answer.message
        answer = call(node, 'remove_image', srv.RemoveImage, image=base_image)
        assert not answer.success and 'allow_remove' in answer.message
        assert proxy.connections == before, 'a refused request reached the Docker daemon'
    finally:
        proxy.stop()


def test_read_only_node_serves_queries_only(ros, start_node, base_image, tmp_path):
    context = make_context(tmp_path / 'app', 'FROM %s\n' % base_image)
    node = start_node('sec_ro', params={'read_only': True, 'allowed_context_roots': [str(tmp_path)]})
    assert call(node, 'list_images', srv.ListImages).success
    for name, srv_type, fields in (('tag', srv.Tag, {'source': base_image, 'target': 'dimtest-ro:v1'}),
                                   ('login', srv.Login, {'registry': '127.0.0.1:5000', 'username': 'u',
                                                         'password': 'p'}),
                                   ('remove_image', srv.RemoveImage, {'image': base_image}),
                                   ('commit', srv.Commit, {'container': 'x', 'target': 'dimtest-ro:v1'})):
        answer = call(node, name, srv_type, **fields)
        assert not answer.success and 'read-only' in answer.message, (name, answer.message)
    for name, goal in (('build', build_goal(context)), ('push', msg.PushGoal(image='127.0.0.1:5000/a:v1')),
                       ('pull', msg.PullGoal(image='127.0.0.1:5000/a:v1'))):
        state, result = run_action(node, name, goal)
        assert state == GoalStatus.REJECTED and 'read-only' in result.message, (name, result.message)


@pytest.mark.parametrize('mode', [0o644, 0o600])
def test_credentials_file_only_at_mode_0600(ros, start_node, auth_registry, base_image, docker_api, cleanup,
                                            prefix, tmp_path, mode):
    path = tmp_path / 'credentials.yaml'
    path.write_text('%s: {username: %s, password: "%s"}\n' % (auth_registry.host, auth_registry.username,
                                                             auth_registry.password))
    os.chmod(path, mode)
    node = start_node('sec_creds', params={'credentials_file': str(path), 'push_retries': 0})
    target = cleanup.image(auth_registry.ref(prefix + '/credfile', oct(mode)[2:]))
    repository, tag = target.rsplit(':', 1)
    docker_api.tag(base_image, repository, tag)
    state, result = run_action(node, 'push', msg.PushGoal(image=target))
    if mode == 0o600:
        assert state == GoalStatus.SUCCEEDED, result.message
    else:
        assert state == GoalStatus.ABORTED
        assert 'chmod 600' in node.log()
    assert auth_registry.password not in node.log()
