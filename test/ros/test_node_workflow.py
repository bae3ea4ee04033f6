"""The seed's workflow end to end, driven as a PC would: services, actions and topics of one real node.

Run a container, see it, diff it, commit it, tag the commit by id for a registry, log in, push with progress,
inspect its layers, remove it and pull it back; build with every line on ``~build_log``, and a failing RUN.
"""
from __future__ import annotations

import re

import docker.errors
import pytest
from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg
from rosnode_helpers import call, ok, run_goal, state_name
from stack import wait_for


def test_seed_workflow_container_commit_tag_login_push_inspect_pull(start_node, topics, docker_api, base_image,
                                                                     auth_registry, prefix, cleanup):
    node = start_node(ns='wflow')

    # A container that changed its file system, as someone fixing the robot by hand would leave it.
    box = prefix + '-wflow-box'
    container = docker_api.create_container(base_image, ['sh', '-c', 'echo hi > /hello; sleep 300'], name=box)
    cleanup.container(container['Id'])
    docker_api.start(container['Id'])
    wait_for(lambda: any(change['Path'] == '/hello' for change in docker_api.diff(container['Id']) or []), 30,
               'the container writing /hello')

    listed = ok(call(node, 'list_containers', all=False)).containers
    mine = [c for c in listed if c.id == container['Id']]
    assert len(mine) == 1, [c.name for c in listed]
    assert mine[0].name == box
    assert mine[0].image == base_image
    assert mine[0].status.startswith('Up')

    diff = ok(call(node, 'container_diff', container=box))
    assert '/hello' in diff.added
    assert '/hello' not in diff.changed and '/hello' not in diff.deleted

    # Commit with a message and an author; the daemon's own records must say the same.
    committed_ref = cleanup.image(prefix + '-wflow-commit:v1')
    commit = ok(call(node, 'commit', container=box, target=committed_ref, message='added /hello by hand',
                     author='Robot Fixer <fixer@example.com>', changes=['ENV FIXED=yes'], no_pause=False))
    assert commit.job_id.startswith('commit')
    attrs = docker_api.inspect_image(committed_ref)
    assert attrs['Id'] == commit.image_id
    assert attrs['Comment'] == 'added /hello by hand'
    assert attrs['Author'] == 'Robot Fixer <fixer@example.com>'
    assert 'FIXED=yes' in attrs['Config']['Env']
    newest = docker_api.history(commit.image_id)[0]
    assert newest['Comment'] == 'added /hello by hand'

    # Tag by image id (the short form `docker images` shows) under the registry host, as user/name:1.0.
    repo = prefix + '/wflow'
    remote = cleanup.image(auth_registry.ref(repo, '1.0'))
    short_id = commit.image_id.split(':', 1)[1][:12]
    tagged = ok(call(node, 'tag', source=short_id, target=remote))
    assert tagged.image_id == commit.image_id
    assert docker_api.inspect_image(remote)['Id'] == commit.image_id

    # Login: a wrong password fails with a message (and never echoes it), the right one works.
    wrong = call(node, 'login', registry=auth_registry.host, username=auth_registry.username,
                 password='not-' + auth_registry.password)
    assert not wrong.success
    assert wrong.message
    assert auth_registry.password not in wrong.message
    good = ok(call(node, 'login', registry=auth_registry.host, username=auth_registry.username,
                   password=auth_registry.password))
    assert auth_registry.password not in good.message

    # Push, with progress on ~push_progress ending at 100 % and done, and the registry's digest as result.
    push_progress = topics(node.service('push_progress'), msg.TransferProgress)
    feedback = []
    state, result = run_goal(node, 'push', image=remote, feedback=feedback)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), result.message)
    assert result.success
    assert result.digest == auth_registry.manifest_digest(repo, '1.0')
    assert result.digest.startswith('sha256:')
    assert result.size > 0
    final = push_progress.wait_for(lambda m: m.job_id == result.job_id and m.done, what='final push progress')
    assert final.percent == pytest.approx(100.0)
    assert final.error == ''
    assert final.direction == 'push'
    assert final.image == remote
    mine = push_progress.where(lambda m: m.job_id == result.job_id)
    assert [m.done for m in mine].count(True) == 1 and mine[-1].done, 'done must be the last message, once'
    assert all(0.0 <= m.percent <= 100.0 for m in mine)
    assert {layer.id for layer in final.layers}, 'the final progress lists no layers'
    assert feedback, 'no push feedback'
    assert all(f.progress.job_id == result.job_id for f in feedback)

    # Layers: base first, the commit's layer last; the base layer is shared, the commit's is not.
    base_layers = docker_api.inspect_image(base_image)['RootFS']['Layers']
    inspected = ok(call(node, 'inspect_image', image=remote))
    assert inspected.image.id == commit.image_id
    assert sorted(inspected.image.repo_tags) == sorted([committed_ref, remote])
    assert inspected.image.layer_count == len(base_layers) + 1
    assert [layer.diff_id for layer in inspected.layers] == attrs['RootFS']['Layers']
    assert inspected.layers[0].diff_id == base_layers[0]
    assert inspected.layers[0].shared_with >= 1  # at least the base image holds it
    assert inspected.layers[-1].shared_with == 0
    assert inspected.layers[-1].comment == 'added /hello by hand'
    assert inspected.layers[-1].size > 0

    # Remove both tags (the image goes with the second), then pull it back from the registry.
    untagged = ok(call(node, 'remove_image', image=committed_ref, force=False, prune_dangling=False))
    assert untagged.reclaimed_bytes == 0
    assert docker_api.inspect_image(remote)['Id'] == commit.image_id
    removed = ok(call(node, 'remove_image', image=remote, force=False, prune_dangling=False))
    assert removed.reclaimed_bytes > 0
    with pytest.raises(docker.errors.ImageNotFound):
        docker_api.inspect_image(commit.image_id)

    pull_progress = topics(node.service('pull_progress'), msg.TransferProgress)
    state, pulled = run_goal(node, 'pull', image=remote)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), pulled.message)
    assert pulled.image_id == commit.image_id
    assert pulled.digest == result.digest
    assert docker_api.inspect_image(remote)['Id'] == commit.image_id
    final = pull_progress.wait_for(lambda m: m.job_id == pulled.job_id and m.done, what='final pull progress')
    assert final.percent == pytest.approx(100.0)
    assert final.direction == 'pull'
    assert final.error == ''

    kinds = [job.kind for job in ok(call(node, 'list_jobs', limit=0, kind='')).jobs]
    assert kinds == ['pull', 'push', 'commit']
    assert auth_registry.password not in node.log()


