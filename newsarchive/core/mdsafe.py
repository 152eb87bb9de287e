"""The output sanitiser: every byte the archive writes into a post's Markdown goes through here (pure).

A post file is read three ways — as Markdown by kramdown (Jekyll), as a Liquid template by Jekyll
before that, and as plain HTML by anything naive — and must be inert in all three:

* **body HTML** (``normalize_body``, after nh3): every top-level node is a block element, so kramdown
  treats the whole body as HTML blocks and parses no Markdown in it (``*x*{: onmouseover=…}``,
  ``[x](javascript:…)``); ``{{`` and ``{%`` are written ``&#123;{`` / ``&#123;%`` so Liquid sees no tag;
* **Markdown text** (a digest line, a back-link's text): HTML-escaped, every character kramdown gives a
  meaning backslash-escaped, braces as entities — the reader sees the same text;
* **link targets** (back-links, the original's autolink): http(s) or relative only; characters that
  could end the link or open markup are percent-encoded.

The seed and the real posts come out byte for byte as the mirror writes them: none of this changes
text that holds no markup.
"""
from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

# characters kramdown gives a meaning anywhere in running text (code, emphasis, links, math), escaped
# with a backslash; and those that mean something only at the start of a line (headers, lists, rules,
# definitions, tables, fences)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]$])")
_LINE_START = re.compile(r"^(\s*)([#+\-=~:|])")
_LINE_LIST = re.compile(r"^(\s*[0-9]+)\.")
_MD_HINT = frozenset("<>&\\`*_[]{}$#+-=~:|0123456789")
_LIQUID_OPEN = re.compile(r"\{(?=[{%])")
# C0 and C1 control characters but tab, line feed and carriage return: a terminal runs them (ESC [ …,
# OSC titles, the 8-bit CSI U+009B), an editor may hide them
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# lone surrogates: what Python makes of bytes that were no UTF-8 (argv, surrogateescape); nothing can encode them
SURROGATES = re.compile("[\ud800-\udfff]")
# in a link target: nothing that ends it, nothing that opens markup or a Liquid tag
# (a plain space stays: the mirror's own back-links have slugs with spaces, and kramdown reads them)
# (balanced parentheses stay too, as in the mirror's ``…/category/anxinguojizhengquan(xianggang).html``)
_URL_UNSAFE = re.compile(r"""[\t\n\r\f\v<>"'`\[\]{}|\\^\x00-\x1f\x7f]""")
_SAFE_SCHEMES = ("http", "https")


def strip_controls(text: str) -> str:
    """``text`` without control characters (tab and line breaks stay)."""
    return _CONTROL.sub("", text)


# bidi formatting characters: on a terminal they reorder what follows (a category that shows another)
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """``text`` as a terminal may show it: no control characters, no bidi reordering."""
    return _BIDI.sub("", strip_controls(text))


def one_line(value: object, limit: int = 300) -> str:
    """A message for one line of a log or a terminal: white space collapsed, control characters out,
    at most ``limit`` characters."""
    text = " ".join(strip_controls(str(value)).split())
    return text if len(text) <= limit else text[:limit] + "…"


def liquid_inert(text: str) -> str:
    """``{{`` / ``{%`` → ``&#123;{`` / ``&#123;%``: Liquid finds no tag; HTML and kramdown show ``{``."""
    return _LIQUID_OPEN.sub("&#123;", text) if "{" in text else text


def md_text(text: str) -> str:
    """Plain text as a Markdown span that shows exactly this text and nothing else: HTML-escaped,
    kramdown's span syntax backslash-escaped, braces as entities (no IAL, no extension, no Liquid)."""
    text = _CONTROL.sub("", text)
    if _MD_HINT.isdisjoint(text):
        return text
    out = html.escape(text, quote=False)
    out = _MD_SPECIAL.sub(r"\\\1", out)
    return out.replace("{", "&#123;").replace("}", "&#125;")


def md_line(text: str) -> str:
    """``md_text`` for the start of a line too (a digest paragraph): a leading ``#``, ``-``, ``1.``,
    ``:``, ``|``… stays text instead of making a header, a list or a table."""
    out = _LINE_START.sub(r"\1\\\2", md_text(text), count=1)
    return _LINE_LIST.sub(r"\1\\.", out, count=1)


def safe_href(url: str, relative: bool = True) -> str | None:
    """A link target that cannot leave its link: http(s) (or, with ``relative``, a path or ``//host``
    reference), with unsafe characters percent-encoded; None for any other scheme."""
    url = (url or "").strip()
    if not url or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme:
        if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
            return None
    elif not relative or url.startswith("\\") or not (url.startswith("/") or parts.path):
        return None
    out = _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url)
    if out.count("(") != out.count(")") or out.find(")") < out.find("("):
        out = out.replace("(", "%28").replace(")", "%29")
    return out


def md_link(text: str, url: str) -> str:
    """``[text](url)`` with both made safe; the text alone (escaped) when the target is not."""
    target = safe_href(url)
    return f"[{md_text(text)}]({target})" if target else md_text(text)


def autolink(url: str) -> str:
    """``<url>`` for an http(s) URL (percent-encoded where needed), or "" when it is not one."""
    target = safe_href(url, relative=False)
    return f"<{target}>" if target else ""


BLOCK = frozenset((
    "p", "div", "center", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "td", "th",
    "caption", "colgroup", "col", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre", "dl", "dt", "dd",
    "section", "article", "figure", "figcaption"))
_VOID = frozenset(("br", "img", "hr", "col", "wbr"))
_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b[^>]*?(/?)>|<!--.*?-->|[^<]+|<", re.S)


def block_level(fragment: str) -> str:
    """Wrap every run of top-level inline content (text, ``<a>``, ``<b>``, ``<br>``…) in ``<p>``, so
    the body is HTML blocks only and kramdown parses none of it as Markdown. ``fragment`` is nh3's
    output (balanced tags); a body already made of blocks is returned as it is."""
    if not fragment:
        return fragment
    out: list[str] = []
    run: list[str] = []
    depth = 0

    def flush() -> None:
        if run:
            text = "".join(run)
            out.append(f"<p>{text}</p>" if text.strip() else text)
            run.clear()

    for m in _TOKEN.finditer(fragment):
        token = m.group()
        closing, name, selfclose = m.group(1), (m.group(2) or "").lower(), m.group(3)
        if depth == 0:
            if name in BLOCK and not closing:
                flush()
                out.append(token)
                if name not in _VOID and not selfclose:
                    depth = 1
                continue
            run.append(token)
            continue
        out.append(token)
        if name in BLOCK and name not in _VOID and not selfclose:
            depth += -1 if closing else 1
    flush()
    result = "".join(out)
    return result
