"""Docker image references: parse and validate before the daemon is called.

The grammar follows github.com/distribution/reference::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex (at least 32 hex digits)
"""
from __future__ import annotations

import re
from typing import NamedTuple, Optional

from .errors import InvalidRequest

_PATH_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_DOMAIN_COMPONENT = r'(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
_DOMAIN = r'(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?' % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_TAG = r'[\w][\w.-]{0,127}'
_DIGEST = r'[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}'

_PATH_RE = re.compile(r'^%s(?:/%s)*$' % (_PATH_COMPONENT, _PATH_COMPONENT))
_DOMAIN_RE = re.compile(r'^%s$' % _DOMAIN)
# Go's \w is ASCII; Python's matches any Unicode letter or digit unless told otherwise.
_TAG_RE = re.compile(r'^%s$' % _TAG, re.ASCII)
_DIGEST_RE = re.compile(r'^%s$' % _DIGEST)
_ID_RE = re.compile(r'^(sha256:)?[0-9a-f]{1,64}\Z')  # \Z: '$' would accept a trailing newline

NAME_MAX = 255
DOCKER_HUB = 'docker.io'


class Reference(NamedTuple):
    """A parsed image reference. ``domain`` is empty for Docker Hub names written without one."""

    domain: str
    path: str
    tag: str
    digest: str

    @property
    def repository(self) -> str:
        """``[domain/]path``, as Docker names the repository."""
        return '%s/%s' % (self.domain, self.path) if self.domain else self.path

    @property
    def registry(self) -> str:
        """The registry host this reference lives on (``docker.io`` when none is given)."""
        return self.domain or DOCKER_HUB

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += ':' + self.tag
        if self.digest:
            text += '@' + self.digest
        return text


def _looks_like_domain(first: str) -> bool:
    # Docker's rule: the first component is a domain if it has a '.' or ':' or is 'localhost'.
    return '.' in first or ':' in first or first == 'localhost' or first != first.lower()


def parse(text: str) -> Reference:
    """Parse an image reference.

    Args:
        text: e.g. ``ubuntu``, ``user/name:1.0``, ``127.0.0.1:5000/a/b@sha256:...``.

    Returns:
        The :class:`Reference`.

    Raises:
        InvalidRequest: quoting the reference and saying which part is wrong.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest('an image reference is required (e.g. "user/name:tag")')
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidRequest('invalid reference %r: it contains white space' % text)
    rest, digest = text, ''
    if '@' in rest:
        rest, digest = rest.split('@', 1)
        if not _DIGEST_RE.match(digest):
            raise InvalidRequest('invalid reference %r: digest %r is not "algorithm:hex" with at least 32 hex '
                                 'digits' % (text, digest))
    domain, remainder = '', rest
    if '/' in rest:
        first, after = rest.split('/', 1)
        if _looks_like_domain(first):
            domain, remainder = first, after
            if not _DOMAIN_RE.match(domain):
                raise InvalidRequest('invalid reference %r: %r is not a valid registry host[:port]' % (text, domain))
    path, tag = remainder, ''
    if ':' in remainder:
        path, tag = remainder.rsplit(':', 1)
        if not _TAG_RE.match(tag):
            raise InvalidRequest('invalid reference %r: tag %r must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
                                 % (text, tag))
    if not path:
        raise InvalidRequest('invalid reference %r: the repository name is empty' % text)
    if path != path.lower():
        raise InvalidRequest('invalid reference %r: repository name %r must be lowercase' % (text, path))
    if not _PATH_RE.match(path):
        raise InvalidRequest('invalid reference %r: repository name %r may only hold lowercase letters, digits '
                             'and single separators (".", "_", "__", "-") between them, in "/"-separated '
                             'components' % (text, path))
    if len(domain) + len(path) + (1 if domain else 0) > NAME_MAX:
        raise InvalidRequest('invalid reference %r: the repository name is longer than %d characters'
                             % (text, NAME_MAX))
    return Reference(domain, path, tag, digest)


def parse_target(text: str) -> Reference:
    """Parse a ``repo[:tag]`` target for commit, tag or build (no digest allowed)."""
    ref = parse(text)
    if ref.digest:
        raise InvalidRequest('invalid target %r: a target is repo[:tag]; a digest cannot be assigned' % text)
    return ref


def parse_push(text: str) -> Reference:
    """Parse the image of a push: ``repo:tag``, tag required (the daemon would otherwise push every tag)."""
    ref = parse_target(text)
    if not ref.tag:
        raise InvalidRequest('refusing to push %r without a tag: Docker would push every local tag of the '
                             'repository; give one, e.g. "%s:latest"' % (text, text))
    return ref


def looks_like_id(text: str) -> bool:
    """True for a full or short image id (``sha256:abc...`` or a hex prefix)."""
    return bool(_ID_RE.match(text or ''))


def parse_source(text: str) -> str:
    """Validate an image given by id, id prefix, name or name:tag; returns it unchanged."""
    if looks_like_id(text):
        return text
    parse(text)
    return text


def split_tag(ref: Reference) -> 'tuple[str, Optional[str]]':
    """The ``(repository, tag)`` pair the SDK's tag/push/pull calls take."""
    return ref.repository, (ref.tag or None)
