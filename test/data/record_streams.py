#!/usr/bin/env python3
"""Record the Engine's build, push and pull streams, as the low-level SDK decodes them, for the stream tests.

Each case writes ``streams/<case>.jsonl``: every decoded JSON chunk, one a line, exactly as received. When the
SDK raises instead of (or in the middle of) streaming, ``streams/<case>.error.txt`` holds the exception class
and message. ``streams/index.json`` says, per case, what was called, how long it took and how it ended.

It talks to the real daemon and to real ``docker-registry`` processes it starts on free 127.0.0.1 ports (one
open, one with htpasswd auth); nothing is pulled from the internet. Everything it creates is tagged
``dimrec-<hex>`` or descends from its own base image, and is removed at the end; nothing else is touched.

Run it as root (or a docker group member) on a machine with busybox-static and docker-registry::

    /usr/bin/python3 test/data/record_streams.py [--out DIR] [--docker-url URL]
"""
from __future__ import annotations

import argparse
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, Iterable, List, Optional

import docker

HERE = os.path.dirname(os.path.abspath(__file__))
BUSYBOX = '/bin/busybox'
APPLETS = ('sh', 'echo', 'cat', 'sleep', 'dd', 'head', 'seq', 'true', 'false', 'mkdir', 'touch', 'rm', 'ls',
           'printf', 'wc', 'env')
# The daemon retries a failing layer upload with growing pauses (5, 10, 15, 20 s); such a push is cut off
# after this.
REGISTRY_DOWN_CAP_S = 60.0
REGISTRY_START_TIMEOUT_S = 20.0
USERNAME = 'dimrec'
PASSWORD = 'right-password'

BUILD_OK_DOCKERFILE = '''\
FROM {base}
ARG GREETING=hello
LABEL org.example.recorded="yes" org.example.case="build_ok"
RUN echo "$GREETING from the first RUN" && seq 1 3
COPY payload.txt /payload.txt
RUN cat /payload.txt && dd if=/dev/urandom of=/blob bs=64k count=48 2>&1
RUN echo to-stdout; echo to-stderr >&2; mkdir -p /data && echo done > /data/marker
'''

BUILD_RUN_FAILS_DOCKERFILE = '''\
FROM {base}
RUN echo before the failure > /before
RUN echo some output; echo more output; exit 3
RUN echo never reached
'''

BUILD_SYNTAX_ERROR_DOCKERFILE = '''\
FROM {base}
RUN echo fine
FROBNICATE this is not an instruction
'''

