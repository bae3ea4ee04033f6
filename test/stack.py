"""The real test stack: Docker engine, images, registries, roscore and the node, as pytest fixtures.

Everything here runs real processes and talks to the real Docker daemon; nothing is mocked. Two rules
keep it safe on a developer's machine:

* a fixture stops only processes it started, by pid or by the process group it created, never by name;
* a fixture removes only images and containers it created, i.e. named with the session's ``prefix``.

The ROS fixtures need the environment of the catkin workspace (``devel/setup.bash``), which
``make test`` provides; outside it they fail with a message that says so instead of skipping.

Fixtures (session scope unless said otherwise):

``docker_api``
    ``docker.APIClient`` on ``unix:///var/run/docker.sock`` (starts ``dockerd`` only if none answers,
    and then stops that one at the end).
``prefix``
    ``dimtest-<6 hex>``: name every image, tag and container a test makes with it. At session end
    every image tag and container named with it is removed.
``cleanup`` (function)
    ``cleanup.image(ref_or_id)``, ``cleanup.container(id_or_name)``: force-removed after the test.
``base_image``
    ``<prefix>-base:latest``, a busybox rootfs imported with ``docker import`` (``sh``, ``echo``, ...).
``registry`` / ``auth_registry``
    :class:`Registry` processes (Distribution 2.8) on free loopback ports; the second with htpasswd
    basic auth (``.username``, ``.password``).
``roscore``
    :class:`Roscore` on a free port; ``ROS_MASTER_URI`` (and ``ROS_IP``) are set for the test process.
``rospy_client``
    ``rospy.init_node`` done once for the test process (anonymous, signals left to pytest).
``start_node`` (function)
    factory ``start_node(ns='t1', params=None)`` -> :class:`Node`: roslaunches
    ``docker_image_manager image_manager.launch`` and waits for ``/<ns>/docker_image_manager/list_images``.
"""
from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import warnings
import xmlrpc.client
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import docker
import docker.errors
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
REGISTRY_TEMPLATE = REPO_ROOT / 'config' / 'registry' / 'config.yml'
DOCKER_SOCKET = '/var/run/docker.sock'
DOCKER_URL = 'unix://' + DOCKER_SOCKET
BUSYBOX = '/bin/busybox'
PACKAGE = 'docker_image_manager'
LAUNCH_FILE = 'image_manager.launch'
# If set, the interpreter start_node runs the node's script with (the launch file's launch_prefix), e.g. the
# Python 3.8 of `make test-py38`; otherwise the script's shebang (Debian's python3) runs it.
NODE_PYTHON_ENV = 'DIM_NODE_PYTHON'

# ROS tools run on Debian's python3 and Debian's docker CLI must win over a newer one in /usr/local/bin.
SYSTEM_PATH = '/usr/bin:/usr/sbin:/bin:/sbin'

MAKE_TEST_HINT = ('Run the tests with `make test` (it builds the catkin workspace and sources its '
                  'devel/setup.bash), or source <workspace>/devel/setup.bash yourself first.')


# --------------------------------------------------------------------------------------------------
# Processes

def system_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """A copy of the environment with the system directories first in PATH, plus ``extra``."""
    env = dict(os.environ)
    env['PATH'] = SYSTEM_PATH + ':' + env.get('PATH', '')
    env.update(extra or {})
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _proc_stat(pid: int) -> Optional[Tuple[int, int]]:
    """(parent pid, start time in clock ticks) of a live process, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(')') + 2:].split()
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> List[Tuple[int, int]]:
    """(pid, start time) of every live descendant of ``pid``.

    roslaunch puts each node it spawns in a session of its own, so killing the process group we
    created does not reach them; we track them through the process tree instead.
    """
    children: Dict[int, List[Tuple[int, int]]] = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append((int(entry), stat[1]))
    found: List[Tuple[int, int]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def _still_same(pid: int, start: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[1] == start


def stop_process(proc: subprocess.Popen, first_signal: int = signal.SIGTERM, timeout: float = 20.0,
                 group: bool = True) -> None:
    """Stop a process we started, and everything it started.

    Sends ``first_signal`` to the process group the process leads (``start_new_session=True``) or to
    the process alone, waits up to ``timeout`` seconds, then SIGKILLs whatever of it is left: the
    group, and the descendants recorded before signalling (checked by start time, so a recycled pid
    is never hit).
    """
    if proc.poll() is not None:
        return
    family = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, first_signal)
        else:
            proc.send_signal(first_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None and not any(_still_same(*p) for p in family):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    for pid, start in family:
        if _still_same(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, period: float = 0.1):
    """Poll ``predicate`` until it returns something true, and return that; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail('%s did not happen within %.0f s' % (what, timeout))
        time.sleep(period)


