"""Manage a robot's Docker images over ROS."""
