"""Normalisation of article HTML: EastMoney widgets out, indents out, sanitised, compact (pure).

One function per rule, composed by :func:`normalize_body`. Input is the article HTML as the share
host or the mirror gives it; output is the compact, safe HTML the archive stores.
"""
from __future__ import annotations

import collections
import html
import re

import lxml.etree
import lxml.html
import nh3

from newsarchive.core import htmlparse
from newsarchive.core.mdsafe import SURROGATES, block_level, liquid_inert, strip_controls

BLOCK_TAGS = (
    "p", "div", "center", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tfoot",
    "tr", "td", "th", "caption", "colgroup", "col", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "br", "section", "article", "figure", "figcaption", "dl", "dt", "dd", "pre",
)
ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "a", "img", "center", "blockquote",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col",
    "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "sub", "sup", "u", "hr",
}
# elements removed together with everything inside them
DROP_WITH_CONTENT = {
    "script", "style", "iframe", "object", "embed", "form", "noscript", "template", "svg",
    "math", "textarea", "select", "button", "audio", "video", "canvas", "frame", "frameset",
    "noembed", "noframes", "applet", "title", "head",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title", "style"},
    "p": {"style"},
    "center": {"style"},
    "td": {"colspan", "rowspan", "style", "align"},
    "th": {"colspan", "rowspan", "style", "align"},
    "table": {"border", "cellpadding", "cellspacing", "width", "style"},
    "ol": {"start"},
}
# layout-only CSS; anything else (url(), expression(), display:none, position…) is dropped
ALLOWED_STYLE = {
    "text-align", "text-indent", "width", "height", "border", "padding", "margin",
    "font-weight", "font-style", "vertical-align", "border-collapse",
}
URL_SCHEMES = {"http", "https", "mailto"}

_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=DROP_WITH_CONTENT,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    link_rel=None,
    strip_comments=True,
    filter_style_properties=ALLOWED_STYLE,
)

_STOCK_START = re.compile(r"<!--\s*EM_StockImg_Start\s*-->", re.I)
_STOCK_END = re.compile(r"<!--\s*EM_StockImg_End\s*-->", re.I)
# one pattern each: an alternation under IGNORECASE has no literal to scan for and tries every
# branch at every character (~120 µs over a 5 KB article, against ~25 µs for the seven)
_WIDGET_HINTS = tuple(re.compile(p, re.I) for p in (
    "stock_", "bk_", "quote_", "em_stock_key", "infokey", "keytip", r"display\s*:\s*none"))
_BLOCK = "|".join(BLOCK_TAGS)
# (a tag's rest stops at the next "<" too: "[^>]*" scanned to the text's end for every "<p" never closed)
_BLOCK_GAP = re.compile(rf"(</?(?:{_BLOCK})\b[^<>]*>)\s+(?=</?(?:{_BLOCK})\b)", re.I)
# (two patterns, not one with "|^": a pattern that begins with "<" is scanned for it in C, 1.5× faster)
_INDENT = re.compile(r"(<(?:p|div|li|td|th|center|blockquote|br)\b[^<>]*>)(?:[\s\u3000]|&nbsp;|&#12288;|&#x3000;)+", re.I)
_LEADING_INDENT = re.compile(r"(?:[\s\u3000]|&nbsp;|&#12288;|&#x3000;)+", re.I)
_TAG_HINT = re.compile(r"<[A-Za-z!/]")
_HIDDEN = re.compile(r"display\s*:\s*none", re.I)


class BodyError(ValueError):
    """The article body cannot be normalised (wrong type, nothing left)."""


def drop_stock_images(fragment: str) -> str:
    """Remove ``<!-- EM_StockImg_Start -->…<!-- EM_StockImg_End -->`` quote-chart blocks."""
    if "EM_StockImg" not in fragment:
        return fragment
    # (start, then the next end, in one pass: one pattern ``start.*?end`` scanned to the text's end for
    # every start with no end after it — time squared)
    out, pos = [], 0
    while (start := _STOCK_START.search(fragment, pos)) and (end := _STOCK_END.search(fragment, start.end())):
        out.append(fragment[pos:start.start()])
        pos = end.end()
    out.append(fragment[pos:])
    return "".join(out)


