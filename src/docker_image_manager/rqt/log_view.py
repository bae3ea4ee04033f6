"""The live build log, one page per job, with error lines highlighted."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

from python_qt_binding.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from python_qt_binding.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QVBoxLayout,
                                         QWidget)

MAX_LINES_PER_JOB = 20000
ERROR_STREAMS = ('error',)


class BuildLogView(QWidget):
    """Keeps every job's lines; shows the chosen job's, following the end unless the user scrolled up."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self._lines: Dict[str, List[Tuple[str, str]]] = OrderedDict()
        self._steps: Dict[str, Tuple[int, int]] = {}
        self._closed = set()
        self.job_combo = QComboBox(self)
        self.job_combo.setMinimumContentsLength(24)
        self.step_label = QLabel(self)
        self.follow_check = QCheckBox('Auto-scroll', self)
        self.follow_check.setChecked(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setFont(QFont('Monospace'))
        self.text.setMaximumBlockCount(MAX_LINES_PER_JOB)
        top = QHBoxLayout()
        top.addWidget(QLabel('Job:', self))
        top.addWidget(self.job_combo, 1)
        top.addWidget(self.step_label)
        top.addWidget(self.follow_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.text, 1)
        self._normal = QTextCharFormat()
        self._error = QTextCharFormat()
        self._error.setForeground(QColor('#c62828'))
        self._error.setFontWeight(QFont.Bold)
        self._status = QTextCharFormat()
        self._status.setForeground(QColor('#607d8b'))
        self.job_combo.currentIndexChanged.connect(self._show_current)

    @property
    def current_job(self) -> str:
        return self.job_combo.currentData() or ''

    def jobs(self) -> List[str]:
        return list(self._lines)

    def lines(self, job_id: str) -> List[str]:
        """The text of every line kept for a job."""
        return [line for _, line in self._lines.get(job_id, [])]

    def entries(self, job_id: str) -> List[Tuple[str, str]]:
        """Every ``(stream, text)`` kept for a job."""
        return list(self._lines.get(job_id, []))

    def error_lines(self, job_id: str) -> List[str]:
        return [line for stream, line in self._lines.get(job_id, []) if stream in ERROR_STREAMS]

    def clear(self) -> None:
        """Forget every job (another robot is shown)."""
        self._lines.clear()
        self._steps.clear()
        self._closed.clear()
        self.job_combo.clear()
        self.text.clear()
        self.step_label.setText('')

    def add_job(self, job_id: str, label: str = '') -> None:
        """Make a page for ``job_id`` (no-op when it exists)."""
        if job_id in self._lines:
            return
        self._lines[job_id] = []
        self.job_combo.addItem(label or job_id, job_id)
        if self.job_combo.count() == 1:
            self.job_combo.setCurrentIndex(0)

    def show_job(self, job_id: str) -> None:
        self.add_job(job_id)
        self.job_combo.setCurrentIndex(self.job_combo.findData(job_id))

    def append(self, job_id: str, stream: str, line: str, step: int = 0, total: int = 0) -> None:
        """One line of a job's output (``stream`` ``stdout``, ``status`` or ``error``); ignored once closed."""
        if job_id in self._closed:
            return
        self.add_job(job_id)
        kept = self._lines[job_id]
        kept.append((stream, line.rstrip('\n')))
        if len(kept) > MAX_LINES_PER_JOB:
            del kept[:len(kept) - MAX_LINES_PER_JOB]
        if total:
            self._steps[job_id] = (step, total)
        if job_id == self.current_job:
            self._write(stream, line.rstrip('\n'))
            self._update_step()

    def close(self, job_id: str, lines: Optional[List[Tuple[str, str]]] = None) -> None:
        """End a job's page: optionally replace its lines with a complete copy (``(stream, text)`` pairs, e.g.
        from ``get_job_log`` plus a closing line); lines still arriving from the topic are then ignored."""
        if lines is not None:
            self.replace(job_id, lines)
        self._closed.add(job_id)

    def replace(self, job_id: str, lines: List[Tuple[str, str]]) -> None:
        """Replace a job's lines with a complete copy (e.g. from ``get_job_log``)."""
        self.add_job(job_id)
        self._lines[job_id] = list(lines)[-MAX_LINES_PER_JOB:]
        if job_id == self.current_job:
            self._show_current()

    def _show_current(self) -> None:
        self.text.clear()
        for stream, line in self._lines.get(self.current_job, []):
            self._write(stream, line, scroll=False)
        self._scroll_to_end()
        self._update_step()

    def _write(self, stream: str, line: str, scroll: bool = True) -> None:
        bar = self.text.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.End)
        if not self.text.document().isEmpty():
            cursor.insertBlock()
        fmt = self._error if stream in ERROR_STREAMS else (self._status if stream == 'status' else self._normal)
        cursor.insertText(line, fmt)
        if scroll and at_end and self.follow_check.isChecked():
            self._scroll_to_end()

    def _scroll_to_end(self) -> None:
        if self.follow_check.isChecked():
            bar = self.text.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _update_step(self) -> None:
        step, total = self._steps.get(self.current_job, (0, 0))
        self.step_label.setText('Step %d/%d' % (step, total) if total else '')
