"""`catkin_make install` into a throw-away prefix, then the node launched from that install space alone.

The workspace is a copy of this checkout, built in a clean environment (only Debian's ROS, or
/opt/ros/noetic on Ubuntu), so the install space chains to nothing of the devel space the other tests use;
the node is then started by ``roslaunch`` with only ``install/setup.bash`` sourced.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import xmlrpc.client
from pathlib import Path
from typing import Dict, List

import pytest
import rosgraph
import yaml

from stack import PACKAGE, REPO_ROOT, SYSTEM_PATH, Node, _still_same, _wait_for_node, descendants, tail

NOETIC_SETUP = '/opt/ros/noetic/setup.bash'
SCRIPTS = ('image_manager_node', 'imagectl', 'image_manager_gui')
BUILD_TIMEOUT = 900


def clean_env(extra: Dict[str, str]) -> Dict[str, str]:
    """An environment with nothing of the test run's workspace: no PYTHONPATH, ROS_* or CMAKE_* from it."""
    env = {'HOME': os.environ.get('HOME', '/root'), 'PATH': SYSTEM_PATH, 'LANG': 'C.UTF-8'}
    env.update(extra)
    return env


def bash_in(setup: str, command: str) -> List[str]:
    """``bash -c`` running ``command`` after sourcing ``setup`` (and Noetic's setup.bash, where there is one)."""
    prelude = '[ -f {0} ] && source {0}; '.format(NOETIC_SETUP)
    if setup:
        prelude += 'source %s && ' % setup
    return ['bash', '-c', prelude + command]


@pytest.fixture(scope='module')
def install_space(tmp_path_factory) -> Path:
    """The install prefix of a fresh `catkin_make install` of a copy of this checkout."""
    root = tmp_path_factory.mktemp('install-ws')
    src = root / 'ws' / 'src' / PACKAGE
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
        '.git', '__pycache__', '.pytest_cache', '.ruff_cache', 'build', 'devel', 'install'))
    prefix = root / 'install'
    log = root / 'catkin_make.log'
    command = ('cd %s && catkin_make install -DPYTHON_EXECUTABLE=/usr/bin/python3 -DCATKIN_ENABLE_TESTING=OFF '
               '-DCMAKE_INSTALL_PREFIX=%s' % (root / 'ws', prefix))
    with open(log, 'wb') as out:
        result = subprocess.run(bash_in('', command), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=clean_env({}), timeout=BUILD_TIMEOUT)
    if result.returncode != 0:
        pytest.fail('catkin_make install failed (exit %d); its log (%s):\n%s'
                    % (result.returncode, log, tail(log, 60)), pytrace=False)
    return prefix


def launch_node(argv: List[str], ns: str, config: Path, roscore, env: Dict[str, str], log_path: Path,
                what: str) -> Node:
    """Run ``argv``, which brings the node up in ``ns``, logging to ``log_path``; fail with that output if the
    node never answers. The caller stops it (``node.stop()``)."""
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
    node = Node(ns, {}, config.parent / 'state', config, log_path, proc)
    problem = _wait_for_node(node, roscore.uri, 60.0)
    if problem:
        node.stop()
        pytest.fail('%s did not bring the node up: %s. Output:\n%s' % (what, problem, tail(log_path, 60)),
                    pytrace=False)
    return node


def test_install_space_holds_scripts_launch_config_plugin_and_messages(install_space):
    share = install_space / 'share' / PACKAGE
    python = install_space / 'lib' / 'python3' / 'dist-packages' / PACKAGE
    for script in SCRIPTS:
        path = install_space / 'lib' / PACKAGE / script
        assert path.is_file() and os.access(str(path), os.X_OK), path
        assert path.read_text().startswith('#!/usr/bin/env python3\n'), path
    for relative in ('package.xml', 'plugin.xml', 'launch/image_manager.launch', 'config/image_manager.yaml'):
        assert (share / relative).is_file(), relative
    assert (share / 'resource').is_dir()
    assert sorted(p.name for p in (share / 'resource').iterdir()) == sorted(
        p.name for p in (REPO_ROOT / 'resource').iterdir())
    for generated in ('msg/_BuildLog.py', 'msg/_TransferProgress.py', 'msg/_BuildAction.py', 'msg/_PushGoal.py',
                      'srv/_ListImages.py', 'srv/_Commit.py'):
        assert (python / generated).is_file(), generated
    for module in ('core/jobs.py', 'ros/node.py', 'client/facade.py', 'rqt/plugin.py', 'imagectl.py'):
        assert (python / module).is_file(), module
    # rqt finds the plugin through the installed package.xml's export.
    assert '${prefix}/plugin.xml' in (share / 'package.xml').read_text()