_HIDDEN_XP = lxml.etree.XPath("//*[@style][contains(translate(@style, 'DISPLAYNOE', 'displaynoe'), 'display')]")
_EMPTY_QUOTE_XP = lxml.etree.XPath("//span[starts-with(@id, 'quote_') or starts-with(@id, 'bkquote_')]")
_UNWRAP_XP = lxml.etree.XPath(
    "//span[starts-with(@id, 'stock_') or starts-with(@id, 'bk_') or starts-with(@id, 'Info.')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' em_stock_key_common ')]"
    " | //a[contains(concat(' ', normalize-space(@class), ' '), ' keytip ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' infokey ')]")
_WIDGET_WORDS = ("stock_", "bk_", "quote_", "Info.", "infokey", "keytip", "display")


def unwrap_widgets(fragment: str) -> str:
    """Unwrap EastMoney stock/board link spans to their text, drop empty quote spans and
    elements hidden with ``display:none``; the visible text is otherwise unchanged."""
    # plain substring tests first: a regex alternation over Chinese text costs ~100 µs a post
    if not any(w in fragment for w in _WIDGET_WORDS) and "DISPLAY" not in fragment.upper():
        return fragment
    if not any(hint.search(fragment) for hint in _WIDGET_HINTS):
        return fragment
    try:
        root = htmlparse.fragment(fragment)
    except htmlparse.TooDeep as exc:
        raise BodyError(str(exc)) from None
    for el in _HIDDEN_XP(root):
        if _HIDDEN.search(el.get("style") or "") and el.getparent() is not None:
            el.drop_tree()
    for el in _EMPTY_QUOTE_XP(root):
        if not el.text_content().strip() and el.getparent() is not None:
            el.drop_tree()
    for el in _UNWRAP_XP(root):
        if el.getparent() is not None:
            el.drop_tag()
    out = lxml.html.tostring(root, encoding="unicode")
    return out[len("<div>"):-len("</div>")] if out.startswith("<div>") else out


def text_to_html(text: str) -> str:
    """A body with no markup at all: one ``<p>`` per non-empty line."""
    lines = [line.strip() for line in text.splitlines()]
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines if line)


_INDENT_HINT = re.compile(r">(?:[\s\u3000]|&nbsp;|&#12288;|&#x3000;)|^[\s\u3000&]", re.I)


def strip_indents(fragment: str) -> str:
    """Remove the ideographic-space indents (``　　``) and blanks at paragraph starts."""
    if not _INDENT_HINT.search(fragment):
        return fragment
    leading = _LEADING_INDENT.match(fragment)
    return _INDENT.sub(r"\1", fragment[leading.end():] if leading else fragment)


def sanitize(fragment: str) -> str:
    """Whitelist sanitising (nh3/ammonia): no script, style, iframe, object, embed, form,
    event handlers or ``javascript:``/``data:`` URLs survive."""
    return _CLEANER.clean(fragment)


_TAG_WITH_NEWLINE = re.compile(r"<[^<>]*\n[^<>]*>")


def newlines_in_tags(fragment: str) -> str:
    """Line breaks inside nh3's tags (in attribute values: nh3 escapes ``<`` and ``>`` there) as
    ``&#10;``: the same value, and no blank line inside a tag, so every reader that splits the body
    into blocks at blank lines (kramdown, the site export) splits it between tags or in text."""
    if "\n" not in fragment:
        return fragment
    return _TAG_WITH_NEWLINE.sub(lambda m: m.group().replace("\n", "&#10;"), fragment)


def compact_blocks(fragment: str) -> str:
    """No white space between block tags (the upstream's compact form)."""
    return _BLOCK_GAP.sub(r"\1", fragment).strip()


# what an HTML5 parser (nh3's html5ever) takes time squared for: elements left open (``<div>`` × 40,000:
# 4.7 s), formatting elements left open before each new block (``<b><div>`` × 128,000, one megabyte:
# 117 s), a tag's attributes by the ten thousand. No article leaves thousands of elements or hundreds of
# formatting tags open (the real ones: none); tags themselves cost linear time (800,000 balanced: 0.35 s).
MAX_OPEN_ELEMENTS = 2000
MAX_OPEN_FORMATTING = 500
_TAG_NAME = re.compile(r"<(/?[A-Za-z][A-Za-z0-9]*)")
# (void elements, and those whose end tag may be left out — ``<p>a<p>b``: the next one closes them)
_NOT_OPEN = frozenset(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                       "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
                       "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body"])
_FORMATTING = frozenset(["a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt",
                         "u"])


MAX_AMPERSANDS = 20_000     # (html5ever, time squared in bare "&": 1,000,000 of them took 57 s)


