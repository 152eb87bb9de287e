"""The archived post: its dataclass, its exact text form, and reading it back (pure).

The format is the mirror's own (see tests/golden/): Jekyll front matter, the compact body HTML,
the original's URL as a Markdown autolink, then the back-links to the mirror.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

import yaml

from newsarchive.core.dates import format_date
from newsarchive.core.mdsafe import autolink, md_text
from newsarchive.core.reasons import Note

DEFAULT_SITE_BASE = "//finews.withounder.com"
HOME_LINK_TEXT = "返回首页"

# the C loader is several times faster; the pure one (PyYAML built without libyaml) gives the same answers
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Post:
    """A normalised post, ready to render. ``backlinks`` None means the standard pair."""

    info_code: str
    title: str
    date: dt.datetime
    category: str
    tags: list[str]
    body: str
    link_url: str = ""
    backlinks: str | None = None
    share_url: str = ""
    source_url: str = ""
    body_source: str = "share"
    notes: list[Note] = field(default_factory=list)

    @property
    def filename(self) -> str:
        return f"{format_date(self.date)[:10]}-{self.info_code}.md"


# characters PyYAML refuses raw in a stream; they are written as escapes
_YAML_UNPRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DQ_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x85": "\\N"}


def yaml_double_quoted(text: str) -> str:
    """``"…"``, escaped only where YAML needs it, so ``"科技…"`` stays as the mirror writes it."""
    out = re.sub(r'[\\"\n\t\r\x85]', lambda m: _DQ_ESCAPES[m.group()], text)
    out = _YAML_UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) < 0x10000
                                else f"\\U{ord(m.group()):08x}", out)
    return f'"{out}"'


# a plain scalar both PyYAML and Ruby's Psych (Jekyll) read as this string: it starts with a letter,
# a digit or a CJK character and holds nothing YAML or Psych gives a meaning (``:foo`` is a Ruby symbol
# to Psych, and a front matter Jekyll cannot read is dropped with the post's layout and title)
_PLAIN = re.compile(r"[0-9A-Za-z\u3400-\u9fff\uf900-\ufaff][0-9A-Za-z _.()\u00b7\u3400-\u9fff\uf900-\ufaff\uff01-\uff5e\u3000-\u303f-]*")


# what Psych reads as no string where PyYAML reads one: booleans and null in any case (``oFF``, ``nO``),
# and dates with one-digit months or days (``2021-1-1``) — Jekyll then fails the post's front matter
_PSYCH_NOT_TEXT = re.compile(r"(?i:yes|no|true|false|on|off|y|n|null|~)|\d{4}-\d{1,2}-\d{1,2}")


@functools.lru_cache(maxsize=4096)
def yaml_scalar(text: str) -> str:
    """A plain scalar when YAML (PyYAML and Jekyll's Psych alike) reads it back as this very string
    (``nanfangribao``, ``南方日报新闻``), else the double-quoted form."""
    if text and _PLAIN.fullmatch(text) and not text.endswith(" ") and not _PSYCH_NOT_TEXT.fullmatch(text):
        try:
            if yaml.load(f"k: {text}", Loader=_Loader) == {"k": text}:
                return text
        except yaml.YAMLError:
            pass
    return yaml_double_quoted(text)


def standard_backlinks(tag: str, category: str, site_base: str = DEFAULT_SITE_BASE) -> str:
    """``[返回<tag>](<base>/category/<slug>.html)｜[返回首页](<base>/)``; Markdown-special characters
    of the link text are escaped, unbalanced brackets of the slug percent-encoded, so no name can
    turn into a link of its own."""
    base = site_base.rstrip("/")
    text = md_text(tag)
    if category.count("(") != category.count(")"):
        category = category.replace("(", "%28").replace(")", "%29")
    return f"[返回{text}]({base}/category/{category}.html)｜[{HOME_LINK_TEXT}]({base}/)"


def render_front_matter(post: Post) -> str:
    return (
        "---\n"
        "layout: post\n"
        f"title: {yaml_double_quoted(post.title)}\n"
        f"date: {format_date(post.date)}\n"
        f"categories: {yaml_scalar(post.category)}\n"
        f"tags: {yaml_scalar(' '.join(post.tags))}\n"
        "---\n"
    )


def render_post(post: Post, site_base: str = DEFAULT_SITE_BASE) -> str:
    """The post file's whole text (no trailing newline, as the mirror writes it)."""
    parts = [post.body]
    link = autolink(post.link_url) if post.link_url else ""
    if link:
        parts.append(link)
    backlinks = post.backlinks
    if backlinks is None:
        backlinks = standard_backlinks(post.tags[0] if post.tags else "", post.category, site_base)
    if backlinks:
        parts.append(backlinks)
    return render_front_matter(post) + "\n\n".join(parts)


class PostFormatError(ValueError):
    """A file is not a post in the archive's format."""


def _front_matter_end(text: str) -> int:
    """Where the front matter's closing ``---`` line starts; raises PostFormatError."""
    if not text.startswith("---\n"):
        raise PostFormatError("no front matter at the first line")
    end = text.find("\n---\n", 3)
    if end < 0:
        raise PostFormatError("front matter is not closed")
    return end


def post_body(text: str) -> str:
    """The body of a post file written by newsarchive (front matter skipped without parsing it:
    the catalog already holds its fields)."""
    return text[_front_matter_end(text) + 5:]


def split_front_matter(text: str) -> tuple[dict, str]:
    """``(front matter as loaded by yaml.safe_load, body)``; raises PostFormatError."""
    end = _front_matter_end(text)
    try:
        meta = yaml.load(text[4:end], Loader=_Loader)
    except yaml.YAMLError as exc:
        raise PostFormatError(f"front matter is not YAML: {exc}".splitlines()[0]) from None
    if not isinstance(meta, dict):
        raise PostFormatError("front matter is not a mapping")
    return meta, text[end + 5:]
