"""The widget offscreen against a real node: push to a registry, build, failures, jobs, layers, robots.

Set ``DIM_SCREENSHOT=/path.png`` to keep the picture of the window taken in the middle of a push
(docs/screenshot_push.png is made that way).
"""
from __future__ import annotations

import os

import pytest

from qt_helpers import process_until
from stack import make_context

SCREENSHOT = os.environ.get('DIM_SCREENSHOT', '')


@pytest.fixture
def gui(qapp, rospy_client):
    """Make widgets on a ClientPool; shuts them and the pool down after the test."""
    from docker_image_manager.client import ClientPool
    from docker_image_manager.rqt.widget import ImageManagerWidget

    pool = ClientPool()
    made = []

    def make(node=None):
        widget = ImageManagerWidget(pool, node=node, popup_errors=False)
        widget.resize(1400, 900)
        widget.show()
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.shutdown()
        widget.close()
    pool.close()


def shown(qapp, widget, node, count=1):
    """Find robots until ``count`` are listed, then wait until ``node`` is shown with its lists and topics."""
    # start_node waits for list_images; the node registers the rest of its contract a moment later.
    for _ in range(100):
        widget.rescan()
        # Generous: on a busy Docker daemon listing images can take long.
        process_until(qapp, widget.idle, timeout=120, what='the robots to be found')
        if widget.node_combo.count() >= count and widget.node is not None:
            break
    process_until(qapp, lambda: widget.node == node.name and widget.idle() and len(widget._subscriptions) == 4
                  and widget.images_table.rowCount() > 0, timeout=120, what='the robot to be shown')


def settle(qapp, widget, start, timeout=180.0):
    """Call ``start()`` (which sends one goal), wait until that goal ended and the widget showed its end."""
    before, errors = len(widget.goals), len(widget.errors)

    def sending_failed():
        return len(widget.errors) > errors and widget.errors[-1].startswith('Starting the ')

    start()
    process_until(qapp, lambda: len(widget.goals) > before and widget.goals[before] in widget.settled
                  or sending_failed(), timeout=timeout, what='the goal to end')
    assert len(widget.goals) > before, 'no goal was sent: %s' % widget.errors
    return widget.goals[before]


def test_push_from_the_dialog_fills_the_bars_to_100(qapp, gui, start_node, docker_api, base_image, registry,
                                                    prefix, cleanup, tmp_path):
    ref = cleanup.image(registry.ref(prefix + '/wpush', '1'))
    docker_api.tag(base_image, ref.rsplit(':', 1)[0], '1')
    node = start_node(ns='guip')
    widget = gui()
    shown(qapp, widget, node)
    assert widget.select_image(ref)
    dialog = widget.on_push_clicked()  # what the Push… button does
    assert dialog.image.text() == ref
    handle = settle(qapp, widget, dialog.accept)
    assert handle.succeeded, handle.message
    view = widget.transfer_view
    assert view.current_job == handle.job_id
    assert view.overall_percent() == 100.0
    bars = view.layer_percents()
    assert len(bars) == len(docker_api.inspect_image(ref)['RootFS']['Layers'])
    assert set(bars.values()) == {100}
    assert widget.bottom_tabs.currentWidget() is view
    digest = registry.manifest_digest(prefix + '/wpush', '1')
    assert digest and handle.result.digest == digest
    assert widget.infos[-1].startswith('Push of %s succeeded: %s' % (ref, digest))


def test_big_push_shows_rate_and_can_be_cancelled(qapp, gui, start_node, base_image, registry, prefix, cleanup,
                                                  tmp_path):
    context = make_context(tmp_path / 'big', 'FROM %s\nRUN dd if=/dev/urandom of=/blob bs=1M count=300\n' % base_image)
    node = start_node(ns='guic', params={'allowed_context_roots': [str(tmp_path)]})
    ref = cleanup.image(registry.ref(prefix + '/wbig', '1'))
    widget = gui()
    shown(qapp, widget, node)
    assert settle(qapp, widget, lambda: widget.start_build(str(context), tags=[ref])).succeeded
    process_until(qapp, lambda: widget.select_image(ref), what='the built image in the table')

    pushes = len(widget.goals)
    widget.on_push_clicked().accept()
    view = widget.transfer_view
    process_until(qapp, lambda: 5.0 < view.overall_percent() < 90.0 and 'ETA' in view.overall_label.text(),
                  timeout=120, what='the push to be under way')
    picture = widget.window().grab()
    path = SCREENSHOT or str(tmp_path / 'push.png')
    assert picture.save(path)
    assert os.path.getsize(path) > 10000
    assert '/s' in view.overall_label.text()  # a rate

    process_until(qapp, lambda: len(widget.goals) > pushes, what='the push handle')
    handle = widget.goals[pushes]
    widget.cancel_button.click()
    process_until(qapp, lambda: handle in widget.settled, timeout=60, what='the push to end')
    assert handle.state == 'cancelled', handle.message
    assert widget.infos[-1].startswith('Push of %s cancelled' % ref)
    assert view.overall_label.text().startswith('Failed: ')
    assert registry.manifest_digest(prefix + '/wbig', '1') is None


