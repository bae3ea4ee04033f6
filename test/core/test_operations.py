"""The core's Docker operations against the real daemon and a real registry: the seed's whole workflow."""
from __future__ import annotations

import os
import threading
import time

import pytest

from docker_image_manager.core import build, images, transfer
from docker_image_manager.core.cancellation import Cancellation
from docker_image_manager.core.credentials import Credentials
from docker_image_manager.core.docker_client import Connector
from docker_image_manager.core.errors import (AuthenticationFailed, Cancelled, InvalidRequest, NotAllowed, NotFound,
                                              OperationFailed)
from docker_image_manager.core.policy import Policy
from docker_image_manager.core.progress import TransferTracker


@pytest.fixture(scope='module')
def docker():
    return Connector()


@pytest.fixture
def client(docker):
    api = docker.query()
    yield api
    api.close()


@pytest.fixture
def policy(tmp_path):
    return Policy([str(tmp_path)])


def _build(docker, policy, context, dockerfile_text, **kwargs):
    (context / 'Dockerfile').write_text(dockerfile_text)
    request = build.make_request(policy, str(context), **kwargs)
    lines = []
    image_id = build.build(docker, request, lines.append, Cancellation())
    return image_id, lines


def _push(docker, ref_text, credentials=None, policy=None):
    tracker = TransferTracker()
    statuses = []
    outcome = transfer.push(docker, transfer.check_push(policy or Policy([]), ref_text), credentials or Credentials(),
                            tracker, lambda t, s: statuses.append(s) if s else None, Cancellation())
    tracker.finish()
    return outcome, tracker.snapshot(), statuses


def test_container_diff_and_commit_with_message_and_author(docker_api, client, base_image, prefix, cleanup):
    container = cleanup.container(docker_api.create_container(
        base_image, ['sh', '-c', 'rm -f /etc/group && echo changed > /hello && sleep 300'])['Id'])
    docker_api.start(container)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and '/hello' not in images.container_diff(client, container).added:
        time.sleep(0.2)
    changes = images.container_diff(client, container)
    assert '/hello' in changes.added
    assert '/etc/group' in changes.deleted
    assert '/etc' in changes.changed
    assert container in [c.id for c in images.list_containers(client)]

    target = '%s/committed:1' % prefix
    image_id = cleanup.image(images.commit(client, container, target, message='added hello', author='Robot Tester',
                                           changes=['CMD ["cat", "/hello"]'], pause=False))
    info = docker_api.inspect_image(target)
    assert info['Id'] == image_id
    assert info['Author'] == 'Robot Tester'
    assert info['Config']['Cmd'] == ['cat', '/hello']
    assert docker_api.history(target)[0]['Comment'] == 'added hello'


def test_commit_refuses_bad_input_before_docker(client, prefix):
    with pytest.raises(InvalidRequest, match='UPPER'):
        images.commit(client, 'whatever', 'upper/UPPER:1')
    with pytest.raises(InvalidRequest, match='RUN'):
        images.commit(client, 'whatever', '%s/x:1' % prefix, changes=['RUN rm -rf /'])
    with pytest.raises(NotFound, match='no such container'):
        images.commit(client, '%s-missing-container' % prefix, '%s/x:1' % prefix)


