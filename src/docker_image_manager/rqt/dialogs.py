"""The small dialogs behind the buttons, each pre-filled from the selection.

Every dialog exposes its fields as attributes and :meth:`values` as a dict of the widget method's keyword
arguments, and refuses OK (with a message in :attr:`error_label`) while a required field is empty. The widget
opens them non-modally (``open()``), so tests can fill the fields and call ``accept()``.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from python_qt_binding.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                                         QPlainTextEdit, QVBoxLayout, QWidget)


def _lines(edit: QPlainTextEdit) -> List[str]:
    return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]


def _words(edit: QLineEdit) -> List[str]:
    return [word for word in edit.text().replace(',', ' ').split() if word]


class FormDialog(QDialog):
    """A titled form with OK/Cancel and a line for what is wrong."""

    required: Dict[str, str] = {}

    def __init__(self, title: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.form = QFormLayout()
        self.error_label = QLabel(self)
        self.error_label.setStyleSheet('color: #c62828;')
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, parent=self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(self.form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def line(self, label: str, text: str = '', placeholder: str = '') -> QLineEdit:
        edit = QLineEdit(text, self)
        edit.setPlaceholderText(placeholder)
        self.form.addRow(label, edit)
        return edit

    def check(self, label: str, checked: bool = False) -> QCheckBox:
        box = QCheckBox(label, self)
        box.setChecked(checked)
        self.form.addRow('', box)
        return box

    def lines(self, label: str, placeholder: str = '') -> QPlainTextEdit:
        edit = QPlainTextEdit(self)
        edit.setPlaceholderText(placeholder)
        edit.setFixedHeight(70)
        self.form.addRow(label, edit)
        return edit

    def problems(self) -> List[str]:
        """What must be fixed before OK; empty when the form is complete."""
        return ['%s is required' % label for name, label in self.required.items()
                if not getattr(self, name).text().strip()]

    def values(self) -> Dict[str, object]:
        raise NotImplementedError

    def accept(self) -> None:
        problems = self.problems()
        if problems:
            self.error_label.setText('; '.join(problems))
            return
        self.error_label.setText('')
        super().accept()


class CommitDialog(FormDialog):
    """``docker commit``: container, target repo[:tag], message, author, Dockerfile changes, no pause."""

    required = {'container': 'Container'}

    def __init__(self, container: str = '', parent: Optional[QWidget] = None):
        super().__init__('Commit container', parent)
        self.container = self.line('Container:', container, 'name or id')
        self.target = self.line('Repository[:tag]:', '', 'e.g. myrobot/app:fix1 (empty = untagged)')
        self.message = self.line('Message:')
        self.author = self.line('Author:', '', 'Jane <jane@example.com>')
        self.changes = self.lines('Changes:', 'one Dockerfile instruction a line, e.g. ENV A=1')
        self.no_pause = self.check("Don't pause the container")

    def values(self):
        return {'container': self.container.text().strip(), 'target': self.target.text().strip(),
                'message': self.message.text(), 'author': self.author.text(), 'changes': _lines(self.changes),
                'no_pause': self.no_pause.isChecked()}


class BuildDialog(FormDialog):
    """``docker build``: context on the robot, Dockerfile, tags, build args, labels, cache and pull, target."""

    required = {'context': 'Context'}

    def __init__(self, context: str = '', tags: str = '', parent: Optional[QWidget] = None):
        super().__init__('Build image', parent)
        self.context = self.line('Context:', context, 'directory on the robot')
        self.dockerfile = self.line('Dockerfile:', '', 'Dockerfile (relative to the context)')
        self.tags = self.line('Tags:', tags, 'repo:tag, space or comma separated')
        self.build_args = self.lines('Build args:', 'KEY=VALUE, one a line')
        self.labels = self.lines('Labels:', 'key=value, one a line')
        self.target = self.line('Target stage:')
        self.no_cache = self.check("Don't use the cache")
        self.pull = self.check('Always pull the base image')

    def values(self):
        return {'context': self.context.text().strip(), 'dockerfile': self.dockerfile.text().strip(),
                'tags': _words(self.tags), 'build_args': _lines(self.build_args), 'labels': _lines(self.labels),
                'target': self.target.text().strip(), 'no_cache': self.no_cache.isChecked(),
                'pull': self.pull.isChecked()}


class TagDialog(FormDialog):
    """``docker tag SOURCE TARGET``."""

    required = {'source': 'Source', 'target': 'Target'}

    def __init__(self, source: str = '', parent: Optional[QWidget] = None):
        super().__init__('Tag image', parent)
        self.source = self.line('Source:', source, 'id, name or name:tag')
        self.target = self.line('Target:', '', 'repo[:tag], e.g. localhost:5000/app:1.0')

    def values(self):
        return {'source': self.source.text().strip(), 'target': self.target.text().strip()}


class TransferDialog(FormDialog):
    """The image reference for a push or a pull."""

    required = {'image': 'Image'}

    def __init__(self, direction: str, image: str = '', parent: Optional[QWidget] = None):
        super().__init__('Push image' if direction == 'push' else 'Pull image', parent)
        self.direction = direction
        self.image = self.line('Image:', image, '[registry[:port]/]repo:tag')

    def values(self):
        return {'image': self.image.text().strip()}


class LoginDialog(FormDialog):
    """``docker login`` on the robot; the password field never echoes."""

    required = {'username': 'User', 'password': 'Password'}

    def __init__(self, registry: str = '', parent: Optional[QWidget] = None):
        super().__init__('Log in to a registry', parent)
        self.registry = self.line('Registry:', registry, 'empty = Docker Hub')
        self.username = self.line('User:')
        self.password = self.line('Password:')
        self.password.setEchoMode(QLineEdit.Password)

    def values(self):
        return {'registry': self.registry.text().strip(), 'username': self.username.text().strip(),
                'password': self.password.text()}


class RemoveDialog(FormDialog):
    """``docker rmi`` with force and prune-dangling."""

    required = {'image': 'Image'}

    def __init__(self, image: str = '', parent: Optional[QWidget] = None):
        super().__init__('Remove image', parent)
        self.image = self.line('Image:', image)
        self.force = self.check('Force (also when containers use it)')
        self.prune = self.check('Also remove dangling images')

    def values(self):
        return {'image': self.image.text().strip(), 'force': self.force.isChecked(),
                'prune_dangling': self.prune.isChecked()}


class JobLogDialog(QDialog):
    """A job's whole log, read-only, with its final state in the title line."""

    def __init__(self, job_id: str, lines: List[str], job=None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.job_id = job_id
        self.setModal(False)
        self.setWindowTitle('Log of job %s' % job_id)
        summary = job_id
        if job is not None:
            summary = '%s %s — %s%s' % (job.kind, job.target, job.state, (': ' + job.message) if job.message else '')
        self.summary = QLabel(summary, self)
        self.summary.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.NoWrap)
        self.text.setPlainText('\n'.join(line.rstrip('\n') for line in lines))
        buttons = QDialogButtonBox(QDialogButtonBox.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(800, 500)
