#!/usr/bin/env python3
"""Benchmarks of the node against the Docker CLI on the same machine: ``make bench`` (or ``--quick``).

Brings up its own registries, roscore and node (test/stack.py), runs each case alternating node and CLI,
prints a table of medians and node/CLI ratios and writes it, with the machine description, to a Markdown file
(``bench/RESULTS.md`` for a full run, ``bench/out/RESULTS-quick.md`` for ``--quick``). Everything it creates is
named ``dimbench-<hex>`` and removed at the end, also after Ctrl-C or a failure.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
import harness  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / 'out'

METHOD = """\
- Each timed case runs node and CLI alternately in one run (round 1 node first, round 2 CLI first, ...);
  the table shows medians and ranges. Dirty pages are synced before each timed operation (a 2 GB image
  just built would otherwise be written back during the first push). Node times are measured in a rospy
  client (the `client/` facade `imagectl` uses) from sending the goal or request to receiving the result;
  CLI times are Debian's `/usr/bin/docker` (20.10, `DOCKER_BUILDKIT=0`: the classic builder, as the node
  uses) from exec to exit, output piped.
- Push: every push goes to a registry of its own on a fresh port, so no layer is "already exists" or
  "Mounted from" (Docker mounts blobs across repositories of one registry, so a new repository name alone
  is not enough). Pull: the image is pushed once, removed locally (layers included), then pulled and
  removed again before each round.