def test_build_multi_step_with_arg_label_and_extra_tags(docker, docker_api, client, policy, tmp_path, base_image,
                                                        prefix, cleanup):
    (tmp_path / 'data.txt').write_text('payload\n' * 100)
    (tmp_path / 'ignored.bin').write_bytes(b'x' * 1000)
    (tmp_path / '.dockerignore').write_text('ignored.bin\n')
    tags = ['%s/built:1' % prefix, '%s/built:also' % prefix]
    for tag in tags:
        cleanup.image(tag)
    image_id, lines = _build(docker, policy, tmp_path, (
        'FROM %s\nARG GREETING=hello\nLABEL stage=test\n'
        'RUN echo "$GREETING from build" && seq 1 3 > /seq\n'
        'COPY data.txt /data.txt\n'
        'RUN test ! -e /ignored.bin && cat /seq\n' % base_image),
        tags=tags, build_args=['GREETING=bonjour'], labels=['origin=test_operations'])
    texts = [line.text for line in lines]
    assert 'bonjour from build' in texts
    assert [line.total for line in lines if line.text.startswith('Step ')] == [7] * 7  # + LABEL of labels
    assert {line.step for line in lines if line.text == 'bonjour from build'} == {4}
    info = docker_api.inspect_image(image_id)
    assert set(tags) <= set(info['RepoTags'])
    assert info['Config']['Labels'] == {'stage': 'test', 'origin': 'test_operations'}
    assert docker_api.containers(all=True, filters={'ancestor': image_id}) == []
    summary, layers = images.inspect_image(client, images.LayerCache(), tags[1])
    assert summary.id == image_id
    assert len(layers) == len(info['RootFS']['Layers'])
    assert layers[0].diff_id == docker_api.inspect_image(base_image)['RootFS']['Layers'][0]
    assert layers[0].shared_with >= 1  # the base image holds it too
    assert any('COPY' in layer.created_by and layer.size == 800 for layer in layers)


def test_build_failure_carries_exit_code_and_last_lines(docker, policy, tmp_path, base_image, prefix):
    with pytest.raises(OperationFailed) as failure:
        _build(docker, policy, tmp_path, 'FROM %s\nRUN echo about to fail && exit 3\n' % base_image,
               tags=['%s/fails:1' % prefix])
    assert failure.value.code == 3
    assert 'returned a non-zero code: 3' in str(failure.value)
    assert 'about to fail' in str(failure.value)


def test_build_refuses_contexts_outside_roots_and_buildkit_syntax(tmp_path, base_image):
    inside = tmp_path / 'ctx'
    inside.mkdir()
    (inside / 'Dockerfile').write_text('FROM %s\nRUN --mount=type=cache,target=/c true\n' % base_image)
    policy = Policy([str(inside)])
    with pytest.raises(NotAllowed, match='BuildKit'):
        build.make_request(policy, str(inside))
    with pytest.raises(NotAllowed, match='outside allowed_context_roots'):
        build.make_request(policy, str(tmp_path))
    os.symlink(str(tmp_path), str(inside / 'up'))
    with pytest.raises(NotAllowed, match='outside allowed_context_roots'):
        build.make_request(policy, str(inside / 'up'))
    with pytest.raises(NotAllowed, match='outside the build context'):
        build.make_request(policy, str(inside), dockerfile='../Dockerfile')
    (inside / 'Dockerfile').write_text('FROM %s\n' % base_image)
    with pytest.raises(InvalidRequest, match='KEY=VALUE'):
        build.make_request(policy, str(inside), build_args=['novalue'])


def test_cancel_stops_a_running_build_and_its_container(docker, docker_api, policy, tmp_path, base_image, prefix):
    (tmp_path / 'Dockerfile').write_text('FROM %s\nRUN echo started && sleep 120\n' % base_image)
    request = build.make_request(policy, str(tmp_path), tags=['%s/sleeps:1' % prefix], no_cache=True)
    cancellation = Cancellation()
    lines = []

    def cancel_when_started(line):
        lines.append(line.text)
        if line.text == 'started':
            threading.Timer(0.5, cancellation.cancel).start()

    with pytest.raises(Cancelled):
        build.build(docker, request, cancel_when_started, cancellation)
    assert 'started' in lines
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _sleepers(docker_api):
        time.sleep(0.2)
    assert _sleepers(docker_api) == []


def _sleepers(docker_api):
    return [c for c in docker_api.containers(all=True) if 'sleep 120' in (c.get('Command') or '')
            and 'echo started' in (c.get('Command') or '')]


