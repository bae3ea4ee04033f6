"""Sortable tables of images, containers, layers and jobs.

Each ``fill_*`` function rewrites one QTableWidget from messages; cells sort by a key kept in the item
(bytes for sizes, seconds for times) rather than by the text shown.
"""
from __future__ import annotations

import time
from typing import List, Optional, Sequence

from python_qt_binding.QtCore import Qt
from python_qt_binding.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from docker_image_manager.client.formatting import format_ago, format_size, short_id

ID_ROLE = Qt.UserRole          # the full id (image, container, job) of the row
REF_ROLE = Qt.UserRole + 1     # the image reference (repo:tag) of an images row
SORT_ROLE = Qt.UserRole + 2    # what the column sorts by

IMAGE_COLUMNS = ['Repository:Tag', 'Image ID', 'Size', 'Created', 'Layers']
CONTAINER_COLUMNS = ['Container ID', 'Name', 'Image', 'Status', 'Created']
LAYER_COLUMNS = ['#', 'Size', 'Shared with', 'Created', 'Layer', 'Created by']
JOB_COLUMNS = ['Job', 'Kind', 'Target', 'State', 'Progress', 'Started', 'Message']


class SortItem(QTableWidgetItem):
    """A read-only cell that sorts by ``key`` (a number or a string) instead of its text."""

    def __init__(self, text: str, key=None):
        super().__init__(text)
        self.setFlags(self.flags() & ~Qt.ItemIsEditable)
        self.setData(SORT_ROLE, text.lower() if key is None else key)

    def __lt__(self, other) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)


def make_table(columns: Sequence[str], parent=None, sort_column: int = 0,
               sort_order=Qt.AscendingOrder) -> QTableWidget:
    """A read-only, row-selecting table with these column titles, sorted by ``sort_column`` until the user
    clicks another header."""
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSortingEnabled(True)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
    table.sortByColumn(sort_column, sort_order)
    return table


def _stamp(t) -> float:
    return t.to_sec() if t is not None else 0.0


def _set_rows(table: QTableWidget, rows: List[List[SortItem]]) -> None:
    # Sorting while inserting would move rows under our feet; switch it off and restore the user's order after.
    sorting = table.isSortingEnabled()
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, item in enumerate(row):
            table.setItem(r, c, item)
    table.setSortingEnabled(sorting)
    table.resizeColumnsToContents()


def image_rows(images) -> List[List[SortItem]]:
    """One row per repo:tag of each image (``<none>:<none>`` for an untagged one)."""
    now = time.time()
    rows = []
    for image in images:
        for ref in (list(image.repo_tags) or ['<none>:<none>']):
            created = _stamp(image.created)
            row = [SortItem(ref), SortItem(short_id(image.id)), SortItem(format_size(image.size, 3), image.size),
                   SortItem(format_ago(created, now), created), SortItem(str(image.layer_count), image.layer_count)]
            for item in row:
                item.setData(ID_ROLE, image.id)
                item.setData(REF_ROLE, ref if ref != '<none>:<none>' else short_id(image.id))
            row[1].setToolTip(image.id)
            rows.append(row)
    return rows


def fill_images(table: QTableWidget, images) -> None:
    _set_rows(table, image_rows(images))


def fill_containers(table: QTableWidget, containers) -> None:
    now = time.time()
    rows = []
    for container in containers:
        created = _stamp(container.created)
        row = [SortItem(short_id(container.id)), SortItem(container.name.lstrip('/')), SortItem(container.image),
               SortItem(container.status), SortItem(format_ago(created, now), created)]
        for item in row:
            item.setData(ID_ROLE, container.id)
            item.setData(REF_ROLE, container.name.lstrip('/') or short_id(container.id))
        rows.append(row)
    _set_rows(table, rows)


def fill_layers(table: QTableWidget, layers) -> None:
    """Layers base first, numbered from 1."""
    now = time.time()
    rows = []
    for index, layer in enumerate(layers, 1):
        created = _stamp(layer.created)
        row = [SortItem(str(index), index), SortItem(format_size(layer.size, 3), layer.size),
               SortItem(str(layer.shared_with), layer.shared_with), SortItem(format_ago(created, now), created),
               SortItem(short_id(layer.diff_id) or '<missing>'), SortItem(' '.join(layer.created_by.split()))]
        row[4].setToolTip(layer.diff_id)
        row[5].setToolTip(layer.created_by)
        rows.append(row)
    _set_rows(table, rows)


def job_row(job) -> List[SortItem]:
    now = time.time()
    started = _stamp(job.started)
    row = [SortItem(job.job_id), SortItem(job.kind), SortItem(job.target), SortItem(job.state),
           SortItem('%.0f%%' % job.percent, float(job.percent)), SortItem(format_ago(started, now), started),
           SortItem(' '.join(job.message.split()))]
    row[6].setToolTip(job.message)
    for item in row:
        item.setData(ID_ROLE, job.job_id)
    return row


def fill_jobs(table: QTableWidget, jobs) -> None:
    _set_rows(table, [job_row(job) for job in jobs])


def upsert_job(table: QTableWidget, job) -> None:
    """Update the job's row in place, or add it, keeping the table's sort order."""
    row_index: Optional[int] = None
    for r in range(table.rowCount()):
        item = table.item(r, 0)
        if item is not None and item.data(ID_ROLE) == job.job_id:
            row_index = r
            break
    sorting = table.isSortingEnabled()
    table.setSortingEnabled(False)
    if row_index is None:
        row_index = 0
        table.insertRow(0)
    for c, item in enumerate(job_row(job)):
        table.setItem(row_index, c, item)
    table.setSortingEnabled(sorting)


def selected_data(table: QTableWidget, role=ID_ROLE):
    """The ``role`` data of the selected row, or None."""
    rows = table.selectionModel().selectedRows() if table.selectionModel() else []
    if not rows:
        return None
    item = table.item(rows[0].row(), 0)
    return item.data(role) if item is not None else None


def select_row(table: QTableWidget, value, role=ID_ROLE, column: int = 0) -> bool:
    """Select the first row whose ``role`` data (or, for ``column``, text) equals ``value``."""
    for r in range(table.rowCount()):
        item = table.item(r, column)
        if item is not None and (item.data(role) == value or item.text() == value):
            table.selectRow(r)
            return True
    return False
