"""Image references: Docker's grammar (github.com/distribution/reference), push and target rules, messages."""
from __future__ import annotations

import pytest

from docker_image_manager.core import references
from docker_image_manager.core.errors import ImageManagerError, InvalidRequest
from docker_image_manager.core.references import Reference

HEX64 = '0123456789abcdef' * 4
DIGEST = 'sha256:' + HEX64


@pytest.mark.parametrize('text, expected', [
    ('ubuntu', Reference('', 'ubuntu', '', '')),
    ('ubuntu:22.04', Reference('', 'ubuntu', '22.04', '')),
    ('user/name:1.0', Reference('', 'user/name', '1.0', '')),
    ('a/b/c/d', Reference('', 'a/b/c/d', '', '')),
    ('docker.io/library/ubuntu:latest', Reference('docker.io', 'library/ubuntu', 'latest', '')),
    ('localhost/app', Reference('localhost', 'app', '', '')),
    ('localhost:5000/app:v1', Reference('localhost:5000', 'app', 'v1', '')),
    ('127.0.0.1:5000/team/app:v1', Reference('127.0.0.1:5000', 'team/app', 'v1', '')),
    ('[::1]:5000/app', Reference('[::1]:5000', 'app', '', '')),
    ('Registry.Example.com/app', Reference('Registry.Example.com', 'app', '', '')),  # hosts may be upper case
    ('my-host.example/app', Reference('my-host.example', 'app', '', '')),
    ('ns/a.b_c__d-e--f', Reference('', 'ns/a.b_c__d-e--f', '', '')),
    ('app:_Tag.With-Mixed_Case', Reference('', 'app', '_Tag.With-Mixed_Case', '')),
    ('app:' + 'x' * 128, Reference('', 'app', 'x' * 128, '')),
    ('app@' + DIGEST, Reference('', 'app', '', DIGEST)),
    ('127.0.0.1:5000/app:v1@' + DIGEST, Reference('127.0.0.1:5000', 'app', 'v1', DIGEST)),
    ('app@sha256:' + 'a' * 32, Reference('', 'app', '', 'sha256:' + 'a' * 32)),
    ('app@sha512:' + 'f' * 128, Reference('', 'app', '', 'sha512:' + 'f' * 128)),
    # Without a '/' the part after ':' is a tag, as Docker reads it: "host:5000" is repository "host".
    ('host:5000', Reference('', 'host', '5000', '')),
])
def test_valid_references_parse_into_their_parts(text, expected):
    ref = references.parse(text)
    assert ref == expected
    assert str(ref) == text


@pytest.mark.parametrize('text, part', [
    ('Ubuntu', 'lowercase'),
    ('user/Name', 'lowercase'),
    ('app/', 'may only hold'),
    ('a//b', 'may only hold'),
    ('-app', 'may only hold'),
    ('app-', 'may only hold'),
    ('a..b', 'may only hold'),
    ('a___b', 'may only hold'),
    ('a/b$', 'may only hold'),
    (':tag', 'repository name is empty'),
    ('127.0.0.1:5000/:v1', 'repository name is empty'),
    ('host:port/app', 'registry host[:port]'),
    ('-bad.example/app', 'registry host[:port]'),
    ('bad_host.example/app', 'registry host[:port]'),
    ('app:', 'tag'),
    ('app:-leading-dash', 'tag'),
    ('app:.leading-dot', 'tag'),
    ('app:' + 'x' * 129, 'tag'),
    # A first component with '.' or ':' is a registry host, as in Docker: these fail as hosts.
    ('app:tag/with/slash', 'registry host[:port]'),
    ('a.b_c/x', 'registry host[:port]'),
    ('app:t\u00e4g', 'tag'),  # Go's \w is ASCII only
    ('app@', 'digest'),
    ('app@sha256:' + 'a' * 31, 'digest'),
    ('app@sha256:' + 'g' * 64, 'digest'),
    ('app@' + HEX64, 'digest'),
    ('app@256:' + HEX64, 'digest'),
    ('a' * 256, 'longer than 255'),
    ('example.com/' + 'a' * 244, 'longer than 255'),
])
def test_invalid_references_are_refused_with_the_input_quoted(text, part):
    with pytest.raises(InvalidRequest) as caught:
        references.parse(text)
    message = str(caught.value)
    assert repr(text) in message
    assert part in message


