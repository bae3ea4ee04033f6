"""Image and container queries, and the short operations: commit, tag, remove.

Each function takes the ``docker.APIClient`` to use, so callers (and tests) choose the daemon.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from . import references
from .docker_client import translate_errors
from .errors import InvalidRequest, NotFound


class ImageSummary(NamedTuple):
    id: str
    repo_tags: List[str]
    repo_digests: List[str]
    created: int  # seconds since the epoch
    size: int
    layer_count: int


class Layer(NamedTuple):
    diff_id: str
    created_by: str
    created: int
    size: int
    comment: str
    shared_with: int


class Container(NamedTuple):
    id: str
    name: str
    image: str
    status: str
    created: int


class ContainerChanges(NamedTuple):
    added: List[str]
    changed: List[str]
    deleted: List[str]


class LayerCache:
    """Diff ids of each local image, by image id. Image ids are content hashes, so an entry never goes stale."""

    def __init__(self):
        self._lock = threading.Lock()
        self._layers: Dict[str, Tuple[str, ...]] = {}

    def layers(self, client, image_id: str) -> Tuple[str, ...]:
        with self._lock:
            cached = self._layers.get(image_id)
        if cached is not None:
            return cached
        with translate_errors('inspect image'):
            info = client.inspect_image(image_id)
        layers = tuple((info.get('RootFS') or {}).get('Layers') or ())
        with self._lock:
            self._layers[image_id] = layers
        return layers

    def retain(self, image_ids: Iterable[str]) -> None:
        """Forget images that no longer exist."""
        keep = set(image_ids)
        with self._lock:
            for image_id in [i for i in self._layers if i not in keep]:
                del self._layers[image_id]


def _clean_tags(tags: Optional[Sequence[str]]) -> List[str]:
    return [t for t in (tags or []) if t and t != '<none>:<none>']


def _clean_digests(digests: Optional[Sequence[str]]) -> List[str]:
    return [d for d in (digests or []) if d and d != '<none>@<none>']


def list_images(client, cache: LayerCache, name_filter: str = '', all_images: bool = False) -> List[ImageSummary]:
    """Local images, newest first, like ``docker images [REPO[:TAG]]``."""
    if name_filter:
        _validate_filter(name_filter)
    with translate_errors('list images'):
        # As a `reference` filter, not images(name=...): SDKs before 5.0 send that as the `filter` parameter,
        # which Engine API 1.41 (Docker 20.10) ignores, and every image would be listed.
        rows = client.images(all=all_images, filters={'reference': name_filter} if name_filter else None)
    if not name_filter and all_images:
        # Only a complete listing may prune: one without intermediate images would drop theirs, and the next
        # inspect_image would inspect every one of them again.
        cache.retain(row['Id'] for row in rows)
    result = []
    for row in rows:
        try:
            layer_count = len(cache.layers(client, row['Id']))
        except NotFound:
            continue  # removed since the daemon listed it (a build's intermediate image, another client's rmi)
        result.append(ImageSummary(row['Id'], _clean_tags(row.get('RepoTags')), _clean_digests(row.get('RepoDigests')),
                                   int(row.get('Created') or 0), int(row.get('Size') or 0), layer_count))
    result.sort(key=lambda image: image.created, reverse=True)
    return result


def _validate_filter(name_filter: str) -> None:
    # `docker images` accepts shell-style wildcards in the filter; validate the rest of the grammar.
    probe = name_filter.replace('*', 'x').replace('?', 'x')
    try:
        references.parse(probe)
    except InvalidRequest as exc:
        raise InvalidRequest('invalid filter %r: %s' % (name_filter, exc)) from None


def resolve_image(client, image: str) -> dict:
    """The daemon's inspect data of ``image`` (name, name:tag, id or id prefix)."""
    references.parse_source(image)
    with translate_errors('inspect image'):
        try:
            return client.inspect_image(image)
        except Exception as exc:
            if getattr(getattr(exc, 'response', None), 'status_code', 0) == 404:
                raise NotFound('no such image %r on the robot; list them with list_images' % image) from None
            raise


def inspect_image(client, cache: LayerCache, image: str) -> Tuple[ImageSummary, List[Layer]]:
    """One image and its layers, base first, each with how many other local images share it."""
    info = resolve_image(client, image)
    image_id = info['Id']
    diff_ids = list((info.get('RootFS') or {}).get('Layers') or [])
    with translate_errors('image history'):
        history = list(reversed(client.history(image_id)))
        others = [row['Id'] for row in client.images(all=True) if row['Id'] != image_id]
    cache.retain(others + [image_id])
    counts: Dict[str, int] = {}
    for other in others:
        try:
            other_layers = cache.layers(client, other)
        except NotFound:
            continue  # removed since the daemon listed it: it shares nothing any more
        for diff_id in set(other_layers):
            counts[diff_id] = counts.get(diff_id, 0) + 1
    layers = [Layer(diff_id, entry.get('CreatedBy') or '', int(entry.get('Created') or 0),
                    int(entry.get('Size') or 0), entry.get('Comment') or '', counts.get(diff_id, 0))
              for diff_id, entry in zip(diff_ids, join_history(history, len(diff_ids)))]
    summary = ImageSummary(image_id, _clean_tags(info.get('RepoTags')), _clean_digests(info.get('RepoDigests')),
                           _created(info), int(info.get('Size') or 0), len(diff_ids))
    return summary, layers


