"""What this node allows: build context roots, registries, read-only mode, removal.

Checks run before Docker is called, so a refused request never reaches the daemon.
"""
from __future__ import annotations

import os
from typing import List, NamedTuple, Sequence

from .errors import InvalidRequest, NotAllowed, NotFound
from .references import DOCKER_HUB

_HUB_ALIASES = {'', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1/'}


class BuildPaths(NamedTuple):
    context: str      # real path of the context directory
    dockerfile: str   # path of the Dockerfile relative to the context, '/'-separated


class Policy:
    """The node's allowlists, from its parameters."""

    def __init__(self, allowed_context_roots: Sequence[str] = (), allowed_registries: Sequence[str] = (),
                 read_only: bool = False, allow_remove: bool = True):
        self.context_roots: List[str] = [os.path.realpath(os.path.expanduser(r)) for r in allowed_context_roots]
        self.registries: List[str] = [normalize_registry(r) for r in allowed_registries]
        self.read_only = read_only
        self.allow_remove = allow_remove

    def check_write(self, what: str) -> None:
        if self.read_only:
            raise NotAllowed('%s refused: this node is read-only (parameter read_only); only queries are served'
                             % what)

    def check_remove(self) -> None:
        self.check_write('remove_image')
        if not self.allow_remove:
            raise NotAllowed('remove_image refused: removal is switched off on this node (parameter allow_remove)')

    def check_registry(self, registry: str, what: str) -> None:
        if not self.registries:
            return
        if normalize_registry(registry) not in self.registries:
            raise NotAllowed('%s refused: registry %r is not in allowed_registries (%s)'
                             % (what, registry or DOCKER_HUB, ', '.join(self.registries)))

    def build_paths(self, context: str, dockerfile: str = '') -> BuildPaths:
        """The real context directory and Dockerfile, both inside an allowed root.

        Raises:
            InvalidRequest, NotFound, NotAllowed: quoting the path and the rule it breaks.
        """
        if not context:
            raise InvalidRequest('a build context directory on the robot is required')
        if not os.path.isabs(os.path.expanduser(context)):
            raise InvalidRequest('build context %r must be an absolute path on the robot' % context)
        real = os.path.realpath(os.path.expanduser(context))
        if not self._inside_root(real):
            raise NotAllowed('build context %r resolves to %r, outside allowed_context_roots (%s)'
                             % (context, real, ', '.join(self.context_roots) or 'none configured'))
        if not os.path.isdir(real):
            raise NotFound('build context %r is not a directory on the robot' % context)
        name = dockerfile or 'Dockerfile'
        if os.path.isabs(name):
            raise InvalidRequest('dockerfile %r must be relative to the context' % name)
        real_file = os.path.realpath(os.path.join(real, name))
        if os.path.commonpath([real, real_file]) != real:
            raise NotAllowed('dockerfile %r resolves to %r, outside the build context %r' % (name, real_file, real))
        if not os.path.isfile(real_file):
            raise NotFound('no Dockerfile %r in build context %r' % (name, context))
        return BuildPaths(real, os.path.relpath(real_file, real).replace(os.sep, '/'))

    def _inside_root(self, real: str) -> bool:
        return any(os.path.commonpath([root, real]) == root for root in self.context_roots)


def normalize_registry(registry: str) -> str:
    """``docker.io`` for every spelling of Docker Hub; otherwise host[:port] without scheme or path."""
    text = (registry or '').strip().lower()
    if text in _HUB_ALIASES:
        return DOCKER_HUB
    for scheme in ('https://', 'http://'):
        if text.startswith(scheme):
            text = text[len(scheme):]
    return text.split('/', 1)[0]
