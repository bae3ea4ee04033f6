"""Expected failures on a real daemon: ``success: false`` (or an ended goal) with a message that says what to do."""
from __future__ import annotations

from actionlib_msgs.msg import GoalStatus

from rosnode_helpers import call, ok, run_goal, state_name


def refused(response, *words: str) -> str:
    assert not response.success, response
    for word in words:
        assert word in response.message, (word, response.message)
    assert 'Traceback' not in response.message
    return response.message


def test_expected_failures_say_what_went_wrong(start_node, rospy_client, docker_api, base_image, prefix, cleanup,
                                               contexts):
    node = start_node(ns='cfail', params={'allowed_context_roots': [str(contexts.root)]})
    missing_image = prefix + '-missing:1'
    missing_box = prefix + '-no-such-box'

    refused(call(node, 'inspect_image', image=missing_image), missing_image, 'list_images')
    refused(call(node, 'tag', source=missing_image, target=prefix + '-x:1'), missing_image)
    refused(call(node, 'remove_image', image=missing_image, force=False, prune_dangling=False), missing_image)
    refused(call(node, 'container_diff', container=missing_box), missing_box, 'list_containers')
    failed_commit = call(node, 'commit', container=missing_box, target=prefix + '-x:1')
    refused(failed_commit, missing_box)
    assert failed_commit.job_id, 'a commit that ran as a job names it, for get_job_log'
    refused(call(node, 'get_job_log', job_id='build-000000000000', offset=0, max_lines=0), 'build-000000000000',
            'list_jobs')
    refused(call(node, 'login', registry='127.0.0.1:1', username='u', password='p'), '127.0.0.1:1')

    # An image a container uses is not removed without force, and the message says why.
    box = docker_api.create_container(base_image, ['true'], name=prefix + '-cfail-box')
    cleanup.container(box['Id'])
    in_use = cleanup.image(prefix + '-cfail-inuse:1')
    image_id = ok(call(node, 'commit', container=box['Id'], target=in_use)).image_id
    user = docker_api.create_container(in_use, ['true'], name=prefix + '-cfail-user')
    cleanup.container(user['Id'])
    refused(call(node, 'remove_image', image=in_use, force=False, prune_dangling=False), 'container')
    assert docker_api.inspect_image(in_use)['Id'] == image_id

    # Builds the daemon refuses end ABORTED; a missing Dockerfile is refused before.
    broken = contexts('broken', 'FROM %s\nNOT_AN_INSTRUCTION here\n' % base_image)
    state, result = run_goal(node, 'build', context=str(broken), tags=[prefix + '-broken:1'])
    assert state == GoalStatus.ABORTED, (state_name(state), result.message)
    assert 'NOT_AN_INSTRUCTION' in result.message.upper(), result.message
    empty = contexts('empty', 'FROM %s\n' % base_image)
    (empty / 'Dockerfile').unlink()
    state, result = run_goal(node, 'build', context=str(empty))
    assert state == GoalStatus.REJECTED, (state_name(state), result.message)
    assert 'Dockerfile' in result.message
    state, result = run_goal(node, 'build', context=str(contexts('base', 'FROM %s-nothing:1\n' % prefix)))
    assert state == GoalStatus.ABORTED, (state_name(state), result.message)
    assert '%s-nothing' % prefix in result.message

    assert 'Traceback' not in node.log()