def make_context(directory: Path, dockerfile: str, files: Optional[Dict[str, str]] = None) -> Path:
    """A build context: ``directory`` (made if missing) with ``dockerfile`` as its Dockerfile, plus ``files``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'Dockerfile').write_text(dockerfile)
    for name, text in (files or {}).items():
        (directory / name).write_text(text)
    return directory


def tail(path: Path, lines: int = 40) -> str:
    try:
        return '\n'.join(path.read_text(errors='replace').splitlines()[-lines:])
    except OSError as e:
        return '(no log: %s)' % e


# --------------------------------------------------------------------------------------------------
# Docker

def docker_pings(socket_path: str = DOCKER_SOCKET) -> bool:
    """True if a Docker engine answers ``/_ping`` on the unix socket."""

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(socket_path)

    conn = UnixConnection('localhost')
    try:
        conn.request('GET', '/_ping')
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class DockerEngine:
    """Makes sure a Docker engine answers; starts ``dockerd`` only if none does and stops only that."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / 'dockerd.log'
        self.proc: Optional[subprocess.Popen] = None

    def ensure(self, timeout: float = 60.0) -> None:
        if docker_pings():
            return
        if self._dockerd_starting():
            deadline = time.monotonic() + timeout
            while not docker_pings():
                if time.monotonic() > deadline:
                    pytest.fail('A dockerd runs (pid in /var/run/docker.pid) but does not answer on %s; '
                                'check its log or stop it.' % DOCKER_SOCKET)
                time.sleep(0.5)
            return
        dockerd = shutil.which('dockerd', path=SYSTEM_PATH)
        if os.geteuid() != 0 or dockerd is None:
            pytest.fail('No Docker engine answers on %s and this test run cannot start one (%s). Start '
                        'dockerd as root, or run `make test`, which does.'
                        % (DOCKER_SOCKET, 'not root' if dockerd else 'dockerd not installed'))
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen([dockerd], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=system_env())
        deadline = time.monotonic() + timeout
        while not docker_pings():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail('dockerd did not answer on %s within %.0f s; its log (%s):\n%s'
                            % (DOCKER_SOCKET, timeout, self.log_path, tail(self.log_path)))
            time.sleep(0.5)

    @staticmethod
    def _dockerd_starting() -> bool:
        """True if /var/run/docker.pid names a live process: a dockerd someone else is starting."""
        try:
            with open('/var/run/docker.pid') as f:
                pid = int(f.read().strip())
            # A stale pid file may name a recycled pid: only a live dockerd counts.
            with open('/proc/%d/comm' % pid) as f:
                return f.read().strip() == 'dockerd'
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            # dockerd alone, not its group: it stops its containerd and shims itself.
            stop_process(self.proc, signal.SIGTERM, timeout=30.0, group=False)
            self.proc = None


def owns_ref(ref: str, prefix: str) -> bool:
    """True if the image reference ``ref`` is named with ``prefix``, with or without a registry host.

    ``dimtest-ab12cd-base:latest`` and ``127.0.0.1:5000/dimtest-ab12cd/app:v1`` belong to
    ``dimtest-ab12cd``; ``dimtest-ab12cdx:latest`` and ``busybox:latest`` do not.
    """
    name = ref.split('@', 1)[0]
    slash = name.rfind('/')
    if name.rfind(':') > slash:
        name = name[:name.rfind(':')]
    first, _, rest = name.partition('/')
    if rest and ('.' in first or ':' in first or first == 'localhost'):
        name = rest
    if not name.startswith(prefix):
        return False
    return len(name) == len(prefix) or name[len(prefix)] in '-_./'


