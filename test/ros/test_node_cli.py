"""The node through ROS's own command-line tools, as someone at a terminal on the PC would use it."""
from __future__ import annotations

import subprocess

import yaml

import stack
from docker_image_manager import msg
from rosnode_helpers import call, ok


def ros_tool(roscore, *argv: str, timeout: float = 60) -> str:
    """Run a ROS command-line tool against the test's master; returns its stdout (fails on a non-zero exit)."""
    env = stack.system_env(roscore.env)
    env.pop('ROS_HOSTNAME', None)
    result = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            env=env, timeout=timeout)
    assert result.returncode == 0, '%s exited %d\nstdout:\n%s\nstderr:\n%s' % (
        ' '.join(argv), result.returncode, result.stdout, result.stderr)
    return result.stdout


def first_document(text: str):
    """The first YAML document of ``rostopic echo`` output (documents end with a ``---`` line)."""
    return yaml.safe_load(text.split('\n---', 1)[0])


def test_rosservice_call_and_rostopic_echo(roscore, start_node, topics, docker_api, base_image, prefix, cleanup):
    node = start_node(ns='ccli')
    base_id = docker_api.inspect_image(base_image)['Id']
    repository = base_image.rsplit(':', 1)[0]

    answer = yaml.safe_load(ros_tool(roscore, 'rosservice', 'call', node.service('list_images'),
                                     "{filter: '%s', all: false}" % repository))
    assert answer['success'] is True, answer
    assert [(image['id'], image['repo_tags']) for image in answer['images']] == [(base_id, [base_image])]
    assert answer['images'][0]['layer_count'] == len(docker_api.inspect_image(base_image)['RootFS']['Layers'])

    missing = yaml.safe_load(ros_tool(roscore, 'rosservice', 'call', node.service('inspect_image'),
                                      "{image: '%s-missing:1'}" % prefix))
    assert missing['success'] is False
    assert '%s-missing:1' % prefix in missing['message']

    # A job, then its last state from the latched ~jobs topic, read by a late subscriber.
    jobs = topics(node.service('jobs'), msg.JobStatus)
    box = docker_api.create_container(base_image, ['true'], name=prefix + '-cli-box')
    cleanup.container(box['Id'])
    target = cleanup.image(prefix + '-cli:1')
    committed = ok(call(node, 'commit', container=box['Id'], target=target, message='from the cli test'))
    jobs.wait_for(lambda m: m.job_id == committed.job_id and m.state == 'succeeded', what='the commit succeeded')

    echoed = first_document(ros_tool(roscore, 'rostopic', 'echo', '-n', '1', node.service('jobs'), timeout=30))
    assert echoed['job_id'] == committed.job_id
    assert echoed['kind'] == 'commit'
    assert echoed['state'] == 'succeeded'
    assert echoed['target'] == target
    assert echoed['percent'] == 100.0
