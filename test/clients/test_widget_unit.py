"""The widget offscreen with a stand-in facade: tables, dialogs, progress bars, log highlighting, errors.

These need no node; tests/clients/test_widget_node.py drives the same widget against a real one.
"""
from __future__ import annotations

import pytest

from qt_helpers import process_until
from client_fakes import FakePool, layer_progress, progress

NODE = '/robot1/docker_image_manager'


@pytest.fixture
def widget(qapp):
    from docker_image_manager.rqt.widget import ImageManagerWidget

    pool = FakePool([NODE, '/robot2/docker_image_manager'])
    w = ImageManagerWidget(pool, popup_errors=False)
    w.resize(1200, 800)
    w.show()
    w.rescan()
    process_until(qapp, lambda: w.images_table.rowCount() == 3 and w.idle(), what='the images table')
    yield w
    w.shutdown()
    w.close()


def test_rescan_lists_robots_and_fills_tables(widget):
    combo = [widget.node_combo.itemText(i) for i in range(widget.node_combo.count())]
    assert combo == [NODE, '/robot2/docker_image_manager']
    assert widget.node == NODE
    refs = sorted(widget.images_table.item(r, 0).text() for r in range(3))
    assert refs == ['<none>:<none>', 'app:latest', 'localhost:5000/app:1']
    assert widget.containers_table.rowCount() == 1
    assert widget.containers_table.item(0, 1).text() == 'worker'
    client = widget.client
    assert sorted(s.topic for s in client.subscriptions) == [
        NODE + '/build_log', NODE + '/jobs', NODE + '/pull_progress', NODE + '/push_progress']


def test_size_column_sorts_by_bytes_not_text(widget):
    from python_qt_binding.QtCore import Qt

    widget.images_table.sortItems(2, Qt.AscendingOrder)
    sizes = [widget.images_table.item(r, 2).text() for r in range(3)]
    assert sizes == ['2MB', '5MB', '5MB']


def test_selecting_an_image_shows_its_layers(widget, qapp):
    assert widget.select_image('localhost:5000/app:1')
    process_until(qapp, lambda: widget.layers_table.rowCount() == 2, what='the layers table')
    texts = {widget.layers_table.item(r, 5).text() for r in range(2)}
    assert [widget.layers_table.item(r, 0).text() for r in range(2)] == ['1', '2']  # base first
    assert 'RUN echo hi > /hi' in texts
    assert 'Layers of localhost:5000/app:1' in widget.layers_label.text()


def test_dialogs_are_prefilled_from_the_selection(widget, qapp):
    widget.select_image('localhost:5000/app:1')
    assert widget.on_push_clicked().image.text() == 'localhost:5000/app:1'
    assert widget.on_tag_clicked().source.text() == 'localhost:5000/app:1'
    assert widget.on_login_clicked().registry.text() == 'localhost:5000'
    assert widget.on_remove_clicked().image.text() == 'localhost:5000/app:1'
    assert widget.on_build_clicked().tags.text() == 'localhost:5000/app:1'
    widget.top_tabs.setCurrentIndex(1)
    widget.select_container('worker')
    dialog = widget.on_commit_clicked()
    assert dialog.container.text() == 'worker'


def test_accepting_a_dialog_calls_the_node(widget, qapp):
    widget.select_image('app:latest')
    dialog = widget.on_tag_clicked()
    dialog.accept()  # target is empty: refused, and says why
    assert dialog.isVisible()
    assert 'Target is required' in dialog.error_label.text()
    dialog.target.setText('app:v2')
    dialog.accept()
    process_until(qapp, lambda: widget.infos and widget.infos[-1] == 'Tagged app:latest as app:v2',
                  what='the tag to be confirmed')
    assert ('tag', 'app:latest', 'app:v2') in widget.client.calls


