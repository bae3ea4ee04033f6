"""Push and pull progress: a bar per layer plus an overall bar with bytes, rate and ETA, one page per job."""
from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Dict, List, Optional

from python_qt_binding.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                                         QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from docker_image_manager.client.formatting import (format_duration, format_rate, format_size, layer_fraction)

LAYER_COLUMNS = ['Layer', 'Status', 'Progress', 'Bytes']


def overall_text(progress) -> str:
    """The label under the overall bar: bytes, rate and ETA, or how the transfer ended."""
    if progress.bytes_total > 0:
        numbers = '%s / %s' % (format_size(progress.bytes_done), format_size(progress.bytes_total))
    else:
        numbers = format_size(progress.bytes_done)
    if progress.done and progress.error:
        return 'Failed: %s' % progress.error
    if progress.done:
        return 'Done: %s %s (%s)' % ('pushed' if progress.direction == 'push' else 'pulled', progress.image, numbers)
    eta = format_duration(progress.eta_s) if progress.eta_s > 0 else '-'
    return '%s  ·  %s  ·  ETA %s' % (numbers, format_rate(progress.rate_bps), eta)


class TransferView(QWidget):
    """Shows the chosen transfer; keeps the latest progress of every transfer seen."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._progress: Dict[str, object] = OrderedDict()
        self.job_combo = QComboBox(self)
        self.job_combo.setMinimumContentsLength(24)
        self.layers = QTableWidget(0, len(LAYER_COLUMNS), self)
        self.layers.setHorizontalHeaderLabels(LAYER_COLUMNS)
        self.layers.verticalHeader().setVisible(False)
        header = self.layers.horizontalHeader()
        for column in (0, 1, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        self.overall_bar = QProgressBar(self)
        self.overall_bar.setRange(0, 1000)
        self.overall_bar.setFormat('%p%')
        self.overall_label = QLabel(self)
        top = QHBoxLayout()
        top.addWidget(QLabel('Transfer:', self))
        top.addWidget(self.job_combo, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.layers, 1)
        layout.addWidget(QLabel('Overall:', self))
        layout.addWidget(self.overall_bar)
        layout.addWidget(self.overall_label)
        self.job_combo.currentIndexChanged.connect(self._show_current)

    @property
    def current_job(self) -> str:
        return self.job_combo.currentData() or ''

    def jobs(self) -> List[str]:
        return list(self._progress)

    def progress(self, job_id: str):
        return self._progress.get(job_id)

    def overall_percent(self) -> float:
        """The overall bar, in percent (0..100)."""
        return self.overall_bar.value() / 10.0

    def layer_percents(self) -> Dict[str, int]:
        """Each layer bar shown, by layer id."""
        values = {}
        for r in range(self.layers.rowCount()):
            bar = self.layers.cellWidget(r, 2)
            values[self.layers.item(r, 0).text()] = bar.value() if bar is not None else -1
        return values

    def clear(self) -> None:
        """Forget every transfer (another robot is shown)."""
        self._progress.clear()
        self.job_combo.clear()
        self.layers.setRowCount(0)
        self.overall_bar.setValue(0)
        self.overall_label.setText('')

    def show_job(self, job_id: str) -> None:
        index = self.job_combo.findData(job_id)
        if index >= 0:
            self.job_combo.setCurrentIndex(index)

    def update_progress(self, progress) -> None:
        """Take one TransferProgress (from the topic or the goal's feedback); older news never undoes ``done``."""
        job_id = progress.job_id
        if not job_id:
            return
        old = self._progress.get(job_id)
        if old is not None and old.done and not progress.done:
            return
        self._progress[job_id] = progress
        if self.job_combo.findData(job_id) < 0:
            self.job_combo.addItem('%s %s (%s)' % (progress.direction, progress.image, job_id), job_id)
            if self.job_combo.count() == 1:
                self.job_combo.setCurrentIndex(0)
        if job_id == self.current_job:
            self._render(progress)

    def finish(self, job_id: str, direction: str, image: str, error: str = '') -> None:
        """Mark a transfer ended from its action result, in case its last ``done`` message was missed."""
        old = self._progress.get(job_id)
        if old is not None and old.done:
            return
        layers = list(old.layers) if old is not None else []
        total = old.bytes_total if old is not None else 0
        done_bytes = total if not error else (old.bytes_done if old is not None else 0)
        percent = 100.0 if not error else (old.percent if old is not None else 0.0)
        self.update_progress(SimpleNamespace(
            job_id=job_id, image=image, direction=direction, layers=layers, bytes_done=done_bytes,
            bytes_total=total, percent=percent, rate_bps=0.0, eta_s=0.0, done=True, error=error))

    def _show_current(self) -> None:
        progress = self._progress.get(self.current_job)
        if progress is not None:
            self._render(progress)

    def _render(self, progress) -> None:
        self.layers.setRowCount(len(progress.layers))
        for r, layer in enumerate(progress.layers):
            self._set_text(r, 0, layer.id)
            self._set_text(r, 1, layer.status)
            bar = self.layers.cellWidget(r, 2)
            if bar is None:
                bar = QProgressBar(self.layers)
                bar.setRange(0, 100)
                self.layers.setCellWidget(r, 2, bar)
            fraction = layer_fraction(layer)
            if progress.done and not progress.error:
                fraction = 1.0
            bar.setValue(int(round(100 * fraction)) if fraction is not None else 0)
            if layer.total > 0:
                text = '%s / %s' % (format_size(layer.current), format_size(layer.total))
            else:
                text = format_size(layer.current) if layer.current else ''
            self._set_text(r, 3, text)
        self.overall_bar.setValue(int(round(10 * max(0.0, min(100.0, progress.percent)))))
        self.overall_label.setText(overall_text(progress))
        self.overall_label.setStyleSheet('color: #c62828;' if progress.error else '')

    def _set_text(self, row: int, column: int, text: str) -> None:
        item = self.layers.item(row, column)
        if item is None:
            self.layers.setItem(row, column, QTableWidgetItem(text))
        elif item.text() != text:
            item.setText(text)