def sweep(api: docker.APIClient, prefix: str) -> List[str]:
    """Remove every container named with ``prefix`` and every image tag that belongs to it.

    Images are removed by tag, so an image that also carries someone else's tag keeps it.
    Returns what was removed.
    """
    removed = []
    for container in api.containers(all=True, filters={'name': prefix}):
        if any(n.lstrip('/').startswith(prefix) for n in container.get('Names') or []):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(container['Id'], force=True, v=True)
                removed.append(container['Id'])
    for image in api.images(all=True):
        for tag in image.get('RepoTags') or []:
            if owns_ref(tag, prefix):
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_image(tag, force=True)
                    removed.append(tag)
    return removed


class Cleanup:
    """Records images and containers a test made; :meth:`run` force-removes them, newest first."""

    def __init__(self, api: docker.APIClient) -> None:
        self.api = api
        self.images: List[str] = []
        self.containers: List[str] = []

    def image(self, ref_or_id: str) -> str:
        """Remove this image (tag, name or id) after the test. Returns ``ref_or_id``."""
        self.images.append(ref_or_id)
        return ref_or_id

    def container(self, id_or_name: str) -> str:
        """Remove this container (and its anonymous volumes) after the test. Returns ``id_or_name``."""
        self.containers.append(id_or_name)
        return id_or_name

    def run(self) -> None:
        for container in reversed(self.containers):
            self._remove(self.api.remove_container, container, v=True)
        for image in reversed(self.images):
            self._remove(self.api.remove_image, image)
        self.images.clear()
        self.containers.clear()

    @staticmethod
    def _remove(remove: Callable, what: str, **kwargs) -> None:
        try:
            remove(what, force=True, **kwargs)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            warnings.warn('cleanup could not remove %s: %s' % (what, e))


def busybox_rootfs_tar() -> bytes:
    """A tar of a minimal root file system: a static busybox and a symlink for each of its applets."""
    if not os.path.exists(BUSYBOX):
        pytest.fail('%s is missing: install busybox-static (make test does).' % BUSYBOX)
    applets = subprocess.run([BUSYBOX, '--list-full'], check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    out = io.BytesIO()
    # A fixed mtime keeps the layer identical from run to run, so Docker stores it once.
    mtime = 1700000000

    def add(name: str, kind: bytes, mode: int, data: bytes = b'', target: str = '') -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.linkname = kind, mode, mtime, target
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if data else None)

    with tarfile.open(fileobj=out, mode='w') as tar:
        for directory in ('bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'root', 'dev', 'proc',
                          'sys', 'var'):
            add(directory, tarfile.DIRTYPE, 0o755)
        add('tmp', tarfile.DIRTYPE, 0o1777)
        add('var/tmp', tarfile.DIRTYPE, 0o1777)
        with open(BUSYBOX, 'rb') as f:
            add('bin/busybox', tarfile.REGTYPE, 0o755, f.read())
        for applet in applets:
            if applet.count('/') >= 1 and applet != 'bin/busybox':
                add(applet, tarfile.SYMTYPE, 0o777, target='/bin/busybox')
        add('etc/passwd', tarfile.REGTYPE, 0o644, b'root:x:0:0:root:/root:/bin/sh\n')
        add('etc/group', tarfile.REGTYPE, 0o644, b'root:x:0:\n')
    return out.getvalue()


def import_base_image(api: docker.APIClient, repository: str, tag: str = 'latest') -> str:
    """Import the busybox rootfs as ``repository:tag``; returns the reference."""
    result = api.import_image_from_data(
        busybox_rootfs_tar(), repository=repository, tag=tag,
        changes=['ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["sh"]'])
    # The daemon answers with a stream of JSON objects; a failure is one with an 'error' key.
    for line in (result if isinstance(result, str) else json.dumps(result)).splitlines():
        with contextlib.suppress(ValueError):
            if 'error' in json.loads(line):
                pytest.fail('docker import of the base image failed: %s' % line)
    ref = '%s:%s' % (repository, tag)
    api.inspect_image(ref)
    return ref


# --------------------------------------------------------------------------------------------------
# Registry

MANIFEST_TYPES = ', '.join([
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
])


def htpasswd_hash(password: str) -> str:
    """A bcrypt hash of ``password`` for the registry's htpasswd file.

    Cost 5 (the default is 12) because the registry checks the hash on every request. Uses
    python3-bcrypt; where it does not load (its cffi module is built for Debian's Python only), the
    system's crypt(3), whose libxcrypt makes the same ``$2b$`` hashes.
    """
    try:
        import bcrypt
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)  # crypt is deprecated from 3.11 on
            import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** 5))
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()


