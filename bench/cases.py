"""The benchmark cases: each runs the node and the Docker CLI side by side and returns table rows.

Every timed pair alternates its order from round to round (node first, then CLI first), so page-cache and
disk write-back effects fall on both sides alike. Set-up and clean-up between rounds are never timed.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import docker

from harness import (BenchError, Stack, TopicRecorder, children_cpu, cli, cli_lines, load_average, max_in_window,
                     median, percentile, reset_peak_rss, stack)

MB = 1024 * 1024
GOAL_TIMEOUT_S = 3600


class Sizes(NamedTuple):
    """What the cases make; ``--quick`` and the command-line flags override these."""

    rounds: int = 5              # timed pairs (node + CLI) per case
    build_mb: int = 250          # layer data of the reference build
    build_steps: int = 5         # its RUN steps
    build_lines: int = 3000      # log lines it prints
    push_mb: int = 500           # the push/pull image
    push_layers: int = 5
    commit_mb: int = 200         # the container's changes
    images: int = 500            # local images for the query case
    queries: int = 200           # calls per query service
    cli_queries: int = 20        # CLI calls per query, for reference
    latency_lines: int = 200     # stamped lines of the log-latency build
    context_mb: int = 1024       # the large build context
    jobs: int = 20               # jobs of the memory-stability case
    scale_mb: Tuple[int, ...] = (100, 500, 2048)
    scale_rounds: int = 2        # pairs per scale point (each side goes first once)


FULL = Sizes()
QUICK = Sizes(rounds=2, build_mb=50, build_lines=1000, push_mb=100, push_layers=4, commit_mb=50, images=500,
              queries=100, cli_queries=10, latency_lines=100, context_mb=200, jobs=20, scale_mb=(20, 100, 300))


class Row(NamedTuple):
    case: str
    node: str
    cli: str
    ratio: str
    target: str
    verdict: str  # 'met', 'MISSED' or '' (no target)


def verdict(ok: Optional[bool]) -> str:
    return '' if ok is None else ('met' if ok else 'MISSED')


def seconds(value: float) -> str:
    return '%.2f s' % value


def millis(value: float) -> str:
    return '%.1f ms' % (value * 1000)


def spread(values: Sequence[float]) -> str:
    """The median, with the range when there are several values: '9.42 s (7.38-11.02)'."""
    text = seconds(median(values))
    return text if len(values) < 2 else '%s (%.2f-%.2f)' % (text, min(values), max(values))


def ratio_row(case: str, node: Sequence[float], cli_times: Sequence[float], limit: Optional[float]) -> Row:
    n, c = median(node), median(cli_times)
    ratio = n / c if c else float('nan')
    return Row(case, spread(node), spread(cli_times), '%.3f' % ratio, '<= %.2f' % limit if limit else '',
               verdict(ratio <= limit) if limit else '')


def alternate(rounds: int, node: Callable[[int], float], cli_side: Callable[[int], float],
              log: Callable[[str], None], what: str) -> Tuple[List[float], List[float]]:
    """Run ``rounds`` pairs, node first in even rounds and CLI first in odd ones; returns both time lists."""
    times: Dict[str, List[float]] = {'node': [], 'cli': []}
    for r in range(rounds):
        order = [('node', node), ('cli', cli_side)]
        if r % 2:
            order.reverse()
        for who, fn in order:
            # Dirty pages of the set-up (a 2 GB image just built) must not be written back during a timed run.
            os.sync()
            elapsed = fn(r)
            times[who].append(elapsed)
            log('  %s round %d %s: %.2f s (load average %s)' % (what, r + 1, who, elapsed, load_average()))
    return times['node'], times['cli']


def wait_goal(handle, what: str):
    from docker_image_manager.client.errors import ClientError
    try:
        return handle.wait(timeout=GOAL_TIMEOUT_S)
    except ClientError as exc:
        raise BenchError('%s through the node failed: %s' % (what, exc)) from None


def image_dockerfile(total_mb: int, layers: int, lines_per_step: int = 0) -> str:
    """A Dockerfile of ``layers`` RUN steps writing ``total_mb`` of random data (and printing lines)."""
    per_layer = max(1, total_mb // layers)
    steps = ['FROM @BASE@']
    for k in range(layers):
        run = 'RUN dd if=/dev/urandom of=/data%d bs=1M count=%d' % (k, per_layer)
        if lines_per_step:
            run += (' && for i in $(seq 1 %d); do echo "step %d: compiling unit $i of %d (src/module_$i.c)"; done'
                    % (lines_per_step, k + 1, lines_per_step))
        steps.append(run)
    return '\n'.join(steps) + '\n'


class Bench:
    """Runs the cases on one :class:`Stack`; ``rows`` and ``raw`` collect the results."""

    def __init__(self, st: Stack, sizes: Sizes, log: Callable[[str], None]):
        self.st = st
        self.sizes = sizes
        self.log = log
        self.rows: List[Row] = []
        self.raw: Dict[str, Any] = {}
        self.peak_rss_kb: Dict[str, int] = {}
        self._push_images: Dict[int, str] = {}
        self._push_results: Dict[int, Dict[str, Any]] = {}
        self._last_build_job = ''
        from docker_image_manager import msg
        self.msg = msg

    def add(self, row: Row) -> None:
        self.rows.append(row)
        self.log('%-46s node %-12s cli %-12s ratio %-6s %s %s' % row)

    # -- build ------------------------------------------------------------------------------------------

    def case_build(self) -> None:
        sz, st = self.sizes, self.st
        dockerfile = image_dockerfile(sz.build_mb, sz.build_steps, sz.build_lines // sz.build_steps)
        context = st.context('build', dockerfile)
        cli_lines_seen: List[int] = []
        cpu_s: Dict[str, List[float]] = {'node': [], 'cli': [], 'node_with_build_log': []}
        feedbacks: List[int] = []

        def node(r: int, recorder: Optional[TopicRecorder] = None) -> float:
            # Timed rounds have the goal's client only, as with imagectl; ~build_log subscribers (rqt) are
            # measured apart below, since the node serializes and sends nothing to a topic nobody reads.
            tag = st.name('build:n%d' % r)
            count = [0]
            cpu = st.node_cpu()
            start = time.monotonic()
            handle = st.client.build({'context': str(context), 'tags': [tag], 'no_cache': True},
                                     feedback_cb=lambda _: count.__setitem__(0, count[0] + 1))
            wait_goal(handle, 'build')
            elapsed = time.monotonic() - start
            time.sleep(1.0)  # lines still in flight behind the result
            cpu_s['node' if recorder is None else 'node_with_build_log'].append(st.node_cpu() - cpu)
            feedbacks.append(count[0])
            st.remove_image(tag)
            self._last_build_job = handle.job_id
            return elapsed

        def cli_side(r: int) -> float:
            tag = st.name('build:c%d' % r)
            cpu = children_cpu()
            start = time.monotonic()
            out = cli('build', '--no-cache', '--rm', '-t', tag, str(context))
            elapsed = time.monotonic() - start
            cpu_s['cli'].append(children_cpu() - cpu)
            cli_lines_seen.append(len(out.stdout.splitlines()) + len(out.stderr.splitlines()))
            st.remove_image(tag)
            return elapsed

        n, c = alternate(sz.rounds, node, cli_side, self.log, 'build')
        recorder = TopicRecorder(st.node.service('build_log'), self.msg.BuildLog)
        recorder.wait_connected()
        with_log = node(sz.rounds, recorder)
        self.log('  build with a ~build_log subscriber: %.2f s' % with_log)
        records = [rec for rec in recorder.take() if rec[2].job_id == self._last_build_job]
        recorder.close()
        sizes_b = [rec[1] for rec in records]
        rate = max_in_window([rec[2].header.stamp.to_sec() for rec in records])
        self.raw['build'] = {'node_s': n, 'cli_s': c, 'node_with_build_log_s': with_log,
                             'build_log_msgs': len(records), 'feedbacks': feedbacks,
                             'cli_output_lines': cli_lines_seen, 'max_build_log_msgs_per_s': rate, 'cpu_s': cpu_s}
        self.add(ratio_row('build %d MB, %d RUN steps, %d lines (--no-cache)'
                           % (sz.build_mb, sz.build_steps, sz.build_lines), n, c, 1.05))
        self.add(Row('  CPU s of the node process (CLI: of the docker CLI)', '%.2f s' % median(cpu_s['node']),
                     '%.2f s' % median(cpu_s['cli']), '', '', ''))
        self.add(Row('  the same build with a ~build_log subscriber too (rqt open); node CPU',
                     '%s; %.2f s' % (seconds(with_log), cpu_s['node_with_build_log'][0]), seconds(median(c)),
                     '%.3f' % (with_log / median(c)), '', ''))
        self.add(Row('  build_log messages per build (CLI: output lines); feedbacks', '%d; %d' % (
            len(records), median(feedbacks)), '%d' % median(cli_lines_seen), '', '', ''))
        self.add(Row('  build_log bytes per message (median / max)', '%d / %d B' % (
            median(sizes_b), max(sizes_b or [0])), '', '', '', ''))
        self.add(Row('  build_log peak messages per second', '%d' % rate, '', '', 'not limited', ''))

    # -- log latency ------------------------------------------------------------------------------------

    def case_log_latency(self) -> None:
        sz, st = self.sizes, self.st
        # busybox date has no sub-second format; adjtimex(2) (mode 0, allowed in containers) gives the wall
        # clock in microseconds, the same CLOCK_REALTIME the host reads: no clock offset to correct.
        stamp = ("$(adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{u=$2} END{printf \"%d.%06d\", s, u}')")
        dockerfile = ('FROM @BASE@\nRUN for i in $(seq 1 %d); do echo "dimbench-stamp $i %s"; usleep 20000; done\n'
                      % (sz.latency_lines, stamp))
        context = st.context('latency', dockerfile)
        pattern = re.compile(r'dimbench-stamp (\d+) (\d+\.\d+)')
        recorder = TopicRecorder(st.node.service('build_log'), self.msg.BuildLog)
        recorder.wait_connected()
        lat: Dict[str, List[float]] = {'node': [], 'cli': [], 'to_publish': [], 'transport': []}

        def node(r: int) -> float:
            tag = st.name('latency:n%d' % r)
            recorder.take()
            start = time.monotonic()
            handle = st.client.build({'context': str(context), 'tags': [tag], 'no_cache': True})
            wait_goal(handle, 'latency build')
            elapsed = time.monotonic() - start
            time.sleep(0.5)
            for received, _, message in recorder.take():
                match = pattern.search(message.line)
                if message.job_id == handle.job_id and match and not message.line.startswith('Step'):
                    printed = float(match.group(2))
                    lat['node'].append(received - printed)
                    lat['to_publish'].append(message.header.stamp.to_sec() - printed)
                    lat['transport'].append(received - message.header.stamp.to_sec())
            st.remove_image(tag)
            return elapsed

        def cli_side(r: int) -> float:
            tag = st.name('latency:c%d' % r)

            def on_line(line: str, received: float) -> None:
                match = pattern.search(line)
                if match and not line.startswith('Step'):
                    lat['cli'].append(received - float(match.group(2)))
            start = time.monotonic()
            code = cli_lines(['build', '--no-cache', '--rm', '-t', tag, str(context)], on_line)
            elapsed = time.monotonic() - start
            if code != 0:
                raise BenchError('docker build of the latency Dockerfile failed (exit %d)' % code)
            st.remove_image(tag)
            return elapsed

        alternate(sz.rounds, node, cli_side, self.log, 'log latency')
        recorder.close()
        self.raw['log_latency_s'] = lat
        if not lat['node']:
            raise BenchError('no stamped build line reached ~build_log')
        self.add(Row('build log line latency, daemon -> subscriber (median)', millis(median(lat['node'])),
                     millis(median(lat['cli'])), '', '<= 50 ms', verdict(median(lat['node']) <= 0.050)))
        self.add(Row('  p95', millis(percentile(lat['node'], 95)), millis(percentile(lat['cli'], 95)), '', '', ''))
        self.add(Row('  of which daemon -> BuildLog header stamp (median)', millis(median(lat['to_publish'])), '',
                     '', '', ''))
        self.add(Row('  of which header stamp -> subscriber (median)', millis(median(lat['transport'])), '', '',
                     '', ''))

    # -- commit -----------------------------------------------------------------------------------------

    def case_commit(self) -> None:
        sz, st = self.sizes, self.st
        name = st.name('commit')
        container = st.api.create_container(st.base, ['sh', '-c', 'dd if=/dev/urandom of=/changes bs=1M count=%d'
                                                       % sz.commit_mb], name=name)
        st.api.start(container)
        if st.api.wait(container, timeout=600).get('StatusCode') != 0:
            raise BenchError('the commit case container failed: %s' % st.api.logs(container)[-500:])

        def node(r: int) -> float:
            tag = st.name('committed:n%d' % r)
            start = time.monotonic()
            st.client.commit(name, target=tag)
            elapsed = time.monotonic() - start
            st.remove_image(tag)
            return elapsed

        def cli_side(r: int) -> float:
            tag = st.name('committed:c%d' % r)
            start = time.monotonic()
            cli('commit', name, tag)
            elapsed = time.monotonic() - start
            st.remove_image(tag)
            return elapsed

        n, c = alternate(sz.rounds, node, cli_side, self.log, 'commit')
        st.api.remove_container(name, force=True)
        self.raw['commit'] = {'node_s': n, 'cli_s': c}
        self.add(ratio_row('commit of a container with %d MB of changes' % sz.commit_mb, n, c, 1.05))

    # -- queries ----------------------------------------------------------------------------------------

    def _make_images(self, count: int) -> str:
        """``count`` distinct tiny images in one ``docker load``: the base image's layer, one LABEL each."""
        st = self.st
        repo = st.name('q')
        layer = stack.busybox_rootfs_tar()  # byte for byte the base image's layer: stored once
        diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
        archive = io.BytesIO()
        manifest = []

        def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))

        with tarfile.open(fileobj=archive, mode='w') as tar:
            add(tar, 'base/layer.tar', layer)
            for i in range(count):
                config = json.dumps({
                    'architecture': 'amd64', 'os': 'linux', 'created': '2024-01-01T00:00:%02d.%06dZ' % (i % 60, i),
                    'config': {'Cmd': ['sh'], 'Labels': {'dimbench.i': str(i)}},
                    'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
                    'history': [{'created': '2024-01-01T00:00:00Z', 'created_by': 'dimbench image %d' % i}],
                }, sort_keys=True).encode()
                name = '%s.json' % hashlib.sha256(config).hexdigest()
                add(tar, name, config)
                manifest.append({'Config': name, 'RepoTags': ['%s:i%d' % (repo, i)], 'Layers': ['base/layer.tar']})
            add(tar, 'manifest.json', json.dumps(manifest).encode())
        start = time.monotonic()
        for line in st.api.load_image(archive.getvalue()) or []:
            if isinstance(line, dict) and line.get('errorDetail'):
                raise BenchError('docker load of the query images failed: %s' % line['errorDetail'])
        self.log('  made %d images in %.1f s' % (count, time.monotonic() - start))
        return repo

    def case_queries(self) -> None:
        import rospy
        from docker_image_manager import srv
        sz, st = self.sizes, self.st
        repo = self._make_images(sz.images)
        total = len(st.api.images())
        kinds = (('tag', srv.Tag), ('list_images', srv.ListImages), ('inspect_image', srv.InspectImage))
        plain = {name: rospy.ServiceProxy(st.node.service(name), cls) for name, cls in kinds}
        persistent = {name: rospy.ServiceProxy(st.node.service(name), cls, persistent=True) for name, cls in kinds}
        for proxy in plain.values():
            proxy.wait_for_service(30)
        api = docker.APIClient(base_url=stack.DOCKER_URL, version='auto', timeout=60)

        failures: List[str] = []

        def timed(call: Callable[[], Any]) -> Optional[float]:
            start = time.monotonic()
            response = call()
            elapsed = time.monotonic() - start
            if getattr(response, 'success', True) is False:
                failures.append(response.message)
                return None
            return elapsed

        # The Engine API requests each service makes, straight from Python: the floor the node stands on.
        def engine(key: str, source: str, target: str) -> Callable[[], Any]:
            if key == 'tag':
                return lambda: (api.inspect_image(source), api.tag(source, *target.rsplit(':', 1), force=True))
            if key == 'list_images':
                return lambda: api.images()
            return lambda: (api.history(api.inspect_image(source)['Id']), api.images(all=True))

        def ros(proxies: Dict[str, Any], key: str, source: str, target: str) -> Callable[[], Any]:
            if key == 'tag':
                return lambda: proxies['tag'](source=source, target=target)
            if key == 'list_images':
                return lambda: proxies['list_images'](filter='', all=False)
            return lambda: proxies['inspect_image'](image=source)

        cold = timed(lambda: plain['list_images'](filter='', all=False))
        keys = [name for name, _ in kinds]
        results: Dict[str, Dict[str, List[float]]] = {way: {key: [] for key in keys}
                                                      for way in ('node', 'persistent', 'engine')}
        for i in range(sz.queries):
            source = '%s:i%d' % (repo, (i * 7) % sz.images)
            for key in keys:
                for way in ('node', 'persistent', 'engine'):
                    target = '%s:%s%d' % (st.name('qt'), way[0], i)
                    call = engine(key, source, target) if way == 'engine' else ros(
                        plain if way == 'node' else persistent, key, source, target)
                    elapsed = timed(call)
                    if elapsed is not None:
                        results[way][key].append(elapsed)
        for proxy in persistent.values():
            proxy.close()
        api.close()
        cli_times: Dict[str, List[float]] = {key: [] for key in keys}
        for i in range(sz.cli_queries):
            source = '%s:i%d' % (repo, (i * 11) % sz.images)
            for key, args in (('tag', ['tag', source, '%s:c%d' % (st.name('qt'), i)]), ('list_images', ['images']),
                              ('inspect_image', ['image', 'inspect', source])):
                start = time.monotonic()
                cli(*args)
                cli_times[key].append(time.monotonic() - start)
        self.raw['queries'] = {'local_images': total, 'cold_list_images_s': cold, 'calls_s': results,
                               'cli_s': cli_times, 'failures': failures}
        if failures:
            self.log('  %d calls failed, e.g. %s' % (len(failures), failures[0]))
        targets = {'tag': 0.020, 'list_images': 0.100, 'inspect_image': 0.050}
        for key in keys:
            p95 = percentile(results['node'][key], 95)
            self.add(Row('%s p95 (%d local images, %d calls; CLI p50)' % (key, total, sz.queries), millis(p95),
                         millis(median(cli_times[key])), '', '<= %d ms' % (targets[key] * 1000),
                         verdict(p95 <= targets[key])))
            for way, label in (('node', 'p50'), ('persistent', 'persistent proxy p50 / p95'),
                               ('engine', 'its Engine API calls alone p50 / p95')):
                values = results[way][key]
                self.add(Row('  %s' % label, millis(median(values)) + ('' if way == 'node' else
                                                                        ' / ' + millis(percentile(values, 95))),
                             '', '', '', ''))
        self.add(Row('  first list_images after the images appeared', millis(cold or 0), '', '', '', ''))
        self.add(Row('  calls that failed', '%d of %d' % (len(failures), 3 * 2 * sz.queries + 1), '', '', '0',
                     verdict(not failures)))

    # -- push, pull, progress ---------------------------------------------------------------------------

    def push_image(self, total_mb: int) -> str:
        """A local multi-layer image of ``total_mb`` random data (built once, kept for the push cases)."""
        if total_mb in self._push_images:
            return self._push_images[total_mb]
        layers = self.sizes.push_layers if total_mb == self.sizes.push_mb else max(1, min(4, total_mb // 100))
        tag = self.st.name('img%dmb:latest' % total_mb)
        context = self.st.context('img%d' % total_mb, image_dockerfile(total_mb, layers))
        start = time.monotonic()
        self.st.build_cli(context, tag)
        self.log('  built %s (%d layers, %.0f MB) in %.1f s' % (tag, layers, self.st.image_size(tag) / 1e6,
                                                              time.monotonic() - start))
        self._push_images[total_mb] = tag
        return tag

    def drop_push_image(self, total_mb: int) -> None:
        tag = self._push_images.pop(total_mb, None)
        if tag:
            self.st.remove_image(tag)

    def _progress_stats(self, records, hz: float) -> Dict[str, Any]:
        sent = [rec[2].header.stamp.to_sec() for rec in records]
        received = [rec[0] for rec in records]
        return {'messages': len(records), 'max_per_s_sent': max_in_window(sent),
                'max_per_s_received': max_in_window(received),
                'max_per_s_sent_without_final': max_in_window(sent[:-1]) if records and records[-1][2].done
                else max_in_window(sent),
                'bytes': [rec[1] for rec in records], 'final_done': bool(records) and records[-1][2].done,
                'limit_hz': hz}

    def _push_pair(self, total_mb: int, rounds: int, label: str) -> Dict[str, Any]:
        """Timed node and CLI pushes of the ``total_mb`` image, each to a registry of its own."""
        st = self.st
        source = self.push_image(total_mb)
        recorder = TopicRecorder(st.node.service('push_progress'), self.msg.TransferProgress)
        out: Dict[str, Any] = {'node_s': [], 'cli_s': [], 'node_cpu_s': [], 'cli_cpu_s': [], 'progress': [],
                               'feedback_max_per_s': [], 'node_peak_rss_kb': [], 'size_bytes': st.image_size(source)}
        current: Dict[str, Any] = {}

        def prepare(r: int, who: str) -> str:
            reg = st.registry()
            current['registry'] = reg
            ref = '%s/%s/push%d-%s:r%d' % (reg.host, st.prefix, total_mb, who, r)
            repository, tag = ref.rsplit(':', 1)
            st.api.tag(source, repository, tag)
            current['ref'] = ref
            return ref

        def finish() -> None:
            st.remove_image(current['ref'])
            st.drop_registry(current['registry'])

        def node(r: int) -> float:
            ref = prepare(r, 'n')
            recorder.wait_connected()
            recorder.take()
            feedback: List[float] = []
            reset_peak_rss(st.node_pid)
            cpu = st.node_cpu()
            start = time.monotonic()
            handle = st.client.push(ref, feedback_cb=lambda fb: feedback.append(fb.progress.header.stamp.to_sec()))
            wait_goal(handle, 'push')
            elapsed = time.monotonic() - start
            out['node_cpu_s'].append(st.node_cpu() - cpu)
            out['node_peak_rss_kb'].append(st.node_memory()['VmHWM'])
            time.sleep(0.5)
            records = [rec for rec in recorder.take() if rec[2].job_id == handle.job_id]
            out['progress'].append(self._progress_stats(records, st.progress_hz))
            out['feedback_max_per_s'].append(max_in_window(feedback))
            finish()
            return elapsed

        def cli_side(r: int) -> float:
            ref = prepare(r, 'c')
            cpu = children_cpu()
            start = time.monotonic()
            cli('push', ref)
            elapsed = time.monotonic() - start
            out['cli_cpu_s'].append(children_cpu() - cpu)
            finish()
            return elapsed

        out['node_s'], out['cli_s'] = alternate(rounds, node, cli_side, self.log, label)
        recorder.close()
        return out

    def case_push(self) -> None:
        sz = self.sizes
        result = self._push_pair(sz.push_mb, sz.rounds, 'push %d MB' % sz.push_mb)
        self._push_results[sz.push_mb] = result
        self.raw['push'] = result
        self.add(ratio_row('push %d MB, %d layers, fresh registry each' % (sz.push_mb, sz.push_layers),
                           result['node_s'], result['cli_s'], 1.05))
        self._progress_rows('push_progress', result['progress'], result['feedback_max_per_s'])

    def _progress_rows(self, topic: str, stats: List[Dict[str, Any]], feedback: List[int]) -> None:
        if not stats:
            return
        hz = stats[0]['limit_hz']
        peak = max(s['max_per_s_sent'] for s in stats)
        peak_without_final = max(s['max_per_s_sent_without_final'] for s in stats)
        sizes_b = [b for s in stats for b in s['bytes']]
        self.add(Row('  %s max messages in any 1 s per job' % topic, '%d' % peak, '', '', '<= %g' % hz,
                     verdict(peak <= hz)))
        if peak_without_final != peak:
            self.add(Row('    same, without the final done message', '%d' % peak_without_final, '', '', '', ''))
        if feedback:
            self.add(Row('  %s action feedback max in any 1 s' % topic.split('_')[0], '%d' % max(feedback), '', '',
                         '<= %g' % hz, verdict(max(feedback) <= hz)))
        self.add(Row('  %s bytes per message (median / max)' % topic, '%d / %d B' % (median(sizes_b),
                                                                                     max(sizes_b)), '', '', '', ''))
        self.add(Row('  %s messages per job; last one done' % topic, '%d; %s' % (
            median([s['messages'] for s in stats]), 'yes' if all(s['final_done'] for s in stats) else 'NO'),
            '', '', '', ''))

    def case_scale(self) -> None:
        sz = self.sizes
        points = []
        for total_mb in sz.scale_mb:
            if total_mb in self._push_results:
                result = self._push_results[total_mb]
            else:
                result = self._push_pair(total_mb, sz.scale_rounds, 'scale push %d MB' % total_mb)
                self.drop_push_image(total_mb)
            n, c = median(result['node_s']), median(result['cli_s'])
            cpu = median(result['node_cpu_s'])
            points.append({'mb': total_mb, 'node_s': n, 'cli_s': c, 'node_cpu_s': cpu,
                           'cli_cpu_s': median(result['cli_cpu_s']),
                           'node_peak_rss_kb': max(result['node_peak_rss_kb']), 'size_bytes': result['size_bytes']})
            self.peak_rss_kb['push %d MB' % total_mb] = max(result['node_peak_rss_kb'])
            self.add(Row('scale: push %d MB' % total_mb, spread(result['node_s']), spread(result['cli_s']),
                         '%.3f' % (n / c), '', ''))
            self.add(Row('  node CPU s (share of wall) ; CLI CPU s', '%.2f s (%.1f%%)' % (cpu, 100 * cpu / n),
                         '%.2f s' % median(result['cli_cpu_s']), '', 'flat', ''))
        self.raw['scale'] = points
        shares = [p['node_cpu_s'] / p['node_s'] for p in points]
        per_gb = [p['node_cpu_s'] / (p['size_bytes'] / 1e9) for p in points]
        flat = max(shares) - min(shares) <= 0.02
        self.add(Row('scale: node CPU share spread (max - min)', '%.1f pts' % (100 * (max(shares) - min(shares))),
                     '', '', '<= 2 pts', verdict(flat)))
        self.add(Row('  node CPU per GB pushed', ' / '.join('%.2f' % v for v in per_gb) + ' s', '', '', '', ''))

    def case_pull(self) -> None:
        sz, st = self.sizes, self.st
        source = self.push_image(sz.push_mb)
        reg = st.registry()
        ref = '%s/%s/pull:latest' % (reg.host, st.prefix)
        st.api.tag(source, ref.rsplit(':', 1)[0], 'latest')
        cli('push', ref)
        # Only the registry keeps the image: the local tags go, and with them its layers.
        st.remove_image(ref)
        self.drop_push_image(sz.push_mb)
        recorder = TopicRecorder(st.node.service('pull_progress'), self.msg.TransferProgress)
        stats: List[Dict[str, Any]] = []
        feedback_peaks: List[int] = []
        cpu_s: List[float] = []

        def node(r: int) -> float:
            recorder.wait_connected()
            recorder.take()
            feedback: List[float] = []
            cpu = st.node_cpu()
            start = time.monotonic()
            handle = st.client.pull(ref, feedback_cb=lambda fb: feedback.append(fb.progress.header.stamp.to_sec()))
            wait_goal(handle, 'pull')
            elapsed = time.monotonic() - start
            cpu_s.append(st.node_cpu() - cpu)
            time.sleep(0.5)
            stats.append(self._progress_stats([rec for rec in recorder.take() if rec[2].job_id == handle.job_id],
                                              st.progress_hz))
            feedback_peaks.append(max_in_window(feedback))
            st.remove_image(ref)
            return elapsed

        def cli_side(r: int) -> float:
            start = time.monotonic()
            cli('pull', ref)
            elapsed = time.monotonic() - start
            st.remove_image(ref)
            return elapsed

        try:
            n, c = alternate(sz.rounds, node, cli_side, self.log, 'pull %d MB' % sz.push_mb)
        finally:
            recorder.close()
            st.drop_registry(reg)
        self.raw['pull'] = {'node_s': n, 'cli_s': c, 'node_cpu_s': cpu_s, 'progress': stats}
        self.add(ratio_row('pull %d MB, %d layers (removed locally before each)' % (sz.push_mb, sz.push_layers),
                           n, c, 1.05))
        self._progress_rows('pull_progress', stats, feedback_peaks)

    # -- memory -----------------------------------------------------------------------------------------

    def case_memory(self) -> None:
        sz, st = self.sizes, self.st
        context = st.context('bigcontext', 'FROM @BASE@\nRUN ls -l /\n', {'blob.bin': sz.context_mb * MB})
        before = st.node_memory()
        reset_peak_rss(st.node_pid)
        peak: List[int] = []

        def node(r: int) -> float:
            tag = st.name('bigctx:n%d' % r)
            reset_peak_rss(st.node_pid)
            start = time.monotonic()
            wait_goal(st.client.build({'context': str(context), 'tags': [tag]}), 'large-context build')
            elapsed = time.monotonic() - start
            peak.append(st.node_memory()['VmHWM'])
            st.remove_image(tag)
            return elapsed

        def cli_side(r: int) -> float:
            tag = st.name('bigctx:c%d' % r)
            start = time.monotonic()
            cli('build', '--rm', '-t', tag, str(context))
            elapsed = time.monotonic() - start
            st.remove_image(tag)
            return elapsed

        n, c = alternate(1, node, cli_side, self.log, 'build with %d MB context' % sz.context_mb)
        (context / 'blob.bin').unlink()
        self.peak_rss_kb['build, %d MB context' % sz.context_mb] = max(peak)
        self.add(ratio_row('build with a %d MB context' % sz.context_mb, n, c, None))
        rss = self._job_series(sz.jobs)
        self.raw['memory'] = {'rss_before_kb': before, 'context_build_peak_kb': peak, 'job_rss_kb': rss,
                              'peaks_kb': self.peak_rss_kb, 'context_build_s': {'node': n, 'cli': c}}
        worst = max(self.peak_rss_kb.values())
        where = max(self.peak_rss_kb, key=self.peak_rss_kb.get)
        self.add(Row('node peak RSS (VmHWM) through large build / push', '%.1f MB' % (worst / 1024), '', '',
                     '<= 100 MB', verdict(worst <= 100 * 1024)))
        for what, kb in self.peak_rss_kb.items():
            self.add(Row('  during %s%s' % (what, ' (the peak)' if what == where else ''), '%.1f MB' % (kb / 1024),
                         '', '', '', ''))
        growth = (rss[-1] - rss[0]) / 1024
        self.add(Row('node RSS after job %d minus after job 1' % len(rss), '%+.1f MB' % growth, '', '',
                     '<= 10 MB', verdict(abs(growth) <= 10)))
        self.add(Row('  RSS after job 1 / job %d' % len(rss), '%.1f / %.1f MB' % (rss[0] / 1024, rss[-1] / 1024), '',
                     '', '', ''))

    def _job_series(self, count: int) -> List[int]:
        """Run ``count`` small jobs (builds printing 300 lines, and pushes) one by one; VmRSS after each."""
        st = self.st
        context = st.context('small', image_dockerfile(2, 1, 300))
        reg = st.registry()
        rss: List[int] = []
        try:
            for k in range(count):
                tag = st.name('small:j%d' % k)
                if k % 2 == 0:
                    wait_goal(st.client.build({'context': str(context), 'tags': [tag], 'no_cache': True}), 'build')
                    last_build = tag
                else:
                    ref = '%s/%s/small%d:latest' % (reg.host, st.prefix, k)
                    st.api.tag(last_build, ref.rsplit(':', 1)[0], 'latest')
                    wait_goal(st.client.push(ref), 'push')
                    st.remove_image(ref)
                    st.remove_image(last_build)
                time.sleep(0.5)  # let the publisher threads drain
                rss.append(st.node_memory()['VmRSS'])
        finally:
            st.drop_registry(reg)
        self.log('  RSS after each job (MB): %s' % ' '.join('%.1f' % (kb / 1024) for kb in rss))
        return rss


CASES = ('build', 'log_latency', 'commit', 'queries', 'push', 'scale', 'memory', 'pull')


def run_case(bench: Bench, name: str) -> None:
    getattr(bench, 'case_' + name)()

