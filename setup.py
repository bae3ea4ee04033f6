# Used by catkin_python_setup(); do not run directly.
from setuptools import setup
from catkin_pkg.python_setup import generate_distutils_setup

setup(**generate_distutils_setup(
    packages=[
        'docker_image_manager',
        'docker_image_manager.core',
        'docker_image_manager.ros',
        'docker_image_manager.client',
        'docker_image_manager.rqt',
    ],
    package_dir={'': 'src'},
))
