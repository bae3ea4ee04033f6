"""Tests of the test stack itself (test/stack.py): if these fail, every other test's result is suspect."""
from __future__ import annotations

import os
import socket
import urllib.error

import docker
import docker.errors
import pytest

import stack


def _push(api, ref, auth_config=None):
    """Push with docker-py's low-level API; returns the decoded chunks (it does not raise on failure)."""
    repo, tag = ref.rsplit(':', 1)
    return list(api.push(repo, tag=tag, stream=True, decode=True, auth_config=auth_config))


def _errors(chunks):
    return [c for c in chunks if 'error' in c or 'errorDetail' in c]


def _aux_digest(chunks):
    return [c['aux']['Digest'] for c in chunks if 'Digest' in (c.get('aux') or {})]


def test_owns_ref_matches_only_this_prefix():
    p = 'dimtest-ab12cd'
    assert stack.owns_ref('dimtest-ab12cd-base:latest', p)
    assert stack.owns_ref('dimtest-ab12cd:1', p)
    assert stack.owns_ref('127.0.0.1:5000/dimtest-ab12cd/app:v1', p)
    assert stack.owns_ref('localhost/dimtest-ab12cd-x', p)
    assert stack.owns_ref('dimtest-ab12cd/app@sha256:' + '0' * 64, p)
    assert not stack.owns_ref('dimtest-ab12cdx:latest', p)
    assert not stack.owns_ref('dimtest-ab12c:latest', p)
    assert not stack.owns_ref('busybox:latest', p)
    assert not stack.owns_ref('127.0.0.1:5000/app/dimtest-ab12cd:v1', p)


def test_prefix_is_a_valid_unique_lowercase_name(prefix):
    assert prefix.startswith('dimtest-') and len(prefix) == len('dimtest-') + 6
    assert prefix == prefix.lower()


def test_base_image_runs_echo(docker_api, base_image, prefix, cleanup):
    container = docker_api.create_container(base_image, ['echo', 'hello from ' + prefix],
                                            name=prefix + '-echo')
    cleanup.container(container['Id'])
    docker_api.start(container['Id'])
    assert docker_api.wait(container['Id'], timeout=60)['StatusCode'] == 0
    assert docker_api.logs(container['Id']) == ('hello from %s\n' % prefix).encode()


def test_base_image_has_a_shell_and_writable_tmp(docker_api, base_image, prefix, cleanup):
    container = docker_api.create_container(
        base_image, ['sh', '-c', 'echo data > /tmp/f && cat /tmp/f && ls /bin/sh'],
        name=prefix + '-sh')
    cleanup.container(container['Id'])
    docker_api.start(container['Id'])
    assert docker_api.wait(container['Id'], timeout=60)['StatusCode'] == 0
    assert docker_api.logs(container['Id']) == b'data\n/bin/sh\n'


def test_cleanup_removes_what_it_recorded_and_ignores_what_is_gone(docker_api, base_image, prefix):
    recorder = stack.Cleanup(docker_api)
    container = docker_api.create_container(base_image, ['true'], name=prefix + '-cleanup')
    recorder.container(container['Id'])
    ref = prefix + '-cleanup:1'
    docker_api.tag(base_image, prefix + '-cleanup', '1')
    recorder.image(ref)
    recorder.image(prefix + '-never-existed:1')
    recorder.container(prefix + '-never-existed')

    recorder.run()

    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_container(container['Id'])
    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_image(ref)
    docker_api.inspect_image(base_image)  # the tagged image itself stays


def test_sweep_removes_only_names_with_its_prefix(docker_api, base_image, prefix, cleanup):
    # A sub-prefix stands for "this session": the session's own base image must survive it.
    sub = prefix + '-sweep'
    docker_api.tag(base_image, sub, '1')
    docker_api.tag(base_image, '127.0.0.1:5000/%s/app' % sub, '2')
    container = docker_api.create_container(base_image, ['true'], name=sub + '-c')
    for leftover in (sub + ':1', '127.0.0.1:5000/%s/app:2' % sub):
        cleanup.image(leftover)
    cleanup.container(container['Id'])

    removed = stack.sweep(docker_api, sub)

    assert sorted(removed) == sorted([container['Id'], sub + ':1', '127.0.0.1:5000/%s/app:2' % sub])
    with pytest.raises(docker.errors.NotFound):
        docker_api.inspect_container(container['Id'])
    tags = docker_api.inspect_image(base_image)['RepoTags']
    assert base_image in tags
    assert not [t for t in tags if t.startswith(sub) or sub in t]


def test_registry_accepts_a_push_and_reports_its_digest(docker_api, base_image, registry, prefix,
                                                         cleanup):
    repo = prefix + '/base'
    ref = cleanup.image(registry.ref(repo, 't1'))
    docker_api.tag(base_image, registry.host + '/' + repo, 't1')

    chunks = _push(docker_api, ref)

    assert _errors(chunks) == []
    digest = registry.manifest_digest(repo, 't1')
    assert digest is not None and digest.startswith('sha256:') and len(digest) == len('sha256:') + 64
    assert _aux_digest(chunks) == [digest]
    assert registry.tags(repo) == ['t1']
    assert repo in registry.catalog()
    assert registry.manifest_digest(repo, 'no-such-tag') is None
    assert registry.tags(prefix + '/no-such-repo') == []