def test_commit_dialog_passes_every_field(widget, qapp):
    widget.top_tabs.setCurrentIndex(1)
    widget.select_container('worker')
    dialog = widget.on_commit_clicked()
    dialog.target.setText('app:fix')
    dialog.message.setText('hotfix')
    dialog.author.setText('Jane')
    dialog.changes.setPlainText('ENV A=1\n\nCMD ["sh"]\n')
    dialog.no_pause.setChecked(True)
    dialog.accept()
    process_until(qapp, lambda: any(c[0] == 'commit' for c in widget.client.calls), what='the commit call')
    assert ('commit', 'worker', 'app:fix', 'hotfix', 'Jane', ['ENV A=1', 'CMD ["sh"]'], True) in widget.client.calls


def test_login_password_is_not_kept(widget, qapp):
    dialog = widget.on_login_clicked()
    dialog.registry.setText('reg.example:5000')
    dialog.username.setText('me')
    dialog.password.setText('s3cret')
    dialog.accept()
    process_until(qapp, lambda: widget.infos and 'Login Succeeded' in widget.infos[-1], what='the login')
    assert all('s3cret' not in text for text in widget.infos + widget.errors)
    assert 's3cret' not in widget.status_label.text()


def test_node_errors_are_shown_readably(widget, qapp):
    widget.client.fail['remove_image'] = 'conflict: image is used by running container worker; use force'
    widget.remove_image('app:latest')
    process_until(qapp, lambda: widget.errors, what='the error')
    assert widget.errors[-1] == ('Removing app:latest: conflict: image is used by running container worker; '
                                 'use force')
    assert widget.status_label.text() == widget.errors[-1]


def test_cancel_with_nothing_running_says_so(widget):
    widget.cancel()
    assert widget.errors[-1].startswith('Nothing to cancel')


def test_progress_from_the_topic_fills_layer_bars_and_overall_bar(widget, qapp):
    on_progress = widget.client.callbacks['push_progress']
    on_progress(progress('job-1', [layer_progress('aaa', 'Pushing', 25, 100), layer_progress('bbb', 'Waiting', 0, 0)],
                         12.5, rate=1_500_000, eta=42))
    process_until(qapp, lambda: widget.transfer_view.current_job == 'job-1', what='the transfer page')
    view = widget.transfer_view
    assert view.layer_percents() == {'aaa': 25, 'bbb': 0}
    assert view.overall_percent() == 12.5
    assert '1.5MB/s' in view.overall_label.text() and 'ETA 0:42' in view.overall_label.text()
    on_progress(progress('job-1', [layer_progress('aaa', 'Pushed', 100, 100),
                                   layer_progress('bbb', 'Layer already exists', 0, 0)], 100.0, done=True))
    # A late, older message must not undo the end.
    on_progress(progress('job-1', [layer_progress('aaa', 'Pushing', 90, 100)], 90.0))
    process_until(qapp, lambda: view.overall_percent() == 100.0, what='the overall bar at 100%')
    qapp.processEvents()
    assert view.layer_percents() == {'aaa': 100, 'bbb': 100}
    assert view.overall_label.text().startswith('Done: pushed localhost:5000/app:1')


def test_failed_transfer_shows_its_error(widget, qapp):
    widget.client.callbacks['pull_progress'](progress('job-2', [layer_progress('ccc', 'Downloading', 5, 10)], 50.0,
                                                      done=True, error='manifest unknown', direction='pull'))
    process_until(qapp, lambda: widget.transfer_view.progress('job-2') is not None, what='the pull progress')
    widget.transfer_view.show_job('job-2')
    assert widget.transfer_view.overall_label.text() == 'Failed: manifest unknown'


def test_a_push_result_shows_the_last_progress_the_topic_has_not_brought_yet(widget, qapp):
    from types import SimpleNamespace as NS

    widget.client.callbacks['push_progress'](progress('job-3', [layer_progress('aaa', 'Pushing', 10, 100)], 10.0))
    process_until(qapp, lambda: widget.transfer_view.current_job == 'job-3', what='the transfer page')
    final = progress('job-3', [layer_progress('aaa', 'Pushed', 100, 100), layer_progress('bbb', 'Pushed', 50, 50)],
                     100.0, done=True)
    handle = NS(kind='push', node=NODE, job_id='job-3', target='localhost:5000/app:1', succeeded=True,
                message='pushed', state='succeeded', done=True,
                result=NS(progress=final, digest='sha256:' + 'd' * 64, size=150))
    widget._on_goal_done(handle)
    qapp.processEvents()
    view = widget.transfer_view
    assert view.layer_percents() == {'aaa': 100, 'bbb': 100}
    assert view.progress('job-3').bytes_total == 150


