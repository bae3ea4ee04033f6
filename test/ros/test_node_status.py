"""What the robot shows without being asked: ``~status_marker`` for rviz and ``/diagnostics``."""
from __future__ import annotations

from actionlib_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from visualization_msgs.msg import Marker

from docker_image_manager import msg
from rosnode_helpers import action_client, finish, goal, state_name


def node_status(array: DiagnosticArray, node_name: str):
    """The status of ``node_name`` in a DiagnosticArray (several nodes share /diagnostics), or None."""
    mine = [status for status in array.status if node_name in status.name]
    return mine[0] if mine else None


def values(status: DiagnosticStatus):
    return {kv.key: kv.value for kv in status.values}


def test_marker_and_diagnostics_show_the_daemon_and_the_running_job(start_node, topics, docker_api, base_image,
                                                                    prefix, cleanup, contexts):
    node = start_node(ns='cstatus', params={'allowed_context_roots': [str(contexts.root)],
                                            'status_frame': 'dimtest_frame', 'diagnostics_period_s': 0.5})
    markers = topics(node.service('status_marker'), Marker)
    diagnostics = topics('/diagnostics', DiagnosticArray)
    jobs = topics(node.service('jobs'), msg.JobStatus)

    idle = markers.wait_for(lambda m: True, 10, what='a marker')
    assert idle.type == Marker.TEXT_VIEW_FACING
    assert idle.action == Marker.ADD
    assert idle.header.frame_id == 'dimtest_frame'
    assert idle.text == 'docker: idle'
    assert idle.scale.z > 0 and idle.color.a > 0, 'rviz would not show this marker'

    array = diagnostics.wait_for(lambda a: node_status(a, node.name) is not None, 10, what="the node's status")
    status = node_status(array, node.name)
    found = values(status)
    assert found['daemon'] == 'reachable'
    assert found['engine_version'] == docker_api.version()['Version']
    assert found['docker_root_dir'] == docker_api.info()['DockerRootDir']
    assert int(found['free_disk_bytes']) > 0
    assert found['running_jobs'] == '0'
    assert status.level in (DiagnosticStatus.OK, DiagnosticStatus.WARN)  # WARN: little disk left here
    assert status.message
    assert status.hardware_id

    # While a build runs, both say so.
    target = cleanup.image(prefix + '-cstatus:1')
    context = contexts('slow', 'FROM %s\nRUN sleep 4\n' % base_image)
    client = action_client(node, 'build')
    client.send_goal(goal('build', context=str(context), tags=[target], no_cache=True))
    jobs.wait_for(lambda m: m.state == 'running', what='the build running')
    busy = markers.wait_for(lambda m: 'build %s running' % target in m.text, 10, what='a marker of the build')
    assert busy.header.frame_id == 'dimtest_frame'
    diagnostics.wait_for(lambda a: node_status(a, node.name) is not None
                         and values(node_status(a, node.name))['running_jobs'] == '1', 10,
                         what='diagnostics counting the running build')

    state, result = finish(client)
    assert state == GoalStatus.SUCCEEDED, (state_name(state), result.message)
    seen = len(markers.where())
    markers.wait_for(lambda m: m.text == 'docker: idle', 10, what='the marker back to idle', after=seen)
