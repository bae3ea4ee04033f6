"""The rqt plugin: a thin shell that gives the widget a pool of facades and puts it in rqt's window.

rqt_gui_py is imported guarded: where it is not installed this module still imports (so the widget can be
tested and used by ``image_manager_gui``), and the plugin class runs on a stand-in base with the same
constructor.
"""
from __future__ import annotations

from python_qt_binding.QtCore import QObject

try:
    from rqt_gui_py.plugin import Plugin
except ImportError:  # rqt_gui is not installable everywhere; keep the class importable and testable
    class Plugin(QObject):
        """Stand-in for ``rqt_gui_py.plugin.Plugin`` with the same constructor."""

        def __init__(self, context):
            super().__init__(context if isinstance(context, QObject) else None)
            self._context = context

from docker_image_manager.client import ClientPool

from .widget import ImageManagerWidget


class ImageManagerPlugin(Plugin):
    """rqt's "Docker Image Manager": one widget per plugin instance, one facade per robot node."""

    def __init__(self, context):
        super().__init__(context)
        self.setObjectName('DockerImageManager')
        self._pool = ClientPool()
        self._widget = ImageManagerWidget(self._pool)
        title = 'Docker Image Manager'
        if context.serial_number() > 1:
            title += ' (%d)' % context.serial_number()
        self._widget.setWindowTitle(title)
        context.add_widget(self._widget)
        self._widget.rescan()

    @property
    def widget(self) -> ImageManagerWidget:
        return self._widget

    def shutdown_plugin(self) -> None:
        """Unregister every subscription and action client; running goals keep running on the robot."""
        self._widget.shutdown()
        self._pool.close()

    def save_settings(self, plugin_settings, instance_settings) -> None:
        instance_settings.set_value('node', self._widget.node or '')

    def restore_settings(self, plugin_settings, instance_settings) -> None:
        node = instance_settings.value('node')
        if node:
            self._widget.set_node(node)
