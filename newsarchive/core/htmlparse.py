"""lxml parses that never lose part of a page without saying so (pure).

libxml2 stops building the tree at a nesting depth of 256 (2,048 with ``huge_tree``) and quietly
drops everything after that point: a post would be archived with its later paragraphs missing, its
share link unseen. These parsers allow the larger depth and raise :class:`TooDeep` when even that
was reached, so the caller records a failure instead of a truncated post.
"""
from __future__ import annotations

import re

import lxml.etree
import lxml.html

_PARSER = lxml.html.HTMLParser(huge_tree=True)


class TooDeep(ValueError):
    """The HTML nests deeper than the parser follows: part of it would be lost."""


class TooManyAttributes(TooDeep):
    """A tag with more attributes than a page has any use for: libxml2's check for repeated ones
    takes time in their number squared (50,000 of them: 23 s), so such a page is not parsed."""


MAX_ATTRIBUTES = 1000
# a start tag's attributes as an HTML tokenizer reads them: names with or without values, values quoted
# (any ">" or "<" inside) or not; nothing follows the repetition, so it never backtracks
_ATTRIBUTE = r"""[\s/]+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""   # ("/" parts them too)
_TOO_MANY = re.compile(rf"<[A-Za-z][^\s/>]*(?:{_ATTRIBUTE}){{{MAX_ATTRIBUTES + 1}}}")


def check_attributes(text: str) -> None:
    """TooManyAttributes for a tag with more than MAX_ATTRIBUTES (one search, in C: ~50 µs a 9 KB page)."""
    if len(text) > 2 * MAX_ATTRIBUTES and _TOO_MANY.search(text):
        raise TooManyAttributes(f"a tag with more than {MAX_ATTRIBUTES:,} attributes: not read")


def _check(parser) -> None:
    for entry in parser.error_log:
        if "Excessive depth" in entry.message:
            raise TooDeep("the HTML nests deeper than 2,048 elements: it cannot be read whole")


def document(text: str):
    check_attributes(text)
    doc = lxml.html.document_fromstring(text, parser=_PARSER)
    _check(_PARSER)
    return doc


def fragment(text: str):
    """``text`` inside a ``<div>`` (lxml's ``fragment_fromstring(create_parent="div")``)."""
    check_attributes(text)
    root = lxml.html.fragment_fromstring(text, create_parent="div", parser=_PARSER)
    _check(_PARSER)
    return root


__all__ = ["TooDeep", "TooManyAttributes", "document", "fragment", "lxml"]
