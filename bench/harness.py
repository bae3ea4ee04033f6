"""The benchmark's stack and measuring tools: registries, roscore, the node, the CLI, /proc counters, statistics.

The processes come from ``test/stack.py`` (the same classes the tests use), so the benchmark runs exactly what
``make test`` runs. Everything created is named with one prefix (``dimbench-<hex>``) and removed at the end.
"""
from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / 'test'))

import docker  # noqa: E402
import yaml  # noqa: E402

import stack  # noqa: E402  (test/stack.py: the real processes the tests use)

DOCKER_URL = stack.DOCKER_URL
DOCKER = '/usr/bin/docker'  # Debian's 20.10 CLI, the one matching the daemon
CLK_TCK = os.sysconf('SC_CLK_TCK')


class BenchError(Exception):
    """The stack could not be brought up or a case could not run; the message says why."""


def run_checked(fn: Callable, *args, **kwargs):
    """Call a stack.py helper; its ``pytest.fail`` (a BaseException) becomes a :class:`BenchError`."""
    try:
        return fn(*args, **kwargs)
    except Exception:
        raise
    except BaseException as exc:  # _pytest.outcomes.Failed
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise BenchError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Statistics

def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float('nan')
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 200 samples is the 190th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return float('nan')
    rank = max(1, int(-(-pct * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def max_in_window(stamps: Sequence[float], window: float = 1.0) -> int:
    """The most events in any half-open window ``[t, t + window)``."""
    ordered = sorted(stamps)
    best = start = 0
    for end, stamp in enumerate(ordered):
        while stamp - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --------------------------------------------------------------------------------------------------
# Processes and /proc

def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kb(pid: int) -> Dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    values = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(('VmRSS:', 'VmHWM:')):
                key, value = line.split(':', 1)
                values[key] = int(value.split()[0])
    return values


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``clear_refs`` 5, Linux 4.0+; needs root or the same user)."""
    try:
        with open('/proc/%d/clear_refs' % pid, 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    """Run Debian's docker CLI (classic builder, like the node) and capture its output."""
    env = stack.system_env({'DOCKER_BUILDKIT': '0'})
    result = subprocess.run([DOCKER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise BenchError('docker %s failed (exit %d): %s' % (' '.join(args), result.returncode,
                                                              result.stderr.strip()[-2000:]))
    return result


def cli_lines(args: Sequence[str], on_line: Callable[[str, float], None]) -> int:
    """Run the docker CLI, calling ``on_line(line, wall time)`` as each stdout line arrives; returns the exit code."""
    env = stack.system_env({'DOCKER_BUILDKIT': '0'})
    proc = subprocess.Popen([DOCKER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, bufsize=0)
    with proc.stdout:
        for raw in iter(proc.stdout.readline, b''):
            on_line(raw.decode('utf-8', 'replace').rstrip('\n'), time.time())
    return proc.wait()


# --------------------------------------------------------------------------------------------------
# The stack

class Stack:
    """Docker (must already run), registries on free ports, a private roscore and one node, all torn down."""

    def __init__(self, workdir: Path, node_params: Optional[Dict] = None):
        self.prefix = 'dimbench-' + secrets.token_hex(3)
        self.workdir = workdir
        self.api: Optional[docker.APIClient] = None
        self.base = ''
        self.roscore: Optional[stack.Roscore] = None
        self.node: Optional[stack.Node] = None
        self.node_pid = 0
        self.node_params = dict(node_params or {})
        self.progress_hz = float(self.node_params.get('progress_rate_hz', 5.0))
        self.registries: List[stack.Registry] = []
        self.client = None  # ImageManagerClient
        self._saved_env: Dict[str, Optional[str]] = {}

    # -- bring-up ---------------------------------------------------------------------------------------

    def start(self) -> 'Stack':
        if not stack.docker_pings():
            raise BenchError('no Docker engine answers on %s; start dockerd (tools/setup.sh docker) first'
                             % stack.DOCKER_SOCKET)
        self.api = docker.APIClient(base_url=stack.DOCKER_URL, version='auto', timeout=None)
        self.base = run_checked(stack.import_base_image, self.api, self.prefix + '-base')
        run_checked(stack.require_ros_env)
        ros_dir = self.workdir / 'ros'
        ros_dir.mkdir(parents=True, exist_ok=True)
        self.roscore = run_checked(stack.Roscore(ros_dir).start)
        for key in ('ROS_MASTER_URI', 'ROS_IP', 'ROS_HOSTNAME', 'ROS_LOG_DIR'):
            self._saved_env[key] = os.environ.get(key)
        os.environ.update(self.roscore.env)
        os.environ.pop('ROS_HOSTNAME', None)
        self._start_node()
        import rospy
        from docker_image_manager.client.facade import ImageManagerClient, init_node
        init_node('dimbench_client')
        rospy.loginfo('benchmark client up')
        self.client = ImageManagerClient(self.node.name, timeout=30.0)
        return self

    def _start_node(self, timeout: float = 60.0) -> None:
        params = {'state_dir': str(self.workdir / 'node-state'), 'allowed_context_roots': [str(self.workdir)]}
        params.update(self.node_params)
        config = self.workdir / 'node.yaml'
        config.write_text(yaml.safe_dump(params, default_flow_style=False))
        log_path = self.workdir / 'node.log'
        env = stack.system_env(self.roscore.env)
        env.pop('ROS_HOSTNAME', None)
        with open(log_path, 'ab') as log:
            proc = subprocess.Popen(['roslaunch', '--screen', stack.PACKAGE, stack.LAUNCH_FILE, 'ns:=dimbench',
                                     'config:=' + str(config)], stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.node = stack.Node('dimbench', params, Path(params['state_dir']), config, log_path, proc)
        problem = stack._wait_for_node(self.node, self.roscore.uri, timeout)
        if problem:
            self.node.stop()
            raise BenchError('the node did not come up: %s; its output:\n%s' % (problem, stack.tail(log_path)))
        import rosgraph
        uri = rosgraph.Master('/dimbench', master_uri=self.roscore.uri).lookupNode(self.node.name)
        self.node_pid = xmlrpc.client.ServerProxy(uri).getPid('/dimbench')[2]

    def registry(self) -> stack.Registry:
        """A fresh registry on a free port (its storage goes with :meth:`drop_registry`)."""
        path = self.workdir / ('registry-%d' % len(self.registries))
        reg = run_checked(stack.Registry(path).start)
        self.registries.append(reg)
        return reg

    def drop_registry(self, reg: stack.Registry) -> None:
        reg.stop()
        shutil.rmtree(reg.workdir, ignore_errors=True)
        if reg in self.registries:
            self.registries.remove(reg)

    # -- images -----------------------------------------------------------------------------------------

    def name(self, suffix: str) -> str:
        return '%s-%s' % (self.prefix, suffix)

    def context(self, name: str, dockerfile: str, files: Optional[Dict[str, int]] = None) -> Path:
        """A build context directory under the work dir; ``files`` maps names to sizes of random data."""
        path = self.workdir / 'contexts' / name
        path.mkdir(parents=True, exist_ok=True)
        (path / 'Dockerfile').write_text(dockerfile.replace('@BASE@', self.base))
        for file_name, size in (files or {}).items():
            write_random(path / file_name, size)
        return path

    def build_cli(self, context: Path, tag: str) -> None:
        cli('build', '--no-cache', '--rm', '-t', tag, str(context))

    def remove_image(self, ref: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.api.remove_image(ref, force=True)

    def image_size(self, ref: str) -> int:
        return int(self.api.inspect_image(ref).get('Size') or 0)

    # -- node ---------------------------------------------------------------------------------------------

    def node_cpu(self) -> float:
        return cpu_seconds(self.node_pid)

    def node_memory(self) -> Dict[str, int]:
        return memory_kb(self.node_pid)

    # -- teardown -----------------------------------------------------------------------------------------

    def stop(self) -> List[str]:
        """Stop everything started and remove everything named with the prefix; returns what went wrong."""
        problems = []
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        if self.node is not None:
            with _collect(problems, 'stop node'):
                self.node.stop()
        for reg in list(self.registries):
            with _collect(problems, 'stop registry'):
                self.drop_registry(reg)
        if self.roscore is not None:
            with _collect(problems, 'stop roscore'):
                self.roscore.stop()
        if self.api is not None:
            with _collect(problems, 'remove images'):
                stack.sweep(self.api, self.prefix)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return problems


@contextlib.contextmanager
def _collect(problems: List[str], what: str):
    try:
        yield
    except BaseException as exc:  # noqa: B902 - teardown goes on whatever happened
        if isinstance(exc, KeyboardInterrupt):
            raise
        problems.append('%s: %s' % (what, exc))


def write_random(path: Path, size: int, chunk: int = 1 << 20) -> None:
    with open(path, 'wb') as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


# --------------------------------------------------------------------------------------------------
# Topic recording

class TopicRecorder:
    """Records every message on a topic: receive wall time, serialized size and the decoded message."""

    def __init__(self, topic: str, msg_class):
        import rospy
        self.msg_class = msg_class
        self.records: List[Tuple[float, int, object]] = []
        self._lock = threading.Lock()
        # AnyMsg hands over the raw bytes: their length is exactly what crossed the wire per message.
        self._sub = rospy.Subscriber(topic, rospy.AnyMsg, self._on_message, queue_size=100000,
                                     buff_size=1 << 24)

    def _on_message(self, raw) -> None:
        now = time.time()
        message = self.msg_class()
        message.deserialize(raw._buff)
        with self._lock:
            self.records.append((now, len(raw._buff), message))

    def take(self) -> List[Tuple[float, int, object]]:
        with self._lock:
            records, self.records = self.records, []
        return records

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._sub.get_num_connections() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._sub.unregister()


# --------------------------------------------------------------------------------------------------
# The machine

def machine() -> Dict[str, str]:
    """What the numbers were measured on."""
    info: Dict[str, str] = {}
    model = ''
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    info['CPU'] = '%d cores%s' % (os.cpu_count() or 0, (' (%s)' % model) if model else '')
    with contextlib.suppress(OSError):
        kb = int(re.search(r'MemTotal:\s+(\d+)', Path('/proc/meminfo').read_text()).group(1))
        info['RAM'] = '%.1f GiB' % (kb / 1024 / 1024)
    info['Kernel'] = platform.release()
    with contextlib.suppress(OSError):
        info['OS'] = re.search(r'PRETTY_NAME="([^"]+)"', Path('/etc/os-release').read_text()).group(1)
    version = cli('version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}}), CLI '
                  '{{.Client.Version}}', check=False)
    info['Docker'] = version.stdout.strip() or version.stderr.strip()
    driver = cli('info', '--format', '{{.Driver}}', check=False).stdout.strip()
    info['Storage driver'] = driver
    info['Python'] = '%s (%s)' % (platform.python_version(), sys.executable)
    info['Docker SDK (docker-py)'] = docker.__version__
    registry = shutil.which('docker-registry', path=stack.SYSTEM_PATH)
    if registry:
        out = subprocess.run([registry, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True).stdout.strip()
        info['Registry'] = out.splitlines()[0] if out else registry
    info['ROS_DISTRO'] = os.environ.get('ROS_DISTRO', '?')
    return info


def load_average() -> str:
    with contextlib.suppress(OSError):
        return ' '.join(Path('/proc/loadavg').read_text().split()[:3])
    return '?'


def interrupt_on_term() -> None:
    """SIGTERM (e.g. from ``timeout``) unwinds like Ctrl-C, so the teardown still runs."""
    def raise_interrupt(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, raise_interrupt)


def serialized_size(message) -> int:
    buf = io.BytesIO()
    message.serialize(buf)
    return len(buf.getvalue())
