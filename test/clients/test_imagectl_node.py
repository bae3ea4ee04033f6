"""imagectl by subprocess against a real node, Docker daemon and registry: every subcommand, and failures."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


import stack

IMAGECTL = str(Path(__file__).resolve().parents[2] / 'scripts' / 'imagectl')


def run(roscore, *args, node=None, stdin=None, timeout=180):
    """Run imagectl (``--node`` first when given) and return the CompletedProcess (text)."""
    argv = [sys.executable, IMAGECTL] + (['--node', node.name] if node is not None else []) + list(args)
    env = stack.system_env(roscore.env)
    env.pop('ROS_HOSTNAME', None)
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=timeout)


def ok(result):
    assert result.returncode == 0, 'exit %d\nstdout:\n%s\nstderr:\n%s' % (
        result.returncode, result.stdout, result.stderr)
    return result.stdout


def failed(result):
    assert result.returncode == 1, 'exit %d\nstdout:\n%s\nstderr:\n%s' % (
        result.returncode, result.stdout, result.stderr)
    return result.stderr


def job_ids(roscore, node, kind):
    return ok(run(roscore, 'jobs', '-q', '--kind', kind, node=node)).split()


def wait_for_nodes(roscore, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while len(ok(run(roscore, 'nodes')).split()) < count:
        assert time.monotonic() < deadline, 'fewer than %d nodes found' % count
        time.sleep(0.2)


def test_queries_commit_tag_rmi(roscore, start_node, docker_api, base_image, prefix, cleanup):
    node = start_node(ns='ctlq')
    box = prefix + '-diffbox'
    container = docker_api.create_container(base_image, ['sh', '-c', 'echo hi > /added.txt && rm /etc/group'],
                                            name=box)
    cleanup.container(container['Id'])
    docker_api.start(container['Id'])
    assert docker_api.wait(container['Id'], timeout=60)['StatusCode'] == 0

    images = ok(run(roscore, 'images', node=node))
    assert images.splitlines()[0].split() == ['REPOSITORY', 'TAG', 'IMAGE', 'ID', 'CREATED', 'SIZE', 'LAYERS']
    repo, tag = base_image.rsplit(':', 1)
    assert any(line.split()[:2] == [repo, tag] for line in images.splitlines()), images
    base_id = docker_api.inspect_image(base_image)['Id']
    assert ok(run(roscore, 'images', '-q', '--no-trunc', repo, node=node)).split() == [base_id]
    assert ok(run(roscore, 'images', '-q', prefix + '-nothing-here', node=node)).strip() == ''

    ps = ok(run(roscore, 'ps', '-a', node=node))
    assert any(line.split()[-1] == box for line in ps.splitlines()), ps
    assert container['Id'][:12] in ps
    assert box not in ok(run(roscore, 'ps', node=node))  # exited: only with -a

    history = ok(run(roscore, 'history', base_image, node=node)).splitlines()
    assert history[0].split()[:2] == ['LAYER', 'CREATED']
    assert len(history) == 1 + len(docker_api.inspect_image(base_image)['RootFS']['Layers'])

    document = json.loads(ok(run(roscore, 'inspect', base_image, node=node)))
    assert document[0]['Id'] == base_id
    assert base_image in document[0]['RepoTags']
    assert [layer['DiffId'] for layer in document[0]['Layers']] == \
        docker_api.inspect_image(base_image)['RootFS']['Layers']

    diff = ok(run(roscore, 'diff', box, node=node)).splitlines()
    assert 'A /added.txt' in diff
    assert 'D /etc/group' in diff

    target = cleanup.image(prefix + '-committed:v1')
    image_id = ok(run(roscore, 'commit', box, target, '-m', 'hotfix from imagectl', '-a', 'Jane <j@example.com>',
                      '-c', 'ENV FOO=bar', '--change', 'LABEL stage=test', node=node)).strip()
    attrs = docker_api.inspect_image(target)
    assert attrs['Id'] == image_id
    assert attrs['Comment'] == 'hotfix from imagectl'
    assert attrs['Author'] == 'Jane <j@example.com>'
    assert 'FOO=bar' in attrs['Config']['Env']
    assert attrs['Config']['Labels'].get('stage') == 'test'

    alias = cleanup.image(prefix + '-alias:v2')
    assert ok(run(roscore, 'tag', target, alias, node=node)) == ''
    assert docker_api.inspect_image(alias)['Id'] == image_id

    removed = ok(run(roscore, 'rmi', alias, node=node))
    assert 'Total reclaimed space' in removed
    assert alias not in [t for image in docker_api.images() for t in image.get('RepoTags') or []]
    assert docker_api.inspect_image(target)['Id'] == image_id  # the other tag is still there

    commits = job_ids(roscore, node, 'commit')
    assert len(commits) == 1
    table = ok(run(roscore, 'jobs', node=node))
    assert commits[0] in table and 'succeeded' in table
    ok(run(roscore, 'logs', commits[0], node=node))


def test_build_push_pull_and_logs(roscore, start_node, docker_api, base_image, registry, prefix, cleanup,
                                  tmp_path):
    context = stack.make_context(tmp_path / 'context', textwrap.dedent('''\
        FROM {base}
        ARG GREETING=none
        RUN echo "marker-$GREETING" > /greeting && cat /greeting
        '''.format(base=base_image)))
    node = start_node(ns='ctlb', params={'allowed_context_roots': [str(tmp_path)]})
    local = cleanup.image(prefix + '-built:1')
    remote = cleanup.image(registry.ref(prefix + '/built', '1'))
    out = ok(run(roscore, 'build', str(context), '-t', local, '-t', remote, '--build-arg', 'GREETING=imagectl',
                 '--label', 'made-by=imagectl', '--no-cache', node=node))
    assert 'marker-imagectl' in out.splitlines()
    assert out.splitlines()[0].startswith('Step 1/')
    attrs = docker_api.inspect_image(local)
    assert attrs['Config']['Labels'].get('made-by') == 'imagectl'
    assert docker_api.inspect_image(remote)['Id'] == attrs['Id']

    # Same arguments, cache allowed: the same image, and -q prints only its id.
    quiet = ok(run(roscore, 'build', '-q', str(context), '-t', local, '--build-arg', 'GREETING=imagectl',
                   '--label', 'made-by=imagectl', node=node))
    assert quiet.strip() == attrs['Id']

    pushed = ok(run(roscore, 'push', remote, node=node))
    digest = registry.manifest_digest(prefix + '/built', '1')
    assert digest is not None
    assert '%s: digest: %s size: ' % (remote, digest) in pushed
    assert pushed.count('Pushed [') == 1  # plain output: the final overall line once
    assert any(line.endswith(': Pushed') or ': Mounted from' in line or line.endswith('Layer already exists')
               for line in pushed.splitlines()), pushed

    docker_api.remove_image(remote)
    pulled = ok(run(roscore, 'pull', remote, node=node))
    assert 'Digest: %s' % digest in pulled
    assert pulled.splitlines()[-1] == remote
    assert docker_api.inspect_image(remote)['Id'] == attrs['Id']

    push_job = job_ids(roscore, node, 'push')[0]
    log = ok(run(roscore, 'logs', push_job, node=node))
    assert log.strip(), 'the push job has an empty log'
    build_job = job_ids(roscore, node, 'build')[-1]  # oldest first at the end: the first, verbose build
    assert 'marker-imagectl' in ok(run(roscore, 'logs', build_job, node=node)).splitlines()
    assert len(ok(run(roscore, 'jobs', '-n', '1', node=node)).splitlines()) == 2


def test_failures_exit_non_zero_with_the_nodes_message(roscore, start_node, base_image, registry, prefix,
                                                       tmp_path):
    context = stack.make_context(tmp_path / 'bad', 'FROM %s\nRUN echo about-to-fail && exit 3\n' % base_image)
    node = start_node(ns='ctlf', params={'allowed_context_roots': [str(tmp_path)]})

    result = run(roscore, 'build', str(context), '-t', prefix + '-bad:1', node=node)
    assert 'returned a non-zero code: 3' in failed(result)
    assert 'about-to-fail' in result.stdout  # the log streamed before the failure

    outside = run(roscore, 'build', '/etc', node=node)
    assert failed(outside).startswith('imagectl: error: ')

    assert prefix + '-missing' in failed(run(roscore, 'push', registry.ref(prefix + '-missing', '1'), node=node))
    assert failed(run(roscore, 'pull', registry.ref(prefix + '/never-pushed', '1'), node=node))
    assert failed(run(roscore, 'tag', prefix + '-missing:1', prefix + '-x:1', node=node))
    assert failed(run(roscore, 'inspect', prefix + '-missing:1', node=node))
    assert failed(run(roscore, 'history', prefix + '-missing:1', node=node))
    assert failed(run(roscore, 'diff', prefix + '-no-such-container', node=node))
    assert failed(run(roscore, 'commit', prefix + '-no-such-container', node=node))
    assert failed(run(roscore, 'rmi', prefix + '-missing:1', node=node))
    assert failed(run(roscore, 'logs', 'no-such-job', node=node))
    assert run(roscore, 'images', '--bogus-flag', node=node).returncode == 2


def test_login_reads_the_password_from_stdin(roscore, start_node, auth_registry):
    node = start_node(ns='ctll')
    secret = auth_registry.password
    wrong = run(roscore, 'login', auth_registry.host, '-u', auth_registry.username, '--password-stdin',
                node=node, stdin='not-the-password\n')
    assert failed(wrong)
    good = run(roscore, 'login', auth_registry.host, '-u', auth_registry.username, '--password-stdin',
               node=node, stdin=secret + '\n')
    assert 'Login Succeeded' in ok(good)
    no_stdin = run(roscore, 'login', auth_registry.host, '-u', auth_registry.username, node=node, stdin='')
    assert no_stdin.returncode == 2 and '--password-stdin' in no_stdin.stderr
    for text in (wrong.stdout, wrong.stderr, good.stdout, good.stderr, node.log()):
        assert secret not in text


def test_finds_the_node_alone_and_refuses_to_guess_among_several(roscore, start_node):
    # start_node waits for list_images; the node registers its other services a moment later.
    first = start_node(ns='ctln1')
    wait_for_nodes(roscore, 1)
    assert ok(run(roscore, 'nodes')).split() == [first.name]
    ok(run(roscore, 'jobs'))  # no --node: the only one
    second = start_node(ns='ctln2')
    wait_for_nodes(roscore, 2)
    assert ok(run(roscore, 'nodes')).split() == sorted([first.name, second.name])
    several = failed(run(roscore, 'jobs'))
    assert first.name in several and second.name in several and '--node' in several
    absent = failed(run(roscore, '--node', '/nowhere/docker_image_manager', '--timeout', '1', 'images'))
    assert '/nowhere/docker_image_manager/list_images is not available' in absent


def test_rosrun_finds_imagectl(roscore, start_node):
    node = start_node(ns='ctlr')
    env = stack.system_env(roscore.env)
    result = subprocess.run(['rosrun', 'docker_image_manager', 'imagectl', '--node', node.name, 'jobs'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('JOB ID')


def test_ctrl_c_cancels_the_push_on_the_robot(roscore, start_node, docker_api, base_image, registry, prefix,
                                              cleanup, tmp_path):
    # Random data does not compress: pushing it takes long enough to interrupt.
    context = stack.make_context(tmp_path / 'big',
                                 'FROM %s\nRUN dd if=/dev/urandom of=/blob bs=1M count=300\n' % base_image)
    node = start_node(ns='ctlc', params={'allowed_context_roots': [str(tmp_path)]})
    ref = cleanup.image(registry.ref(prefix + '/big', '1'))
    ok(run(roscore, 'build', '-q', str(context), '-t', ref, node=node))

    env = stack.system_env(roscore.env)
    proc = subprocess.Popen([sys.executable, IMAGECTL, '--node', node.name, 'push', ref], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, env=env)
    try:
        # Wait for the first overall progress line: the push is running on the robot.
        for line in proc.stdout:
            if line.startswith('Total'):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        stack.stop_process(proc, signal.SIGKILL, group=False)
    assert proc.returncode == 130, err
    assert 'cancelling the push on the robot' in err
    assert 'ended as cancelled' in err
    deadline = time.monotonic() + 30
    while True:
        table = ok(run(roscore, 'jobs', '--kind', 'push', node=node)).splitlines()
        if 'cancelled' in table[1].split() or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert table[1].split()[3] == 'cancelled', table
    assert registry.manifest_digest(prefix + '/big', '1') is None


def test_logs_follow_prints_until_the_job_ends(roscore, start_node, base_image, prefix, cleanup, tmp_path):
    context = stack.make_context(tmp_path / 'slow',
                                 'FROM %s\nRUN echo follow-start && sleep 4 && echo follow-end\n' % base_image)
    node = start_node(ns='ctlo', params={'allowed_context_roots': [str(tmp_path)]})
    cleanup.image(prefix + '-follow:1')
    env = stack.system_env(roscore.env)
    build = subprocess.Popen([sys.executable, IMAGECTL, '--node', node.name, 'build', '--no-cache', str(context),
                              '-t', prefix + '-follow:1'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, env=env)
    try:
        deadline = time.monotonic() + 60
        jobs = []
        while not jobs and time.monotonic() < deadline:
            jobs = job_ids(roscore, node, 'build')
            time.sleep(0.2)
        assert jobs, 'the build job never appeared'
        followed = ok(run(roscore, 'logs', '--follow', jobs[0], node=node)).splitlines()
        out, err = build.communicate(timeout=120)
    finally:
        stack.stop_process(build, signal.SIGKILL, group=False)
    assert build.returncode == 0, err
    assert 'follow-start' in followed and 'follow-end' in followed
    assert followed == ok(run(roscore, 'logs', jobs[0], node=node)).splitlines()