BUILD_RUN_MOUNT_DOCKERFILE = '''\
FROM {base}
RUN --mount=type=cache,target=/x true
'''


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Registry:
    """A ``docker-registry`` process on 127.0.0.1 with its own temporary config and storage."""

    def __init__(self, workdir: str, name: str, htpasswd: Optional[str] = None):
        self.port = free_port()
        self.address = '127.0.0.1:%d' % self.port
        self._dir = os.path.join(workdir, name)
        os.makedirs(os.path.join(self._dir, 'storage'))
        config = [
            'version: 0.1',
            'log:',
            '  level: error',
            '  accesslog:',
            '    disabled: true',
            'storage:',
            '  filesystem:',
            '    rootdirectory: %s' % os.path.join(self._dir, 'storage'),
            '  delete:',
            '    enabled: true',
            'http:',
            '  addr: %s' % self.address,
            '  secret: %s' % secrets.token_hex(16),
        ]
        if htpasswd is not None:
            path = os.path.join(self._dir, 'htpasswd')
            with open(path, 'w') as handle:
                handle.write(htpasswd)
            config += ['auth:', '  htpasswd:', '    realm: dimrec', '    path: %s' % path]
        self._config = os.path.join(self._dir, 'config.yml')
        with open(self._config, 'w') as handle:
            handle.write('\n'.join(config) + '\n')
        self._log = open(os.path.join(self._dir, 'registry.log'), 'wb')
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> None:
        self.process = subprocess.Popen(['/usr/bin/docker-registry', 'serve', self._config],
                                        stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REGISTRY_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('docker-registry exited with %s; see %s'
                                   % (self.process.returncode, self._log.name))
            try:
                urllib.request.urlopen('http://%s/v2/' % self.address, timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # 401 from the auth registry: it is up
            except OSError:
                time.sleep(0.1)
        raise RuntimeError('docker-registry did not answer on %s' % self.address)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class DroppingRegistry:
    """A stand-in registry on 127.0.0.1 that answers the ``/v2/`` ping and then drops every other request.

    The daemon gets past its endpoint check and fails on the layers themselves, which is what a registry
    that goes away mid-push looks like: the daemon retries each layer ("Retrying in N seconds") before it
    gives up. (With the port simply closed, the ping fails and there is nothing to retry.)
    """

    def __init__(self):
        self.port = free_port()
        self.address = '127.0.0.1:%d' % self.port

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path == '/v2/':
                    body = b'{}'
                    self.send_response(200)
                    self.send_header('Docker-Distribution-API-Version', 'registry/2.0')
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._drop()

            def _drop(self):
                # No response at all: the client sees the connection closed (EOF), a retryable error.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            do_HEAD = do_POST = do_PUT = do_PATCH = _drop

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def htpasswd_line(user: str, password: str) -> str:
    import bcrypt  # only needed here; python3-bcrypt
    return '%s:%s\n' % (user, bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode())


def busybox_rootfs(path: str) -> None:
    """A tar of a minimal root file system: /bin/busybox and a symlink per applet the Dockerfiles use."""
    with tarfile.open(path, 'w') as tar:
        for directory in ('bin', 'tmp', 'etc', 'root'):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == 'tmp' else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname='bin/busybox')
        for applet in APPLETS:
            info = tarfile.TarInfo('bin/' + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = 'busybox'
            tar.addfile(info)


class Recorder:
    """Runs the cases against one daemon and writes what they stream."""

    def __init__(self, api: docker.APIClient, out: str, prefix: str):
        self.api = api
        self.out = out
        self.prefix = prefix
        self.index: Dict[str, Any] = {}

    def record(self, case: str, call: str, produce: Callable[[], Iterable[Dict[str, Any]]],
               cap_s: Optional[float] = None) -> List[Dict[str, Any]]:
        """Consume ``produce()`` chunk by chunk into ``<case>.jsonl`` (and ``<case>.error.txt`` if it raises).

        With ``cap_s`` the stream is read on a helper thread and cut off after that many seconds.
        """
        chunks: List[Dict[str, Any]] = []
        failure: List[BaseException] = []
        stage = ['call']

        def consume() -> None:
            try:
                stream = produce()
                stage[0] = 'iteration'
                for chunk in stream:
                    chunks.append(chunk)
            except Exception as exc:  # recorded, not handled: the tests want to know what the SDK raises
                failure.append(exc)

        started = time.monotonic()
        capped = False
        if cap_s is None:
            consume()
        else:
            worker = threading.Thread(target=consume, daemon=True)
            worker.start()
            worker.join(cap_s)
            capped = worker.is_alive()
        duration = time.monotonic() - started
        snapshot = list(chunks)
        with open(os.path.join(self.out, case + '.jsonl'), 'w') as handle:
            for chunk in snapshot:
                handle.write(json.dumps(chunk) + '\n')
        error_path = os.path.join(self.out, case + '.error.txt')
        if failure:
            exc = failure[0]
            with open(error_path, 'w') as handle:
                handle.write('%s.%s: %s\n' % (type(exc).__module__, type(exc).__name__, exc))
        elif capped:
            with open(error_path, 'w') as handle:
                handle.write('capped: the stream was still open after %.0f s and was not read further\n' % cap_s)
        elif os.path.exists(error_path):
            os.remove(error_path)
        self.index[case] = {
            'call': call,
            'chunks': len(snapshot),
            'duration_s': round(duration, 1),
            'raised': ('%s: %s' % (type(failure[0]).__name__, failure[0])) if failure else None,
            # 'call': the SDK method itself raised; 'iteration': it returned a generator that raised when read.
            'raised_at': stage[0] if failure else None,
            'capped': capped,
        }
        print('%-24s %4d chunks %6.1f s%s' % (case, len(snapshot), duration,
                                             ' raised ' + type(failure[0]).__name__ if failure else
                                             (' capped' if capped else '')))
        return snapshot

    def build(self, case: str, context: str, dockerfile: Optional[str], tag: str,
              buildargs: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
        if dockerfile is not None:
            with open(os.path.join(context, 'Dockerfile'), 'w') as handle:
                handle.write(dockerfile)
        call = 'build(path=<context>, tag=%r, buildargs=%r, decode=True, rm=True, forcerm=True)' % (
            tag, buildargs)
        return self.record(case, call, lambda: self.api.build(
            path=context, tag=tag, buildargs=buildargs, decode=True, rm=True, forcerm=True))

    def push(self, case: str, repository: str, tag: str, auth_config: Optional[Dict[str, str]],
             cap_s: Optional[float] = None) -> List[Dict[str, Any]]:
        shown = None if auth_config is None else dict(auth_config, password='***')
        call = 'push(%r, %r, stream=True, decode=True, auth_config=%r)' % (repository, tag, shown)
        return self.record(case, call, lambda: self.api.push(
            repository, tag, stream=True, decode=True, auth_config=auth_config), cap_s=cap_s)

    def pull(self, case: str, repository: str, tag: str) -> List[Dict[str, Any]]:
        call = 'pull(%r, %r, stream=True, decode=True)' % (repository, tag)
        return self.record(case, call, lambda: self.api.pull(repository, tag, stream=True, decode=True))

    def write_index(self) -> None:
        version = self.api.version()
        document = {
            'engine': version.get('Version'),
            'api_version': version.get('ApiVersion'),
            'docker_py': docker.__version__,
            'prefix': self.prefix,
            'cases': self.index,
        }
        with open(os.path.join(self.out, 'index.json'), 'w') as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write('\n')


def build_id(chunks: List[Dict[str, Any]]) -> str:
    for chunk in chunks:
        aux = chunk.get('aux')
        if isinstance(aux, dict) and aux.get('ID'):
            return aux['ID']
    raise RuntimeError('the build did not report an image id: %r' % chunks[-3:])


def run_cases(api: docker.APIClient, out: str, prefix: str, workdir: str, base: str) -> None:
    recorder = Recorder(api, out, prefix)
    context = os.path.join(workdir, 'context')
    os.makedirs(context)
    with open(os.path.join(context, 'payload.txt'), 'w') as handle:
        handle.write('payload line 1\npayload line 2\n')

    chunks = recorder.build('build_ok', context, BUILD_OK_DOCKERFILE.format(base=base), prefix + '/app:built',
                            buildargs={'GREETING': 'recorded'})
    image_id = build_id(chunks)
    recorder.build('build_run_fails', context, BUILD_RUN_FAILS_DOCKERFILE.format(base=base),
                   prefix + '/fails:built')
    recorder.build('build_syntax_error', context, BUILD_SYNTAX_ERROR_DOCKERFILE.format(base=base),
                   prefix + '/syntax:built')
    recorder.build('build_run_mount', context, BUILD_RUN_MOUNT_DOCKERFILE.format(base=base),
                   prefix + '/mount:built')
    os.remove(os.path.join(context, 'Dockerfile'))
    recorder.build('build_missing_dockerfile', context, None, prefix + '/missing:built')

    registry = Registry(workdir, 'open')
    auth_registry = Registry(workdir, 'auth', htpasswd=htpasswd_line(USERNAME, PASSWORD))
    try:
        registry.start()
        auth_registry.start()
        repo = '%s/%s/app' % (registry.address, prefix)
        other = '%s/%s/other' % (registry.address, prefix)
        api.tag(image_id, repo, 'v1')
        recorder.push('push_ok', repo, 'v1', auth_config=None)
        api.tag(image_id, repo, 'v2')
        recorder.push('push_same_repo_tag', repo, 'v2', auth_config=None)
        api.tag(image_id, other, 'v1')
        recorder.push('push_second_tag', other, 'v1', auth_config=None)

        auth_repo = '%s/%s/app' % (auth_registry.address, prefix)
        api.tag(image_id, auth_repo, 'v1')
        recorder.push('push_auth_fail', auth_repo, 'v1',
                      auth_config={'username': USERNAME, 'password': 'wrong-password',
                                   'serveraddress': auth_registry.address})

        down_address = '127.0.0.1:%d' % free_port()
        down_repo = '%s/%s/app' % (down_address, prefix)
        api.tag(image_id, down_repo, 'v1')
        recorder.push('push_registry_down', down_repo, 'v1', auth_config=None, cap_s=REGISTRY_DOWN_CAP_S)

        dropping = DroppingRegistry()
        dropping.start()
        try:
            drop_repo = '%s/%s/app' % (dropping.address, prefix)
            api.tag(image_id, drop_repo, 'v1')
            recorder.push('push_registry_drops', drop_repo, 'v1', auth_config=None, cap_s=REGISTRY_DOWN_CAP_S)
        finally:
            dropping.stop()

        # Untag everything that holds the built image so the pull really downloads its own layers (the base
        # layer stays: it is the imported base image's).
        for image in api.images(all=True):
            if image['Id'] == image_id:
                for ref in image.get('RepoTags') or []:
                    api.remove_image(ref)
        recorder.pull('pull_ok', repo, 'v1')
        recorder.pull('pull_up_to_date', repo, 'v1')
        recorder.pull('pull_not_found', '%s/%s/nope' % (registry.address, prefix), 'v1')
    finally:
        registry.stop()
        auth_registry.stop()
    recorder.write_index()


def cleanup(api: docker.APIClient, prefix: str, base_id: Optional[str]) -> None:
    """Remove every container and image this run made: tagged with ``prefix`` or descending from its base."""
    mine = set()
    images = api.images(all=True)
    parents = {}
    for image in images:
        parents[image['Id']] = image.get('ParentId') or ''
        refs = (image.get('RepoTags') or []) + (image.get('RepoDigests') or [])
        if any(prefix in ref for ref in refs):
            mine.add(image['Id'])
    if base_id:
        for image_id in parents:
            seen = image_id
            while seen:
                if seen == base_id:
                    mine.add(image_id)
                    break
                seen = parents.get(seen, '')
    for container in api.containers(all=True):
        if container.get('ImageID') in mine or any(prefix in name for name in container.get('Names') or []):
            api.remove_container(container['Id'], force=True)

    def depth(image_id: str) -> int:
        count = 0
        while parents.get(image_id):
            image_id, count = parents[image_id], count + 1
        return count

    # Children before parents, and by id (force) so an image tagged several times goes at once.
    for image_id in sorted(mine, key=depth, reverse=True):
        try:
            api.remove_image(image_id, force=True)
        except docker.errors.NotFound:
            pass  # already gone with a child


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=os.path.join(HERE, 'streams'), help='directory to write the cases to')
    parser.add_argument('--docker-url', default='unix:///var/run/docker.sock')
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    prefix = 'dimrec-' + secrets.token_hex(4)
    api = docker.APIClient(base_url=args.docker_url, version='auto', timeout=None)
    workdir = tempfile.mkdtemp(prefix=prefix + '-')
    base_id = None
    try:
        rootfs = os.path.join(workdir, 'rootfs.tar')
        busybox_rootfs(rootfs)
        base = prefix + '/base:latest'
        api.import_image(src=rootfs, repository=prefix + '/base', tag='latest')
        base_id = api.inspect_image(base)['Id']
        run_cases(api, args.out, prefix, workdir, base)
    finally:
        cleanup(api, prefix, base_id)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
