"""Category slugs: the media name in toneless pinyin, as the mirror makes them (pure).

The mirror used the first reading of each character (xpinyin's ``get_pinyin``), not the reading in
context: 中国银行 → ``zhongguoyinxing``. Characters that are not Chinese stay as they are, except
those that cannot live in a URL path segment, a Markdown link or a Liquid template (``/``, ``\\``,
``?``, ``#``, ``%``, ``:``, quotes, angle, square and curly brackets, ``|``, ``^``, control characters),
which are dropped; ``..`` cannot survive either.
"""
from __future__ import annotations

import functools
import re

from xpinyin import Pinyin

_UNSAFE = re.compile(r"[/\\?#%:\"'<>`\[\]{}|^\x00-\x1f\x7f-\x9f]")


@functools.lru_cache(maxsize=1)
def _pinyin() -> Pinyin:
    return Pinyin()


@functools.lru_cache(maxsize=4096)
def category_slug(media_name: str) -> str:
    """``南方日报`` → ``nanfangribao``; ``Career In 投行PEVC`` → ``Career In touxingPEVC``."""
    return safe_slug(_pinyin().get_pinyin(media_name.strip(), ""))


def safe_slug(slug: str) -> str:
    """A slug taken from a URL or a page, made safe the same way (no pinyin conversion)."""
    slug = _UNSAFE.sub("", slug)
    while ".." in slug:
        slug = slug.replace("..", ".")
    return slug.strip(" .")
