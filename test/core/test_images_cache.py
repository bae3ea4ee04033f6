"""list_images / inspect_image and their layer cache on the real daemon: images that vanish, intermediate images."""
from __future__ import annotations

import pytest

from docker_image_manager.core import images
from docker_image_manager.core.docker_client import Connector


class CountingClient:
    """The real query client, counting inspect_image calls; ``after_listing`` runs after each images() listing."""

    def __init__(self, api):
        self._api = api
        self.inspected = []
        self.after_listing = None

    def inspect_image(self, image):
        self.inspected.append(image)
        return self._api.inspect_image(image)

    def images(self, *args, **kwargs):
        rows = self._api.images(*args, **kwargs)
        if self.after_listing is not None:
            self.after_listing()
        return rows

    def __getattr__(self, name):
        return getattr(self._api, name)


@pytest.fixture
def client():
    api = Connector().query()
    yield CountingClient(api)
    api.close()


def _commit(docker_api, image, repository, label, cleanup):
    container = cleanup.container(docker_api.create_container(image, ['true'])['Id'])
    image_id = docker_api.commit(container, repository=repository, tag='latest',
                                 changes=['LABEL dimtest.image=%s' % label])['Id']
    docker_api.remove_container(container)
    cleanup.image(image_id)
    return image_id


def test_an_image_removed_between_listing_and_inspecting_is_left_out(client, docker_api, base_image, prefix,
                                                                     cleanup):
    kept = _commit(docker_api, base_image, '%s-cache-kept' % prefix, 'kept', cleanup)
    gone = _commit(docker_api, base_image, '%s-cache-gone' % prefix, 'gone', cleanup)

    def remove_gone():
        client.after_listing = None
        docker_api.remove_image(gone, force=True)

    client.after_listing = remove_gone
    listed = [image.id for image in images.list_images(client, images.LayerCache())]
    assert kept in listed
    assert gone not in listed

    gone = _commit(docker_api, base_image, '%s-cache-gone' % prefix, 'gone2', cleanup)
    client.after_listing = remove_gone
    summary, layers = images.inspect_image(client, images.LayerCache(), kept)
    assert summary.id == kept
    assert len(layers) == summary.layer_count


def test_listing_does_not_make_inspect_look_at_intermediate_images_again(client, docker_api, base_image, prefix,
                                                                         cleanup):
    parent = _commit(docker_api, base_image, '%s-cache-parent' % prefix, 'parent', cleanup)
    child = _commit(docker_api, parent, '%s-cache-child' % prefix, 'child', cleanup)
    docker_api.remove_image('%s-cache-parent:latest' % prefix)  # now an untagged parent, listed only with all
    assert parent not in [row['Id'] for row in docker_api.images()]
    assert parent in [row['Id'] for row in docker_api.images(all=True)]
    cache = images.LayerCache()
    images.list_images(client, cache)
    images.inspect_image(client, cache, child)
    client.inspected.clear()
    images.list_images(client, cache)
    images.inspect_image(client, cache, child)
    # Only resolving the name: every other image's layers come from the cache.
    assert client.inspected == [child]