def test_tag_push_second_tag_remove_and_pull_back(docker, docker_api, client, base_image, prefix, registry,
                                                  policy, tmp_path, cleanup):
    image_id, _ = _build(docker, policy, tmp_path, 'FROM %s\nRUN head -c 300000 /dev/urandom > /blob\n' % base_image)
    cleanup.image(image_id)
    first = registry.ref('%s/user/name' % prefix, '1.0')
    assert images.tag(client, image_id[7:19], first) == image_id  # by short id
    cleanup.image(first)

    outcome, snapshot, statuses = _push(docker, first)
    assert outcome.digest == registry.manifest_digest('%s/user/name' % prefix, '1.0')
    assert snapshot.percent == 100.0 and snapshot.done
    assert snapshot.bytes_done == snapshot.bytes_total >= 300000  # the blob layer at least (the base may exist)
    # The base layer may already be in the shared test registry, under another repository.
    assert all(layer.status.startswith(('Pushed', 'Layer already exists', 'Mounted from'))
               for layer in snapshot.layers)
    assert 'Pushed' in {layer.status for layer in snapshot.layers}  # the new blob layer

    second = registry.ref('%s/other/name' % prefix, '2.0')
    images.tag(client, first, second)
    cleanup.image(second)
    outcome2, snapshot2, _ = _push(docker, second)
    assert outcome2.digest == outcome.digest
    assert all(layer.status.startswith(('Mounted from', 'Layer already exists')) for layer in snapshot2.layers)

    with pytest.raises(InvalidRequest, match='without a tag'):
        transfer.check_push(Policy([]), registry.ref('%s/user/name' % prefix, '1.0').rsplit(':', 1)[0])

    reclaimed, removed = images.remove_image(client, images.LayerCache(), first)
    assert first in removed
    with pytest.raises(NotFound):
        images.resolve_image(client, first)
    tracker = TransferTracker()
    pulled = transfer.pull(docker, transfer.check_pull(Policy([]), first), Credentials(), tracker,
                           lambda t, s: None, Cancellation())
    assert pulled.image_id == image_id
    assert pulled.digest == outcome.digest
    assert not pulled.up_to_date
    again = transfer.pull(docker, transfer.check_pull(Policy([]), first), Credentials(), TransferTracker(),
                          lambda t, s: None, Cancellation())
    assert again.up_to_date and again.image_id == image_id


def test_login_reauth_and_authenticated_push(docker, docker_api, client, base_image, prefix, auth_registry, cleanup):
    credentials = Credentials()
    policy = Policy([])
    with pytest.raises(AuthenticationFailed) as wrong:
        transfer.login(client, policy, credentials, auth_registry.host, auth_registry.username, 'not-the-password')
    assert 'not-the-password' not in str(wrong.value)
    assert credentials.auth_config(auth_registry.host) is None
    transfer.login(client, policy, credentials, auth_registry.host, auth_registry.username, auth_registry.password)
    with pytest.raises(AuthenticationFailed):  # reauth: a wrong password after a good one still fails
        transfer.login(client, policy, Credentials(), auth_registry.host, auth_registry.username, 'wrong-again')

    target = auth_registry.ref('%s/private' % prefix, 'v1')
    images.tag(client, base_image, target)
    cleanup.image(target)
    with pytest.raises(AuthenticationFailed):
        _push(docker, target)  # no credentials
    outcome, _, _ = _push(docker, target, credentials)
    assert outcome.digest == auth_registry.manifest_digest('%s/private' % prefix, 'v1')


def test_list_images_filter_and_remove_with_prune(client, docker_api, base_image, prefix, cleanup):
    cache = images.LayerCache()
    images.tag(client, base_image, '%s/listed:a' % prefix)
    cleanup.image('%s/listed:a' % prefix)
    found = images.list_images(client, cache, '%s/listed' % prefix)
    assert [image.repo_tags for image in found] == [['%s/listed:a' % prefix]]
    assert found[0].layer_count == 1
    assert images.list_images(client, cache, '%s/nothing-here' % prefix) == []
    with pytest.raises(InvalidRequest, match='invalid filter'):
        images.list_images(client, cache, 'Bad Filter')
    reclaimed, removed = images.remove_image(client, cache, '%s/listed:a' % prefix, prune_dangling=True)
    assert '%s/listed:a' % prefix in removed
    assert reclaimed >= 0
