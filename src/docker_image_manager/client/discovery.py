"""Finding the docker_image_manager nodes that run on the ROS master.

A node is recognised by its contract, not by its name: every service ``<node>/list_images`` whose provider also
offers ``<node>/get_job_log`` is one node, so renamed nodes and several robots in several namespaces are all found.
The master keeps the registrations of a node that died without unregistering (killed, powered off), so each
candidate is also pinged, as ``rosnode ping`` does, and only the ones that answer are returned.
"""
from __future__ import annotations

import os
import socket
import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Set

import rosgraph

from .errors import NodeNotFound, NodeUnavailable

_MARKER = '/list_images'
_COMPANION = '/get_job_log'


def normalize_node_name(name: str) -> str:
    """``robot1/docker_image_manager/`` -> ``/robot1/docker_image_manager`` (names are always global here)."""
    name = name.strip()
    if not name or name.strip('/') == '':
        raise ValueError('a node name must not be empty (e.g. /robot1/docker_image_manager)')
    return '/' + name.strip('/')


PING_TIMEOUT_S = 2.0
_CALLER_ID = '/docker_image_manager_client'


def providers_in_system_state(services) -> Dict[str, str]:
    """``{node name: ROS node providing it}`` found in the master's service list ``[[service, [providers]], ...]``."""
    providers: Dict[str, Set[str]] = {name: set(nodes) for name, nodes in services}
    found = {}
    for name, nodes in providers.items():
        if not name.endswith(_MARKER):
            continue
        prefix = name[:-len(_MARKER)]
        common = providers.get(prefix + _COMPANION, set()) & nodes
        if prefix and common:
            found[prefix] = sorted(common)[0]
    return found


def nodes_in_system_state(services) -> List[str]:
    """The node names found in the master's service list ``[[service, [providers...]], ...]``, sorted."""
    return sorted(providers_in_system_state(services))


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


def node_answers(master: rosgraph.Master, ros_node: str, timeout: float = PING_TIMEOUT_S) -> bool:
    """True when ``ros_node`` answers its XML-RPC ``getPid`` within ``timeout`` seconds (``rosnode ping``)."""
    try:
        uri = master.lookupNode(ros_node)
        code, _, _ = xmlrpc.client.ServerProxy(uri, transport=_TimeoutTransport(timeout)).getPid(_CALLER_ID)
        return code == 1
    except (socket.error, OSError, xmlrpc.client.Error, rosgraph.MasterException):
        return False


def _master(caller_id: str = _CALLER_ID) -> rosgraph.Master:
    return rosgraph.Master(caller_id)


def master_uri() -> str:
    """The master this process talks to (``ROS_MASTER_URI``)."""
    return rosgraph.get_master_uri() or os.environ.get('ROS_MASTER_URI', '')


def check_master() -> None:
    """Raise :class:`NodeUnavailable` with what to do when the ROS master does not answer."""
    try:
        _master().getPid()
    except (socket.error, OSError, rosgraph.MasterException) as exc:
        raise NodeUnavailable('cannot reach the ROS master at %s (%s); start roscore or set ROS_MASTER_URI'
                              % (master_uri(), exc)) from exc


def discover_nodes(check_alive: bool = True) -> List[str]:
    """Every running docker_image_manager node on the master, e.g. ``['/robot1/docker_image_manager']``.

    Args:
        check_alive: ping each candidate and leave out the ones that do not answer (stale registrations).

    Raises:
        NodeUnavailable: the master cannot be reached.
    """
    master = _master()
    try:
        _, _, services = master.getSystemState()
    except (socket.error, OSError, rosgraph.MasterException) as exc:
        raise NodeUnavailable('cannot reach the ROS master at %s (%s); start roscore or set ROS_MASTER_URI'
                              % (master_uri(), exc)) from exc
    found = providers_in_system_state(services)
    if not check_alive or not found:
        return sorted(found)
    names = sorted(found)
    # In parallel: a robot that went off the network costs one timeout, not one per robot.
    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        alive = list(pool.map(lambda name: node_answers(_master(), found[name]), names))
    return [name for name, answers in zip(names, alive) if answers]


def resolve_node(name: Optional[str] = None) -> str:
    """The node to talk to: ``name`` when given, else the only one running.

    Raises:
        NodeNotFound: no name was given and none, or more than one, node runs.
        NodeUnavailable: the master cannot be reached.
    """
    if name:
        return normalize_node_name(name)
    nodes = discover_nodes()
    if len(nodes) == 1:
        return nodes[0]
    if not nodes:
        raise NodeNotFound('no docker_image_manager node is running on the master at %s; start one with '
                           '`roslaunch docker_image_manager image_manager.launch`' % master_uri())
    raise NodeNotFound('several docker_image_manager nodes are running (%s); choose one with --node'
                       % ', '.join(nodes), nodes)
