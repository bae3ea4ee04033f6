"""imagectl: the robot's Docker images from a terminal, in Docker's own words.

``rosrun docker_image_manager imagectl [--node /robot1/docker_image_manager] COMMAND ...``; see ``imagectl -h``.
Every command goes through :class:`~docker_image_manager.client.ImageManagerClient`. Exit status is 0 on success,
1 when the node (or the way to it) says no, 2 for a usage error and 130 when Ctrl-C cancelled a goal; the node's
message goes to stderr.
"""
from __future__ import annotations

import argparse
import datetime
import getpass
import json
import queue
import shutil
import signal
import sys
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence

from docker_image_manager.client.errors import ActionFailed, ClientError
from docker_image_manager.client.formatting import (BAR_WIDTH, format_ago, format_duration, format_size,
                                                    layer_line, overall_line, short_id, split_repo_tag)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
CANCEL_WAIT_S = 30.0


# -- rendering ---------------------------------------------------------------------------------------------------

def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded like Docker's tables (three spaces between columns, last one not padded)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers)] + [list(r) for r in rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append('   '.join(cells).rstrip())
    return '\n'.join(lines)


def truncate(text: str, width: int, no_trunc: bool = False) -> str:
    """``text`` on one line, cut to ``width`` with an ellipsis unless ``no_trunc``."""
    text = ' '.join(text.split())
    if no_trunc or len(text) <= width:
        return text
    return text[:width - 1] + '…'


def _stamp(t) -> float:
    return t.to_sec() if t is not None else 0.0


class TransferPrinter:
    """Shows a push or pull like ``docker push``: one line per layer plus an overall line with rate and ETA.

    On a terminal the block is redrawn in place. Elsewhere (a pipe, a log file) a layer's line is printed when
    its status changes and the overall line at most every ``min_interval`` seconds, so logs stay readable.
    """

    def __init__(self, out, tty: bool, min_interval: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 width: Optional[int] = None):
        self._out = out
        self._tty = tty
        self._min_interval = min_interval
        self._clock = clock
        self._drawn = 0
        self._statuses: Dict[str, str] = {}
        self._last_overall = None
        self._last_progress = None
        columns = width if width is not None else shutil.get_terminal_size((120, 24)).columns
        self._bar = BAR_WIDTH if columns >= 110 else max(10, columns - 60)

    def update(self, progress) -> None:
        """Show one TransferProgress."""
        self._last_progress = progress
        if self._tty:
            self._redraw(progress)
            return
        for layer in progress.layers:
            if self._statuses.get(layer.id) != layer.status:
                self._statuses[layer.id] = layer.status
                self._out.write('%s: %s\n' % (layer.id, layer.status))
        if not progress.layers and not progress.done:
            return  # nothing known yet: a line of zeros would only be noise in a log
        now = self._clock()
        if progress.done or self._last_overall is None or now - self._last_overall >= self._min_interval:
            self._last_overall = now
            self._out.write(overall_line(progress) + '\n')
        self._out.flush()

    def finish(self, progress=None) -> None:
        """Show the last state (``progress``, or the last one seen) once more, unless it is already shown."""
        progress = progress if progress is not None else self._last_progress
        if progress is None:
            return
        if self._tty:
            self._redraw(progress)
        elif self._last_progress is None or not self._last_progress.done:
            self._last_overall = None
            self.update(progress)

    def _redraw(self, progress) -> None:
        lines = [layer_line(layer, self._bar) for layer in progress.layers] + [overall_line(progress)]
        if self._drawn:
            # Back to the top of the block, then erase down so a shorter block leaves nothing behind.
            self._out.write('\x1b[%dA\r\x1b[J' % self._drawn)
        for line in lines:
            self._out.write(line + '\n')
        self._drawn = len(lines)
        self._out.flush()


def finished_progress(progress, image: str, direction: str):
    """The last progress shown after a success: every layer done, 100 %, no rate or ETA."""
    if progress is None:
        return SimpleNamespace(layers=[], bytes_done=0, bytes_total=0, percent=100.0, rate_bps=0.0, eta_s=0.0,
                               done=True, error='', direction=direction, image=image)
    return SimpleNamespace(layers=list(progress.layers), bytes_done=progress.bytes_total or progress.bytes_done,
                           bytes_total=progress.bytes_total, percent=100.0, rate_bps=0.0, eta_s=0.0, done=True,
                           error='', direction=direction, image=image)


# -- commands ----------------------------------------------------------------------------------------------------