def test_node_launched_from_install_space_serves_and_imagectl_talks_to_it(install_space, roscore, prefix,
                                                                          tmp_path):
    ns = prefix.replace('-', '_') + '_installed'
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({'state_dir': str(tmp_path / 'state')}))
    env = clean_env(roscore.env)
    setup = str(install_space / 'setup.bash')
    node = launch_node(bash_in(setup, 'exec roslaunch --screen %s image_manager.launch ns:=%s config:=%s'
                               % (PACKAGE, ns, config)), ns, config, roscore, env, tmp_path / 'roslaunch.log',
                       'roslaunch from the install space')
    try:
        node_uri = rosgraph.Master('/dimtest_install', master_uri=roscore.uri).lookupNode(node.name)
        _, _, pid = xmlrpc.client.ServerProxy(node_uri).getPid('/dimtest_install')
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = [arg.decode() for arg in f.read().split(b'\0') if arg]
        assert str(install_space / 'lib' / PACKAGE / 'image_manager_node') in argv, argv
        with open('/proc/%d/environ' % pid, 'rb') as f:
            environ = dict(item.decode().split('=', 1) for item in f.read().split(b'\0') if b'=' in item)
        assert environ.get('PYTHONPATH', '').split(':')[0] == str(install_space / 'lib/python3/dist-packages')
        assert 'devel' not in environ.get('PYTHONPATH', '')

        # The installed client, run the way a user on the robot would.
        result = subprocess.run(bash_in(setup, 'rosrun %s imagectl --node %s jobs' % (PACKAGE, node.name)),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, env=env, timeout=60)
        assert result.returncode == 0, result.stdout
    finally:
        node.stop()
    assert node.proc.returncode is not None


def unit_settings(path: Path) -> Dict[str, List[str]]:
    """``Key=value`` lines of a systemd unit (every section), each key with all its values in order."""
    settings: Dict[str, List[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(('#', ';', '[')):
            key, _, value = line.partition('=')
            settings.setdefault(key.strip(), []).append(value)
    return settings


def test_systemd_unit_starts_the_installed_node_in_its_namespace_and_stops_on_its_kill_signal(
        install_space, roscore, prefix, tmp_path):
    unit = unit_settings(REPO_ROOT / 'deploy' / 'docker-image-manager.service')
    assert unit['After'] == ['docker.service network-online.target']
    assert unit['KillSignal'] == ['SIGINT'] and unit['Restart'] == ['on-failure']
    assert 'docker' in unit['SupplementaryGroups'][0].split()
    defaults = dict(value.split('=', 1) for value in unit['Environment'])
    assert defaults['ROS_SETUP'] == NOETIC_SETUP
    # The unit's own command line, as systemd hands it to bash ($$ is systemd's escape for $).
    (exec_start,) = unit['ExecStart']
    argv = exec_start.replace('$$', '$').split(' ', 2)
    assert argv[:2] == ['/bin/bash', '-c'] and argv[2][0] == argv[2][-1] == "'"
    ns = prefix.replace('-', '_') + '_unit'
    config = tmp_path / 'robot.yaml'
    config.write_text(yaml.safe_dump({'state_dir': str(tmp_path / 'state')}))
    env = clean_env(dict(roscore.env, ROS_SETUP=NOETIC_SETUP if os.path.exists(NOETIC_SETUP) else '/dev/null',
                         DIM_WS_SETUP=str(install_space / 'setup.bash'), DIM_NS=ns,
                         DIM_LAUNCH_ARGS='config:=%s' % config))
    log_path = tmp_path / 'unit.log'
    node = launch_node(['/bin/bash', '-c', argv[2][1:-1]], ns, config, roscore, env, log_path,
                       "The unit's command")
    proc = node.proc
    try:
        assert node.name == '/%s/%s' % (ns, PACKAGE)
        # What systemd does on `systemctl stop`: the kill signal to the main process, then wait.
        family = descendants(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=float(unit['TimeoutStopSec'][0]))
        assert proc.returncode == 0, tail(log_path)
        # roslaunch stopped the node it started (checked by start time: a recycled pid is not ours).
        assert not any(_still_same(pid, start) for pid, start in family), family
    finally:
        node.stop()


def test_systemd_units_pass_systemd_analyze_verify():
    analyze = shutil.which('systemd-analyze', path=SYSTEM_PATH)
    units = [str(REPO_ROOT / 'deploy' / name) for name in ('docker-image-manager.service', 'roscore.service')]
    if analyze is None:
        pytest.skip('systemd-analyze is not installed')
    result = subprocess.run([analyze, 'verify'] + units, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