def test_build_fills_the_log_and_a_failure_shows_its_message(qapp, gui, start_node, docker_api, base_image,
                                                              prefix, cleanup, tmp_path):
    good = tmp_path / 'good'
    good.mkdir()
    (good / 'Dockerfile').write_text('FROM %s\nRUN echo widget-build-marker\n' % base_image)
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'Dockerfile').write_text('FROM %s\nRUN echo going-to-fail && exit 7\n' % base_image)
    node = start_node(ns='guib', params={'allowed_context_roots': [str(tmp_path)]})
    widget = gui()
    shown(qapp, widget, node)

    tag = cleanup.image(prefix + '-wbuild:1')
    dialog = widget.on_build_clicked()
    dialog.context.setText(str(good))
    dialog.tags.setText(tag)
    dialog.no_cache.setChecked(True)
    handle = settle(qapp, widget, dialog.accept)
    assert handle.succeeded, handle.message
    lines = widget.log_view.lines(handle.job_id)
    assert 'widget-build-marker' in lines
    assert lines[0].startswith('Step 1/2')
    assert lines[-1] == 'Build succeeded: %s' % docker_api.inspect_image(tag)['Id']
    assert widget.log_view.current_job == handle.job_id
    assert 'widget-build-marker' in widget.log_view.text.toPlainText()
    process_until(qapp, lambda: widget.select_image(tag), what='the new image in the table')

    handle = settle(qapp, widget, lambda: widget.start_build(str(bad), tags=[prefix + '-wbad:1']))
    assert handle.state == 'failed'
    assert 'returned a non-zero code: 7' in widget.errors[-1]
    assert widget.errors[-1] == widget.status_label.text()
    errors = widget.log_view.error_lines(handle.job_id)
    assert errors and 'returned a non-zero code: 7' in errors[-1]
    assert 'going-to-fail' in widget.log_view.lines(handle.job_id)

    # The same message for a goal the node rejects at once (a context outside the allowed roots).
    handle = settle(qapp, widget, lambda: widget.start_build('/etc', tags=[prefix + '-wnope:1']))
    assert handle.state == 'rejected'
    assert widget.errors[-1].startswith('Build of %s rejected: ' % (prefix + '-wnope:1'))


def test_failing_push_shows_the_nodes_message(qapp, gui, start_node, registry, prefix):
    node = start_node(ns='guif')
    widget = gui()
    shown(qapp, widget, node)
    missing = registry.ref(prefix + '/not-here', '1')
    handle = settle(qapp, widget, lambda: widget.start_push(missing))
    assert not handle.succeeded
    assert widget.errors[-1].startswith('Push of %s ' % missing)
    assert handle.message in widget.errors[-1] and handle.message


def test_layers_jobs_and_their_logs(qapp, gui, start_node, docker_api, base_image, prefix, cleanup):
    node = start_node(ns='guij')
    box = docker_api.create_container(base_image, ['sh', '-c', 'echo x > /x'], name=prefix + '-wbox')
    cleanup.container(box['Id'])
    widget = gui()
    shown(qapp, widget, node)
    assert widget.select_image(base_image)
    layers = docker_api.inspect_image(base_image)['RootFS']['Layers']
    process_until(qapp, lambda: widget.layers_table.rowCount() == len(layers), what='the layers of the image')
    assert widget.layers_table.item(0, 4).text() == layers[0][len('sha256:'):][:12]

    process_until(qapp, lambda: widget.select_container(prefix + '-wbox'), what='the container')
    target = cleanup.image(prefix + '-wcommit:1')
    dialog = widget.on_commit_clicked()
    assert dialog.container.text() == prefix + '-wbox'
    dialog.target.setText(target)
    dialog.message.setText('from the widget')
    dialog.accept()
    process_until(qapp, lambda: widget.infos and widget.infos[-1].startswith('Committed'), what='the commit')
    assert docker_api.inspect_image(target)['Comment'] == 'from the widget'

    process_until(qapp, lambda: widget.jobs_table.rowCount() >= 1, what='the commit job in the list')
    job_id = widget.jobs_table.item(0, 0).text()
    assert widget.jobs_table.item(0, 1).text() == 'commit'
    widget.open_job_log(job_id)
    process_until(qapp, lambda: widget.log_dialogs, what='the job log window')
    assert widget.log_dialogs[-1].job_id == job_id
    assert 'commit' in widget.log_dialogs[-1].summary.text()

    widget.tag_image(target, prefix + '-wcommit:2')
    cleanup.image(prefix + '-wcommit:2')
    process_until(qapp, lambda: widget.infos[-1].startswith('Tagged'), what='the tag')
    widget.remove_image(prefix + '-wcommit:2')
    process_until(qapp, lambda: widget.infos[-1].startswith('Removed'), what='the removal')
    tags = [t for image in docker_api.images() for t in image.get('RepoTags') or []]
    assert prefix + '-wcommit:2' not in tags and target in tags


def test_robot_selector_switches_between_nodes(qapp, gui, start_node):
    first = start_node(ns='guir1')
    second = start_node(ns='guir2')
    widget = gui(node=second.name)
    shown(qapp, widget, second, count=2)
    names = [widget.node_combo.itemText(i) for i in range(widget.node_combo.count())]
    assert names == sorted([first.name, second.name])
    assert widget.node_combo.currentText() == second.name
    widget.node_combo.setCurrentIndex(names.index(first.name))
    widget.node_combo.activated.emit(names.index(first.name))
    process_until(qapp, lambda: widget.node == first.name and widget.idle() and len(widget._subscriptions) == 4,
                  what='the first robot')
    assert all(s.topic.startswith(first.name + '/') for s in widget._subscriptions)
