"""Decoding of fetched bytes to text, the way Scrapy and w3lib do it (pure).

Order of evidence: BOM, then the HTTP ``Content-Type`` charset, then ``<meta charset>``, then a
guess (UTF-8 if it decodes, else GB18030). w3lib already maps the GBK/GB2312 labels to GB18030,
the superset the Chinese feeds really use.
"""
from __future__ import annotations

from w3lib.encoding import html_body_declared_encoding, html_to_unicode, resolve_encoding


def _auto_detect(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Return ``(text, encoding)`` for an HTML or JSON body."""
    encoding, text = html_to_unicode(content_type, body, auto_detect_fun=_auto_detect)
    if "\ufffd" in text:
        # a wrong declared charset (real feeds send GB18030 labelled UTF-8): when the bytes
        # decode cleanly with another candidate, that candidate is the truth
        for candidate in (declared_encoding(body), "utf-8", "gb18030"):
            if candidate and candidate != encoding:
                try:
                    return body.decode(candidate), candidate
                except (UnicodeDecodeError, LookupError):
                    continue
    return text, encoding


def declared_encoding(body: bytes) -> str | None:
    """The encoding named inside the document itself, normalised (``gbk`` → ``gb18030``)."""
    enc = html_body_declared_encoding(body)
    return resolve_encoding(enc) if enc else None
