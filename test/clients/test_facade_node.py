"""The client facade in-process against a real node: answers, errors, goal handles, topics, discovery, close."""
from __future__ import annotations

import threading

import pytest

from docker_image_manager.client import (ActionFailed, ClientError, ClientPool, ImageManagerClient, NodeNotFound,
                                         NodeUnavailable, RequestFailed, Timeout, discover_nodes, resolve_node)
from stack import make_context, wait_for


WAIT_S = 120.0


def test_services_answer_and_failures_raise_the_nodes_message(rospy_client, start_node, docker_api, base_image,
                                                               prefix):
    node = start_node(ns='facq')
    with ImageManagerClient(node.name) as client:
        response = client.list_images(filter=base_image)
        assert response.success
        assert [image.id for image in response.images] == [docker_api.inspect_image(base_image)['Id']]
        inspected = client.inspect_image(base_image)
        assert [layer.diff_id for layer in inspected.layers] == \
            docker_api.inspect_image(base_image)['RootFS']['Layers']
        with pytest.raises(RequestFailed) as failure:
            client.inspect_image(prefix + '-missing:1')
        assert str(failure.value) == failure.value.response.message
        assert prefix + '-missing' in str(failure.value)
        assert not failure.value.response.success


def test_a_missing_node_is_one_clear_error(rospy_client, roscore):
    client = ImageManagerClient('nowhere/docker_image_manager', timeout=0.5)
    assert client.node == '/nowhere/docker_image_manager'
    with pytest.raises(NodeUnavailable) as failure:
        client.list_jobs()
    assert '/nowhere/docker_image_manager/list_jobs is not available' in str(failure.value)
    with pytest.raises(NodeUnavailable) as failure:
        client.push('127.0.0.1:1/x:1')
    assert 'action server /nowhere/docker_image_manager/push is not available' in str(failure.value)
    client.close()


def test_push_handle_feedback_result_and_progress_topic(rospy_client, start_node, docker_api, base_image,
                                                        registry, prefix, cleanup):
    ref = cleanup.image(registry.ref(prefix + '/facade', '1'))
    docker_api.tag(base_image, ref.rsplit(':', 1)[0], '1')
    node = start_node(ns='facp')
    client = ImageManagerClient(node.name)
    topic_done = threading.Event()
    seen = []

    def on_topic(progress):
        seen.append(progress)
        if progress.done:
            topic_done.set()

    subscription = client.subscribe_push_progress(on_topic)
    jobs = []
    client.subscribe_jobs(jobs.append)
    wait_for(lambda: subscription._subscriber.get_num_connections() > 0, WAIT_S, what='the progress topic')
    feedback, ended = [], []
    handle = client.push(ref, feedback_cb=feedback.append, done_cb=ended.append)
    result = handle.wait(120)
    assert handle.succeeded and handle.state == 'succeeded'
    assert result.digest == registry.manifest_digest(prefix + '/facade', '1')
    assert handle.job_id == result.job_id and handle.job_id.startswith('push-')
    assert ended == [handle]
    assert feedback and all(f.progress.job_id == handle.job_id for f in feedback)
    assert topic_done.wait(30)
    last = [p for p in seen if p.job_id == handle.job_id][-1]
    assert last.done and last.percent == 100.0 and not last.error
    wait_for(lambda: any(j.job_id == handle.job_id and j.state == 'succeeded' for j in jobs), WAIT_S,
             what='the job state')
    client.close()
    assert subscription._subscriber is None
    with pytest.raises(ClientError):
        client.push(ref)


