"""The ROS node: the core's operations as services, actionlib actions and topics.

Everything is private to the node (``~name``), so several robots share one master under namespaces. Services
run on rospy's threads and answer fast; long operations are jobs run by the core's :class:`JobManager`, served
with actionlib's ``ActionServer`` and goal handles so a new goal never pre-empts a running one.
"""
from __future__ import annotations

import os
import queue
import socket
import threading
import traceback
from typing import Any, Callable, Dict, Tuple

import actionlib
import rospy
from actionlib_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from visualization_msgs.msg import Marker

from docker_image_manager import msg, srv
from docker_image_manager.core import build, images, references, transfer
from docker_image_manager.core.credentials import Credentials, scrub
from docker_image_manager.core.docker_client import Connector, connect, unreachable_message
from docker_image_manager.core.errors import DaemonUnavailable, ImageManagerError, InvalidRequest
from docker_image_manager.core.jobs import (CANCELLED, KINDS, SUCCEEDED, Job, JobContext, JobManager, JobStore,
                                            LogRecord)
from docker_image_manager.core.policy import Policy
from docker_image_manager.core.progress import RateLimiter, TransferTracker
from docker_image_manager.core.streams import LogLine

from . import convert, settings as settings_module

_LINE_QUEUE = 50000
_REJECT_DELAY_S = 0.1


