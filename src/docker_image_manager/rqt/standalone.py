"""``image_manager_gui``: the image manager widget in a plain window, without rqt."""
from __future__ import annotations

import argparse
import signal
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Open the window; ``--node`` picks the robot (default: the first node found). Returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog='image_manager_gui',
                                     description="Manage a robot's Docker images in a window (rqt not needed).")
    parser.add_argument('--node', help='the node to show first, e.g. /robot1/docker_image_manager')
    args = parser.parse_args([arg for arg in argv if ':=' not in arg])

    from python_qt_binding.QtCore import QTimer
    from python_qt_binding.QtWidgets import QApplication, QMainWindow

    from docker_image_manager.client import ClientError, ClientPool, init_node

    from .widget import ImageManagerWidget

    app = QApplication.instance() or QApplication([sys.argv[0]])
    try:
        init_node('image_manager_gui')
    except ClientError as exc:
        sys.stderr.write('image_manager_gui: error: %s\n' % exc)
        return 1
    pool = ClientPool()
    widget = ImageManagerWidget(pool, node=args.node)
    window = QMainWindow()
    window.setWindowTitle('Docker Image Manager')
    window.setCentralWidget(widget)
    window.resize(1280, 860)
    window.show()
    widget.rescan()
    # Qt's loop keeps Python from seeing SIGINT; wake the interpreter now and then so Ctrl-C closes the window.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    status = app.exec_()
    widget.shutdown()
    pool.close()
    import rospy

    rospy.signal_shutdown('window closed')
    return status