def test_goal_failures_raise_action_failed(rospy_client, start_node, registry, prefix, tmp_path):
    node = start_node(ns='facf', params={'allowed_context_roots': [str(tmp_path)]})
    client = ImageManagerClient(node.name)
    with pytest.raises(ValueError):
        client.build({'context': str(tmp_path), 'tags': 'not-a-list:1'})
    with pytest.raises(ValueError):
        client.build({'context': str(tmp_path), 'colour': 'blue'})
    rejected = client.build({'context': '/etc', 'tags': [prefix + '-no:1']})
    with pytest.raises(ActionFailed) as failure:
        rejected.wait(60)
    assert rejected.state == 'rejected' and not failure.value.cancelled
    assert str(failure.value) == rejected.message and rejected.message

    missing = client.push(registry.ref(prefix + '/absent', '1'))
    with pytest.raises(ActionFailed):
        missing.wait(60)
    assert missing.state in ('failed', 'rejected')
    assert prefix + '/absent' in missing.message
    client.close()


def test_wait_timeout_leaves_the_goal_running_and_cancel_ends_it(rospy_client, start_node, base_image, registry,
                                                                 prefix, cleanup, tmp_path):
    context = make_context(tmp_path / 'slow', 'FROM %s\nRUN sleep 60\n' % base_image)
    node = start_node(ns='fact', params={'allowed_context_roots': [str(tmp_path)]})
    client = ImageManagerClient(node.name)
    cleanup.image(prefix + '-slow:1')
    handle = client.build({'context': str(context), 'tags': [prefix + '-slow:1'], 'no_cache': True})
    with pytest.raises(Timeout):
        handle.wait(1.0)
    assert not handle.done
    wait_for(lambda: handle.job_id, WAIT_S, what='the job id from feedback')
    handle.cancel()
    with pytest.raises(ActionFailed) as failure:
        handle.wait(60)
    assert failure.value.cancelled and handle.cancel_requested
    assert client.get_job_log(handle.job_id).job.state == 'cancelled'
    client.close()


def test_discovery_finds_every_robot(rospy_client, start_node):
    # Discovery also pings each node, so wait for it rather than assume it is instant.
    first = start_node(ns='facd1')
    wait_for(lambda: discover_nodes() == [first.name], WAIT_S, what='the first node to be discovered')
    assert resolve_node() == first.name
    second = start_node(ns='facd2/inner')
    wait_for(lambda: len(discover_nodes()) == 2, WAIT_S, what='the second node to be discovered')
    assert discover_nodes() == sorted([first.name, second.name])
    with pytest.raises(NodeNotFound) as failure:
        resolve_node()
    assert failure.value.candidates == sorted([first.name, second.name])
    assert resolve_node('facd1/docker_image_manager') == first.name
    pool = ClientPool()
    assert pool.get(first.name) is pool.get(first.name + '/')
    assert pool.get(second.name).list_jobs().jobs == []
    pool.close()


def test_a_node_that_dies_mid_goal_ends_the_handle_as_lost(rospy_client, start_node, base_image, prefix, cleanup,
                                                            tmp_path):
    import os
    import signal

    import stack

    context = make_context(tmp_path / 'slow', 'FROM %s\nRUN sleep 30\n' % base_image)
    node = start_node(ns='facl', params={'allowed_context_roots': [str(tmp_path)]})
    client = ImageManagerClient(node.name)
    cleanup.image(prefix + '-lost:1')
    ended = []
    handle = client.build({'context': str(context), 'tags': [prefix + '-lost:1'], 'no_cache': True},
                          done_cb=ended.append)
    wait_for(lambda: handle.job_id, WAIT_S, what='the build to start')
    # SIGKILL the node itself (roslaunch's child): no result will ever come, only silence.
    victims = [pid for pid, _ in stack.descendants(node.proc.pid)
               if 'image_manager_node' in open('/proc/%d/cmdline' % pid, 'rb').read().decode(errors='replace')]
    assert victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(ActionFailed) as failure:
        handle.wait(60)
    assert handle.state == 'lost'
    assert 'lost contact with %s' % node.name in str(failure.value)
    assert ended == [handle]
    client.close()
    # The master still lists the dead node's services; discovery pings and leaves it out.
    import rosgraph
    import rosnode

    assert node.name in discover_nodes(check_alive=False)
    assert node.name not in discover_nodes()
    rosnode.cleanup_master_blacklist(rosgraph.Master('/dimtest_cleanup'), [node.name])
    assert node.name not in discover_nodes(check_alive=False)