class ImageManagerNode:
    """Wires the core to ROS. Construct after ``rospy.init_node``; :meth:`shutdown` on exit."""

    def __init__(self, settings: settings_module.Settings):
        self.settings = settings
        self.docker = Connector(settings.docker_url)
        self.policy = Policy(settings.allowed_context_roots, settings.allowed_registries, settings.read_only,
                             settings.allow_remove)
        self.credentials = Credentials()
        if settings.credentials_file:
            try:
                count = self.credentials.load_file(os.path.expanduser(settings.credentials_file))
                rospy.loginfo('loaded credentials for %d registries from %s', count, settings.credentials_file)
            except (ImageManagerError, OSError) as exc:
                rospy.logerr('credentials_file not used: %s', exc)
        self.cache = images.LayerCache()
        store = JobStore(settings.state_dir, settings.max_jobs, int(settings.max_log_mb * 1024 * 1024))
        self.jobs = JobManager(store, {'build': settings.max_concurrent_builds,
                                       'transfer': settings.max_concurrent_transfers,
                                       'commit': settings.max_concurrent_commits}, scrub=self._scrub)
        self._client = None
        self._client_lock = threading.Lock()
        # What the query services use: it connects only when a Docker call is made, so their input checks
        # run first and a bad request never waits for, or fails on, the daemon.
        self._queries = _LazyClient(self._query)
        self._goals: Dict[str, Any] = {}        # job_id -> goal handle
        self._goal_jobs: Dict[str, str] = {}    # goal id -> job_id
        # A transfer's last progress (done: true), kept for its action result: actionlib drops feedback that
        # reaches a client after the result, and the two travel on separate topics.
        self._final_progress: Dict[str, Any] = {}
        self._goals_lock = threading.Lock()
        self._lines: queue.Queue = queue.Queue(maxsize=_LINE_QUEUE)
        self._dropped_lines = 0

        self.build_log_pub = rospy.Publisher('~build_log', msg.BuildLog, queue_size=1000)
        self.push_pub = rospy.Publisher('~push_progress', msg.TransferProgress, queue_size=20)
        self.pull_pub = rospy.Publisher('~pull_progress', msg.TransferProgress, queue_size=20)
        self.jobs_pub = rospy.Publisher('~jobs', msg.JobStatus, queue_size=100, latch=True)
        self.marker_pub = rospy.Publisher('~status_marker', Marker, queue_size=2)
        self.diag_pub = rospy.Publisher('/diagnostics', DiagnosticArray, queue_size=2)

        self.jobs.add_listener(self)
        threading.Thread(target=self._publish_lines, name='build-log-publisher', daemon=True).start()

        # Actions first and list_images last: a client that sees list_images finds the whole contract there.
        self._servers = {
            'build': self._action('build', msg.BuildAction, self._prepare_build),
            'push': self._action('push', msg.PushAction, self._prepare_push),
            'pull': self._action('pull', msg.PullAction, self._prepare_pull),
        }
        self._services = [
            self._serve('inspect_image', srv.InspectImage, self._inspect_image),
            self._serve('list_containers', srv.ListContainers, self._list_containers),
            self._serve('container_diff', srv.ContainerDiff, self._container_diff),
            self._serve('commit', srv.Commit, self._commit),
            self._serve('tag', srv.Tag, self._tag),
            self._serve('login', srv.Login, self._login),
            self._serve('remove_image', srv.RemoveImage, self._remove_image),
            self._serve('list_jobs', srv.ListJobs, self._list_jobs),
            self._serve('get_job_log', srv.GetJobLog, self._get_job_log),
            self._serve('list_images', srv.ListImages, self._list_images),
        ]
        self._timers = [
            rospy.Timer(rospy.Duration(settings.diagnostics_period_s), lambda _: self._publish_diagnostics()),
            rospy.Timer(rospy.Duration(1.0), lambda _: self._publish_marker()),
        ]
        for job in self.jobs.list(limit=20)[::-1]:
            self.jobs_pub.publish(convert.job_status(job))
        self._cache_warmed = False

    def _warm_layer_cache(self) -> None:
        """Learn every local image's layers once, in the background, so the first inspect_image is fast too.

        Started by the first diagnostics round that finds the daemon reachable.
        """
        try:
            images.list_images(self._query(), self.cache, '', True)
        except Exception as exc:  # noqa: BLE001 - only a head start; queries fill the cache themselves
            rospy.logdebug('layer cache not warmed: %s', exc)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return scrub(text, self.credentials.secrets())

    def _query(self):
        """The shared query client, (re)connected on demand so the node recovers when the daemon returns."""
        with self._client_lock:
            if self._client is None:
                self._client = self.docker.query()
            return self._client

    def _forget_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _serve(self, name: str, srv_type, handler: Callable[[Any], Dict[str, Any]]):
        response_class = srv_type._response_class

        def call(request):
            try:
                fields = handler(request) or {}
                message = fields.pop('message', 'ok')
                return response_class(success=True, message=self._scrub(message), **fields)
            except ImageManagerError as exc:
                if isinstance(exc, DaemonUnavailable):
                    self._forget_client()
                return response_class(success=False, message=self._scrub(str(exc)), **getattr(exc, 'fields', {}))
            except Exception as exc:  # noqa: BLE001 - a bug answers the caller and leaves the node serving
                rospy.logerr('%s failed: %s', name, self._scrub(traceback.format_exc()))
                return response_class(success=False, message='internal error in %s: %s: %s (see the node log)'
                                      % (name, type(exc).__name__, self._scrub(str(exc))))

        return rospy.Service('~' + name, srv_type, call)

    # -- services -------------------------------------------------------------------------------------------

    def _list_images(self, req) -> Dict[str, Any]:
        found = images.list_images(self._queries, self.cache, req.filter, req.all)
        return {'images': [convert.image_info(i) for i in found], 'message': '%d images' % len(found)}

    def _inspect_image(self, req) -> Dict[str, Any]:
        image, layers = images.inspect_image(self._queries, self.cache, req.image)
        return {'image': convert.image_info(image), 'layers': [convert.layer_info(layer) for layer in layers],
                'message': '%s: %d layers' % (image.id[:19], len(layers))}

    def _list_containers(self, req) -> Dict[str, Any]:
        found = images.list_containers(self._queries, req.all)
        return {'containers': [convert.container_info(c) for c in found],
                'message': '%d containers' % len(found)}

    def _container_diff(self, req) -> Dict[str, Any]:
        changes = images.container_diff(self._queries, req.container)
        return {'added': changes.added, 'changed': changes.changed, 'deleted': changes.deleted,
                'message': '%d added, %d changed, %d deleted' % (len(changes.added), len(changes.changed),
                                                                 len(changes.deleted))}

    def _commit(self, req) -> Dict[str, Any]:
        self.policy.check_write('commit')
        if not req.container.strip():
            raise InvalidRequest('a container name or id is required (see list_containers)')
        if req.target:
            references.parse_target(req.target)
        changes = list(req.changes)
        images.check_changes(changes)  # here, not in the job: a bad request must not reach the daemon

        def work(ctx: JobContext) -> Tuple[str, Dict[str, Any]]:
            client = connect(self.settings.docker_url, timeout=None)
            try:
                ctx.log('committing container %s%s' % (req.container, ' as %s' % req.target if req.target else ''))
                image_id = images.commit(client, req.container, req.target, req.message, req.author, changes,
                                         pause=not req.no_pause)
            finally:
                client.close()
            ctx.log('committed %s' % image_id)
            return 'committed %s as %s' % (req.container, req.target or image_id[:19]), {'image_id': image_id}

        request = {'container': req.container, 'target': req.target, 'message': req.message,
                   'author': req.author, 'changes': changes, 'no_pause': req.no_pause}
        caller = (getattr(req, '_connection_header', None) or {}).get('callerid', '')
        job = self.jobs.submit('commit', req.target or req.container, request, work, owner=caller)
        job = self.jobs.wait(job.job_id)
        if job.state != SUCCEEDED:
            raise _FailedWithFields(job.message, {'job_id': job.job_id})
        return {'image_id': job.result.get('image_id', ''), 'job_id': job.job_id, 'message': job.message}

    def _tag(self, req) -> Dict[str, Any]:
        self.policy.check_write('tag')
        references.parse_target(req.target)
        image_id = images.tag(self._queries, req.source, req.target)
        return {'image_id': image_id, 'message': 'tagged %s as %s' % (req.source, req.target)}

    def _login(self, req) -> Dict[str, Any]:
        # transfer.login checks the request before its first Docker call, and _queries connects only then.
        status = transfer.login(self._queries, self.policy, self.credentials, req.registry, req.username,
                                req.password)
        return {'message': '%s (%s as %s)' % (status, req.registry or 'Docker Hub', req.username)}

    def _remove_image(self, req) -> Dict[str, Any]:
        self.policy.check_remove()
        reclaimed, removed = images.remove_image(self._queries, self.cache, req.image, req.force,
                                                 req.prune_dangling)
        return {'reclaimed_bytes': reclaimed,
                'message': 'removed %d references/images, reclaimed %d bytes' % (len(removed), reclaimed)}

    def _list_jobs(self, req) -> Dict[str, Any]:
        if req.kind and req.kind not in KINDS:
            raise InvalidRequest('unknown job kind %r; one of %s, or empty for all' % (req.kind, ', '.join(KINDS)))
        found = self.jobs.list(req.limit, req.kind)
        return {'jobs': [convert.job_status(job) for job in found], 'message': '%d jobs' % len(found)}

    def _get_job_log(self, req) -> Dict[str, Any]:
        lines, next_offset, job = self.jobs.read_log(req.job_id, req.offset, req.max_lines)
        return {'lines': lines, 'next_offset': next_offset, 'job': convert.job_status(job),
                'message': '%d lines' % len(lines)}

    # -- actions --------------------------------------------------------------------------------------------

    def _action(self, name: str, action_type, prepare):
        result_class = type(action_type().action_result.result)
        server = actionlib.ActionServer(rospy.resolve_name('~' + name), action_type,
                                        goal_cb=lambda gh: self._on_goal(name, gh, prepare, result_class),
                                        cancel_cb=self._on_cancel, auto_start=False)
        server.start()
        return server

    def _on_goal(self, kind: str, gh, prepare, result_class) -> None:
        job_id = JobManager.new_id(kind)
        try:
            self.policy.check_write(kind)
            target, request, work = prepare(gh.get_goal(), job_id, gh)
        except ImageManagerError as exc:
            self._reject(gh, result_class, self._scrub(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001
            rospy.logerr('%s goal failed: %s', kind, traceback.format_exc())
            self._reject(gh, result_class, 'internal error: %s: %s' % (type(exc).__name__, exc))
            return
        goal_id = gh.get_goal_id().id
        with self._goals_lock:
            self._goals[job_id] = (gh, result_class)
            self._goal_jobs[goal_id] = job_id
        gh.set_accepted('accepted as job %s' % job_id)
        try:
            self.jobs.submit(kind, target, request, work, owner=goal_id, job_id=job_id)
        except ImageManagerError as exc:
            with self._goals_lock:
                self._goals.pop(job_id, None)
            gh.set_aborted(result_class(success=False, message=str(exc), job_id=job_id), str(exc))

    @staticmethod
    def _reject(gh, result_class, text: str) -> None:
        # Rejected a moment later, not from inside the goal callback: actionlib's SimpleActionClient stores its
        # goal handle only after send_goal returns, and ignores a REJECTED status that arrives before that,
        # after which its wait_for_result never returns.
        timer = threading.Timer(_REJECT_DELAY_S, gh.set_rejected, (result_class(success=False, message=text), text))
        timer.daemon = True
        timer.start()

    def _on_cancel(self, gh) -> None:
        with self._goals_lock:
            job_id = self._goal_jobs.get(gh.get_goal_id().id)
        if job_id is None:
            return
        try:
            self.jobs.cancel(job_id)
        except ImageManagerError as exc:
            rospy.logwarn('cancel of %s: %s', job_id, exc)

    def _prepare_build(self, goal, job_id: str, gh):
        request = build.make_request(self.policy, goal.context, goal.dockerfile, list(goal.tags),
                                     list(goal.build_args), list(goal.labels), goal.no_cache, goal.pull, goal.target)

        def work(ctx: JobContext) -> Tuple[str, Dict[str, Any]]:
            def on_line(line: LogLine) -> None:
                ctx.log(line.text, line.stream, line.step, line.total)
                if line.total:
                    ctx.progress(100.0 * max(0, line.step - 1) / line.total)
            image_id = build.build(self.docker, request, on_line, ctx.cancellation)
            return ('built %s%s' % (image_id[:19], ' as ' + ', '.join(request.tags) if request.tags else ''),
                    {'image_id': image_id, 'tags': list(request.tags)})

        return (request.tags[0] if request.tags else request.context), dict(request._asdict()), work

    def _transfer_work(self, direction: str, ref, job_id: str, gh, run):
        publisher = self.push_pub if direction == 'push' else self.pull_pub
        feedback_class = msg.PushFeedback if direction == 'push' else msg.PullFeedback
        image = str(ref)

        def publish(snapshot) -> None:
            progress = convert.transfer_progress(job_id, image, direction, snapshot)
            if progress.done:
                with self._goals_lock:
                    self._final_progress[job_id] = progress
            publisher.publish(progress)
            gh.publish_feedback(feedback_class(progress=progress))

        def work(ctx: JobContext) -> Tuple[str, Dict[str, Any]]:
            tracker = TransferTracker()
            limiter = RateLimiter(self.settings.progress_rate_hz)
            statuses: Dict[str, str] = {}

            def on_progress(tracker_now: TransferTracker, status) -> None:
                if status:
                    ctx.log(status, 'status')
                for layer in tracker_now.changed_layers(statuses):
                    ctx.log('%s: %s' % (layer.id, layer.status), 'status')
                if limiter.ready():
                    snapshot = tracker_now.snapshot()
                    ctx.progress(snapshot.percent)
                    publish(snapshot)

            try:
                message, result = run(tracker, on_progress, ctx)
            except ImageManagerError as exc:
                tracker.finish(self._scrub(str(exc)) or 'failed')
                limiter.wait()
                publish(tracker.snapshot())
                raise
            tracker.finish()
            # The last message always goes out, but not as one more than progress_rate_hz in its second.
            limiter.wait()
            publish(tracker.snapshot())
            return message, result

        return work

    def _prepare_push(self, goal, job_id: str, gh):
        ref = transfer.check_push(self.policy, goal.image)

        def run(tracker, on_progress, ctx):
            outcome = transfer.push(self.docker, ref, self.credentials, tracker, on_progress, ctx.cancellation,
                                    self.settings.push_retries, self.settings.push_retry_backoff_s)
            return ('pushed %s (%s)' % (ref, outcome.digest),
                    {'digest': outcome.digest, 'size': outcome.size})

        return str(ref), {'image': str(ref)}, self._transfer_work('push', ref, job_id, gh, run)

    def _prepare_pull(self, goal, job_id: str, gh):
        ref = transfer.check_pull(self.policy, goal.image)

        def run(tracker, on_progress, ctx):
            outcome = transfer.pull(self.docker, ref, self.credentials, tracker, on_progress, ctx.cancellation)
            return ('%s %s (%s)' % ('image is up to date:' if outcome.up_to_date else 'pulled', ref,
                                    outcome.image_id[:19]),
                    {'image_id': outcome.image_id, 'digest': outcome.digest})

        return str(ref), {'image': str(ref)}, self._transfer_work('pull', ref, job_id, gh, run)

    # -- job listener ---------------------------------------------------------------------------------------

    def on_state(self, job) -> None:
        self.jobs_pub.publish(convert.job_status(job))
        if job.active:
            return
        if job.kind == 'build':
            # Through the line queue, behind the job's last lines: a client sees every line before the result.
            self._lines.put((job.job_id, job))
        else:
            self._end_goal(job)

    def _end_goal(self, job: Job) -> None:
        """Give the job's goal (if it came from an action) its result and final state."""
        with self._goals_lock:
            entry = self._goals.pop(job.job_id, None)
            final_progress = self._final_progress.pop(job.job_id, None)
            if entry is not None:
                self._goal_jobs.pop(entry[0].get_goal_id().id, None)
        if entry is None:
            return
        gh, result_class = entry
        fields = {k: v for k, v in job.result.items() if k in result_class.__slots__}
        if final_progress is not None and 'progress' in result_class.__slots__:
            fields['progress'] = final_progress
        result = result_class(success=job.state == SUCCEEDED, message=job.message, job_id=job.job_id, **fields)
        if job.state == SUCCEEDED:
            gh.set_succeeded(result, job.message)
        elif job.state == CANCELLED:
            gh.set_canceled(result, job.message)
        else:
            gh.set_aborted(result, job.message)

    def on_log(self, job, record: LogRecord) -> None:
        if job.kind != 'build':
            return
        try:
            self._lines.put_nowait((job.job_id, record))
        except queue.Full:
            self._dropped_lines += 1

    def _publish_lines(self) -> None:
        """Publishes build lines off the stream-reading thread, so a slow network never slows a build."""
        while True:
            job_id, record = self._lines.get()
            if isinstance(record, Job):
                self._end_goal(record)
                continue
            log = msg.BuildLog(job_id=job_id, step=record.step, total_steps=record.total, stream=record.stream,
                               line=record.text)
            log.header.stamp = rospy.Time.now()
            self.build_log_pub.publish(log)
            with self._goals_lock:
                entry = self._goals.get(job_id)
            if entry is not None and entry[0].get_goal_status().status == GoalStatus.ACTIVE:
                entry[0].publish_feedback(msg.BuildFeedback(job_id=job_id, step=record.step,
                                                            total_steps=record.total, line=record.text))

    # -- status for rviz and /diagnostics ---------------------------------------------------------------------

    def _publish_marker(self) -> None:
        active = self.jobs.active()
        marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns='docker_image_manager', id=0)
        marker.header.frame_id = self.settings.status_frame
        marker.header.stamp = rospy.Time.now()
        marker.pose.position.z = 1.0
        marker.pose.orientation.w = 1.0
        marker.scale.z = 0.15
        marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
        marker.text = '\n'.join('%s %s %s %.0f%%' % (job.kind, job.target, job.state, job.percent)
                                for job in active) or 'docker: idle'
        self.marker_pub.publish(marker)

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(name='%s: docker' % rospy.get_name(), hardware_id=socket.gethostname())
        active = self.jobs.active()
        values = [('running_jobs', str(sum(1 for job in active if job.state == 'running'))),
                  ('queued_jobs', str(sum(1 for job in active if job.state == 'queued'))),
                  ('docker_url', self.settings.docker_url),
                  # Lines a slow network made the node drop from ~build_log (the job logs keep every line).
                  ('build_log_lines_dropped', str(self._dropped_lines))]
        try:
            client = connect(self.settings.docker_url, timeout=5)
            try:
                version = client.version()
                info = client.info()
            finally:
                client.close()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            self._forget_client()
            status.level = DiagnosticStatus.ERROR
            status.message = unreachable_message(self.settings.docker_url, exc)
            values.insert(0, ('daemon', 'unreachable'))
        else:
            root = info.get('DockerRootDir') or '/var/lib/docker'
            free = _free_bytes(root)
            if not self._cache_warmed:
                self._cache_warmed = True
                threading.Thread(target=self._warm_layer_cache, name='layer-cache', daemon=True).start()
            values[:0] = [('daemon', 'reachable'), ('engine_version', version.get('Version', '')),
                          ('api_version', version.get('ApiVersion', '')), ('docker_root_dir', root),
                          ('free_disk_bytes', str(free) if free >= 0 else 'unknown')]
            if 0 <= free < self.settings.low_disk_warn_gb * 1e9:
                status.level = DiagnosticStatus.WARN
                status.message = 'only %.1f GB free in %s' % (free / 1e9, root)
            else:
                status.level = DiagnosticStatus.OK
                status.message = 'Docker %s reachable%s' % (version.get('Version', '?'), (
                    ', %.1f GB free' % (free / 1e9)) if free >= 0 else '')
        status.values = [KeyValue(key=k, value=v) for k, v in values]
        array = DiagnosticArray(status=[status])
        array.header.stamp = rospy.Time.now()
        self.diag_pub.publish(array)

    def shutdown(self) -> None:
        for timer in self._timers:
            timer.shutdown()
        self.jobs.shutdown()


class _LazyClient:
    """Stands for a Docker client made by ``connect()`` on its first use (each attribute asks for it anew)."""

    def __init__(self, connect: Callable[[], Any]):
        self._connect = connect

    def __getattr__(self, name: str):
        return getattr(self._connect(), name)


class _FailedWithFields(ImageManagerError):
    """A failed service call that still answers some fields (a failed commit names its job)."""

    def __init__(self, message: str, fields: Dict[str, Any]):
        super().__init__(message)
        self.fields = fields


def _free_bytes(path: str) -> int:
    try:
        stat = os.statvfs(path)
    except OSError:
        return -1
    return stat.f_bavail * stat.f_frsize


def main(argv=None) -> None:
    rospy.init_node('docker_image_manager', argv=argv)
    settings = settings_module.load(rospy.get_param)
    node = ImageManagerNode(settings)
    rospy.on_shutdown(node.shutdown)
    rospy.loginfo('docker_image_manager ready (docker %s, state in %s)', settings.docker_url, settings.state_dir)
    rospy.spin()