def test_the_name_length_limit_counts_the_domain():
    assert references.parse('example.com/' + 'a' * 243).path == 'a' * 243  # 11 + 1 + 243 = 255
    assert references.parse('a' * 255).path == 'a' * 255


@pytest.mark.parametrize('text', [' app', 'app ', 'app :v1', 'app:v1\n', 'a\tb', 'app\u00a0x'])
def test_white_space_anywhere_is_refused(text):
    with pytest.raises(InvalidRequest) as caught:
        references.parse(text)
    assert 'white space' in str(caught.value)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize('text', ['', '   ', None, 42])
def test_an_empty_or_missing_reference_is_refused(text):
    with pytest.raises(InvalidRequest) as caught:
        references.parse(text)
    assert 'required' in str(caught.value)


def test_invalid_request_is_both_an_image_manager_error_and_a_value_error():
    with pytest.raises(ImageManagerError):
        references.parse('Bad')
    with pytest.raises(ValueError):
        references.parse('Bad')


def test_repository_and_registry():
    ref = references.parse('127.0.0.1:5000/team/app:v1')
    assert (ref.repository, ref.registry) == ('127.0.0.1:5000/team/app', '127.0.0.1:5000')
    hub = references.parse('team/app')
    assert (hub.repository, hub.registry) == ('team/app', 'docker.io')


def test_split_tag_gives_none_without_a_tag():
    assert references.split_tag(references.parse('127.0.0.1:5000/app:v1')) == ('127.0.0.1:5000/app', 'v1')
    assert references.split_tag(references.parse('app')) == ('app', None)


# --------------------------------------------------------------------------------------------------
# Targets and pushes


def test_parse_target_accepts_repo_and_tag():
    assert references.parse_target('127.0.0.1:5000/app:v1') == Reference('127.0.0.1:5000', 'app', 'v1', '')
    assert references.parse_target('app') == Reference('', 'app', '', '')


@pytest.mark.parametrize('text', ['app@' + DIGEST, 'app:v1@' + DIGEST])
def test_parse_target_refuses_a_digest(text):
    with pytest.raises(InvalidRequest) as caught:
        references.parse_target(text)
    assert repr(text) in str(caught.value)
    assert 'digest cannot be assigned' in str(caught.value)


def test_parse_push_needs_a_tag_and_says_how_to_give_one():
    assert references.parse_push('127.0.0.1:5000/app:v1').tag == 'v1'
    with pytest.raises(InvalidRequest) as caught:
        references.parse_push('127.0.0.1:5000/app')
    message = str(caught.value)
    assert repr('127.0.0.1:5000/app') in message
    assert 'without a tag' in message
    assert '"127.0.0.1:5000/app:latest"' in message


@pytest.mark.parametrize('text, part', [('app:v1@' + DIGEST, 'digest'), ('App:v1', 'lowercase'), ('', 'required')])
def test_parse_push_refuses_what_parse_target_refuses(text, part):
    with pytest.raises(InvalidRequest) as caught:
        references.parse_push(text)
    assert part in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Ids and sources


@pytest.mark.parametrize('text, expected', [
    ('sha256:' + HEX64, True),
    (HEX64, True),
    ('0123abcd', True),
    ('sha256:0123', True),
    ('0123ABCD', False),
    ('abc\n', False),
    ('sha256:' + HEX64 + '0', False),
    ('', False),
    ('ubuntu', False),
])
def test_looks_like_id(text, expected):
    assert references.looks_like_id(text) is expected


def test_parse_source_takes_ids_and_names_unchanged_and_refuses_bad_names():
    assert references.parse_source('0123abcd') == '0123abcd'
    assert references.parse_source('app:v1') == 'app:v1'
    with pytest.raises(InvalidRequest) as caught:
        references.parse_source('Not/Valid')
    assert repr('Not/Valid') in str(caught.value)