BUILD_OK = '''\
    FROM {base}
    RUN echo first-line && echo second-line
    RUN for i in 1 2 3 4 5; do echo "counted-$i"; done
    RUN seq 1 3000 | sed 's/^/burst-/'
    LABEL made-by=wbuild
    '''


def test_build_publishes_every_line_on_build_log(start_node, topics, docker_api, base_image, prefix, cleanup,
                                                 contexts):
    node = start_node(ns='wbuild', params={'allowed_context_roots': [str(contexts.root)]})
    context = contexts('ok', BUILD_OK.format(base=base_image))
    build_log = topics(node.service('build_log'), msg.BuildLog)
    tags = [cleanup.image(prefix + '-wbuild:1'), cleanup.image(prefix + '-wbuild:extra')]
    feedback = []
    state, result = run_goal(node, 'build', context=str(context), tags=tags, no_cache=True, feedback=feedback)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), result.message)
    assert result.success
    assert list(result.tags) == tags
    attrs = docker_api.inspect_image(tags[0])
    assert attrs['Id'] == result.image_id
    assert docker_api.inspect_image(tags[1])['Id'] == result.image_id
    assert attrs['Config']['Labels'].get('made-by') == 'wbuild'

    # Every line of the job's log arrives on the topic, in order (the publisher runs apart from the build).
    log = ok(call(node, 'get_job_log', job_id=result.job_id, offset=0, max_lines=0))
    assert log.job.state == 'succeeded'
    assert 'counted-5' in log.lines and 'burst-3000' in log.lines
    wait_for(lambda: len(build_log.where(lambda m: m.job_id == result.job_id)) >= len(log.lines), 15,
               'all %d log lines on ~build_log' % len(log.lines))
    lines = build_log.where(lambda m: m.job_id == result.job_id)
    assert [m.line for m in lines] == log.lines

    steps = {m.line.split(' : ')[0]: (m.step, m.total_steps) for m in lines if m.line.startswith('Step ')}
    assert steps == {'Step %d/5' % step: (step, 5) for step in range(1, 6)}
    by_line = {m.line: m for m in lines}
    assert (by_line['first-line'].step, by_line['first-line'].total_steps) == (2, 5)
    assert (by_line['counted-3'].step, by_line['counted-3'].total_steps) == (3, 5)
    assert [m.line for m in lines if m.line.startswith('burst-')] == ['burst-%d' % i for i in range(1, 3001)]
    assert {(m.step, m.total_steps) for m in lines if m.line.startswith('burst-')} == {(4, 5)}
    assert all(m.stream in ('stdout', 'status', 'error') for m in lines)
    assert all(m.header.stamp.to_sec() > 0 for m in lines)

    assert feedback, 'no build feedback'
    assert all(f.job_id == result.job_id for f in feedback)
    assert {f.line for f in feedback} <= set(log.lines)
    assert any(f.line == 'counted-3' and f.step == 3 and f.total_steps == 5 for f in feedback)


def test_failing_run_aborts_with_its_exit_code(start_node, topics, docker_api, base_image, prefix, cleanup,
                                               contexts):
    node = start_node(ns='wfail', params={'allowed_context_roots': [str(contexts.root)]})
    context = contexts('fails', '''\
        FROM {base}
        RUN echo about-to-fail && exit 3
        '''.format(base=base_image))
    build_log = topics(node.service('build_log'), msg.BuildLog)
    target = cleanup.image(prefix + '-wfail:1')
    state, result = run_goal(node, 'build', context=str(context), tags=[target], no_cache=True)
    assert state == GoalStatus.ABORTED, (state_name(state), result.message)
    assert not result.success
    assert re.search(r'non-zero code: 3\b', result.message), result.message
    assert result.image_id == ''
    build_log.wait_for(lambda m: m.job_id == result.job_id and m.line == 'about-to-fail', 15, what='RUN output')
    error = build_log.wait_for(lambda m: m.job_id == result.job_id and m.stream == 'error', 15, what='error line')
    assert 'non-zero code: 3' in error.line
    with pytest.raises(docker.errors.ImageNotFound):
        docker_api.inspect_image(target)
    job = ok(call(node, 'list_jobs', limit=1, kind='build')).jobs[0]
    assert (job.job_id, job.state) == (result.job_id, 'failed')
    assert job.message == result.message
