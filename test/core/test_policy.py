"""Policy (context roots, registries, read-only, removal) and the credentials store, on real files."""
from __future__ import annotations

import base64
import os

import pytest

from docker_image_manager.core import build, transfer
from docker_image_manager.core.credentials import Credentials, scrub
from docker_image_manager.core.errors import InvalidRequest, NotAllowed, NotFound
from docker_image_manager.core.policy import Policy, normalize_registry


@pytest.fixture
def tree(tmp_path):
    """root/app (a context with a Dockerfile), outside/ (a secret), and root/escape -> outside."""
    root = tmp_path / 'root'
    app = root / 'app'
    app.mkdir(parents=True)
    (app / 'Dockerfile').write_text('FROM scratch\n')
    (app / 'sub').mkdir()
    (app / 'sub' / 'Dockerfile.dev').write_text('FROM scratch\n')
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'Dockerfile').write_text('FROM scratch\n')
    (root / 'escape').symlink_to(outside, target_is_directory=True)
    (app / 'link.Dockerfile').symlink_to(outside / 'Dockerfile')
    return tmp_path


def test_a_context_inside_a_root_resolves_to_its_real_path(tree):
    policy = Policy([str(tree / 'root')])
    paths = policy.build_paths(str(tree / 'root' / 'app'))
    assert paths == (str(tree / 'root' / 'app'), 'Dockerfile')
    assert policy.build_paths(str(tree / 'root' / 'app'), 'sub/Dockerfile.dev').dockerfile == 'sub/Dockerfile.dev'


@pytest.mark.parametrize('context', ['root/app/../../outside', 'root/escape', 'outside', 'root/escape/.'])
def test_contexts_that_resolve_outside_the_roots_are_refused(tree, context):
    policy = Policy([str(tree / 'root')])
    with pytest.raises(NotAllowed, match='outside allowed_context_roots'):
        policy.build_paths(str(tree / context))


def test_a_root_is_a_directory_not_a_string_prefix(tree):
    (tree / 'root-evil').mkdir()
    (tree / 'root-evil' / 'Dockerfile').write_text('FROM scratch\n')
    with pytest.raises(NotAllowed):
        Policy([str(tree / 'root')]).build_paths(str(tree / 'root-evil'))


@pytest.mark.parametrize('dockerfile', ['../../outside/Dockerfile', 'link.Dockerfile'])
def test_a_dockerfile_outside_the_context_is_refused(tree, dockerfile):
    with pytest.raises(NotAllowed, match='outside the build context'):
        Policy([str(tree / 'root')]).build_paths(str(tree / 'root' / 'app'), dockerfile)


def test_absolute_dockerfile_relative_context_and_missing_things(tree):
    policy = Policy([str(tree / 'root')])
    with pytest.raises(InvalidRequest):
        policy.build_paths(str(tree / 'root' / 'app'), str(tree / 'outside' / 'Dockerfile'))
    with pytest.raises(InvalidRequest, match='absolute'):
        policy.build_paths('root/app')
    with pytest.raises(InvalidRequest):
        policy.build_paths('')
    with pytest.raises(NotFound, match='not a directory'):
        policy.build_paths(str(tree / 'root' / 'missing'))
    with pytest.raises(NotFound, match='no Dockerfile'):
        policy.build_paths(str(tree / 'root' / 'app'), 'Nope')


def test_no_roots_means_no_builds(tree):
    with pytest.raises(NotAllowed, match='none configured'):
        Policy([]).build_paths(str(tree / 'root' / 'app'))


def test_make_request_refuses_run_mount_and_read_only(tree):
    app = tree / 'root' / 'app'
    (app / 'Dockerfile.mount').write_text('FROM scratch\nRUN --mount=type=cache,target=/c true\n')
    with pytest.raises(NotAllowed, match='BuildKit'):
        build.make_request(Policy([str(tree / 'root')]), str(app), 'Dockerfile.mount')
    with pytest.raises(NotAllowed, match='read-only'):
        build.make_request(Policy([str(tree / 'root')], read_only=True), str(app))
    with pytest.raises(InvalidRequest, match='build arg'):
        build.make_request(Policy([str(tree / 'root')]), str(app), build_args=['NOEQUALS'])


@pytest.mark.parametrize('spelling', ['', 'docker.io', 'index.docker.io', 'https://index.docker.io/v1/',
                                      'registry-1.docker.io'])
def test_every_spelling_of_docker_hub_is_one_registry(spelling):
    assert normalize_registry(spelling) == 'docker.io'


def test_allowed_registries_for_push_pull_and_login():
    policy = Policy(allowed_registries=['127.0.0.1:5000', 'https://Registry.Example.com/'])
    transfer.check_push(policy, '127.0.0.1:5000/app:v1')
    transfer.check_pull(policy, 'registry.example.com/team/app:v1')
    with pytest.raises(NotAllowed, match='allowed_registries'):
        transfer.check_push(policy, '127.0.0.1:5001/app:v1')
    with pytest.raises(NotAllowed, match='allowed_registries'):
        transfer.check_pull(policy, 'busybox')  # Docker Hub
    with pytest.raises(NotAllowed, match='allowed_registries'):
        transfer.login(None, policy, Credentials(), 'evil.example.com', 'u', 'p')  # refused before Docker


def test_read_only_refuses_every_write_before_docker():
    policy = Policy(read_only=True)
    for check in (lambda: transfer.check_push(policy, 'r:5000/a:b'), lambda: transfer.check_pull(policy, 'a'),
                  lambda: transfer.login(None, policy, Credentials(), 'r:5000', 'u', 'p'),
                  policy.check_remove, lambda: policy.check_write('tag')):
        with pytest.raises(NotAllowed, match='read-only'):
            check()


def test_removal_can_be_switched_off():
    Policy().check_remove()
    with pytest.raises(NotAllowed, match='allow_remove'):
        Policy(allow_remove=False).check_remove()


def test_credentials_file_must_be_0600(tmp_path):
    path = tmp_path / 'creds.yaml'
    path.write_text('127.0.0.1:5000: {username: robot, password: s3cret-pw}\n')
    for mode in (0o644, 0o640, 0o604, 0o660):
        os.chmod(path, mode)
        with pytest.raises(NotAllowed, match='chmod 600'):
            Credentials().load_file(str(path))
    os.chmod(path, 0o600)
    creds = Credentials()
    assert creds.load_file(str(path)) == 1
    assert creds.auth_config('127.0.0.1:5000')['password'] == 's3cret-pw'
    assert 's3cret-pw' not in repr(creds)
    assert creds.auth_config('other:5000') is None


def test_credentials_file_of_the_wrong_shape(tmp_path):
    path = tmp_path / 'creds.yaml'
    path.write_text('127.0.0.1:5000: {username: robot}\n')
    os.chmod(path, 0o600)
    with pytest.raises(InvalidRequest, match='needs username and password'):
        Credentials().load_file(str(path))


def test_scrub_removes_the_password_and_its_base64():
    secret = 'pa55:word'
    encoded = base64.b64encode(secret.encode()).decode()
    text = scrub('a %s b %s c' % (secret, encoded), [secret])
    assert secret not in text and encoded not in text
