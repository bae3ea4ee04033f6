"""imagectl pieces that need no node: argument parsing, tables, progress rendering, a missing master."""
from __future__ import annotations

import io
import os
import socket
import unittest
from types import SimpleNamespace
from unittest import mock

from docker_image_manager import imagectl
from docker_image_manager.imagectl import TransferPrinter, build_parser, format_table, main

from client_fakes import layer_progress, progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class ParserTest(unittest.TestCase):
    def test_build_options_in_dockers_words(self):
        args = build_parser().parse_args(['build', '/ctx', '-f', 'docker/Dockerfile', '-t', 'a:1', '-t', 'b:2',
                                          '--build-arg', 'X=1', '--label', 'k=v', '--no-cache', '--pull',
                                          '--target', 'stage'])
        self.assertEqual(args.tag, ['a:1', 'b:2'])
        self.assertEqual(args.build_arg, ['X=1'])
        self.assertEqual(args.label, ['k=v'])
        self.assertTrue(args.no_cache and args.pull)
        self.assertEqual((args.file, args.target), ('docker/Dockerfile', 'stage'))

    def test_login_has_no_password_argument(self):
        with mock.patch('sys.stderr', io.StringIO()):
            status = main(['login', 'reg:5000', '-u', 'me', '-p', 'secret'])
        self.assertEqual(status, 2)
        options = [a.option_strings for a in build_parser()._subparsers._group_actions[0].choices['login']._actions]
        self.assertNotIn(['-p', '--password'], options)

    def test_commit_changes_repeat(self):
        args = build_parser().parse_args(['commit', 'box', 'repo:tag', '-m', 'msg', '-a', 'me', '-c', 'ENV A=1',
                                          '--change', 'CMD ["sh"]'])
        self.assertEqual(args.change, ['ENV A=1', 'CMD ["sh"]'])
        self.assertEqual(args.repository, 'repo:tag')

    def test_usage_error_exits_2(self):
        err = io.StringIO()
        with mock.patch('sys.stderr', err):
            self.assertEqual(main(['frobnicate']), 2)
        self.assertIn('invalid choice', err.getvalue())


class TableTest(unittest.TestCase):
    def test_columns_are_padded(self):
        text = format_table(['A', 'LONGER'], [['xyz', '1'], ['q', '22']])
        self.assertEqual(text.splitlines(), ['A     LONGER', 'xyz   1', 'q     22'])


class TransferPrinterTest(unittest.TestCase):
    def test_plain_output_prints_status_changes_and_rate_limited_totals(self):
        out, clock = io.StringIO(), Clock()
        printer = TransferPrinter(out, tty=False, min_interval=2.0, clock=clock)
        layers = [layer_progress('aaa', 'Preparing', 0, 0)]
        printer.update(progress('j', layers, 0.0))
        clock.now = 0.5
        printer.update(progress('j', [layer_progress('aaa', 'Pushing', 10, 100)], 10.0))
        clock.now = 1.0
        printer.update(progress('j', [layer_progress('aaa', 'Pushing', 50, 100)], 50.0))
        clock.now = 2.5
        printer.update(progress('j', [layer_progress('aaa', 'Pushing', 80, 100)], 80.0))
        printer.finish(progress('j', [layer_progress('aaa', 'Pushed', 100, 100)], 100.0, done=True))
        lines = out.getvalue().splitlines()
        self.assertEqual([line for line in lines if line.startswith('aaa')],
                         ['aaa: Preparing', 'aaa: Pushing', 'aaa: Pushed'])
        totals = [line for line in lines if not line.startswith('aaa')]
        # 0.0 s, 2.5 s and the final line; the updates at 0.5 s and 1.0 s were rate-limited away.
        self.assertEqual(len(totals), 3, lines)
        self.assertTrue(totals[-1].startswith('Pushed'), totals[-1])
        self.assertNotIn('\x1b', out.getvalue())

    def test_terminal_output_redraws_in_place(self):
        out = io.StringIO()
        printer = TransferPrinter(out, tty=True, width=120)
        printer.update(progress('j', [layer_progress('aaa', 'Pushing', 10, 100),
                                      layer_progress('bbb', 'Waiting', 0, 0)], 10.0))
        first = out.getvalue()
        self.assertNotIn('\x1b[', first)
        printer.update(progress('j', [layer_progress('aaa', 'Pushed', 100, 100),
                                      layer_progress('bbb', 'Pushing', 5, 10)], 60.0))
        second = out.getvalue()[len(first):]
        self.assertTrue(second.startswith('\x1b[3A'), repr(second[:10]))
        self.assertIn('aaa: Pushed', second)
        self.assertIn('bbb: Pushing  [', second)


class LateFeedbackTest(unittest.TestCase):
    """actionlib drops feedback that reaches the client after the result: the push result's progress fills in."""

    class Handle:
        def __init__(self, result, feedback_cb, feedbacks):
            self.result = result
            for feedback in feedbacks:
                feedback_cb(SimpleNamespace(progress=feedback))
            self.done = True  # the result came; any feedback after it is lost

        def wait(self, timeout=None):
            return self.result

    class Client:
        def __init__(self, result, feedbacks):
            self.result, self.feedbacks = result, feedbacks

        def push(self, image, feedback_cb=None):
            return LateFeedbackTest.Handle(self.result, feedback_cb, self.feedbacks)

    FINAL = progress('j', [layer_progress('aaa', 'Pushed', 100, 100),
                           layer_progress('bbb', 'Layer already exists', 0, 0)], 100.0, done=True, rate=0.0)

    def push(self, feedbacks):
        result = SimpleNamespace(digest='sha256:' + 'c' * 64, size=735, progress=self.FINAL)
        out = io.StringIO()
        ctx = imagectl.Context(self.Client(result, feedbacks),
                               SimpleNamespace(image='localhost:5000/app:1', quiet=False),
                               io.StringIO(), out, io.StringIO())
        self.assertEqual(imagectl._transfer(ctx, 'push'), imagectl.EXIT_OK)
        return out.getvalue().splitlines()

    def test_the_results_progress_shows_what_the_lost_feedback_had(self):
        lines = self.push([progress('j', [layer_progress('aaa', 'Pushing', 10, 100)], 10.0)])
        self.assertEqual([line for line in lines if line.startswith(('aaa', 'bbb'))],
                         ['aaa: Pushing', 'aaa: Pushed', 'bbb: Layer already exists'])
        totals = [line for line in lines if line.startswith('Pushed [')]
        self.assertEqual(len(totals), 1, lines)
        self.assertIn('100B/100B', totals[0])

    def test_a_last_feedback_that_came_is_not_shown_twice(self):
        lines = self.push([self.FINAL])
        self.assertEqual(sum(line.startswith('Pushed [') for line in lines), 1, lines)
        self.assertEqual(sum(line == 'aaa: Pushed' for line in lines), 1, lines)


class NoMasterTest(unittest.TestCase):
    def test_unreachable_master_is_one_clear_error(self):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        err = io.StringIO()
        with mock.patch.dict(os.environ, {'ROS_MASTER_URI': 'http://127.0.0.1:%d' % port}), \
                mock.patch('rospy.core.is_initialized', return_value=False):
            status = main(['images'], stdout=io.StringIO(), stderr=err)
        self.assertEqual(status, imagectl.EXIT_FAILED)
        self.assertIn('cannot reach the ROS master at http://127.0.0.1:%d' % port, err.getvalue())
        self.assertIn('start roscore', err.getvalue())


if __name__ == '__main__':
    unittest.main()
