"""A post of the mirror's Jekyll source (front matter + Markdown body), as the page Jekyll would make of
it (pure) — so an imported post is read by the same reader as a crawled page (``read_post_page``) and
goes the one way to the archive.

The rendering is the part of kramdown the mirror's posts use: HTML blocks as they are, paragraphs
(line breaks kept), ``> `` digests as blockquotes, ``<url>`` autolinks and ``[text](url)`` links,
backslash escapes; a front matter date without an offset is UTC, as YAML and Jekyll read it, and
shown in Beijing time as the mirror's layout does. A post whose front matter follows blank lines —
which Jekyll takes for no front matter at all, and drops — is read all the same.
"""
from __future__ import annotations

import datetime as dt
import html
import re

import yaml

from newsarchive.core.dates import BEIJING

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# a link target may hold balanced parentheses and spaces, as kramdown reads them (the mirror's slugs)
_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(((?:[^()\n]|\([^()\n]*\))*)\)")
_AUTO = re.compile(r"<(https?://[^>\s]+)>")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~^$:=>])")
_HTML_BLOCK = re.compile(r"^\s*<(?:[A-Za-z][A-Za-z0-9]*[\s>/]|!--)")
_NAME = re.compile(r"^(?:(\d{4})-(\d{2})-(\d{2})-)?(.+?)\.(?:md|markdown)$")


class NotAPost(ValueError):
    """A file that is no post: no front matter, or one that is not a mapping."""


def split(text: str) -> tuple[dict, str, bool]:
    """``(front matter, body, jekyll_reads_it)``; the front matter may follow blank lines (Jekyll
    would not read it: ``jekyll_reads_it`` False)."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    stripped = text.lstrip("\n \t")
    if not stripped.startswith("---\n"):
        raise NotAPost("no front matter")
    end = stripped.find("\n---", 3)
    if end < 0:
        raise NotAPost("the front matter is not closed")
    try:
        meta = yaml.load(stripped[4:end], Loader=_Loader)
    except yaml.YAMLError as exc:
        raise NotAPost(f"the front matter is not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(meta, dict):
        raise NotAPost("the front matter is not a mapping")
    body = stripped[end + 4:]
    body = body[1:] if body.startswith("\n") else body
    return meta, body, stripped is text


def shown_date(value) -> str:
    """The date as the mirror's layout shows it: Beijing time; a date without an offset is UTC."""
    if isinstance(value, dt.datetime):
        when = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).astimezone(BEIJING).strftime(
            "%Y-%m-%d %H:%M:%S")
    text = str(value or "").strip()
    try:
        parsed = dt.datetime.fromisoformat(text.replace(" +", "+").replace(" -", "-"))
    except ValueError:
        return text
    return shown_date(parsed)


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _anchor(url: str, text: str) -> str:
    return f'<a href="{html.escape(_unescape(url))}">{text}</a>'


def _inline(text: str) -> str:
    text = _AUTO.sub(lambda m: _anchor(m.group(1), html.escape(m.group(1))), text)
    text = _LINK.sub(lambda m: _anchor(m.group(2), m.group(1)), text)
    return _unescape(text)


def render_body(body: str) -> str:
    """The HTML kramdown makes of the mirror's post bodies."""
    out = []
    for block in re.split(r"\n\s*\n", body.strip("\n")):
        if not block.strip():
            continue
        if _HTML_BLOCK.match(block):
            out.append(block.strip())
        elif block.lstrip().startswith(">"):
            lines = [re.sub(r"^\s*>\s?", "", line) for line in block.split("\n")]
            paras = re.split(r"\n\s*\n", "\n".join(lines))
            out.append("<blockquote>" + "".join(f"<p>{_inline(p.strip())}</p>" for p in paras if p.strip())
                       + "</blockquote>")
        else:
            out.append(f"<p>{_inline(block.strip())}</p>")
    return "\n".join(out)


def page(meta: dict, body: str) -> str:
    """The post page of the mirror's layout (the part the reader reads)."""
    tags = _words(meta.get("tags"))
    date = shown_date(meta.get("date")) if meta.get("date") is not None else ""
    tag_html = "".join(f"<em>{html.escape(t)}</em>" for t in tags)
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div class="wrapper"><section>'
            f"<small>(GMT+8, Asia/Shanghai, CST) {html.escape(date)}</small>"
            f"<h1>{html.escape(str(meta.get('title') or ''))}</h1>\n{render_body(body)}\n"
            f"<small>tags: {tag_html}</small></section></div></body></html>")


def _words(value) -> list[str]:
    """A front matter's tags or categories as Jekyll takes them: a list, or a string's words — also what
    YAML read as no string (``.inf``, ``0x1F``, ``12:30:00``, a date): its text (it was "not iterable")."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return str(value).split()


def page_path(meta: dict, filename: str) -> str:
    """Where the mirror publishes the post: ``/<categories>/YYYY/MM/DD/<slug>.html``."""
    m = _NAME.match(filename)
    # (the mirror's writer, given an empty date, named a post "-<id>.md": the id is still its name)
    slug = (m.group(4) if m else filename.rsplit(".", 1)[0]).lstrip("-") or "post"
    cats = _words(meta.get("categories") or meta.get("category"))
    day = shown_date(meta.get("date"))[:10] if meta.get("date") else ""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        day = f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m and m.group(1) else "1970-01-01"
    return "/" + "/".join([*cats, *day.split("-"), slug]) + ".html"
