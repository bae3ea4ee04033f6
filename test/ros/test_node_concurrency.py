"""Goals from several clients at once: queued within the limits, never pre-empted; cancel really stops the daemon."""
from __future__ import annotations

import re
import time

from actionlib_msgs.msg import GoalStatus

from docker_image_manager import msg
from rosnode_helpers import action_client, call, finish, goal, ok, state_name
from stack import wait_for

SLOW_BUILD = '''\
    FROM {base}
    ARG WHO
    RUN echo "building for $WHO" && sleep 2 && echo "$WHO" > /who
    '''


def test_two_clients_build_at_once_and_the_second_waits_its_turn(start_node, topics, docker_api, base_image,
                                                                 prefix, cleanup, contexts):
    node = start_node(ns='cbuild2', params={'allowed_context_roots': [str(contexts.root)],
                                            'max_concurrent_builds': 1})
    context = contexts('slow', SLOW_BUILD.format(base=base_image))
    jobs = topics(node.service('jobs'), msg.JobStatus)
    first_tag, second_tag = cleanup.image(prefix + '-cbuild:first'), cleanup.image(prefix + '-cbuild:second')
    first, second = action_client(node, 'build'), action_client(node, 'build')

    first.send_goal(goal('build', context=str(context), tags=[first_tag], build_args=['WHO=first'], no_cache=True))
    running = jobs.wait_for(lambda m: m.kind == 'build' and m.state == 'running', what='first build running')
    second.send_goal(goal('build', context=str(context), tags=[second_tag], build_args=['WHO=second'],
                          no_cache=True))
    queued = jobs.wait_for(lambda m: m.kind == 'build' and m.job_id != running.job_id and m.state == 'queued',
                           what='second build queued')

    first_state, first_result = finish(first)
    second_state, second_result = finish(second)
    assert first_state == GoalStatus.SUCCEEDED, (state_name(first_state), first_result.message)
    assert second_state == GoalStatus.SUCCEEDED, (state_name(second_state), second_result.message)
    assert (first_result.job_id, second_result.job_id) == (running.job_id, queued.job_id)
    assert first_result.image_id != second_result.image_id
    assert docker_api.inspect_image(first_tag)['Id'] == first_result.image_id
    assert docker_api.inspect_image(second_tag)['Id'] == second_result.image_id

    # One build at a time: the second started only once the first had finished.
    listed = {job.job_id: job for job in ok(call(node, 'list_jobs', limit=0, kind='build')).jobs}
    assert listed[second_result.job_id].started >= listed[first_result.job_id].finished
    states = [m.state for m in jobs.where(lambda m: m.job_id == second_result.job_id)]
    assert states == ['queued', 'running', 'succeeded']


def test_cancel_stops_a_sleeping_build_and_leaves_no_container(start_node, topics, docker_api, base_image, prefix,
                                                                cleanup, contexts):
    node = start_node(ns='ccancel', params={'allowed_context_roots': [str(contexts.root)],
                                            'max_concurrent_builds': 1})
    context = contexts('sleeper', '''\
        FROM {base}
        RUN sleep 120
        '''.format(base=base_image))
    build_log = topics(node.service('build_log'), msg.BuildLog)
    jobs = topics(node.service('jobs'), msg.JobStatus)
    target, waiting_target = cleanup.image(prefix + '-ccancel:1'), cleanup.image(prefix + '-ccancel:2')
    # Queried once before the build: the first inspect_image of a node inspects every local image for
    # shared_with, which on a daemon holding many images takes a while, build or not.
    ok(call(node, 'inspect_image', image=base_image))
    client = action_client(node, 'build')
    client.send_goal(goal('build', context=str(context), tags=[target], no_cache=True))

    # The RUN step's container is running when the builder says so.
    line = build_log.wait_for(lambda m: m.line.startswith(' ---> Running in '), 60, what='"Running in" line')
    short_id = line.line.split()[-1]
    assert re.match(r'^[0-9a-f]{12}$', short_id), line.line
    running = wait_for(lambda: docker_api.containers(filters={'id': short_id}), 15, 'the RUN container up')
    assert 'sleep 120' in running[0]['Command']

    # Queries never wait behind the build (it would hold them for two minutes).
    asked = time.monotonic()
    assert ok(call(node, 'list_images', filter=base_image, all=False)).images
    ok(call(node, 'inspect_image', image=base_image))
    assert [job.state for job in ok(call(node, 'list_jobs', limit=0, kind='build')).jobs] == ['running']
    assert time.monotonic() - asked < 20

    # A second goal waits its turn; cancelling it ends it at once and leaves the running build alone.
    waiting = action_client(node, 'build')
    waiting.send_goal(goal('build', context=str(context), tags=[waiting_target], no_cache=True))
    queued = jobs.wait_for(lambda m: m.state == 'queued' and m.target == waiting_target, what='second goal queued')
    waiting.cancel_goal()
    state, waited = finish(waiting, 30)
    assert state == GoalStatus.PREEMPTED, (state_name(state), waited.message)
    assert waited.job_id == queued.job_id
    assert 'queued' in waited.message
    assert client.get_state() == GoalStatus.ACTIVE
    assert docker_api.containers(filters={'id': short_id}), 'the running build was stopped too'

    started = time.monotonic()
    client.cancel_goal()
    state, result = finish(client, 30)
    elapsed = time.monotonic() - started
    assert state == GoalStatus.PREEMPTED, (state_name(state), result.message)
    assert elapsed < 15, 'cancel took %.1f s' % elapsed
    assert not result.success
    assert 'cancel' in result.message.lower()

    # The daemon removes the RUN container once it has stopped it.
    wait_for(lambda: not docker_api.containers(all=True, filters={'id': short_id}), 20,
               'the RUN container %s removed' % short_id)
    listed = {job.job_id: job.state for job in ok(call(node, 'list_jobs', limit=0, kind='build')).jobs}
    assert listed == {result.job_id: 'cancelled', waited.job_id: 'cancelled'}
    assert not [image for image in docker_api.images() if {target, waiting_target} & set(image.get('RepoTags') or [])]
