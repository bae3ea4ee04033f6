"""The node's parameters, read once at start-up, with their defaults (see config/image_manager.yaml)."""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple

DEFAULTS: Dict[str, Any] = {
    'docker_url': 'unix:///var/run/docker.sock',
    'allowed_context_roots': ['~'],
    'allowed_registries': [],
    'read_only': False,
    'allow_remove': True,
    'max_concurrent_builds': 1,
    'max_concurrent_transfers': 2,
    'max_concurrent_commits': 1,
    'progress_rate_hz': 5.0,
    'push_retries': 3,
    'push_retry_backoff_s': 2.0,
    'state_dir': '~/.ros/docker_image_manager',
    'max_jobs': 500,
    'max_log_mb': 500,
    'credentials_file': '',
    'status_frame': 'base_link',
    'diagnostics_period_s': 2.0,
    'low_disk_warn_gb': 2.0,
}


class Settings(NamedTuple):
    docker_url: str
    allowed_context_roots: List[str]
    allowed_registries: List[str]
    read_only: bool
    allow_remove: bool
    max_concurrent_builds: int
    max_concurrent_transfers: int
    max_concurrent_commits: int
    progress_rate_hz: float
    push_retries: int
    push_retry_backoff_s: float
    state_dir: str
    max_jobs: int
    max_log_mb: float
    credentials_file: str
    status_frame: str
    diagnostics_period_s: float
    low_disk_warn_gb: float


def load(get_param) -> Settings:
    """Settings from ``get_param(name, default)`` (``rospy.get_param`` with private ``~`` names)."""
    values = {}
    for name, default in DEFAULTS.items():
        value = get_param('~' + name, default)
        if isinstance(default, list) and isinstance(value, str):
            value = [value] if value else []
        values[name] = type(default)(value) if not isinstance(default, list) else list(value)
    return Settings(**values)