class Context:
    """What a command needs: the client, the streams and the parsed arguments."""

    def __init__(self, client, args, stdin, stdout, stderr):
        self.client = client
        self.args = args
        self.stdin = stdin
        self.out = stdout
        self.err = stderr

    def print(self, text: str = '') -> None:
        self.out.write(text + '\n')
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text + '\n')
        self.err.flush()

    @property
    def tty(self) -> bool:
        isatty = getattr(self.out, 'isatty', None)
        return bool(isatty and isatty())


def cmd_nodes(ctx: Context) -> int:
    from docker_image_manager.client import discover_nodes

    for node in discover_nodes():
        ctx.print(node)
    return EXIT_OK


def cmd_images(ctx: Context) -> int:
    images = ctx.client.list_images(filter=ctx.args.filter or '', all=ctx.args.all).images
    now = time.time()
    if ctx.args.quiet:
        seen = []
        for image in images:
            ident = image.id if ctx.args.no_trunc else short_id(image.id)
            if ident not in seen:
                seen.append(ident)
                ctx.print(ident)
        return EXIT_OK
    rows = []
    for image in images:
        ident = image.id if ctx.args.no_trunc else short_id(image.id)
        for repo_tag in (image.repo_tags or ['<none>:<none>']):
            repo, tag = split_repo_tag(repo_tag) if repo_tag != '<none>:<none>' else ('<none>', '<none>')
            rows.append([repo, tag, ident, format_ago(_stamp(image.created), now), format_size(image.size, 3),
                         str(image.layer_count)])
    ctx.print(format_table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'LAYERS'], rows))
    return EXIT_OK


def cmd_ps(ctx: Context) -> int:
    containers = ctx.client.list_containers(all=ctx.args.all).containers
    if ctx.args.quiet:
        for container in containers:
            ctx.print(container.id if ctx.args.no_trunc else short_id(container.id))
        return EXIT_OK
    now = time.time()
    rows = [[container.id if ctx.args.no_trunc else short_id(container.id),
             truncate(container.image, 40, ctx.args.no_trunc), format_ago(_stamp(container.created), now),
             container.status, container.name.lstrip('/')] for container in containers]
    ctx.print(format_table(['CONTAINER ID', 'IMAGE', 'CREATED', 'STATUS', 'NAMES'], rows))
    return EXIT_OK


