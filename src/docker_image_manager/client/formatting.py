"""Human-readable text for sizes, times and transfer progress, shared by imagectl and the widget.

Pure functions, no ROS and no Qt: they take plain numbers or message-like objects (anything with the fields of
``TransferProgress`` / ``LayerProgress``), so they are tested without a node. Sizes use Docker's decimal units
(``kB``, ``MB``, ``GB``) and its progress-bar shape, so a push in imagectl looks like ``docker push``.
"""
from __future__ import annotations

import math
from typing import Optional

_UNITS = ('B', 'kB', 'MB', 'GB', 'TB', 'PB')
BAR_WIDTH = 50
# Statuses after which a layer has nothing more to move; their bar is shown full.
_FINISHED = ('Pushed', 'Layer already exists', 'Mounted from', 'Pull complete', 'Already exists',
             'Download complete')


def format_size(size: float, precision: int = 4) -> str:
    """``size`` bytes in decimal units with ``precision`` significant digits, as Docker prints them.

    >>> format_size(12345678)
    '12.35MB'
    """
    size = float(max(0.0, size))
    unit = 0
    while size >= 1000.0 and unit < len(_UNITS) - 1:
        size /= 1000.0
        unit += 1
    return '%.*g%s' % (precision, size, _UNITS[unit])


def format_rate(bytes_per_s: float) -> str:
    """A transfer rate such as ``3.2MB/s`` (``-`` when unknown)."""
    if not bytes_per_s or bytes_per_s <= 0 or math.isnan(bytes_per_s):
        return '-'
    return format_size(bytes_per_s, 3) + '/s'


def format_duration(seconds: float) -> str:
    """A short clock-like duration: ``0:07``, ``12:30``, ``1:02:03`` (``-`` when unknown)."""
    if seconds is None or seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        return '-'
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return '%d:%02d:%02d' % (hours, minutes, secs)
    return '%d:%02d' % (minutes, secs)


def format_ago(then_s: float, now_s: float) -> str:
    """How long ago ``then_s`` was, in Docker's words (``3 minutes ago``); ``-`` for an unset time."""
    if not then_s or then_s <= 0:
        return '-'
    return human_duration(max(0.0, now_s - then_s)) + ' ago'


def human_duration(seconds: float) -> str:
    """Docker's approximate duration words (``About an hour``, ``3 days``)."""
    secs = int(seconds)
    if secs < 1:
        return 'Less than a second'
    if secs == 1:
        return '1 second'
    if secs < 60:
        return '%d seconds' % secs
    minutes = secs // 60
    if minutes == 1:
        return 'About a minute'
    if minutes < 60:
        return '%d minutes' % minutes
    hours = int(seconds / 3600.0 + 0.5)
    if hours == 1:
        return 'About an hour'
    if hours < 48:
        return '%d hours' % hours
    if hours < 24 * 7 * 2:
        return '%d days' % (hours // 24)
    if hours < 24 * 30 * 2:
        return '%d weeks' % (hours // 24 // 7)
    if hours < 24 * 365 * 2:
        return '%d months' % (hours // 24 // 30)
    return '%d years' % (hours // 24 // 365)


def short_id(image_id: str, length: int = 12) -> str:
    """An image or layer id without its ``sha256:`` prefix, cut to ``length`` hex digits."""
    if image_id.startswith('sha256:'):
        image_id = image_id[len('sha256:'):]
    return image_id[:length]


def split_repo_tag(repo_tag: str):
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``); a missing tag gives ``<none>``."""
    slash = repo_tag.rfind('/')
    colon = repo_tag.rfind(':')
    if colon > slash:
        return repo_tag[:colon], repo_tag[colon + 1:]
    return repo_tag, '<none>'


def layer_finished(status: str) -> bool:
    """True when a layer with this daemon status needs no more bytes moved."""
    return status.startswith(_FINISHED)


def layer_fraction(layer) -> Optional[float]:
    """0..1 for a layer (1 once finished), or None when its size is not known yet."""
    if layer_finished(layer.status):
        return 1.0
    if layer.total > 0:
        return min(1.0, max(0.0, float(layer.current) / float(layer.total)))
    return None


def progress_bar(current: int, total: int, width: int = BAR_WIDTH) -> str:
    """Docker's bar: ``[=========>          ]``; empty string when the total is unknown."""
    if total <= 0:
        return ''
    filled = min(width, int(width * max(0, current) / total))
    arrow = '>' if filled < width else '='
    return '[' + '=' * filled + arrow + ' ' * (width - filled) + ']'


def layer_line(layer, width: int = BAR_WIDTH) -> str:
    """One layer as ``docker push`` shows it: ``<id>: Pushing  [==>   ]  12.3MB/45.6MB``."""
    text = '%s: %s' % (layer.id, layer.status)
    if layer_finished(layer.status) or layer.status in ('Preparing', 'Waiting'):
        return text
    if layer.total > 0:
        return '%s  %s  %s/%s' % (text, progress_bar(layer.current, layer.total, width),
                                  format_size(layer.current), format_size(layer.total))
    if layer.current > 0:
        return '%s  %s' % (text, format_size(layer.current))
    return text


def overall_line(progress, width: int = 30) -> str:
    """The whole transfer on one line: bar, percent, bytes, rate and ETA (the error itself is the caller's)."""
    percent = max(0.0, min(100.0, float(progress.percent)))
    verb = 'Pushed' if progress.direction == 'push' else 'Pulled'
    if progress.done and progress.error:
        return 'Failed at %.0f%%' % percent
    bar = progress_bar(int(percent * 10), 1000, width)
    numbers = '%s/%s' % (format_size(progress.bytes_done), format_size(progress.bytes_total)) \
        if progress.bytes_total > 0 else format_size(progress.bytes_done)
    if progress.done:
        return '%s %s %5.1f%%  %s' % (verb, bar, percent, numbers)
    return 'Total  %s %5.1f%%  %s  %s  ETA %s' % (
        bar, percent, numbers, format_rate(progress.rate_bps),
        format_duration(progress.eta_s) if progress.eta_s > 0 else '-')
