"""The image manager's screen: robots, images, containers, layers, jobs, build logs and transfer progress.

The widget knows Qt and the client facade, nothing of rospy. It takes a pool of facades (one per robot node)
in its constructor. Anything that may block (service calls, sending goals, discovery, subscribing) runs on a
:class:`~.bridge.Worker`; ROS callbacks and results come back through a :class:`~.bridge.GuiQueue` flushed every
100 ms. Every failure ends up in :meth:`show_error`: the status line, :attr:`errors` and (unless disabled) a
non-modal message box.

Each button opens a non-modal dialog pre-filled from the selection; accepting it calls the matching method
(:meth:`start_push`, :meth:`start_pull`, :meth:`start_build`, :meth:`commit`, :meth:`tag_image`, :meth:`login`,
:meth:`remove_image`), which tests and scripts can also call directly.
"""
from __future__ import annotations

import threading
from typing import Callable, List, Optional

from python_qt_binding.QtCore import Qt, QTimer
from python_qt_binding.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QSplitter,
                                         QTabWidget, QVBoxLayout, QWidget)

from docker_image_manager.client.errors import ClientError
from docker_image_manager.client.formatting import format_size, short_id

from . import tables
from .bridge import GuiQueue, Worker
from .dialogs import (BuildDialog, CommitDialog, FormDialog, JobLogDialog, LoginDialog, RemoveDialog, TagDialog,
                      TransferDialog)
from .log_view import BuildLogView
from .transfer_view import TransferView

JOB_HISTORY_LIMIT = 200
# Jobs whose success changes the local image list.
_IMAGE_CHANGING_KINDS = ('build', 'pull', 'commit')
_TERMINAL_JOB_STATES = ('succeeded', 'failed', 'cancelled', 'interrupted')


def registry_of(reference: str) -> str:
    """The registry part of an image reference (``localhost:5000/app:1`` -> ``localhost:5000``), or ''."""
    first, _, rest = reference.partition('/')
    if rest and ('.' in first or ':' in first or first == 'localhost'):
        return first
    return ''


