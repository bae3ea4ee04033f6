"""The client side of the public ROS contract, shared by imagectl and the rqt widget.

Example::

    from docker_image_manager.client import ImageManagerClient, init_node, resolve_node
    init_node('my_tool')
    client = ImageManagerClient(resolve_node())
    for image in client.list_images().images:
        print(image.repo_tags)
    handle = client.push('localhost:5000/app:1.0', feedback_cb=lambda fb: print(fb.progress.percent))
    handle.wait()

Only :mod:`.facade`, :mod:`.goals` and :mod:`.discovery` import rospy; they are loaded on first use of their
names, so the Qt widget can use :mod:`.formatting` and :mod:`.errors` without pulling ROS in.
"""
from __future__ import annotations

import importlib

from .errors import ActionFailed, ClientError, NodeNotFound, NodeUnavailable, RequestFailed, Timeout

_LAZY = {
    'ClientPool': '.facade',
    'ImageManagerClient': '.facade',
    'Subscription': '.facade',
    'init_node': '.facade',
    'GoalHandle': '.goals',
    'discover_nodes': '.discovery',
    'normalize_node_name': '.discovery',
    'resolve_node': '.discovery',
}

__all__ = [
    'ActionFailed', 'ClientError', 'ClientPool', 'GoalHandle', 'ImageManagerClient', 'NodeNotFound',
    'NodeUnavailable', 'RequestFailed', 'Subscription', 'Timeout', 'discover_nodes', 'init_node',
    'normalize_node_name', 'resolve_node',
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
