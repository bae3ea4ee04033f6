"""Invalid input and refused operations: ``success: false`` or REJECTED, with a clear message, before Docker is touched.

To prove "before Docker is touched", one node's ``docker_url`` is a unix socket of the test that only counts
connections: every refusal must leave the count at zero, while a valid query (the control) does reach it.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from typing import Iterator

import pytest
from actionlib_msgs.msg import GoalStatus

from rosnode_helpers import call, ok, run_goal, state_name

DIGEST = 'sha256:' + 'a' * 64


class CountingSocket:
    """A unix socket that accepts and at once closes every connection, counting them."""

    def __init__(self) -> None:
        # A short directory: a unix socket path must fit in 108 bytes.
        self.directory = tempfile.mkdtemp(prefix='dimsock-')
        self.path = os.path.join(self.directory, 'docker.sock')
        self.url = 'unix://' + self.path
        self.connections = 0
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        self._thread.join(5)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def counting_socket() -> Iterator[CountingSocket]:
    sock = CountingSocket()
    yield sock
    sock.close()


def rejected(node, action: str, *words: str, **fields) -> str:
    """Send a goal that must be REJECTED with a message holding every one of ``words``; returns the message."""
    state, result = run_goal(node, action, timeout=30, **fields)
    assert state == GoalStatus.REJECTED, (action, fields, state_name(state), result and result.message)
    assert not result.success
    for word in words:
        assert word in result.message, (word, result.message)
    return result.message


def refused(response, *words: str) -> str:
    assert not response.success, response
    for word in words:
        assert word in response.message, (word, response.message)
    return response.message


def test_invalid_input_is_refused_before_docker_is_touched(start_node, rospy_client, counting_socket, tmp_path,
                                                           registry, prefix):
    allowed = tmp_path / 'allowed'
    (allowed / 'ok').mkdir(parents=True)
    (allowed / 'ok' / 'Dockerfile').write_text('FROM scratch\n')
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'Dockerfile').write_text('FROM scratch\n')
    (allowed / 'escape').symlink_to(outside)
    node = start_node(ns='cval', params={'docker_url': counting_socket.url, 'allowed_context_roots': [str(allowed)],
                                         'diagnostics_period_s': 3600.0})

    # tag: bad target references, each with what is wrong about it.
    refused(call(node, 'tag', source='busybox', target='Upper/Case:1'), 'Upper/Case:1', 'lowercase')
    refused(call(node, 'tag', source='busybox', target='name:bad tag'), 'white space')
    refused(call(node, 'tag', source='busybox', target='name:-dash'), "'-dash'")
    refused(call(node, 'tag', source='busybox', target='name@' + DIGEST), 'digest')
    refused(call(node, 'tag', source='busybox', target=''), 'required')
    refused(call(node, 'tag', source='no such/Source', target='x:1'), 'no such/Source')

    # Queries with unusable input.
    refused(call(node, 'list_images', filter='Bad Filter', all=False), 'Bad Filter')
    refused(call(node, 'inspect_image', image='Not/Valid'), 'Not/Valid')
    refused(call(node, 'container_diff', container=' '), 'container')
    refused(call(node, 'remove_image', image='', force=False, prune_dangling=False), 'required')

    # push: bad reference, no tag (Docker would push every tag), nothing at all.
    rejected(node, 'push', 'user/Name:1.0', 'lowercase', image='user/Name:1.0')
    rejected(node, 'push', 'bad//name:1', image='bad//name:1')
    untagged = registry.host + '/' + prefix + '/untagged'
    rejected(node, 'push', untagged, 'without a tag', image=untagged)
    rejected(node, 'push', 'required', image='')

    # build: contexts outside allowed_context_roots, however they get there; bad paths, tags and args.
    rejected(node, 'build', str(outside), 'outside allowed_context_roots', context=str(outside))
    dotdot = str(allowed / '..' / 'outside')
    rejected(node, 'build', 'outside allowed_context_roots', context=dotdot)
    rejected(node, 'build', 'outside allowed_context_roots', context=str(allowed / 'escape'))
    rejected(node, 'build', 'absolute', context='allowed/ok')
    rejected(node, 'build', 'not a directory', context=str(allowed / 'missing'))
    rejected(node, 'build', 'outside the build context', context=str(allowed / 'ok'), dockerfile='../../x')
    rejected(node, 'build', 'Bad:tag', context=str(allowed / 'ok'), tags=['Bad:tag'])
    rejected(node, 'build', 'NO_EQUALS', 'KEY=VALUE', context=str(allowed / 'ok'), build_args=['NO_EQUALS'])

    # pull, commit and login with unusable input.
    rejected(node, 'pull', 'white space', image='has space:1')
    refused(call(node, 'commit', container='', target='x:1'), 'container')
    refused(call(node, 'commit', container='box', target='user/NotLower'), 'user/NotLower', 'lowercase')
    refused(call(node, 'commit', container='box', target='x:1', changes=['RUN rm -rf /']), 'RUN rm -rf /')
    refused(call(node, 'login', registry=registry.host, username='someone', password=''), 'password')
    refused(call(node, 'list_jobs', limit=0, kind='bogus'), 'bogus')

    assert counting_socket.connections == 0, 'a refused request reached the Docker daemon'
    assert ok(call(node, 'list_jobs', limit=0, kind='')).jobs == [], 'a refused request became a job'

    # The control: a valid query does reach the "daemon", and reports it unusable in words.
    answer = call(node, 'list_images', filter='', all=False)
    refused(answer, 'cannot reach the Docker daemon', counting_socket.url)
    assert counting_socket.connections > 0


def test_read_only_node_refuses_every_change_and_still_answers_queries(start_node, rospy_client, docker_api,
                                                                       base_image, registry, prefix, cleanup,
                                                                       contexts):
    node = start_node(ns='cro', params={'read_only': True, 'allowed_context_roots': [str(contexts.root)]})
    context = contexts('ro', 'FROM %s\nRUN echo never\n' % base_image)
    box = docker_api.create_container(base_image, ['true'], name=prefix + '-ro-box')
    cleanup.container(box['Id'])
    remote = cleanup.image(registry.ref(prefix + '/ro', '1'))
    repository, tag = remote.rsplit(':', 1)
    docker_api.tag(base_image, repository, tag)
    mine = prefix + '-ro'

    refused(call(node, 'commit', container=box['Id'], target=mine + ':commit'), 'read-only', 'commit')
    refused(call(node, 'tag', source=base_image, target=mine + ':tag'), 'read-only', 'tag')
    rejected(node, 'build', 'read-only', context=str(context), tags=[mine + ':build'])
    rejected(node, 'push', 'read-only', image=remote)
    rejected(node, 'pull', 'read-only', image=remote)
    refused(call(node, 'login', registry=registry.host, username='u', password='p'), 'read-only')
    refused(call(node, 'remove_image', image=remote, force=True, prune_dangling=False), 'read-only')

    # (images(name=...) does not filter with the Docker SDK 4.1 of the Python 3.8 run)
    assert [t for image in docker_api.images() for t in image.get('RepoTags') or [] if t.startswith(mine + ':')] == []
    assert registry.tags(prefix + '/ro') == []
    assert docker_api.inspect_image(remote)['Id'] == docker_api.inspect_image(base_image)['Id']
    assert ok(call(node, 'list_jobs', limit=0, kind='')).jobs == []

    # Queries are what a read-only node is for.
    listed = ok(call(node, 'list_images', filter=base_image, all=False)).images
    assert [image.repo_tags for image in listed] == [[base_image]]
    assert ok(call(node, 'inspect_image', image=base_image)).image.id == listed[0].id
    assert box['Id'] in [c.id for c in ok(call(node, 'list_containers', all=True)).containers]
    assert ok(call(node, 'container_diff', container=box['Id'])).added == []