def _created(info: dict) -> int:
    text = (info.get('Created') or '')[:19]
    try:
        return int(datetime.strptime(text, '%Y-%m-%dT%H:%M:%S').replace(tzinfo=timezone.utc).timestamp())
    except ValueError:
        return 0


def _makes_layer(entry: dict) -> bool:
    # Classic-builder metadata steps are "#(nop)" and make no layer, except COPY and ADD.
    created_by = entry.get('CreatedBy') or ''
    if '#(nop)' not in created_by:
        return True
    after = created_by.split('#(nop)', 1)[1].strip()
    return after.startswith(('COPY', 'ADD'))


def join_history(history: List[dict], layer_count: int) -> List[dict]:
    """The history entries (oldest first) that made the image's ``layer_count`` layers, in order.

    The Engine's history API does not say which entries were empty layers, so they are told apart by their
    instruction and size; when that does not add up, the newest entries with a size are taken.
    """
    chosen = [entry for entry in history if _makes_layer(entry)]
    if len(chosen) != layer_count:
        chosen = [entry for entry in history if int(entry.get('Size') or 0) > 0]
    if len(chosen) != layer_count:
        chosen = history[-layer_count:] if layer_count else []
    if len(chosen) < layer_count:
        chosen = [{}] * (layer_count - len(chosen)) + chosen
    return chosen


def list_containers(client, all_containers: bool = False) -> List[Container]:
    with translate_errors('list containers'):
        rows = client.containers(all=all_containers)
    return [Container(row['Id'], (row.get('Names') or ['/'])[0].lstrip('/'), row.get('Image') or '',
                      row.get('Status') or '', int(row.get('Created') or 0)) for row in rows]


def _require_container(name: str) -> None:
    if not name or not name.strip():
        raise InvalidRequest('a container name or id is required (see list_containers)')


def container_diff(client, container: str) -> ContainerChanges:
    """Files added, changed and deleted in a container, like ``docker diff``."""
    _require_container(container)
    with translate_errors('container diff'):
        try:
            rows = client.diff(container) or []
        except Exception as exc:
            _raise_missing_container(exc, container)
            raise
    by_kind: Dict[int, List[str]] = {0: [], 1: [], 2: []}
    for row in rows:
        by_kind.setdefault(row.get('Kind'), []).append(row.get('Path'))
    return ContainerChanges(sorted(by_kind[1]), sorted(by_kind[0]), sorted(by_kind[2]))


def _raise_missing_container(exc: Exception, container: str) -> None:
    if getattr(getattr(exc, 'response', None), 'status_code', 0) == 404:
        raise NotFound('no such container %r on the robot; list them with list_containers (all: true)'
                       % container) from None


def commit(client, container: str, target: str = '', message: str = '', author: str = '',
           changes: Sequence[str] = (), pause: bool = True) -> str:
    """``docker commit``: a new image from a container's changes. Returns the new image id.

    The Engine API's ``pause`` parameter is sent directly (the SDK only exposes it from 7.0).
    """
    _require_container(container)
    repository, tag = references.split_tag(references.parse_target(target)) if target else (None, None)
    check_changes(changes)
    params = {'container': container, 'repo': repository, 'tag': tag, 'comment': message or None,
              'author': author or None, 'changes': list(changes) or None, 'pause': 'true' if pause else 'false'}
    with translate_errors('commit'):
        try:
            response = client._post_json(client._url('/commit'), data={}, params=params)
            return client._result(response, json=True)['Id']
        except Exception as exc:
            _raise_missing_container(exc, container)
            raise


_COMMIT_INSTRUCTIONS = {'CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'USER', 'VOLUME', 'WORKDIR'}


def check_changes(changes: Sequence[str]) -> None:
    """Raise :class:`InvalidRequest` unless every change is a Dockerfile instruction that commit accepts."""
    for change in changes:
        if not change.strip() or change.split()[0].upper() not in _COMMIT_INSTRUCTIONS:
            raise InvalidRequest('invalid change %r: commit accepts only %s instructions'
                                 % (change, ', '.join(sorted(_COMMIT_INSTRUCTIONS))))


def tag(client, source: str, target: str) -> str:
    """``docker tag SOURCE TARGET``. Returns the id of the tagged image."""
    ref = references.parse_target(target)
    info = resolve_image(client, source)
    repository, tag_name = references.split_tag(ref)
    with translate_errors('tag'):
        client.tag(info['Id'], repository, tag_name or 'latest', force=True)
    return info['Id']


def remove_image(client, cache: LayerCache, image: str, force: bool = False,
                 prune_dangling: bool = False) -> Tuple[int, List[str]]:
    """``docker rmi`` (and optionally ``docker image prune``). Returns (bytes reclaimed, what was removed)."""
    info = resolve_image(client, image)
    sizes = {}
    try:
        summary, layers = inspect_image(client, cache, info['Id'])
        sizes = {layer.diff_id: layer.size for layer in layers if layer.shared_with == 0}
    except NotFound:
        pass
    target = image if not references.looks_like_id(image) else info['Id']
    with translate_errors('remove image'):
        rows = client.remove_image(target, force=force) or []
    removed = [value for row in rows for value in row.values()]
    reclaimed = sum(sizes.values()) if info['Id'] in removed else 0
    if prune_dangling:
        with translate_errors('prune dangling images'):
            pruned = client.prune_images(filters={'dangling': True}) or {}
        reclaimed += int(pruned.get('SpaceReclaimed') or 0)
        removed += [value for row in (pruned.get('ImagesDeleted') or []) for value in row.values()]
    return reclaimed, removed
