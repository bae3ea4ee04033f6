"""Recognising docker_image_manager nodes in the master's service list (no master needed)."""
from __future__ import annotations

import unittest

from docker_image_manager.client.discovery import (nodes_in_system_state, normalize_node_name,
                                                   providers_in_system_state)


class DiscoveryRuleTest(unittest.TestCase):
    def test_finds_every_node_by_its_contract(self):
        services = [
            ['/robot1/docker_image_manager/list_images', ['/robot1/docker_image_manager']],
            ['/robot1/docker_image_manager/get_job_log', ['/robot1/docker_image_manager']],
            ['/robot2/imgs/list_images', ['/robot2/imgs']],
            ['/robot2/imgs/get_job_log', ['/robot2/imgs']],
            ['/docker_image_manager/list_images', ['/docker_image_manager']],
            ['/docker_image_manager/get_job_log', ['/docker_image_manager']],
            ['/rosout/get_loggers', ['/rosout']],
        ]
        self.assertEqual(nodes_in_system_state(services),
                         ['/docker_image_manager', '/robot1/docker_image_manager', '/robot2/imgs'])

    def test_ignores_lookalikes(self):
        services = [
            # list_images without the job log: some other tool.
            ['/camera/list_images', ['/camera']],
            # Both names, but offered by two different nodes: not one docker_image_manager.
            ['/mixed/list_images', ['/a']],
            ['/mixed/get_job_log', ['/b']],
            ['/list_images', ['/root_tool']],
            ['/get_job_log', ['/root_tool']],
        ]
        self.assertEqual(nodes_in_system_state(services), [])

    def test_the_providing_ros_node_is_kept_for_the_ping(self):
        services = [
            ['/r1/docker_image_manager/list_images', ['/r1/docker_image_manager']],
            ['/r1/docker_image_manager/get_job_log', ['/r1/docker_image_manager']],
            ['/renamed/list_images', ['/some/other_name', '/x']],
            ['/renamed/get_job_log', ['/some/other_name']],
        ]
        self.assertEqual(providers_in_system_state(services),
                         {'/r1/docker_image_manager': '/r1/docker_image_manager', '/renamed': '/some/other_name'})

    def test_node_names_are_made_global(self):
        self.assertEqual(normalize_node_name('robot1/docker_image_manager/'), '/robot1/docker_image_manager')
        self.assertEqual(normalize_node_name(' /x '), '/x')
        with self.assertRaises(ValueError):
            normalize_node_name('/')


if __name__ == '__main__':
    unittest.main()