- Query latency: `rospy.ServiceProxy` created once per service (non-persistent: each call looks the service
  up and connects, as a plain rospy client does). The 500 images are distinct (one LABEL each, made by one
  `docker load` of 500 image configs over the base image's layer). The first `list_images` after they
  appeared is shown apart: it fills the node's layer-count cache (one inspect per new image); the p95 is
  over the calls after it.
- Progress rate: messages per job counted in any half-open 1 s window by their header stamps (send time);
  bytes per message are the serialized sizes received (`rospy.AnyMsg`).
- Build log latency: a RUN step prints a line every 20 ms carrying the wall clock in microseconds from
  busybox `adjtimex` (busybox `date` has no sub-second format); the container shares the host's
  CLOCK_REALTIME, so receive time minus printed time is the latency, with no offset to correct. It includes
  the daemon's own forwarding, which the CLI column (same Dockerfile, CLI stdout read line by line) shows.
- Memory: VmRSS/VmHWM from /proc/<node pid>/status; VmHWM is reset (`clear_refs` 5) before each measured
  operation, so each peak belongs to it. CPU: utime+stime from /proc/<node pid>/stat; the CLI's from
  getrusage of its process.
- The Docker daemon is shared with whatever else runs on the machine (see the load averages): other work
  on it shows up on both sides of a pair, which is why pairs alternate, but it widens the spread."""


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='smaller sizes and fewer rounds (about 3 minutes)')
    parser.add_argument('--cases', default=','.join(cases.CASES),
                        help='comma-separated subset of: %s' % ', '.join(cases.CASES))
    parser.add_argument('--output', help='Markdown results file (default bench/RESULTS.md, or '
                        'bench/out/RESULTS-quick.md with --quick); "-" for none')
    parser.add_argument('--workdir', default='/var/tmp', help='where build contexts and registries go')
    parser.add_argument('--progress-rate-hz', type=float, default=5.0, help="the node's progress_rate_hz")
    for field, default in cases.FULL._asdict().items():
        if field == 'scale_mb':
            parser.add_argument('--scale-mb', help='image sizes of the scale curve, e.g. 100,500,2048 (full: %s)'
                                % ','.join(map(str, default)))
        else:
            parser.add_argument('--' + field.replace('_', '-'), type=int, help='(full: %d)' % default)
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> cases.Sizes:
    sizes = cases.QUICK if args.quick else cases.FULL
    changes: Dict[str, object] = {}
    for field in cases.Sizes._fields:
        value = getattr(args, field)
        if value is not None:
            changes[field] = tuple(int(v) for v in value.split(',')) if field == 'scale_mb' else value
    return sizes._replace(**changes)


def table(rows: List[cases.Row], markdown: bool) -> str:
    header = ('case', 'node', 'CLI', 'node/CLI', 'target', '')
    if markdown:
        lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
        for row in rows:
            cells = [row.case.replace('  ', '&nbsp;&nbsp;') if row.case.startswith(' ') else row.case,
                     row.node, row.cli, row.ratio, row.target.replace('<=', '≤'),
                     '**MISSED**' if row.verdict == 'MISSED' else row.verdict]
            lines.append('| ' + ' | '.join(cells) + ' |')
        return '\n'.join(lines)
    widths = [max(len(str(row[i])) for row in rows + [cases.Row(*header)]) for i in range(len(header))]
    lines = ['  '.join(str(cell).ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append('  '.join('-' * w for w in widths))
    for row in rows:
        lines.append('  '.join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return '\n'.join(lines)


def git_revision() -> str:
    result = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=str(BENCH_DIR), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, universal_newlines=True)
    return result.stdout.strip() or '?'


def write_markdown(path: Path, args, sizes: cases.Sizes, info: Dict[str, str], rows: List[cases.Row],
                   started: datetime.datetime, elapsed: float, loads: List[str], failures: List[str]) -> None:
    missed = [row for row in rows if row.verdict == 'MISSED']
    lines = ['# Benchmark results: node vs Docker CLI', '',
             'Written by `%s` (`make bench%s`) on %s, commit %s, in %.1f min. Method and analysis: '
             '[README](README.md).' % (' '.join(['bench/run.py'] + sys.argv[1:]), ' QUICK=1' if args.quick else '',
                                      started.strftime('%Y-%m-%d %H:%M UTC'), git_revision(), elapsed / 60), '',
             '## Machine', '', '| | |', '|---|---|']
    lines += ['| %s | %s |' % (key, value) for key, value in info.items()]
    lines += ['| Load average (start, end) | %s |' % ' → '.join(loads), '',
              '## Sizes', '', '`%s`' % ', '.join('%s=%s' % (k, v) for k, v in sizes._asdict().items()), '',
              '## Results', '', table(rows, markdown=True), '']
    if missed:
        lines += ['Missed: ' + '; '.join(row.case.strip() for row in missed) + '.', '']
    if failures:
        lines += ['## Cases that did not run to the end', ''] + ['- ' + f for f in failures] + ['']
    lines += ['## Method', '', METHOD, '']
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(lines))


def main(argv: List[str] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    sizes = sizes_from(args)
    selected = [c.strip() for c in args.cases.split(',') if c.strip()]
    unknown = sorted(set(selected) - set(cases.CASES))
    if unknown:
        print('unknown case(s): %s; known: %s' % (', '.join(unknown), ', '.join(cases.CASES)), file=sys.stderr)
        return 2
    output = None if args.output == '-' else Path(args.output) if args.output else (
        OUT_DIR / 'RESULTS-quick.md' if args.quick else BENCH_DIR / 'RESULTS.md')
    harness.interrupt_on_term()
    started = datetime.datetime.utcnow()
    t0 = time.monotonic()

    def log(text: str) -> None:
        print('[bench %6.1fs] %s' % (time.monotonic() - t0, text), flush=True)

    workdir = Path(tempfile.mkdtemp(prefix='dimbench-', dir=args.workdir))
    st = harness.Stack(workdir, {'progress_rate_hz': args.progress_rate_hz})
    bench = None
    failures: List[str] = []
    loads = [harness.load_average()]
    info: Dict[str, str] = {}
    try:
        info = harness.machine()
        log('machine: ' + '; '.join('%s: %s' % kv for kv in info.items()))
        log('sizes: %s' % (sizes,))
        st.start()
        log('stack up: prefix %s, roscore %s, node %s (pid %d), work dir %s'
            % (st.prefix, st.roscore.uri, st.node.name, st.node_pid, workdir))
        bench = cases.Bench(st, sizes, log)
        for name in [c for c in cases.CASES if c in selected]:
            log('case %s' % name)
            try:
                cases.run_case(bench, name)
            except harness.BenchError as exc:
                failures.append('%s: %s' % (name, exc))
                log('case %s FAILED: %s' % (name, exc))
            except Exception as exc:  # noqa: BLE001 - a broken case must not hide the others' numbers
                failures.append('%s: %s: %s' % (name, type(exc).__name__, exc))
                log('case %s FAILED:\n%s' % (name, traceback.format_exc()))
    except KeyboardInterrupt:
        failures.append('interrupted')
        log('interrupted; cleaning up')
    except harness.BenchError as exc:
        failures.append(str(exc))
        log('FAILED: %s' % exc)
    finally:
        OUT_DIR.mkdir(exist_ok=True)
        if st.node is not None:
            shutil.copy(str(st.node.log_path), str(OUT_DIR / 'node.log'))
        for problem in st.stop():
            log('clean-up: %s' % problem)
        shutil.rmtree(str(workdir), ignore_errors=True)
        loads.append(harness.load_average())
    elapsed = time.monotonic() - t0
    rows = bench.rows if bench else []
    if bench:
        (OUT_DIR / ('raw-%s.json' % ('quick' if args.quick else 'full'))).write_text(
            json.dumps({'sizes': sizes._asdict(), 'machine': info, 'raw': bench.raw}, indent=1, default=str))
    if rows:
        print()
        print(table(rows, markdown=False))
    for failure in failures:
        print('FAILED: %s' % failure)
    if output is not None and rows:
        write_markdown(output, args, sizes, info, rows, started, elapsed, loads, failures)
        print('\nwritten to %s (%.1f min)' % (output, elapsed / 60))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
