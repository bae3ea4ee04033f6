"""A stand-in for the client facade, for widget tests that need no node: it records calls and answers from data."""
from __future__ import annotations

import threading
from types import SimpleNamespace as NS
from typing import List

from docker_image_manager.client.errors import RequestFailed


class FakeTime:
    def __init__(self, secs: float):
        self.secs = secs

    def to_sec(self) -> float:
        return self.secs


def image(image_id: str, tags: List[str], size: int = 1000, layers: int = 2, created: float = 1.7e9):
    return NS(id=image_id, repo_tags=tags, repo_digests=[], created=FakeTime(created), size=size,
              layer_count=layers)


def layer(diff_id: str, created_by: str, size: int, shared_with: int = 0):
    return NS(diff_id=diff_id, created_by=created_by, created=FakeTime(1.7e9), size=size, comment='',
              shared_with=shared_with)


def progress(job_id: str, layers, percent: float, done: bool = False, error: str = '', direction: str = 'push',
             image_ref: str = 'localhost:5000/app:1', rate: float = 2e6, eta: float = 3.0):
    done_bytes = sum(l.current for l in layers)
    total = sum(l.total for l in layers)
    return NS(job_id=job_id, image=image_ref, direction=direction, layers=layers, bytes_done=done_bytes,
              bytes_total=total, percent=percent, rate_bps=rate, eta_s=eta, done=done, error=error)


def layer_progress(layer_id: str, status: str, current: int, total: int):
    return NS(id=layer_id, status=status, current=current, total=total)


class FakeSubscription:
    def __init__(self, topic: str):
        self.topic = topic
        self.unregistered = False

    def unregister(self) -> None:
        self.unregistered = True


class FakeClient:
    """Answers like the facade from in-memory data; ``fail`` maps a method name to the node's error message."""

    def __init__(self, node: str):
        self.node = node
        self.images = [image('sha256:' + 'a' * 64, ['localhost:5000/app:1', 'app:latest'], 5_000_000, 3),
                       image('sha256:' + 'b' * 64, [], 2_000_000, 1)]
        self.layers = [layer('sha256:' + '1' * 64, '/bin/sh -c #(nop) ADD file:abc in /', 4_000_000, 2),
                       layer('sha256:' + '2' * 64, 'RUN echo hi > /hi', 1_000_000, 0)]
        self.calls = []
        self.fail = {}
        self.subscriptions = []
        self.callbacks = {}
        self.lock = threading.Lock()

    def _record(self, name, *args):
        with self.lock:
            self.calls.append((name,) + args)
        if name in self.fail:
            raise RequestFailed(self.fail[name])

    def list_images(self, filter='', all=False):
        self._record('list_images')
        return NS(success=True, message='', images=self.images)

    def list_containers(self, all=False):
        self._record('list_containers')
        return NS(success=True, message='', containers=[
            NS(id='c' * 64, name='/worker', image='app:latest', status='Up 3 minutes', created=FakeTime(1.7e9))])

    def list_jobs(self, limit=0, kind=''):
        self._record('list_jobs')
        return NS(success=True, message='', jobs=[])

    def inspect_image(self, ref):
        self._record('inspect_image', ref)
        return NS(success=True, message='', image=self.images[0], layers=self.layers)

    def get_job_log(self, job_id, offset=0, max_lines=0):
        self._record('get_job_log', job_id)
        return NS(success=True, message='', lines=['Step 1/1 : FROM x', 'done'], next_offset=2,
                  job=NS(job_id=job_id, kind='build', target='app', state='succeeded', message='built'))

    def tag(self, source, target):
        self._record('tag', source, target)
        return NS(success=True, message='', image_id='sha256:' + 'a' * 64)

    def commit(self, container, target='', message='', author='', changes=(), no_pause=False):
        self._record('commit', container, target, message, author, list(changes), no_pause)
        return NS(success=True, message='', image_id='sha256:' + 'd' * 64, job_id='j-commit')

    def login(self, registry, username, password):
        self._record('login', registry, username, password)
        return NS(success=True, message='Login Succeeded')

    def remove_image(self, image_ref, force=False, prune_dangling=False):
        self._record('remove_image', image_ref, force, prune_dangling)
        return NS(success=True, message='', reclaimed_bytes=1234)

    def _subscribe(self, name, callback):
        subscription = FakeSubscription(self.node + '/' + name)
        self.subscriptions.append(subscription)
        self.callbacks[name] = callback
        return subscription

    def subscribe_build_log(self, callback):
        return self._subscribe('build_log', callback)

    def subscribe_push_progress(self, callback):
        return self._subscribe('push_progress', callback)

    def subscribe_pull_progress(self, callback):
        return self._subscribe('pull_progress', callback)

    def subscribe_jobs(self, callback):
        return self._subscribe('jobs', callback)


class FakePool:
    def __init__(self, nodes=('/robot1/docker_image_manager',)):
        self.nodes = list(nodes)
        self.clients = {}
        self.closed = False

    def close(self):
        self.closed = True

    def discover(self):
        return list(self.nodes)

    def get(self, node):
        if node not in self.clients:
            self.clients[node] = FakeClient(node)
        return self.clients[node]