class ImageManagerWidget(QWidget):
    """The whole screen for one robot at a time; the robot selector switches between nodes.

    Args:
        pool: gives the node names (``discover()``) and a facade per node (``get(node)``), e.g.
            :class:`docker_image_manager.client.ClientPool`.
        node: the node to show first (default: the first one discovered).
        popup_errors: also show each error in a non-modal message box.
    """

    def __init__(self, pool, node: Optional[str] = None, parent: Optional[QWidget] = None,
                 popup_errors: bool = True):
        super().__init__(parent)
        self.setObjectName('ImageManagerWidget')
        self._pool = pool
        self._preferred_node = node
        self.popup_errors = popup_errors
        self.node: Optional[str] = None
        self.client = None
        self._subscriptions: List = []
        self._subscription_lock = threading.Lock()
        self._generation = 0
        self.goals: List = []                 # every goal sent from this widget, oldest first
        self.settled: List = []               # the goals whose end is fully shown (log completed, bars final)
        self._focused_jobs = set()
        self._inspect_token = 0
        self._last_context = ''
        self.errors: List[str] = []
        self.infos: List[str] = []
        self.dialog: Optional[FormDialog] = None
        self.message_box: Optional[QMessageBox] = None
        self.log_dialogs: List[JobLogDialog] = []
        self.gui = GuiQueue(self)
        self.worker = Worker(self.gui)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(500)
        self._refresh_timer.timeout.connect(self.refresh_images)
        self._build_ui()

    # -- layout ---------------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.node_combo = QComboBox(self)
        self.node_combo.setMinimumContentsLength(30)
        self.node_combo.setToolTip('docker_image_manager nodes on the ROS master (one per robot)')
        self.rescan_button = QPushButton('Find robots', self)
        self.refresh_button = QPushButton('Refresh', self)
        top = QHBoxLayout()
        top.addWidget(QLabel('Robot:', self))
        top.addWidget(self.node_combo, 1)
        top.addWidget(self.rescan_button)
        top.addWidget(self.refresh_button)

        # Newest first, as `docker images` and `docker ps` list them; layers base first.
        self.images_table = tables.make_table(tables.IMAGE_COLUMNS, self, 3, Qt.DescendingOrder)
        self.layers_label = QLabel('Layers', self)
        self.layers_table = tables.make_table(tables.LAYER_COLUMNS, self)
        layers_box = QWidget(self)
        layers_layout = QVBoxLayout(layers_box)
        layers_layout.setContentsMargins(0, 0, 0, 0)
        layers_layout.addWidget(self.layers_label)
        layers_layout.addWidget(self.layers_table, 1)
        images_split = QSplitter(Qt.Horizontal, self)
        images_split.addWidget(self.images_table)
        images_split.addWidget(layers_box)
        images_split.setStretchFactor(0, 3)
        images_split.setStretchFactor(1, 2)
        self.containers_table = tables.make_table(tables.CONTAINER_COLUMNS, self, 4, Qt.DescendingOrder)
        self.top_tabs = QTabWidget(self)
        self.top_tabs.addTab(images_split, 'Images')
        self.top_tabs.addTab(self.containers_table, 'Containers')

        self.commit_button = QPushButton('Commit…', self)
        self.build_button = QPushButton('Build…', self)
        self.tag_button = QPushButton('Tag…', self)
        self.push_button = QPushButton('Push…', self)
        self.pull_button = QPushButton('Pull…', self)
        self.login_button = QPushButton('Login…', self)
        self.remove_button = QPushButton('Remove…', self)
        self.cancel_button = QPushButton('Cancel', self)
        self.cancel_button.setToolTip('Cancel the selected (or latest) build, push or pull started here')
        buttons = QHBoxLayout()
        for button in (self.commit_button, self.build_button, self.tag_button, self.push_button, self.pull_button,
                       self.login_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)

        self.log_view = BuildLogView(self)
        self.transfer_view = TransferView(self)
        self.jobs_table = tables.make_table(tables.JOB_COLUMNS, self, 5, Qt.DescendingOrder)
        self.jobs_table.setToolTip('Double-click a job to read its whole log')
        self.bottom_tabs = QTabWidget(self)
        self.bottom_tabs.addTab(self.log_view, 'Build log')
        self.bottom_tabs.addTab(self.transfer_view, 'Transfers')
        self.bottom_tabs.addTab(self.jobs_table, 'Jobs')

        split = QSplitter(Qt.Vertical, self)
        top_box = QWidget(self)
        top_layout = QVBoxLayout(top_box)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.top_tabs, 1)
        top_layout.addLayout(buttons)
        split.addWidget(top_box)
        split.addWidget(self.bottom_tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status_label)

        self.node_combo.activated.connect(self._on_node_chosen)
        self.rescan_button.clicked.connect(self.rescan)
        self.refresh_button.clicked.connect(self.refresh)
        self.images_table.itemSelectionChanged.connect(self._on_image_selected)
        self.jobs_table.itemDoubleClicked.connect(self._on_job_double_clicked)
        self.commit_button.clicked.connect(self.on_commit_clicked)
        self.build_button.clicked.connect(self.on_build_clicked)
        self.tag_button.clicked.connect(self.on_tag_clicked)
        self.push_button.clicked.connect(self.on_push_clicked)
        self.pull_button.clicked.connect(self.on_pull_clicked)
        self.login_button.clicked.connect(self.on_login_clicked)
        self.remove_button.clicked.connect(self.on_remove_clicked)
        self.cancel_button.clicked.connect(self.cancel)

    # -- messages -------------------------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        """Tell the user something failed: status line, :attr:`errors` and a non-modal message box."""
        self.errors.append(text)
        self.status_label.setStyleSheet('color: #c62828;')
        self.status_label.setText(text)
        if self.popup_errors:
            if self.message_box is not None:
                self.message_box.close()
            self.message_box = QMessageBox(QMessageBox.Warning, 'Docker Image Manager', text, QMessageBox.Ok, self)
            self.message_box.setModal(False)
            self.message_box.show()

    def show_info(self, text: str) -> None:
        """Tell the user something happened (status line and :attr:`infos`)."""
        self.infos.append(text)
        self.status_label.setStyleSheet('')
        self.status_label.setText(text)

    def _failed(self, what: str) -> Callable[[BaseException], None]:
        def report(exc: BaseException) -> None:
            if isinstance(exc, (ClientError, ValueError)):
                self.show_error('%s: %s' % (what, exc))
            else:
                self.show_error('%s failed unexpectedly: %s: %s' % (what, type(exc).__name__, exc))
        return report

    def idle(self) -> bool:
        """True when no call is running on the worker (tests wait on this)."""
        return self.worker.busy == 0

    # -- robots -------------------------------------------------------------------------------------------

    def rescan(self) -> None:
        """Find the docker_image_manager nodes on the master and fill the robot selector."""
        self.worker.run(self._pool.discover, self._on_nodes, self._failed('Finding robots'))

    def _on_nodes(self, nodes: List[str]) -> None:
        current = self.node
        self.node_combo.clear()
        for node in nodes:
            self.node_combo.addItem(node)
        wanted = self._preferred_node or current
        if wanted and wanted not in nodes:
            self.node_combo.addItem(wanted)
        if wanted:
            self.set_node(wanted)
        elif nodes:
            self.set_node(nodes[0])
        else:
            self.show_error('No docker_image_manager node runs on the ROS master; start one with '
                            '`roslaunch docker_image_manager image_manager.launch`, then press Find robots')
            return
        if len(nodes) > 1:
            self.show_info('%d robots found; showing %s' % (len(nodes), self.node))

    def _on_node_chosen(self, index: int) -> None:
        self.set_node(self.node_combo.itemText(index))

    def set_node(self, node: str) -> None:
        """Show the robot whose node is ``node``: subscribe to its topics and load its lists."""
        try:
            client = self._pool.get(node)
        except (ClientError, ValueError) as exc:
            self.show_error('Cannot use %s: %s' % (node, exc))
            return
        self._preferred_node = None
        if self.node_combo.findText(client.node) < 0:
            self.node_combo.addItem(client.node)
        self.node_combo.setCurrentIndex(self.node_combo.findText(client.node))
        if client is self.client:
            self.refresh()
            return
        self._unsubscribe()
        self.node, self.client = client.node, client
        self.images_table.setRowCount(0)
        self.containers_table.setRowCount(0)
        self.layers_table.setRowCount(0)
        self.jobs_table.setRowCount(0)
        self.log_view.clear()
        self.transfer_view.clear()
        generation = self._generation
        self.worker.run(lambda: self._subscribe(client, generation), None, self._failed('Subscribing'))
        self.refresh()

    def _subscribe(self, client, generation: int) -> None:
        # Runs on a worker (registering with the master blocks). Callbacks run on rospy threads: they only queue;
        # the node name guards against a late message from the robot shown before.
        node = client.node

        def on_log(msg):
            self.gui.post(self._on_build_log, node, msg)

        def on_progress(msg):
            # Not coalesced: the node already rate-limits, and a job's final `done` message must never be dropped.
            self.gui.post(self._on_progress, node, msg)

        def on_job(msg):
            self.gui.post(self._on_job, node, msg)

        subscriptions = [client.subscribe_build_log(on_log), client.subscribe_push_progress(on_progress),
                         client.subscribe_pull_progress(on_progress), client.subscribe_jobs(on_job)]
        with self._subscription_lock:
            if generation == self._generation:
                self._subscriptions.extend(subscriptions)
                return
        # The robot was switched (or the widget shut down) while subscribing.
        for subscription in subscriptions:
            subscription.unregister()

    def _unsubscribe(self) -> None:
        with self._subscription_lock:
            self._generation += 1
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.unregister()

    # -- lists ------------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload images, containers and jobs of the current robot."""
        if self.client is None:
            self.rescan()
            return
        self.refresh_images()
        client, node = self.client, self.node
        self.worker.run(lambda: client.list_containers(all=True).containers,
                        lambda containers: self._guarded(node, tables.fill_containers, self.containers_table,
                                                         containers),
                        self._failed('Listing containers'))
        self.worker.run(lambda: client.list_jobs(limit=JOB_HISTORY_LIMIT).jobs,
                        lambda jobs: self._guarded(node, tables.fill_jobs, self.jobs_table, jobs),
                        self._failed('Listing jobs'))

    def refresh_images(self) -> None:
        if self.client is None:
            return
        client, node = self.client, self.node
        self.worker.run(lambda: client.list_images().images, lambda images: self._guarded(node, self._fill_images,
                                                                                          images),
                        self._failed('Listing images'))

    def _guarded(self, node: str, fn: Callable, *args) -> None:
        if node == self.node:
            fn(*args)

    def _fill_images(self, images) -> None:
        selected = self.selected_image_ref()
        tables.fill_images(self.images_table, images)
        if selected:
            tables.select_row(self.images_table, selected, tables.REF_ROLE)

    def selected_image_ref(self) -> str:
        """The selected image's repo:tag (or short id when untagged), '' when none is selected."""
        return tables.selected_data(self.images_table, tables.REF_ROLE) or ''

    def selected_container(self) -> str:
        """The selected container's name, '' when none is selected."""
        return tables.selected_data(self.containers_table, tables.REF_ROLE) or ''

    def select_image(self, reference: str) -> bool:
        """Select the row of ``reference`` (repo:tag or full id); True when found."""
        return tables.select_row(self.images_table, reference, tables.REF_ROLE) or \
            tables.select_row(self.images_table, reference, tables.ID_ROLE)

    def select_container(self, name: str) -> bool:
        return tables.select_row(self.containers_table, name, tables.REF_ROLE) or \
            tables.select_row(self.containers_table, name, tables.ID_ROLE)

    def _on_image_selected(self) -> None:
        image_id = tables.selected_data(self.images_table, tables.ID_ROLE)
        if not image_id or self.client is None:
            return
        self._inspect_token += 1
        token, client, ref = self._inspect_token, self.client, self.selected_image_ref()
        self.layers_label.setText('Layers of %s (loading…)' % ref)

        def shown(response) -> None:
            if token == self._inspect_token:
                tables.fill_layers(self.layers_table, response.layers)
                self.layers_label.setText('Layers of %s (%d, base first)' % (ref, len(response.layers)))

        self.worker.run(lambda: client.inspect_image(image_id), shown, self._failed('Inspecting %s' % ref))

    # -- topics -------------------------------------------------------------------------------------------------

    def _on_build_log(self, node: str, msg) -> None:
        if node == self.node:
            self.log_view.append(msg.job_id, msg.stream, msg.line, msg.step, msg.total_steps)

    def _on_progress(self, node: str, msg) -> None:
        if node == self.node:
            self.transfer_view.update_progress(msg)

    def _on_job(self, node: str, job) -> None:
        if node != self.node:
            return
        tables.upsert_job(self.jobs_table, job)
        if job.state == 'succeeded' and job.kind in _IMAGE_CHANGING_KINDS:
            self._refresh_timer.start()

    def _on_job_double_clicked(self, item) -> None:
        job_id = item.data(tables.ID_ROLE)
        if job_id:
            self.open_job_log(job_id)

    def open_job_log(self, job_id: str) -> None:
        """Fetch a job's whole log (``~get_job_log``) and show it in a window (kept in :attr:`log_dialogs`)."""
        if self.client is None:
            self.show_error('No robot selected')
            return
        client = self.client

        def shown(response) -> None:
            dialog = JobLogDialog(job_id, list(response.lines), response.job, self)
            self.log_dialogs.append(dialog)
            dialog.show()

        self.worker.run(lambda: client.get_job_log(job_id), shown, self._failed('Reading the log of %s' % job_id))

    # -- goals ----------------------------------------------------------------------------------------------------

    def _require_client(self) -> bool:
        if self.client is None:
            self.show_error('No robot selected: press Find robots and choose one')
            return False
        return True

    def start_push(self, image: str) -> None:
        """Push ``image`` (repo:tag) from the robot; progress shows in the Transfers tab."""
        self._start_transfer('push', image)

    def start_pull(self, image: str) -> None:
        """Pull ``image`` onto the robot; progress shows in the Transfers tab."""
        self._start_transfer('pull', image)

    def _start_transfer(self, direction: str, image: str) -> None:
        if not self._require_client():
            return
        client = self.client
        send = client.push if direction == 'push' else client.pull

        def on_feedback(feedback) -> None:
            self.gui.post(self._on_own_progress, client.node, feedback.progress)

        self.worker.run(lambda: send(image, feedback_cb=on_feedback, done_cb=self._goal_done_cb),
                        self._on_goal_sent, self._failed('Starting the %s of %s' % (direction, image)))

    def start_build(self, context: str, dockerfile: str = '', tags=(), build_args=(), labels=(),
                    no_cache: bool = False, pull: bool = False, target: str = '') -> None:
        """Build on the robot (same fields as the Build goal); the log shows in the Build log tab."""
        if not self._require_client():
            return
        client = self.client
        self._last_context = context
        fields = {'context': context, 'dockerfile': dockerfile, 'tags': list(tags), 'build_args': list(build_args),
                  'labels': list(labels), 'no_cache': no_cache, 'pull': pull, 'target': target}

        def on_feedback(feedback) -> None:
            if feedback.job_id:
                self.gui.post_latest(('own-build', feedback.job_id), self._on_own_build_feedback, client.node,
                                     feedback.job_id)

        self.worker.run(lambda: client.build(fields, feedback_cb=on_feedback, done_cb=self._goal_done_cb),
                        self._on_goal_sent, self._failed('Starting the build of %s' % context))

    def _goal_done_cb(self, handle) -> None:
        self.gui.post(self._on_goal_done, handle)

    def _on_goal_sent(self, handle) -> None:
        self.goals.append(handle)
        if not handle.done:
            self.show_info('%s of %s started' % (handle.kind.capitalize(), handle.target))

    def _focus(self, job_id: str, tab: QWidget) -> bool:
        if job_id in self._focused_jobs:
            return False
        self._focused_jobs.add(job_id)
        self.bottom_tabs.setCurrentWidget(tab)
        return True

    def _on_own_progress(self, node: str, progress) -> None:
        if node != self.node:
            return
        self.transfer_view.update_progress(progress)
        if progress.job_id and self._focus(progress.job_id, self.transfer_view):
            self.transfer_view.show_job(progress.job_id)

    def _on_own_build_feedback(self, node: str, job_id: str) -> None:
        if node == self.node and self._focus(job_id, self.log_view):
            self.log_view.show_job(job_id)

    def _on_goal_done(self, handle) -> None:
        job_id = handle.job_id
        if handle.node != self.node:
            # Sent to the robot shown before: its pages are gone, only say how it ended.
            job_id = ''
        if handle.kind in ('push', 'pull') and job_id:
            final = getattr(handle.result, 'progress', None)
            if final is not None and final.done:
                self.transfer_view.update_progress(final)  # in case its last message on the topic is late
            self.transfer_view.finish(job_id, handle.kind, handle.target,
                                      '' if handle.succeeded else handle.message)
            if self._focus(job_id, self.transfer_view):
                self.transfer_view.show_job(job_id)
        elif handle.kind == 'build' and job_id:
            self._complete_build_log(handle)
        if handle.kind != 'build' or not job_id:
            self.settled.append(handle)
        summary = '%s of %s' % (handle.kind.capitalize(), handle.target)
        if handle.node != self.node:
            summary += ' on %s' % handle.node
        if handle.succeeded:
            result = handle.result
            detail = ''
            if handle.kind == 'push':
                detail = ': %s (%s)' % (result.digest, format_size(result.size))
            elif handle.kind in ('pull', 'build'):
                detail = ': %s' % short_id(result.image_id)
            self.show_info('%s succeeded%s' % (summary, detail))
            self.refresh()
        elif handle.state == 'cancelled':
            self.show_info('%s cancelled: %s' % (summary, handle.message))
        else:
            self.show_error('%s %s: %s' % (summary, handle.state, handle.message))

    def _complete_build_log(self, handle) -> None:
        """After a build, fill in any line the topic missed from the job's stored log, then say how it ended."""
        job_id, client = handle.job_id, self.client
        if self._focus(job_id, self.log_view):
            self.log_view.show_job(job_id)

        def ending():
            if handle.succeeded:
                return ('status', 'Build succeeded: %s' % handle.result.image_id)
            return ('error', 'Build %s: %s' % (handle.state, handle.message))

        def merge(response) -> None:
            # The node writes a job's log before it ends the goal, so this copy is complete; the topic's lines
            # may still be on their way (they are published apart from the build) and would come after the end.
            entries = self.log_view.entries(job_id)
            if len(response.lines) > len(entries):
                errors = {line for stream, line in entries if stream == 'error'}
                entries = [('error' if line in errors else 'stdout', line) for line in response.lines]
            self.log_view.close(job_id, entries + [ending()])
            self.settled.append(handle)

        def unavailable(_exc) -> None:
            self.log_view.append(job_id, *ending())
            self.log_view.close(job_id)
            self.settled.append(handle)

        if client is None:
            unavailable(None)
        else:
            self.worker.run(lambda: client.get_job_log(job_id), merge, unavailable)

    def active_goals(self) -> List:
        return [handle for handle in self.goals if not handle.done]

    def cancel(self) -> None:
        """Cancel the build, push or pull selected (jobs list, or the job shown) if started here, else the latest."""
        active = self.active_goals()
        if not active:
            self.show_error('Nothing to cancel: no build, push or pull started from this window is running')
            return
        by_job = {handle.job_id: handle for handle in active if handle.job_id}
        candidates = [tables.selected_data(self.jobs_table, tables.ID_ROLE)]
        shown = self.bottom_tabs.currentWidget()
        if shown is self.transfer_view:
            candidates.append(self.transfer_view.current_job)
        elif shown is self.log_view:
            candidates.append(self.log_view.current_job)
        handle = next((by_job[job] for job in candidates if job in by_job), active[-1])
        handle.cancel()
        self.show_info('Cancelling the %s of %s…' % (handle.kind, handle.target))

    # -- services -------------------------------------------------------------------------------------------

    def commit(self, container: str, target: str = '', message: str = '', author: str = '', changes=(),
               no_pause: bool = False) -> None:
        """Commit ``container`` into a new image (``target`` repo[:tag], empty = untagged)."""
        if not self._require_client():
            return
        client = self.client

        def done(response) -> None:
            self.show_info('Committed %s as %s' % (container, target or short_id(response.image_id)))
            self.refresh()

        self.worker.run(lambda: client.commit(container, target, message, author, list(changes), no_pause), done,
                        self._failed('Committing %s' % container))

    def tag_image(self, source: str, target: str) -> None:
        """Tag ``source`` as ``target``."""
        if not self._require_client():
            return
        client = self.client

        def done(_response) -> None:
            self.show_info('Tagged %s as %s' % (source, target))
            self.refresh_images()

        self.worker.run(lambda: client.tag(source, target), done, self._failed('Tagging %s' % source))

    def login(self, registry: str, username: str, password: str) -> None:
        """Log the robot in to ``registry`` (empty = Docker Hub); the password is not kept."""
        if not self._require_client():
            return
        client = self.client
        where = registry or 'Docker Hub'
        self.worker.run(lambda: client.login(registry, username, password),
                        lambda response: self.show_info(response.message or 'Logged in to %s' % where),
                        self._failed('Logging in to %s' % where))

    def remove_image(self, image: str, force: bool = False, prune_dangling: bool = False) -> None:
        """Remove ``image`` from the robot."""
        if not self._require_client():
            return
        client = self.client

        def done(response) -> None:
            self.show_info('Removed %s (%s reclaimed)' % (image, format_size(response.reclaimed_bytes, 3)))
            self.refresh_images()

        self.worker.run(lambda: client.remove_image(image, force, prune_dangling), done,
                        self._failed('Removing %s' % image))

    # -- buttons ----------------------------------------------------------------------------------------------

    def _open(self, dialog: FormDialog, action: Callable) -> FormDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.accepted.connect(lambda: action(**dialog.values()))
        dialog.open()
        return dialog

    def on_commit_clicked(self) -> FormDialog:
        return self._open(CommitDialog(self.selected_container(), self), self.commit)

    def on_build_clicked(self) -> FormDialog:
        return self._open(BuildDialog(self._last_context, self.selected_image_ref(), self), self.start_build)

    def on_tag_clicked(self) -> FormDialog:
        return self._open(TagDialog(self.selected_image_ref(), self), self.tag_image)

    def on_push_clicked(self) -> FormDialog:
        return self._open(TransferDialog('push', self.selected_image_ref(), self), self.start_push)

    def on_pull_clicked(self) -> FormDialog:
        return self._open(TransferDialog('pull', self.selected_image_ref(), self), self.start_pull)

    def on_login_clicked(self) -> FormDialog:
        return self._open(LoginDialog(registry_of(self.selected_image_ref()), self), self.login)

    def on_remove_clicked(self) -> FormDialog:
        return self._open(RemoveDialog(self.selected_image_ref(), self), self.remove_image)

    # -- life cycle -----------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop timers, unsubscribe and let running calls finish in the background (goals keep running)."""
        self._refresh_timer.stop()
        self.gui.stop()
        self._unsubscribe()
        self.worker.shutdown()
        for window in [self.dialog, self.message_box] + self.log_dialogs:
            if window is not None:
                window.close()
