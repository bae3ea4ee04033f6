"""Finding the docker_image_manager nodes that run on the ROS master.

A node is recognised by its contract, not by its name: every service ``<node>/list_images`` whose provider also
offers ``<node>/get_job_log`` is one node, so renamed nodes and several robots in several namespaces are all found.
"""
from __future__ import annotations

import os
import socket
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


def nodes_in_system_state(services) -> List[str]:
    """The node names found in the master's service list ``[[service, [providers...]], ...]``, sorted."""
    providers: Dict[str, Set[str]] = {name: set(nodes) for name, nodes in services}
    found = []
    for name, nodes in providers.items():
        if not name.endswith(_MARKER):
            continue
        prefix = name[:-len(_MARKER)]
        if prefix and providers.get(prefix + _COMPANION, set()) & nodes:
            found.append(prefix)
    return sorted(found)


def _master(caller_id: str = '/docker_image_manager_client') -> rosgraph.Master:
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


def discover_nodes() -> List[str]:
    """Every running docker_image_manager node on the master, e.g. ``['/robot1/docker_image_manager']``.

    Raises:
        NodeUnavailable: the master cannot be reached.
    """
    try:
        _, _, services = _master().getSystemState()
    except (socket.error, OSError, rosgraph.MasterException) as exc:
        raise NodeUnavailable('cannot reach the ROS master at %s (%s); start roscore or set ROS_MASTER_URI'
                              % (master_uri(), exc)) from exc
    return nodes_in_system_state(services)


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