def cmd_history(ctx: Context) -> int:
    response = ctx.client.inspect_image(ctx.args.image)
    now = time.time()
    rows = []
    # Docker lists the newest layer first; the node sends the base first.
    for layer in reversed(response.layers):
        rows.append([layer.diff_id if ctx.args.no_trunc else (short_id(layer.diff_id) or '<missing>'),
                     format_ago(_stamp(layer.created), now), truncate(layer.created_by, 45, ctx.args.no_trunc),
                     format_size(layer.size, 3), str(layer.shared_with), truncate(layer.comment, 30,
                                                                                  ctx.args.no_trunc)])
    ctx.print(format_table(['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'SHARED WITH', 'COMMENT'], rows))
    return EXIT_OK


def _iso(t) -> str:
    seconds = _stamp(t)
    if not seconds:
        return ''
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat().replace('+00:00', 'Z')


def cmd_inspect(ctx: Context) -> int:
    documents = []
    for name in ctx.args.images:
        response = ctx.client.inspect_image(name)
        image = response.image
        documents.append({
            'Id': image.id,
            'RepoTags': list(image.repo_tags),
            'RepoDigests': list(image.repo_digests),
            'Created': _iso(image.created),
            'Size': image.size,
            'LayerCount': image.layer_count,
            'Layers': [{'DiffId': layer.diff_id, 'CreatedBy': layer.created_by, 'Created': _iso(layer.created),
                        'Size': layer.size, 'Comment': layer.comment, 'SharedWith': layer.shared_with}
                       for layer in response.layers],
        })
    ctx.print(json.dumps(documents, indent=4))
    return EXIT_OK


def cmd_diff(ctx: Context) -> int:
    response = ctx.client.container_diff(ctx.args.container)
    entries = [(path, 'A') for path in response.added] + [(path, 'C') for path in response.changed] + \
        [(path, 'D') for path in response.deleted]
    for path, kind in sorted(entries):
        ctx.print('%s %s' % (kind, path))
    return EXIT_OK


def cmd_commit(ctx: Context) -> int:
    response = ctx.client.commit(ctx.args.container, target=ctx.args.repository or '', message=ctx.args.message,
                                 author=ctx.args.author, changes=ctx.args.change, no_pause=ctx.args.no_pause)
    ctx.print(response.image_id)
    return EXIT_OK


def cmd_tag(ctx: Context) -> int:
    ctx.client.tag(ctx.args.source, ctx.args.target)
    return EXIT_OK


def cmd_login(ctx: Context) -> int:
    username = ctx.args.username
    interactive = bool(getattr(ctx.stdin, 'isatty', None) and ctx.stdin.isatty())
    if not username:
        if not interactive or ctx.args.password_stdin:
            ctx.note('imagectl: error: login needs a user name: -u USER')
            return EXIT_USAGE
        ctx.err.write('Username: ')
        ctx.err.flush()
        username = ctx.stdin.readline().strip()
    if ctx.args.password_stdin:
        password = ctx.stdin.read()
        # Like docker: only the line break that ends the input is not part of the password.
        if password.endswith('\n'):
            password = password[:-1]
        if password.endswith('\r'):
            password = password[:-1]
    elif interactive:
        password = getpass.getpass('Password: ', stream=ctx.err)
    else:
        ctx.note('imagectl: error: stdin is not a terminal; pipe the password with --password-stdin')
        return EXIT_USAGE
    if not password:
        ctx.note('imagectl: error: the password is empty')
        return EXIT_USAGE
    response = ctx.client.login(ctx.args.registry or '', username, password)
    ctx.print(response.message or 'Login Succeeded')
    return EXIT_OK


def cmd_rmi(ctx: Context) -> int:
    status = EXIT_OK
    reclaimed = 0
    for image in ctx.args.images:
        try:
            response = ctx.client.remove_image(image, force=ctx.args.force, prune_dangling=ctx.args.prune)
        except ClientError as exc:
            ctx.note('imagectl: error: %s' % exc)
            status = EXIT_FAILED
            continue
        reclaimed += response.reclaimed_bytes
        ctx.print(response.message or 'Deleted: %s' % image)
    if status == EXIT_OK or reclaimed:
        ctx.print('Total reclaimed space: %s' % format_size(reclaimed, 3))
    return status


def cmd_jobs(ctx: Context) -> int:
    jobs = ctx.client.list_jobs(limit=ctx.args.n, kind=ctx.args.kind or '').jobs
    if ctx.args.quiet:
        for job in jobs:
            ctx.print(job.job_id)
        return EXIT_OK
    now = time.time()
    rows = []
    for job in jobs:
        started, finished = _stamp(job.started), _stamp(job.finished)
        duration = (finished or now) - started if started else -1
        rows.append([job.job_id, job.kind, truncate(job.target, 40, ctx.args.no_trunc), job.state,
                     '%.0f%%' % job.percent, format_ago(started, now), format_duration(duration),
                     truncate(job.message, 60, ctx.args.no_trunc)])
    ctx.print(format_table(['JOB ID', 'KIND', 'TARGET', 'STATE', 'PROGRESS', 'STARTED', 'DURATION', 'MESSAGE'],
                           rows))
    return EXIT_OK


def cmd_logs(ctx: Context) -> int:
    for line in ctx.client.iter_job_log(ctx.args.job, follow=ctx.args.follow):
        ctx.print(line.rstrip('\n'))
    return EXIT_OK


def _run_goal(ctx: Context, handle, events: 'queue.Queue', show: Callable, kind: str):
    """Show a goal's feedback until it ends; Ctrl-C cancels it on the robot. Returns the result or raises."""
    try:
        while True:
            try:
                show(events.get(timeout=0.1))
                continue
            except queue.Empty:
                pass
            if handle.done and events.empty():
                break
    except KeyboardInterrupt:
        ctx.note('\nimagectl: cancelling the %s on the robot (Ctrl-C again to stop waiting)' % kind)
        handle.cancel()
        try:
            handle.wait(CANCEL_WAIT_S)
        except (ActionFailed, ClientError):
            pass
        if handle.done:
            ctx.note('imagectl: the %s ended as %s: %s' % (kind, handle.state, handle.message))
        else:
            ctx.note('imagectl: the node has not confirmed the cancel yet; check with `imagectl jobs`')
        raise
    return handle.wait()


def cmd_build(ctx: Context) -> int:
    args = ctx.args
    fields = {'context': args.context, 'dockerfile': args.file or '', 'tags': args.tag, 'build_args': args.build_arg,
              'labels': args.label, 'no_cache': args.no_cache, 'pull': args.pull, 'target': args.target or ''}
    events: 'queue.Queue' = queue.Queue()
    handle = ctx.client.build(fields, feedback_cb=events.put)
    printed = {'count': 0}

    def show(feedback) -> None:
        # The job log keeps one line per line of text: count the same way to know where feedback stopped.
        printed['count'] += max(1, len(feedback.line.splitlines()))
        if not args.quiet:
            ctx.print(feedback.line.rstrip('\n'))

    try:
        result = _run_goal(ctx, handle, events, show, 'build')
    finally:
        if not args.quiet:
            _print_missed_lines(ctx, handle, printed['count'])
    if args.quiet:
        ctx.print(result.image_id)
    else:
        ctx.note('Built %s%s (job %s)' % (short_id(result.image_id),
                                          (' as ' + ', '.join(result.tags)) if result.tags else '', result.job_id))
    return EXIT_OK


def _print_missed_lines(ctx: Context, handle, printed: int) -> None:
    """Print the build lines the node logged after the goal's last feedback (it stops at the result)."""
    if not handle.done or not handle.job_id:
        return
    try:
        for line in ctx.client.get_job_log(handle.job_id, offset=printed).lines:
            ctx.print(line.rstrip('\n'))
    except ClientError:
        pass  # the goal's own outcome is what the user needs; a missing tail is not worth a second error


def _transfer(ctx: Context, direction: str) -> int:
    image = ctx.args.image
    events: 'queue.Queue' = queue.Queue()
    start = ctx.client.push if direction == 'push' else ctx.client.pull
    handle = start(image, feedback_cb=events.put)
    printer = TransferPrinter(ctx.out, ctx.tty)
    last = {'progress': None}

    def show(feedback) -> None:
        last['progress'] = feedback.progress
        if not ctx.args.quiet:
            printer.update(feedback.progress)

    result = _run_goal(ctx, handle, events, show, direction)
    final = getattr(result, 'progress', None)
    seen = last['progress']
    if final is not None and final.done and (seen is None or not seen.done):
        # The result carries the last progress: actionlib drops the last feedback when it arrives after it.
        show(SimpleNamespace(progress=final))
    if not ctx.args.quiet:
        printer.finish(finished_progress(last['progress'], image, direction))
    if direction == 'push':
        ctx.print('%s: digest: %s size: %d' % (image, result.digest, result.size))
    else:
        ctx.print('Digest: %s' % result.digest)
        ctx.print('Status: %s' % (result.message or 'Downloaded %s' % image))
        ctx.print(image)
    return EXIT_OK


def cmd_push(ctx: Context) -> int:
    return _transfer(ctx, 'push')


def cmd_pull(ctx: Context) -> int:
    return _transfer(ctx, 'pull')


# -- command line --------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='imagectl', description="Manage a robot's Docker images through its docker_image_manager node.",
        epilog='Without --node, imagectl uses the only docker_image_manager node on the master.')
    parser.add_argument('--node', help='the node to talk to, e.g. /robot1/docker_image_manager')
    parser.add_argument('--timeout', type=float, default=5.0,
                        help='seconds to wait for the node to answer before giving up (default 5)')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True

    def add(name, func, help_text, aliases=()):
        p = sub.add_parser(name, help=help_text, description=help_text, aliases=list(aliases))
        p.set_defaults(func=func)
        return p

    add('nodes', cmd_nodes, 'List the docker_image_manager nodes running on the master')

    p = add('images', cmd_images, 'List images')
    p.add_argument('filter', nargs='?', metavar='REPOSITORY[:TAG]')
    p.add_argument('-a', '--all', action='store_true', help='show intermediate images too')
    p.add_argument('-q', '--quiet', action='store_true', help='only show image ids')
    p.add_argument('--no-trunc', action='store_true', help="don't truncate ids")

    p = add('ps', cmd_ps, 'List containers')
    p.add_argument('-a', '--all', action='store_true', help='show stopped containers too')
    p.add_argument('-q', '--quiet', action='store_true', help='only show container ids')
    p.add_argument('--no-trunc', action='store_true', help="don't truncate output")

    p = add('history', cmd_history, 'Show the layers of an image, newest first')
    p.add_argument('image', metavar='IMAGE')
    p.add_argument('--no-trunc', action='store_true', help="don't truncate output")

    p = add('inspect', cmd_inspect, 'Show an image and its layers as JSON')
    p.add_argument('images', nargs='+', metavar='IMAGE')

    p = add('diff', cmd_diff, "Show the changes to a container's filesystem (A added, C changed, D deleted)")
    p.add_argument('container', metavar='CONTAINER')

    p = add('commit', cmd_commit, "Create a new image from a container's changes")
    p.add_argument('container', metavar='CONTAINER')
    p.add_argument('repository', nargs='?', metavar='REPOSITORY[:TAG]')
    p.add_argument('-m', '--message', default='', help='commit message')
    p.add_argument('-a', '--author', default='', help='author, e.g. "Jane <jane@example.com>"')
    p.add_argument('-c', '--change', action='append', default=[], metavar='INSTRUCTION',
                   help='apply a Dockerfile instruction to the image (repeatable)')
    p.add_argument('--no-pause', action='store_true', help="don't pause the container while committing")

    p = add('build', cmd_build, 'Build an image from a context directory on the robot')
    p.add_argument('context', metavar='CONTEXT', help='directory on the robot')
    p.add_argument('-f', '--file', metavar='DOCKERFILE', help='Dockerfile relative to CONTEXT (default Dockerfile)')
    p.add_argument('-t', '--tag', action='append', default=[], metavar='NAME[:TAG]', help='tag (repeatable)')
    p.add_argument('--build-arg', action='append', default=[], metavar='KEY=VALUE', help='build argument')
    p.add_argument('--label', action='append', default=[], metavar='KEY=VALUE', help='image label')
    p.add_argument('--no-cache', action='store_true', help="don't use the build cache")
    p.add_argument('--pull', action='store_true', help='always try to pull newer base images')
    p.add_argument('--target', metavar='STAGE', help='build stage to stop at')
    p.add_argument('-q', '--quiet', action='store_true', help='only print the image id')

    p = add('tag', cmd_tag, 'Create a tag TARGET that refers to SOURCE')
    p.add_argument('source', metavar='SOURCE_IMAGE[:TAG]')
    p.add_argument('target', metavar='TARGET_IMAGE[:TAG]')

    for name, func, text in (('push', cmd_push, 'Push an image to a registry'),
                             ('pull', cmd_pull, 'Pull an image from a registry')):
        p = add(name, func, text)
        p.add_argument('image', metavar='NAME[:TAG]')
        p.add_argument('-q', '--quiet', action='store_true', help="don't show progress")

    p = add('login', cmd_login, 'Log the robot in to a registry (the password is read from stdin)')
    p.add_argument('registry', nargs='?', metavar='SERVER', help='registry (default Docker Hub)')
    p.add_argument('-u', '--username', help='user name')
    p.add_argument('--password-stdin', action='store_true', help='read the password from stdin')

    p = add('rmi', cmd_rmi, 'Remove one or more images')
    p.add_argument('images', nargs='+', metavar='IMAGE')
    p.add_argument('-f', '--force', action='store_true', help='force removal')
    p.add_argument('--prune', action='store_true', help='also remove dangling images')

    p = add('jobs', cmd_jobs, "List the node's jobs, newest first")
    p.add_argument('-n', type=int, default=0, metavar='N', help='show at most N jobs')
    p.add_argument('--kind', choices=['build', 'push', 'pull', 'commit'], help='only jobs of this kind')
    p.add_argument('-q', '--quiet', action='store_true', help='only show job ids')
    p.add_argument('--no-trunc', action='store_true', help="don't truncate output")

    p = add('logs', cmd_logs, "Print a job's log")
    p.add_argument('job', metavar='JOB')
    p.add_argument('-f', '--follow', action='store_true', help='keep printing until the job ends')
    return parser


def _catch_ctrl_c() -> None:
    # A shell starts background jobs with SIGINT ignored; Ctrl-C (or kill -INT) must still cancel the goal.
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:
        pass  # not the main thread: leave the signals to whoever owns it


def main(argv: Optional[List[str]] = None, stdin=None, stdout=None, stderr=None) -> int:
    """Run imagectl with ``argv`` (default: the command line without ROS remappings); returns the exit status."""
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if argv is None:
        argv = [arg for arg in sys.argv[1:] if ':=' not in arg]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    _catch_ctrl_c()
    try:
        from docker_image_manager.client import ImageManagerClient, init_node, resolve_node

        init_node('imagectl')
        client = None
        if args.func is not cmd_nodes:
            client = ImageManagerClient(resolve_node(args.node), timeout=args.timeout)
        try:
            return args.func(Context(client, args, stdin, stdout, stderr))
        finally:
            if client is not None:
                client.close()
    except ValueError as exc:
        stderr.write('imagectl: error: %s\n' % exc)
        return EXIT_USAGE
    except ActionFailed as exc:
        if exc.cancelled:
            stderr.write('imagectl: the %s was cancelled: %s\n' % (exc.handle.kind, exc))
            return EXIT_INTERRUPTED if exc.handle.cancel_requested else EXIT_FAILED
        stderr.write('imagectl: error: %s\n' % exc)
        return EXIT_FAILED
    except ClientError as exc:
        stderr.write('imagectl: error: %s\n' % exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        stderr.write('imagectl: interrupted\n')
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED


if __name__ == '__main__':
    sys.exit(main())
