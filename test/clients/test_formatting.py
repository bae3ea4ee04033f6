"""Text for sizes, times and transfer progress (no ROS needed)."""
from __future__ import annotations

import unittest

from docker_image_manager.client.formatting import (format_ago, format_duration, format_rate, format_size,
                                                    human_duration, layer_fraction, layer_line, overall_line,
                                                    progress_bar, short_id, split_repo_tag)

from client_fakes import layer_progress, progress


class SizeAndTimeTest(unittest.TestCase):
    def test_sizes_use_docker_decimal_units(self):
        self.assertEqual(format_size(0), '0B')
        self.assertEqual(format_size(999), '999B')
        self.assertEqual(format_size(1000), '1kB')
        self.assertEqual(format_size(12_345_678), '12.35MB')
        self.assertEqual(format_size(77_812_345, 3), '77.8MB')
        self.assertEqual(format_size(3_200_000_000), '3.2GB')

    def test_rate_and_duration(self):
        self.assertEqual(format_rate(3_200_000), '3.2MB/s')
        self.assertEqual(format_rate(0), '-')
        self.assertEqual(format_duration(7), '0:07')
        self.assertEqual(format_duration(750), '12:30')
        self.assertEqual(format_duration(3723), '1:02:03')
        self.assertEqual(format_duration(-1), '-')

    def test_ago_in_dockers_words(self):
        self.assertEqual(human_duration(0.5), 'Less than a second')
        self.assertEqual(human_duration(45), '45 seconds')
        self.assertEqual(human_duration(65), 'About a minute')
        self.assertEqual(human_duration(3 * 60 + 5), '3 minutes')
        self.assertEqual(human_duration(3600), 'About an hour')
        self.assertEqual(human_duration(5 * 86400), '5 days')
        self.assertEqual(format_ago(1000.0, 1180.0), '3 minutes ago')
        self.assertEqual(format_ago(0, 1180.0), '-')

    def test_ids_and_references(self):
        self.assertEqual(short_id('sha256:' + '0123456789abcdef' * 4), '0123456789ab')
        self.assertEqual(split_repo_tag('localhost:5000/app:1.0'), ('localhost:5000/app', '1.0'))
        self.assertEqual(split_repo_tag('localhost:5000/app'), ('localhost:5000/app', '<none>'))
        self.assertEqual(split_repo_tag('ubuntu:22.04'), ('ubuntu', '22.04'))


class ProgressTextTest(unittest.TestCase):
    def test_bar_has_dockers_shape(self):
        self.assertEqual(progress_bar(0, 100, 10), '[>          ]')
        self.assertEqual(progress_bar(50, 100, 10), '[=====>     ]')
        self.assertEqual(progress_bar(100, 100, 10), '[===========]')
        self.assertEqual(progress_bar(5, 0, 10), '')

    def test_layer_line_like_docker_push(self):
        line = layer_line(layer_progress('a1b2c3d4e5f6', 'Pushing', 12_300_000, 45_600_000), width=20)
        self.assertEqual(line, 'a1b2c3d4e5f6: Pushing  [=====>' + ' ' * 15 + ']  12.3MB/45.6MB')
        self.assertEqual(layer_line(layer_progress('a1b2', 'Layer already exists', 0, 0)),
                         'a1b2: Layer already exists')
        self.assertEqual(layer_line(layer_progress('a1b2', 'Waiting', 0, 0)), 'a1b2: Waiting')

    def test_layer_fraction(self):
        self.assertEqual(layer_fraction(layer_progress('x', 'Pushed', 0, 0)), 1.0)
        self.assertEqual(layer_fraction(layer_progress('x', 'Mounted from library/alpine', 0, 0)), 1.0)
        self.assertAlmostEqual(layer_fraction(layer_progress('x', 'Downloading', 25, 100)), 0.25)
        self.assertIsNone(layer_fraction(layer_progress('x', 'Preparing', 0, 0)))

    def test_overall_line_has_rate_and_eta_then_done_or_error(self):
        layers = [layer_progress('a', 'Pushing', 12_000_000, 48_000_000)]
        running = overall_line(progress('j1', layers, 25.0, rate=3_000_000, eta=12))
        self.assertIn('25.0%', running)
        self.assertIn('12MB/48MB', running)
        self.assertIn('3MB/s', running)
        self.assertIn('ETA 0:12', running)
        done = overall_line(progress('j1', layers, 100.0, done=True))
        self.assertTrue(done.startswith('Pushed'), done)
        self.assertIn('100.0%', done)
        failed = overall_line(progress('j1', layers, 25.0, done=True, error='denied: requested access'))
        self.assertEqual(failed, 'Failed at 25%')


if __name__ == '__main__':
    unittest.main()