def check_parse_cost(fragment: str) -> None:
    if fragment.count("&") > MAX_AMPERSANDS:
        raise BodyError(f"article body has more than {MAX_AMPERSANDS:,} '&': not read")
    counts = collections.Counter(name.lower() for name in _TAG_NAME.findall(fragment))
    open_elements = open_formatting = 0
    for name, n in counts.items():
        if name[0] == "/" or name in _NOT_OPEN:
            continue
        left = max(0, n - counts.get("/" + name, 0))
        open_elements += left
        if name in _FORMATTING:
            open_formatting += left
    if open_elements > MAX_OPEN_ELEMENTS:
        raise BodyError(f"article body leaves {open_elements:,} elements open (more than {MAX_OPEN_ELEMENTS:,}): "
                        "not read")
    if open_formatting > MAX_OPEN_FORMATTING:
        raise BodyError(f"article body leaves {open_formatting:,} formatting tags open "
                        f"(more than {MAX_OPEN_FORMATTING}): not read")
    try:
        htmlparse.check_attributes(fragment)
    except htmlparse.TooManyAttributes as exc:
        raise BodyError(f"article body: {exc}") from None


def normalize_body(raw: object) -> str:
    """The whole normalisation of an article body; raises BodyError when nothing usable is left."""
    if not isinstance(raw, str):
        raise BodyError(f"article body must be text, got {type(raw).__name__}")
    fragment = strip_controls(raw.replace("\r\n", "\n"))
    try:
        fragment.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (broken JSON escapes) cannot be written
        fragment = SURROGATES.sub("", fragment)
    if not _TAG_HINT.search(fragment):
        fragment = text_to_html(html.unescape(fragment))
    check_parse_cost(fragment)
    fragment = drop_stock_images(fragment)
    fragment = unwrap_widgets(fragment)
    fragment = strip_indents(fragment)
    fragment = newlines_in_tags(sanitize(fragment))
    fragment = liquid_inert(block_level(compact_blocks(strip_indents(fragment))))
    if not fragment:
        raise BodyError("article body is empty after normalisation")
    return fragment


# control characters, zero-width and bidi formatting (LRM/RLM, ALM, LRE…RLO, LRI…PDI: they reorder
# what a reader sees, e.g. a title that shows another title), line/paragraph separators, BOM, surrogates
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029"
                      "\u2060-\u2064\u2066-\u206f\ufeff\ud800-\udfff]")
# a run of white space with a space, a tab or a line break in it (ideographic spaces too): one space;
# ideographic spaces alone (U+3000, part of Chinese typography) stay as they are
# a run of white space with an ordinary space in it becomes one space (a run of ideographic spaces
# alone stays); found run by run — one pattern with the condition inside backtracked in time squared
_SPACE_RUN = re.compile("[ \t\r\n\f\v\xa0\u3000]+")


def _one_space(m: re.Match) -> str:
    run = m.group()
    return " " if run.strip("\u3000") else run


_TAG_LIKE = re.compile(r"<[A-Za-z/!?][^<>]*>?")
_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")


def fix_mojibake(s: str) -> str:
    """UTF-8 Chinese that was decoded as Latin-1/CP1252 (``ç§‘æŠ€`` → ``科技``), repaired only when
    the whole string round-trips and the result is Chinese; anything else is left as it is."""
    if not s or _CJK.search(s) or not any(ord(c) >= 0x80 for c in s):
        return s
    for codec in ("cp1252", "latin-1"):
        try:
            fixed = s.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if _CJK.search(fixed):
            return fixed
    return s


def clean_title(raw: object) -> str:
    """Decode entities, drop tags (also ones hidden behind entities) and control characters,
    repair classic mojibake, trim and collapse white space.

    Full-width punctuation and the ideographic space inside a title stay as they are (no NFKC).
    """
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise BodyError(f"title must be text, got {type(raw).__name__}")
    s = html.unescape(raw)
    previous = None
    passes = 0
    while previous != s:  # "&lt;img onerror=…&gt;" becomes a tag only after unescaping
        previous, s = s, _TAG_LIKE.sub("", s)
        passes += 1
        if passes == 8:   # (tags nested in tags by the thousand, a pass each: what is left of them goes)
            s = s.replace("<", "").replace(">", "")
            break
    s = _CONTROL.sub("", fix_mojibake(s))
    s = _SPACE_RUN.sub(_one_space, s)
    return s.strip(" \u3000")
