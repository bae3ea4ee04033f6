"""A full disk, for real: a separate test dockerd whose data root is a 96 MiB tmpfs.

The test daemon is isolated from the machine's own dockerd (which other tests use) in every way that matters:

* its own network namespace (``ip netns add dimtest-<hex>``, entered with ``nsenter --net`` only, so it still
  sees the host's cgroup and sysfs mounts), ``--bridge=none`` and no iptables, masquerading or forwarding: it
  never touches the host's ``docker0`` or firewall;
* its own socket, data root (the tmpfs), exec root (so its own managed containerd), pid file, config file
  (empty) and cgroup parent (``/dimtest-<hex>``);
* it is stopped by its pid only; then the tmpfs is unmounted, the namespace and the (empty) cgroups removed,
  even when the test fails.

The node talks to it through ``docker_url: unix://<tmp>/docker.sock`` and reports the tmpfs's free space;
a ``RUN dd`` of 200 MiB fills it.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import docker
import pytest
from actionlib_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticStatus

from docker_image_manager import srv
from node_tools import build_goal, call, diagnostics_of, make_context, run_action, wait_for
from stack import SYSTEM_PATH, _proc_stat, docker_pings, import_base_image, stop_process, system_env, tail

DATA_ROOT_SIZE = 96 * 1024 * 1024
CGROUP_ROOT = Path('/sys/fs/cgroup')


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          env=system_env())


def _has_link(name: str) -> bool:
    return _run('ip', 'link', 'show', name).returncode == 0


def _processes_named(name: str):
    """(pid, start time) of every live process whose command name is ``name``."""
    found = set()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open('/proc/%s/comm' % entry) as handle:
                    if handle.read().strip() == name:
                        stat = _proc_stat(int(entry))
                        if stat is not None:
                            found.add((int(entry), stat[1]))
    return found


class SmallDaemon:
    """A dockerd of our own, in its own network namespace, with a small tmpfs as its data root."""

    def __init__(self) -> None:
        self.name = 'dimtest-' + secrets.token_hex(4)
        # Short, so the containerd sockets under the exec root stay well below the 108-byte limit.
        self.dir = Path(tempfile.mkdtemp(prefix='dimdf-', dir='/tmp'))
        self.data_root = self.dir / 'data'
        self.exec_root = self.dir / 'exec'
        self.socket = self.dir / 'docker.sock'
        self.url = 'unix://' + str(self.socket)
        self.log_path = self.dir / 'dockerd.log'
        self.proc = None
        self._mounted = False
        self._netns = False

    def start(self, timeout: float = 60.0) -> 'SmallDaemon':
        missing = [tool for tool in ('ip', 'nsenter', 'dockerd', 'mount', 'umount')
                   if shutil.which(tool, path=SYSTEM_PATH) is None]
        if os.geteuid() != 0 or missing:
            pytest.skip('a test dockerd with a tmpfs data root needs root, ip, nsenter, dockerd and mount (%s)'
                        % ('not root' if os.geteuid() else 'missing: ' + ', '.join(missing)))
        self.data_root.mkdir()
        self.exec_root.mkdir()
        (self.dir / 'daemon.json').write_text('{}\n')  # never the host's /etc/docker/daemon.json
        done = _run('mount', '-t', 'tmpfs', '-o', 'size=%d,mode=0711' % DATA_ROOT_SIZE, 'tmpfs',
                    str(self.data_root))
        if done.returncode != 0:
            pytest.skip('cannot mount a tmpfs for the test daemon (needs CAP_SYS_ADMIN): %s' % done.stdout.strip())
        self._mounted = True
        done = _run('ip', 'netns', 'add', self.name)
        if done.returncode != 0:
            pytest.skip('cannot create a network namespace for the test daemon: %s' % done.stdout.strip())
        self._netns = True
        done = _run('ip', 'netns', 'exec', self.name, 'ip', 'link', 'set', 'lo', 'up')
        assert done.returncode == 0, done.stdout
        # nsenter --net only: `ip netns exec` would also remount /sys, hiding the cgroup mounts dockerd needs.
        command = ['nsenter', '--net=/var/run/netns/' + self.name, 'dockerd',
                   '--config-file', str(self.dir / 'daemon.json'),
                   '--host', self.url, '--data-root', str(self.data_root), '--exec-root', str(self.exec_root),
                   '--pidfile', str(self.dir / 'docker.pid'), '--cgroup-parent', '/' + self.name,
                   '--storage-driver', 'overlay2', '--bridge=none', '--iptables=false', '--ip-masq=false',
                   '--ip-forward=false', '--userland-proxy=false']
        with open(self.log_path, 'ab') as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=system_env())
        deadline = time.monotonic() + timeout
        while not docker_pings(str(self.socket)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError('the test dockerd did not answer on %s within %.0f s; its log:\n%s'
                                     % (self.socket, timeout, tail(self.log_path)))
            time.sleep(0.3)
        # nsenter execs dockerd: the pid we hold is the daemon's, and it lives in the namespace we made.
        assert Path('/proc/%d/comm' % self.proc.pid).read_text().strip() == 'dockerd'
        assert os.readlink('/proc/%d/ns/net' % self.proc.pid) != os.readlink('/proc/self/ns/net')
        return self

    def api(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version='auto', timeout=120)

    def stop(self) -> None:
        """Stop our dockerd (by its pid; it stops its containerd), then unmount, remove the namespace."""
        problems = []
        if self.proc is not None:
            # dockerd alone, not its group; what it started is SIGKILLed by pid only if it outlives 30 s.
            stop_process(self.proc, signal.SIGTERM, timeout=30.0, group=False)
        if self._mounted:
            done = _run('umount', str(self.data_root))
            if done.returncode != 0:  # something still holds it: detach it, it is ours alone
                done = _run('umount', '-l', str(self.data_root))
            if done.returncode != 0:
                problems.append('umount %s: %s' % (self.data_root, done.stdout.strip()))
            else:
                self._mounted = False
        if self._netns:
            done = _run('ip', 'netns', 'delete', self.name)
            if done.returncode != 0:
                problems.append('ip netns delete %s: %s' % (self.name, done.stdout.strip()))
        for cgroup in CGROUP_ROOT.glob('*/' + self.name):  # our cgroup parent, empty once the daemon is gone
            with contextlib.suppress(OSError):
                os.rmdir(cgroup)
        if not self._mounted:
            shutil.rmtree(str(self.dir), ignore_errors=True)
        if problems:
            raise AssertionError('cleaning up the test daemon: ' + '; '.join(problems))


@pytest.fixture
def small_daemon():
    had_docker0 = _has_link('docker0')
    containerds = _processes_named('containerd')
    daemon = SmallDaemon()
    try:
        yield daemon.start()
        # The host's bridge was left alone while ours ran.
        assert _has_link('docker0') == had_docker0, 'docker0 changed while the test daemon ran'
    finally:
        daemon.stop()
    # Every containerd that ran before (the main daemon's) still runs.
    assert all(_proc_stat(pid) is not None and _proc_stat(pid)[1] == start for pid, start in containerds), \
        'a containerd that was running before the test daemon is gone'
    assert _has_link('docker0') == had_docker0, 'docker0 changed after the test daemon stopped'


def _diagnostic_values(status):
    return {value.key: value.value for value in status.values}


def test_full_disk_build_fails_clearly(ros, start_node, small_daemon, prefix, tmp_path):
    began = time.monotonic()
    api = small_daemon.api()
    try:
        base = import_base_image(api, prefix + '-small-base')
    finally:
        api.close()
    node = start_node('fault_disk', params={'docker_url': small_daemon.url, 'diagnostics_period_s': 0.5,
                                            'allowed_context_roots': [str(tmp_path)]})

    # (1) Before the build: /diagnostics shows the little free space of the tmpfs data root, as a warning.
    status = wait_for(lambda: (lambda s: s if 'free_disk_bytes' in _diagnostic_values(s) else None)(
        diagnostics_of(node)), 30, 'diagnostics with free_disk_bytes')
    values = _diagnostic_values(status)
    free = int(values['free_disk_bytes'])
    print('diagnostics before the build: level %d, %r, free_disk_bytes=%d' % (status.level, status.message, free))
    assert status.level == DiagnosticStatus.WARN, status.message
    assert values['docker_root_dir'] == str(small_daemon.data_root)
    assert 0 < free < 100 * 1000 * 1000, free  # the 96 MiB tmpfs, less the base image
    assert str(small_daemon.data_root) in status.message and 'GB free' in status.message, status.message

    # (2) A RUN that writes more than that fails, and the result says the disk is full.
    context = make_context(tmp_path / 'ctx', 'FROM %s\nRUN dd if=/dev/zero of=/big bs=1M count=200\n' % base)
    state, result = run_action(node, 'build', build_goal(context, [prefix + '-full:v1'], no_cache=True),
                               timeout=120)
    print('build result: state %d, %r' % (state, result.message))
    assert state == GoalStatus.ABORTED and not result.success, result.message
    assert 'the disk is full' in result.message, result.message
    assert 'no space left on device' in result.message.lower(), result.message
    assert 'docker system prune' in result.message, result.message
    job = call(node, 'get_job_log', srv.GetJobLog, job_id=result.job_id).job
    assert job.state == 'failed' and 'the disk is full' in job.message, job

    # (3) The node serves on.
    answer = call(node, 'list_images', srv.ListImages)
    assert answer.success, answer.message
    assert any(base in image.repo_tags for image in answer.images)
    assert not any(prefix + '-full:v1' in image.repo_tags for image in answer.images)
    print('took %.1f s' % (time.monotonic() - began))
