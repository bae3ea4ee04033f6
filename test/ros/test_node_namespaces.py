"""Two robots on one master: ``ns:=r1`` and ``ns:=r2`` nodes keep their jobs and topics apart."""
from __future__ import annotations

import rosgraph

from docker_image_manager import msg
from rosnode_helpers import call, ok


def test_two_namespaced_nodes_keep_jobs_and_topics_apart(start_node, topics, roscore, docker_api, base_image,
                                                         prefix, cleanup):
    r1, r2 = start_node(ns='r1'), start_node(ns='r2')
    assert (r1.name, r2.name) == ('/r1/docker_image_manager', '/r2/docker_image_manager')
    jobs1 = topics(r1.service('jobs'), msg.JobStatus)
    jobs2 = topics(r2.service('jobs'), msg.JobStatus)

    # A commit is a job: submit it to r1 only.
    box = docker_api.create_container(base_image, ['true'], name=prefix + '-ns-box')
    cleanup.container(box['Id'])
    target = cleanup.image(prefix + '-ns:r1')
    committed = ok(call(r1, 'commit', container=box['Id'], target=target, message='on r1'))
    assert docker_api.inspect_image(target)['Id'] == committed.image_id

    listed1 = ok(call(r1, 'list_jobs', limit=0, kind='')).jobs
    assert [(job.job_id, job.kind, job.state) for job in listed1] == [(committed.job_id, 'commit', 'succeeded')]
    assert ok(call(r2, 'list_jobs', limit=0, kind='')).jobs == []
    unknown = call(r2, 'get_job_log', job_id=committed.job_id, offset=0, max_lines=0)
    assert not unknown.success
    assert committed.job_id in unknown.message

    jobs1.wait_for(lambda m: m.job_id == committed.job_id and m.state == 'succeeded', what="r1's job")
    assert jobs2.where() == []

    # Each node publishes and serves only under its own namespace.
    master = rosgraph.Master('/dimtest_ns', master_uri=roscore.uri)
    publishers, _, services = master.getSystemState()
    published = {topic: set(nodes) for topic, nodes in publishers}
    served = {service: set(nodes) for service, nodes in services}
    for node in (r1, r2):
        for topic in ('jobs', 'build_log', 'push_progress', 'pull_progress', 'status_marker'):
            assert published.get(node.service(topic)) == {node.name}, node.service(topic)
        for service in ('list_images', 'list_jobs', 'commit'):
            assert served.get(node.service(service)) == {node.name}, node.service(service)
        for action in ('build', 'push', 'pull'):
            assert published.get(node.service(action) + '/status') == {node.name}
    assert not [t for t in published if t.startswith('/docker_image_manager')]
    assert {r1.name, r2.name} <= published.get('/diagnostics', set())  # the one global topic, shared