class Registry:
    """A ``docker-registry`` (Distribution 2.8) process on ``127.0.0.1:<port>``.

    Storage and port survive :meth:`stop` / :meth:`start`, so a test can kill the registry in the
    middle of a push and bring it back. With ``username`` set it requires htpasswd basic auth.
    """

    def __init__(self, workdir: Path, username: Optional[str] = None,
                 password: Optional[str] = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.url = 'http://' + self.host
        self.username = username
        self.password = password
        self.storage_dir = workdir / 'storage'
        self.config_path = workdir / 'config.yml'
        self.log_path = workdir / 'registry.log'
        self.proc: Optional[subprocess.Popen] = None
        self._write_config()

    def _write_config(self) -> None:
        text = REGISTRY_TEMPLATE.read_text()
        text = text.replace('@STORAGE@', str(self.storage_dir)).replace('@ADDR@', self.host)
        config = yaml.safe_load(text)
        if self.username:
            htpasswd = self.workdir / 'htpasswd'
            htpasswd.write_text('%s:%s\n' % (self.username, htpasswd_hash(self.password)))
            config['auth'] = {'htpasswd': {'realm': 'dimtest', 'path': str(htpasswd)}}
        self.config_path.write_text(yaml.safe_dump(config, default_flow_style=False))

    def ref(self, repo: str, tag: str = 'latest') -> str:
        """``127.0.0.1:PORT/repo:tag``."""
        return '%s/%s:%s' % (self.host, repo, tag)

    @property
    def auth_config(self) -> Optional[Dict[str, str]]:
        """The ``auth_config`` docker-py's push/pull take, or None without auth."""
        if not self.username:
            return None
        return {'username': self.username, 'password': self.password}

    def start(self, timeout: float = 15.0) -> 'Registry':
        if self.proc is not None and self.proc.poll() is None:
            return self
        binary = shutil.which('docker-registry', path=SYSTEM_PATH)
        if binary is None:
            pytest.fail('docker-registry is not installed (Debian package docker-registry; make test '
                        'installs it).')
        self.storage_dir.mkdir(exist_ok=True)
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen([binary, 'serve', str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail('docker-registry did not answer on %s; its log:\n%s'
                            % (self.host, tail(self.log_path)))
            with contextlib.suppress(OSError):
                if self._status('/v2/', authenticate=False) in (200, 401):
                    return self
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the registry (SIGTERM, SIGKILL after 10 s). Storage and port are kept for start()."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=10.0)
            self.proc = None

    def kill(self) -> None:
        """Kill the registry at once (SIGKILL), as a crash or a pulled cable would."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, timeout=5.0)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _request(self, path: str, headers: Optional[Dict[str, str]] = None,
                 authenticate: bool = True, method: str = 'GET'):
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}), method=method)
        if authenticate and self.username:
            token = base64.b64encode(('%s:%s' % (self.username, self.password)).encode()).decode()
            request.add_header('Authorization', 'Basic ' + token)
        return urllib.request.urlopen(request, timeout=10)

    def _status(self, path: str, authenticate: bool = True) -> int:
        try:
            with self._request(path, authenticate=authenticate) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    def manifest_digest(self, repo: str, tag: str) -> Optional[str]:
        """The ``Docker-Content-Digest`` of ``repo:tag`` in this registry, or None if it has none."""
        try:
            with self._request('/v2/%s/manifests/%s' % (repo, tag), {'Accept': MANIFEST_TYPES}) as r:
                return r.headers.get('Docker-Content-Digest')
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def tags(self, repo: str) -> List[str]:
        """The tags of ``repo`` (sorted), empty if the registry does not know the repository."""
        try:
            with self._request('/v2/%s/tags/list' % repo) as response:
                return sorted(json.load(response).get('tags') or [])
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return []
            raise

    def catalog(self) -> List[str]:
        with self._request('/v2/_catalog') as response:
            return sorted(json.load(response).get('repositories') or [])


# --------------------------------------------------------------------------------------------------
# ROS

def require_ros_env() -> None:
    """Fail the test loudly unless the workspace's ROS environment is active."""
    problems = []
    if shutil.which('roslaunch', path=SYSTEM_PATH) is None:
        problems.append('roslaunch is not installed (Debian package ros-core-dev)')
    try:
        import rospkg
        rospkg.RosPack().get_path(PACKAGE)
    except Exception as e:  # ImportError, or rospkg.ResourceNotFound with a clear text
        problems.append('ROS package %s not found (%s: %s)' % (PACKAGE, type(e).__name__, e))
    try:
        __import__(PACKAGE + '.srv')
        __import__('rosgraph')
    except ImportError as e:
        problems.append('generated messages or rosgraph not importable (%s)' % e)
    if problems:
        pytest.fail('The ROS environment is missing: %s. %s' % ('; '.join(problems), MAKE_TEST_HINT),
                    pytrace=False)


class Roscore:
    """A ``roscore -p PORT`` in a process group of its own; rosmaster and rosout are its children."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.uri = 'http://127.0.0.1:%d/' % self.port
        self.log_dir = log_dir
        self.log_path = log_dir / 'roscore.log'
        # What a ROS process of the test needs; start_node passes it to roslaunch.
        self.env = {'ROS_MASTER_URI': self.uri, 'ROS_IP': '127.0.0.1', 'ROS_LOG_DIR': str(log_dir)}
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> 'Roscore':
        env = system_env(self.env)
        env.pop('ROS_HOSTNAME', None)  # it would win over ROS_IP
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(['roscore', '-p', str(self.port)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=env)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail('roscore did not answer on %s; its log:\n%s' % (self.uri, tail(self.log_path)))
            time.sleep(0.2)
        return self

    def answers(self) -> bool:
        """True once the master answers and rosout has registered with it."""
        import rosgraph
        try:
            rosgraph.Master('/dimtest_stack', master_uri=self.uri).lookupNode('/rosout')
            return True
        except (OSError, rosgraph.MasterException):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT is roslaunch's clean shutdown: it stops rosmaster and rosout itself.
            stop_process(self.proc, signal.SIGINT, timeout=20.0)
            self.proc = None


class Node:
    """A ``roslaunch docker_image_manager image_manager.launch`` started by :func:`start_node`."""

    def __init__(self, ns: str, params: Dict, state_dir: Path, config_path: Path, log_path: Path,
                 proc: subprocess.Popen) -> None:
        self.ns = ns
        self.name = ('/%s/%s' % (ns.strip('/'), PACKAGE)) if ns.strip('/') else '/' + PACKAGE
        self.params = params
        self.state_dir = state_dir
        self.config_path = config_path
        self.log_path = log_path
        self.proc = proc

    def service(self, name: str) -> str:
        """Full name of one of the node's services or topics, e.g. ``service('list_images')``."""
        return '%s/%s' % (self.name, name)

    def log(self) -> str:
        """Everything roslaunch and the node (``--screen``) printed so far."""
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self) -> None:
        """SIGINT to roslaunch (it stops the node cleanly); SIGKILL whatever is left after 25 s."""
        stop_process(self.proc, signal.SIGINT, timeout=25.0)


def _wait_for_node(node: Node, master_uri: str, timeout: float) -> Optional[str]:
    """Wait until our node serves ``list_images``; returns None, or why it did not."""
    import rosgraph
    master = rosgraph.Master('/dimtest_stack', master_uri=master_uri)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            return 'roslaunch exited (code %s) before %s appeared' % (
                node.proc.returncode, node.service('list_images'))
        try:
            master.lookupService(node.service('list_images'))
            node_uri = master.lookupNode(node.name)
            code, _, pid = xmlrpc.client.ServerProxy(node_uri).getPid('/dimtest_stack')
            # The master may still hold a registration from an earlier node of the same name:
            # accept only our roslaunch's own child.
            if code == 1 and any(p == pid for p, _ in descendants(node.proc.pid)):
                return None
        except (OSError, rosgraph.MasterException, xmlrpc.client.Error):
            pass
        time.sleep(0.2)
    return 'service %s did not appear within %.0f s' % (node.service('list_images'), timeout)


# --------------------------------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope='session')
def docker_api(tmp_path_factory) -> Iterator[docker.APIClient]:
    engine = DockerEngine(tmp_path_factory.mktemp('dockerd'))
    engine.ensure()
    api = docker.APIClient(base_url=DOCKER_URL, version='auto', timeout=None)
    try:
        yield api
    finally:
        api.close()
        engine.stop()


@pytest.fixture(scope='session')
def prefix(docker_api) -> Iterator[str]:
    value = 'dimtest-' + secrets.token_hex(3)
    yield value
    sweep(docker_api, value)


@pytest.fixture
def cleanup(docker_api) -> Iterator[Cleanup]:
    recorder = Cleanup(docker_api)
    yield recorder
    recorder.run()


@pytest.fixture(scope='session')
def base_image(docker_api, prefix) -> Iterator[str]:
    ref = import_base_image(docker_api, prefix + '-base')
    yield ref
    with contextlib.suppress(docker.errors.NotFound):
        docker_api.remove_image(ref, force=True)


@pytest.fixture(scope='session')
def registry(tmp_path_factory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp('registry')).start()
    yield reg
    reg.stop()


@pytest.fixture(scope='session')
def auth_registry(tmp_path_factory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp('auth-registry'), username='dimtest',
                   password=secrets.token_urlsafe(16)).start()
    yield reg
    reg.stop()


@pytest.fixture(scope='session')
def roscore(tmp_path_factory) -> Iterator[Roscore]:
    require_ros_env()
    core = Roscore(tmp_path_factory.mktemp('ros'))
    saved = {k: os.environ.get(k) for k in ('ROS_MASTER_URI', 'ROS_IP', 'ROS_HOSTNAME')}
    core.start()
    os.environ['ROS_MASTER_URI'] = core.uri
    os.environ['ROS_IP'] = '127.0.0.1'
    os.environ.pop('ROS_HOSTNAME', None)
    try:
        yield core
    finally:
        core.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope='session')
def rospy_client(roscore) -> str:
    """Initialises rospy once for the test process; returns the node's name."""
    import rospy
    if not rospy.core.is_initialized():
        rospy.init_node('dimtest_client', anonymous=True, disable_signals=True)
    return rospy.get_name()


@pytest.fixture
def start_node(roscore, tmp_path) -> Iterator[Callable[..., Node]]:
    started: List[Node] = []

    def start(ns: str = 't1', params: Optional[Dict] = None, launch_file: Optional[str] = None,
              timeout: float = 30.0, env: Optional[Dict[str, str]] = None) -> Node:
        """Launch the node in namespace ``ns`` with ``params`` and wait for its services.

        Args:
            ns: ROS namespace; the node is ``/<ns>/docker_image_manager``.
            params: node parameters, written to a YAML file passed as the launch file's ``config``;
                ``state_dir`` defaults to a fresh temporary directory.
            launch_file: another launch file (a path) taking the same arguments, for tests of
                this fixture itself.
            timeout: seconds to wait for ``list_images``.
            env: extra environment variables for roslaunch and the node (e.g. ``ROS_HOME``).
        """
        params = dict(params or {})
        params.setdefault('state_dir', str(tmp_path / ('state-' + ns.strip('/').replace('/', '-'))))
        state_dir = Path(params['state_dir'])
        config_path = tmp_path / ('config-%s-%d.yaml' % (ns.strip('/').replace('/', '-'), len(started)))
        config_path.write_text(yaml.safe_dump(params, default_flow_style=False))
        log_path = config_path.with_suffix('.log')
        target = [launch_file] if launch_file else [PACKAGE, LAUNCH_FILE]
        node_python = os.environ.get(NODE_PYTHON_ENV)
        if node_python and not launch_file:
            target.append('launch_prefix:=' + node_python)
        process_env = system_env(dict(roscore.env, **(env or {})))
        process_env.pop('ROS_HOSTNAME', None)
        with open(log_path, 'ab') as log:
            proc = subprocess.Popen(['roslaunch', '--screen'] + target +
                                    ['ns:=' + ns, 'config:=' + str(config_path)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=process_env)
        node = Node(ns, params, state_dir, config_path, log_path, proc)
        started.append(node)
        problem = _wait_for_node(node, roscore.uri, timeout)
        if problem:
            node.stop()
            pytest.fail('The node did not come up: %s. roslaunch output (%s):\n%s'
                        % (problem, log_path, tail(log_path, 60)), pytrace=False)
        return node

    yield start
    for node in reversed(started):
        node.stop()
