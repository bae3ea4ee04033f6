"""Registry credentials held by the node: from ``~login`` and an optional credentials file.

Passwords live only in this object's memory. Its ``repr`` and every message it produces name the registry and
user, never the password. Credentials in the robot's Docker config (``auths``, ``credsStore``, ``credHelpers``)
are read by the Docker SDK itself and used whenever this store has nothing for a registry.
"""
from __future__ import annotations

import base64
import os
import stat
import threading
from typing import Dict, Optional, Tuple

import yaml

from .errors import InvalidRequest, NotAllowed
from .policy import normalize_registry
from .references import DOCKER_HUB

HUB_AUTH_KEY = 'https://index.docker.io/v1/'


class Credentials:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_registry: Dict[str, Tuple[str, str]] = {}

    def __repr__(self) -> str:
        return '<Credentials for %s>' % (', '.join(sorted(self._by_registry)) or 'no registry')

    def set(self, registry: str, username: str, password: str) -> None:
        with self._lock:
            self._by_registry[normalize_registry(registry)] = (username, password)

    def auth_config(self, registry: str) -> Optional[dict]:
        """The SDK's ``auth_config`` for a registry, or None to let the SDK use the Docker config."""
        with self._lock:
            found = self._by_registry.get(normalize_registry(registry))
        if found is None:
            return None
        key = normalize_registry(registry)
        return {'username': found[0], 'password': found[1],
                'serveraddress': HUB_AUTH_KEY if key == DOCKER_HUB else key}

    def secrets(self):
        """Every password held, so callers can scrub them from text that leaves the node."""
        with self._lock:
            return [password for _, password in self._by_registry.values() if password]

    def load_file(self, path: str) -> int:
        """Read ``{registry: {username: ..., password: ...}}`` from a YAML file that only its owner can read.

        Returns:
            How many registries were loaded.

        Raises:
            NotAllowed: the file is readable or writable by group or others (it must be mode 0600).
            InvalidRequest: the file is not of that form.
        """
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise NotAllowed('credentials_file %s has mode %04o; refusing to read it until it is 0600 '
                             '(chmod 600 %s)' % (path, mode, path))
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise InvalidRequest('credentials_file %s must map registry -> {username, password}' % path)
        for registry, entry in data.items():
            if not isinstance(entry, dict) or 'username' not in entry or 'password' not in entry:
                raise InvalidRequest('credentials_file %s: entry %r needs username and password' % (path, registry))
            self.set(str(registry), str(entry['username']), str(entry['password']))
        return len(data)


def scrub(text: str, secrets) -> str:
    """``text`` with every secret (and its base64 form) replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, '***').replace(base64.b64encode(secret.encode()).decode(), '***')
    return text