def test_build_log_is_per_job_and_highlights_errors(widget, qapp):
    from types import SimpleNamespace as NS

    on_log = widget.client.callbacks['build_log']
    on_log(NS(job_id='b1', stream='stdout', line='Step 1/2 : FROM busybox', step=1, total_steps=2))
    on_log(NS(job_id='b2', stream='stdout', line='other build', step=0, total_steps=0))
    on_log(NS(job_id='b1', stream='error', line="The command '/bin/sh -c false' returned a non-zero code: 1",
              step=2, total_steps=2))
    process_until(qapp, lambda: len(widget.log_view.lines('b1')) == 2, what='the log lines')
    view = widget.log_view
    assert view.jobs() == ['b1', 'b2']
    view.show_job('b1')
    assert view.text.toPlainText().splitlines() == [
        'Step 1/2 : FROM busybox', "The command '/bin/sh -c false' returned a non-zero code: 1"]
    assert view.step_label.text() == 'Step 2/2'
    block = view.text.document().findBlockByNumber(1)
    color = block.begin().fragment().charFormat().foreground().color().name()
    assert color == '#c62828'
    normal = view.text.document().findBlockByNumber(0).begin().fragment().charFormat().foreground().color().name()
    assert normal != '#c62828'
    view.show_job('b2')
    assert view.text.toPlainText() == 'other build'


def test_job_updates_and_job_log_window(widget, qapp):
    from types import SimpleNamespace as NS
    from client_fakes import FakeTime

    job = NS(job_id='j9', kind='push', target='localhost:5000/app:1', state='running', message='', percent=40.0,
             started=FakeTime(1.7e9), finished=FakeTime(0))
    widget.client.callbacks['jobs'](job)
    process_until(qapp, lambda: widget.jobs_table.rowCount() == 1, what='the job row')
    assert widget.jobs_table.item(0, 3).text() == 'running'
    widget.client.callbacks['jobs'](NS(**dict(vars(job), state='succeeded', percent=100.0)))
    process_until(qapp, lambda: widget.jobs_table.item(0, 3).text() == 'succeeded', what='the job update')
    assert widget.jobs_table.rowCount() == 1
    widget.open_job_log('j9')
    process_until(qapp, lambda: widget.log_dialogs, what='the job log window')
    assert widget.log_dialogs[-1].text.toPlainText() == 'Step 1/1 : FROM x\ndone'


def test_switching_robot_unsubscribes_the_old_one(widget, qapp):
    old = widget.client
    widget.set_node('/robot2/docker_image_manager')
    process_until(qapp, lambda: widget.idle() and len(widget.client.subscriptions) == 4, what='the new robot')
    assert all(s.unregistered for s in old.subscriptions)
    assert widget.node == '/robot2/docker_image_manager'
    # A message from the old robot, arriving late, is not shown.
    old.callbacks['push_progress'](progress('late', [], 10.0))
    qapp.processEvents()
    widget.gui.flush()
    assert 'late' not in widget.transfer_view.jobs()


def test_plugin_shell_adds_the_widget_and_unregisters_on_shutdown(qapp, monkeypatch):
    from docker_image_manager.rqt import plugin as plugin_module

    pool = FakePool([NODE])
    monkeypatch.setattr(plugin_module, 'ClientPool', lambda: pool)

    class Context:
        def __init__(self):
            self.widgets = []

        def serial_number(self):
            return 2

        def add_widget(self, w):
            self.widgets.append(w)

    context = Context()
    plugin = plugin_module.ImageManagerPlugin(context)
    assert context.widgets == [plugin.widget]
    assert plugin.widget.windowTitle() == 'Docker Image Manager (2)'
    process_until(qapp, lambda: plugin.widget.node == NODE and len(pool.clients[NODE].subscriptions) == 4,
                  what='the plugin to subscribe')
    plugin.shutdown_plugin()
    assert all(s.unregistered for s in pool.clients[NODE].subscriptions)
    assert pool.closed
