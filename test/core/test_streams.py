"""Stream parsing on streams recorded from the real daemon (test/data/streams), hand-made edge cases, and a live build.

The recordings are made by ``test/data/record_streams.py``; ``index.json`` there says how each was made.
Their ids, ports and digests differ from one recording to the next, so the tests compare the parsed events with
the raw chunks of the same file, never with constants.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from docker_image_manager.core import streams
from docker_image_manager.core.streams import (BuildResult, LayerStatus, LogLine, PullResult, PushResult, Status,
                                               StreamError)

STREAMS = Path(__file__).resolve().parents[1] / 'data' / 'streams'
SHA256 = re.compile(r'^sha256:[0-9a-f]{64}$')


def chunks(case: str) -> List[Dict[str, Any]]:
    """The decoded chunks of a recorded case, in order."""
    with open(STREAMS / (case + '.jsonl')) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def raised(case: str) -> str:
    """What the SDK raised while recording ``case`` (``module.Class: message``)."""
    return (STREAMS / (case + '.error.txt')).read_text().strip()


def build(case: str) -> List[Any]:
    return list(streams.build_events(chunks(case)))


def transfer(case: str) -> List[Any]:
    return list(streams.transfer_events(chunks(case)))


def of_type(events: List[Any], kind: type) -> List[Any]:
    return [event for event in events if isinstance(event, kind)]


def last_status_by_layer(events: List[Any]) -> Dict[str, str]:
    last: Dict[str, str] = {}
    for event in of_type(events, LayerStatus):
        last[event.id] = event.status
    return last


def pushed_repository(events: List[Any]) -> str:
    """``path`` of "The push refers to repository [host:port/path]"."""
    for event in of_type(events, Status):
        match = re.match(r'^The push refers to repository \[[^/]+/(.+)\]$', event.text)
        if match:
            return match.group(1)
    raise AssertionError('no "The push refers to repository" line in %r' % events[:3])


# --------------------------------------------------------------------------------------------------
# The recordings themselves


def test_index_lists_every_recorded_case_with_its_chunk_count():
    index = json.loads((STREAMS / 'index.json').read_text())
    recorded = sorted(path.name[:-len('.jsonl')] for path in STREAMS.glob('*.jsonl'))
    assert sorted(index['cases']) == recorded
    for case, info in index['cases'].items():
        assert info['chunks'] == len(chunks(case)), case
        assert (STREAMS / (case + '.error.txt')).exists() == bool(info['raised'] or info['capped']), case


# --------------------------------------------------------------------------------------------------
# Builds


def test_build_ok_carries_step_and_total_on_every_line():
    events = build('build_ok')
    lines = of_type(events, LogLine)
    headers = [line for line in lines if line.text.startswith('Step ')]
    assert [(line.step, line.total) for line in headers] == [(k, 7) for k in range(1, 8)]
    # Every line after "Step k/7" carries k, up to the next header.
    step = 0
    for line in lines:
        match = re.match(r'^Step (\d+)/7 : ', line.text)
        if match:
            step = int(match.group(1))
        assert (line.step, line.total) == (step, 7), line
    assert all(line.stream == 'stdout' for line in lines)


def test_build_ok_lines_are_whole_lines_with_the_run_output_at_its_step():
    lines = of_type(build('build_ok'), LogLine)
    texts = [line.text for line in lines]
    # The builder sends each "Step" header and its newline as two chunks: no empty line may come of it.
    assert '' not in texts
    assert sum(1 for chunk in chunks('build_ok') if chunk.get('stream') == '\n') == 7
    by_text = {line.text: line.step for line in lines}
    assert by_text['recorded from the first RUN'] == 4  # the build arg reached the RUN
    assert [by_text[n] for n in ('1', '2', '3')] == [4, 4, 4]
    assert by_text['payload line 2'] == 6
    # stderr comes wrapped in ANSI colour codes; the line keeps only its text.
    assert any('\x1b[' in chunk.get('stream', '') for chunk in chunks('build_ok'))
    assert by_text['to-stderr'] == 7
    assert not any('\x1b' in text for text in texts)


def test_build_ok_result_is_the_image_id_in_the_stream():
    events = build('build_ok')
    aux_ids = [chunk['aux']['ID'] for chunk in chunks('build_ok') if 'aux' in chunk]
    assert len(aux_ids) == 1 and SHA256.match(aux_ids[0])
    results = of_type(events, BuildResult)
    # The aux object gives the full id, then "Successfully built <short id>" repeats its first 12 digits.
    assert results[0].image_id == aux_ids[0]
    assert [r.image_id for r in results[1:]] == [aux_ids[0][len('sha256:'):][:12]]
    assert 'Successfully built %s' % results[1].image_id in [line.text for line in of_type(events, LogLine)]
    assert of_type(events, StreamError) == []


def test_build_run_fails_gives_the_exit_code_and_the_daemons_message():
    events = build('build_run_fails')
    error_chunk = chunks('build_run_fails')[-1]
    assert events[-1] == StreamError(error_chunk['errorDetail']['message'], 3)
    assert events[-1].message.endswith('returned a non-zero code: 3')
    assert 'exit 3' in events[-1].message
    lines = of_type(events, LogLine)
    assert [(l.text, l.step, l.total) for l in lines if l.text.endswith(' output')] == [
        ('some output', 3, 4), ('more output', 3, 4)]
    assert of_type(events, BuildResult) == []
    assert not any(l.text.startswith('Step 4/4') for l in lines)


def test_build_run_mount_is_refused_by_the_classic_builder_as_a_stream_error():
    events = build('build_run_mount')
    assert events[-1].__class__ is StreamError
    assert 'the --mount option requires BuildKit' in events[-1].message
    assert events[-1].code == 0  # no exit code: nothing ran
    headers = [l for l in of_type(events, LogLine) if l.text.startswith('Step ')]
    assert (headers[-1].step, headers[-1].total) == (2, 2)
    assert of_type(events, BuildResult) == []


@pytest.mark.parametrize('case, status, message', [
    ('build_syntax_error', '400 Client Error', 'unknown instruction: FROBNICATE'),
    ('build_missing_dockerfile', '500 Server Error', 'Cannot locate specified Dockerfile: Dockerfile'),
])
def test_build_errors_before_the_stream_starts_are_raised_by_the_sdk(case, status, message):
    # Not stream chunks: the daemon answers with an HTTP error and the SDK raises APIError from the
    # generator's first next() (index.json: raised_at "iteration"), so a builder must catch it there.
    assert chunks(case) == []
    text = raised(case)
    assert text.startswith('docker.errors.APIError: ')
    assert status in text and message in text
    index = json.loads((STREAMS / 'index.json').read_text())
    assert index['cases'][case]['raised_at'] == 'iteration'


# --------------------------------------------------------------------------------------------------
# Pushes


def push_end(case: str):
    events = transfer(case)
    results = of_type(events, PushResult)
    assert len(results) == 1, case
    return events, results[0]


def test_push_ok_ends_with_the_digest_and_size_of_the_status_line():
    events, end = push_end('push_ok')
    assert events[-1] == end
    assert end.tag == 'v1'
    assert SHA256.match(end.digest)
    statuses = [e.text for e in of_type(events, Status)]
    assert 'v1: digest: %s size: %d' % (end.digest, end.size) in statuses
    assert end.size > 0
    assert streams.digest_of_status(statuses[-1]) == end.digest
    aux = chunks('push_ok')[-1]['aux']
    assert (end.digest, end.size) == (aux['Digest'], aux['Size'])


def test_push_ok_every_layer_goes_from_preparing_to_pushed_with_bytes():
    events = transfer('push_ok')
    layers = of_type(events, LayerStatus)
    ids = [l.id for l in layers if l.status == 'Preparing']
    assert len(ids) == 4  # base, COPY and two RUNs that write files
    assert set(last_status_by_layer(events)) == set(ids)
    assert all(status == 'Pushed' for status in last_status_by_layer(events).values())
    pushing = [l for l in layers if l.status == 'Pushing']
    assert pushing and all(l.current > 0 and l.total > 0 for l in pushing)
    assert of_type(events, StreamError) == []


def test_push_to_the_same_repository_finds_every_layer_already_there():
    events, end = push_end('push_same_repo_tag')
    _, first = push_end('push_ok')
    assert set(last_status_by_layer(events).values()) == {'Layer already exists'}
    assert not any(l.status == 'Pushing' for l in of_type(events, LayerStatus))
    assert (end.tag, end.digest, end.size) == ('v2', first.digest, first.size)


def test_push_to_another_repository_mounts_the_layers_from_the_first():
    events, end = push_end('push_second_tag')
    ok_events, first = push_end('push_ok')
    source = pushed_repository(ok_events)
    assert pushed_repository(events) != source
    statuses = set(last_status_by_layer(events).values())
    assert statuses <= {'Mounted from ' + source, 'Layer already exists'}
    assert 'Mounted from ' + source in statuses
    assert set(last_status_by_layer(events)) == set(last_status_by_layer(ok_events))
    assert end.digest == first.digest


def test_push_with_a_wrong_password_ends_with_the_registrys_refusal():
    events = transfer('push_auth_fail')
    assert events[-1] == StreamError('unauthorized: authentication required', 0)
    assert of_type(events, PushResult) == []
    assert set(last_status_by_layer(events).values()) == {'Preparing'}


def test_push_to_a_closed_port_fails_at_once_without_retries():
    events = transfer('push_registry_down')
    address = re.search(r'\[(127\.0\.0\.1:\d+)/', events[0].text).group(1)
    assert events[-1].__class__ is StreamError
    assert 'dial tcp %s: connect: connection refused' % address in events[-1].message
    assert of_type(events, LayerStatus) == []
    assert of_type(events, PushResult) == []


def test_push_to_a_registry_that_drops_connections_retries_each_layer_then_fails():
    events = transfer('push_registry_drops')
    retries = [l for l in of_type(events, LayerStatus) if l.status.startswith('Retrying in ')]
    layers = {l.id for l in of_type(events, LayerStatus)}
    assert {l.id for l in retries} == layers
    waits = {int(re.match(r'Retrying in (\d+) seconds?$', l.status).group(1)) for l in retries}
    assert {5, 10, 15, 20} <= waits
    assert events[-1] == StreamError('EOF', 0)
    assert of_type(events, PushResult) == []


# --------------------------------------------------------------------------------------------------
# Pulls


def test_pull_ok_ends_with_the_pushed_digest_and_not_up_to_date():
    events = transfer('pull_ok')
    _, pushed = push_end('push_ok')
    assert events[-1] == PullResult(pushed.digest, False)
    assert events[-2] == Status('Status: Downloaded newer image for %s' % chunks('pull_ok')[-1]['status']
                                .split(' for ', 1)[1])
    last = last_status_by_layer(events)
    # The base layer is still local (the base image holds it); the others are downloaded.
    assert sorted(last.values()).count('Already exists') == 1
    assert set(last.values()) == {'Already exists', 'Pull complete'}
    # "Pulling from <repo>" has the tag as its id: it is no layer.
    assert 'v1' not in last
    assert isinstance(events[0], Status) and events[0].text.startswith('Pulling from ')


def test_pull_up_to_date_says_so_with_the_same_digest():
    events = transfer('pull_up_to_date')
    _, pushed = push_end('push_ok')
    assert events[-1] == PullResult(pushed.digest, True)
    assert of_type(events, LayerStatus) == []


def test_pull_of_an_unknown_repository_is_raised_by_the_sdk():
    assert chunks('pull_not_found') == []
    text = raised('pull_not_found')
    assert text.startswith('docker.errors.NotFound: 404 Client Error')
    assert 'manifest unknown' in text
    index = json.loads((STREAMS / 'index.json').read_text())
    assert index['cases']['pull_not_found']['raised_at'] == 'call'


# --------------------------------------------------------------------------------------------------
# Hand-made chunks


def test_a_stream_chunk_with_several_lines_gives_one_event_each_and_moves_the_step():
    events = list(streams.build_events([
        {'stream': 'Step 1/3 : FROM x\n'},
        {'stream': 'a\nb\nStep 2/3 : RUN y\nc\n'},
    ]))
    assert events == [LogLine('Step 1/3 : FROM x', 1, 3, 'stdout'), LogLine('a', 1, 3, 'stdout'),
                      LogLine('b', 1, 3, 'stdout'), LogLine('Step 2/3 : RUN y', 2, 3, 'stdout'),
                      LogLine('c', 2, 3, 'stdout')]


def test_a_line_split_across_chunks_is_joined():
    events = list(streams.build_events([{'stream': 'Step 1/1 : RUN z'}, {'stream': '\n'},
                                        {'stream': 'part-a'}, {'stream': ' part-b\nnext'}, {'stream': '\n'}]))
    assert [e.text for e in events] == ['Step 1/1 : RUN z', 'part-a part-b', 'next']
    assert all(e.step == 1 for e in events)


def test_a_stderr_line_between_the_pieces_of_a_stdout_line_stays_apart():
    # The classic builder colour-wraps each stderr write; stdout and stderr arrive interleaved as written.
    events = list(streams.build_events([{'stream': 'piece-a '}, {'stream': '\x1b[91mwarn\n\x1b[0m'},
                                        {'stream': 'piece-b\n'}, {'stream': '\x1b[91mhalf \x1b[0m'},
                                        {'stream': '\x1b[91mline\n\x1b[0m'}]))
    assert [e.text for e in events] == ['warn', 'piece-a piece-b', 'half line']


def test_an_empty_line_the_build_printed_is_kept():
    events = list(streams.build_events([{'stream': 'one\n'}, {'stream': '\n'}, {'stream': 'two\n'}]))
    assert [e.text for e in events] == ['one', '', 'two']


def test_a_partial_last_line_is_flushed_before_an_error_and_at_the_end():
    events = list(streams.build_events([{'stream': 'no newline yet'}, {'error': 'boom'}]))
    assert events == [LogLine('no newline yet', 0, 0, 'stdout'), StreamError('boom', 0)]
    assert list(streams.build_events([{'stream': 'tail'}])) == [LogLine('tail', 0, 0, 'stdout')]


def test_an_error_without_error_detail_keeps_the_message_and_code_zero():
    assert streams.parse_build_chunk({'error': 'something went wrong\n'}) == [
        StreamError('something went wrong', 0)]
    assert streams.parse_transfer_chunk({'error': 'denied: requested access to the resource is denied'}) == [
        StreamError('denied: requested access to the resource is denied', 0)]


def test_an_error_without_a_code_takes_the_exit_code_from_its_message():
    chunk = {'errorDetail': {'message': "The command '/bin/sh -c false' returned a non-zero code: 7"}}
    assert streams.parse_build_chunk(chunk) == [
        StreamError("The command '/bin/sh -c false' returned a non-zero code: 7", 7)]


def test_an_error_detail_code_wins_and_its_message_over_error():
    chunk = {'errorDetail': {'code': 2, 'message': 'detailed'}, 'error': 'short'}
    assert streams.parse_build_chunk(chunk) == [StreamError('detailed', 2)]


def test_a_status_chunk_in_a_build_is_a_status_line():
    chunk = {'status': 'Downloading', 'progress': '[=>   ] 1MB/2MB', 'id': 'abc123',
             'progressDetail': {'current': 1, 'total': 2}}
    assert streams.parse_build_chunk(chunk, 2, 5) == [LogLine('abc123: Downloading [=>   ] 1MB/2MB', 2, 5, 'status')]


def test_chunks_with_nothing_to_say_give_no_event():
    assert streams.parse_build_chunk({}) == []
    assert streams.parse_build_chunk({'aux': {'not': 'an id'}}) == []
    assert streams.parse_transfer_chunk({'progressDetail': {}}) == []
    assert streams.parse_transfer_chunk({'aux': {'Tag': 'v1'}}) == []


def test_a_layer_chunk_without_progress_detail_has_zero_bytes():
    assert streams.parse_transfer_chunk({'status': 'Waiting', 'id': 'abc'}) == [LayerStatus('abc', 'Waiting', 0, 0)]


def test_a_pull_end_without_a_digest_line_has_an_empty_digest():
    events = list(streams.transfer_events([{'status': 'Status: Image is up to date for x:1'}]))
    assert events == [Status('Status: Image is up to date for x:1'), PullResult('', True)]


# --------------------------------------------------------------------------------------------------
# Live


def _build(docker_api, dockerfile: str, tag: str) -> List[Dict[str, Any]]:
    return list(docker_api.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, decode=True,
                                 rm=True, forcerm=True))


def test_a_live_build_parses_into_lines_steps_and_its_id(docker_api, base_image, prefix, cleanup):
    tag = cleanup.image('%s/streams-live:1' % prefix)
    dockerfile = ('FROM %s\n'
                  'RUN echo live-one && echo live-two\n'
                  # Written in two pieces: whether or not they arrive as two chunks, one line comes out.
                  "RUN printf 'piece-a '; sleep 0.3; printf 'piece-b\\n'; echo on-stderr >&2\n" % base_image)
    raw = _build(docker_api, dockerfile, tag)
    events = list(streams.build_events(raw))
    lines = of_type(events, LogLine)
    by_text = {line.text: (line.step, line.total) for line in lines}
    assert by_text['live-one'] == (2, 3) and by_text['live-two'] == (2, 3)
    assert by_text['piece-a piece-b'] == (3, 3)
    assert by_text['on-stderr'] == (3, 3)
    assert '' not in by_text
    results = of_type(events, BuildResult)
    assert results and results[0].image_id == docker_api.inspect_image(tag)['Id']
    assert of_type(events, StreamError) == []


def test_a_live_failing_build_gives_the_exit_code(docker_api, base_image, prefix, cleanup):
    tag = cleanup.image('%s/streams-live-fails:1' % prefix)
    raw = _build(docker_api, 'FROM %s\nRUN echo about to fail; exit 5\n' % base_image, tag)
    events = list(streams.build_events(raw))
    assert events[-1].__class__ is StreamError
    assert events[-1].code == 5
    assert 'returned a non-zero code: 5' in events[-1].message
    assert 'about to fail' in [line.text for line in of_type(events, LogLine)]
    assert of_type(events, BuildResult) == []