def test_registry_keeps_its_content_across_stop_and_start(docker_api, base_image, registry, prefix,
                                                          cleanup):
    repo = prefix + '/restart'
    ref = cleanup.image(registry.ref(repo, 'r1'))
    docker_api.tag(base_image, registry.host + '/' + repo, 'r1')
    assert _errors(_push(docker_api, ref)) == []
    digest = registry.manifest_digest(repo, 'r1')

    registry.stop()
    try:
        assert not registry.running
        assert not stack.port_open('127.0.0.1', registry.port)
        failed = _push(docker_api, ref)
        assert _errors(failed), 'a push to a stopped registry must fail with an error chunk'
    finally:
        registry.start()

    assert registry.running
    assert registry.manifest_digest(repo, 'r1') == digest


def test_auth_registry_refuses_a_wrong_password_and_accepts_the_right_one(
        docker_api, base_image, auth_registry, prefix, cleanup):
    # A client of its own: docker-py remembers a successful login for the rest of the session.
    api = docker.APIClient(base_url=stack.DOCKER_URL, version='auto', timeout=None)
    try:
        with pytest.raises(docker.errors.APIError):
            api.login(auth_registry.username, 'wrong-' + auth_registry.password,
                      registry=auth_registry.host, reauth=True)
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            auth_registry._request('/v2/', authenticate=False)
        assert anonymous.value.code == 401

        answer = api.login(auth_registry.username, auth_registry.password,
                           registry=auth_registry.host, reauth=True)
        assert answer['Status'] == 'Login Succeeded'

        repo = prefix + '/private'
        ref = cleanup.image(auth_registry.ref(repo, 'a1'))
        api.tag(base_image, auth_registry.host + '/' + repo, 'a1')
        assert _errors(_push(docker_api, ref, auth_config={'username': 'nobody', 'password': 'x'}))
        assert _errors(_push(api, ref)) == []
        assert auth_registry.manifest_digest(repo, 'a1').startswith('sha256:')
    finally:
        api.close()


def test_roscore_answers(roscore):
    import rosgraph
    master = rosgraph.Master('/dimtest_check')
    assert os.environ['ROS_MASTER_URI'] == roscore.uri
    assert master.getUri() == roscore.uri
    assert master.getPid() in [pid for pid, _ in stack.descendants(roscore.proc.pid)]
    assert master.lookupNode('/rosout').startswith('http://')


STUB_NODE = '''\
import os, sys
import rospy
from docker_image_manager.srv import ListImages, ListImagesResponse

rospy.init_node('docker_image_manager')
state_dir = rospy.get_param('~state_dir')
os.makedirs(state_dir, exist_ok=True)
with open(os.path.join(state_dir, 'stub-started'), 'w') as f:
    f.write(str(os.getpid()))
if rospy.get_param('~serve', True):
    rospy.Service('~list_images', ListImages,
                  lambda req: ListImagesResponse(success=True, message=rospy.get_param('~greeting')))
rospy.spin()
'''

STUB_LAUNCH = '''\
<launch>
  <arg name="ns" default=""/>
  <arg name="config" default="$(find docker_image_manager)/config/image_manager.yaml"/>
  <group ns="$(arg ns)">
    <!-- The package's node script only gives roslaunch a path; the prefix runs the stub instead. -->
    <node name="docker_image_manager" pkg="docker_image_manager" type="image_manager_node"
          launch-prefix="/usr/bin/python3 {stub}" output="screen">
      <rosparam command="load" file="$(arg config)"/>
    </node>
  </group>
</launch>
'''


@pytest.fixture
def stub_launch(tmp_path):
    stub = tmp_path / 'stub_node.py'
    stub.write_text(STUB_NODE)
    launch = tmp_path / 'stub.launch'
    launch.write_text(STUB_LAUNCH.format(stub=stub))
    return str(launch)


def test_start_node_waits_for_the_service_and_stops_the_node(start_node, stub_launch, prefix):
    import rosgraph
    import rospy
    from docker_image_manager.srv import ListImages

    ns = prefix.replace('-', '_')
    node = start_node(ns, {'greeting': 'hi'}, launch_file=stub_launch)

    assert node.name == '/%s/docker_image_manager' % ns
    assert os.path.isdir(node.state_dir)
    with open(os.path.join(node.state_dir, 'stub-started')) as f:
        node_pid = int(f.read())
    answer = rospy.ServiceProxy(node.service('list_images'), ListImages)(filter='', all=False)
    assert answer.success and answer.message == 'hi'

    node.stop()

    assert node.proc.poll() is not None
    assert not os.path.exists('/proc/%d' % node_pid) or _is_zombie(node_pid)
    with pytest.raises(rosgraph.MasterError):
        rosgraph.Master('/dimtest_check').lookupService(node.service('list_images'))


def test_start_node_fails_loudly_when_the_service_never_appears(start_node, stub_launch, prefix):
    with pytest.raises(pytest.fail.Exception) as failure:
        start_node(prefix.replace('-', '_') + '_mute', {'serve': False}, launch_file=stub_launch,
                   timeout=5)
    assert 'did not come up' in str(failure.value)
    assert 'list_images' in str(failure.value)


def _is_zombie(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def test_free_port_is_free():
    port = stack.free_port()
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', port))
