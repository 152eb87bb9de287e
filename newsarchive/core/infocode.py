"""infoCode: the key of an article, from share URLs, post slugs or EastMoney URLs (pure)."""
from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qs, urljoin, urlsplit

CODE_RE = re.compile(r"[A-Z]{2}[0-9]{18}", re.ASCII)
EM_ID_RE = re.compile(r"[0-9]{18}", re.ASCII)
# an EastMoney article URL: .../news/1355,202112082206768417.html
EM_URL_RE = re.compile(r"eastmoney\.com/[^\s\"'<>]*?[,/]([0-9]{18})\.html", re.ASCII)
_DATE_PREFIX = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}-")
SHARE_PATH = "/html_News/NewsShare.html"
JSON_PATH = "/NewsData/GetNewsText.do"


class InvalidInfoCode(ValueError):
    """The value cannot be an infoCode; raised before any path is built from it."""


def normalize_infocode(raw: object) -> str:
    """Return the canonical infoCode (``NW`` + 18 ASCII digits) or raise InvalidInfoCode."""
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        raise InvalidInfoCode(f"infoCode must be text, got {type(raw).__name__}")
    s = str(raw).strip().upper()
    if EM_ID_RE.fullmatch(s):
        s = "NW" + s
    if not CODE_RE.fullmatch(s):
        shown = s if len(s) <= 40 else s[:40] + "…"
        raise InvalidInfoCode(f"not an infoCode: {shown!r}")
    return s


_NO_URL = urlsplit("")


def split_url(url: str) -> SplitResult:
    """``urlsplit``, for links a page gives: one it cannot read (``http://[…`` raises ValueError) is
    no URL — its parts all empty — and so a link to nowhere, never an error that loses the page."""
    try:
        return urlsplit(url)
    except ValueError:
        return _NO_URL


def join_url(base: str, url: str) -> str:
    """``urljoin`` for links a page gives: "" for one it cannot read (see ``split_url``)."""
    try:
        return urljoin(base, url)
    except ValueError:
        return ""


def is_share_url(url: str) -> bool:
    parts = split_url(url)
    return parts.scheme in ("http", "https") and parts.path.endswith(SHARE_PATH)


def infocode_from_share_url(url: str) -> str | None:
    """The infoCode named by a share URL (or a GetNewsText.do URL), else None."""
    parts = split_url(url)
    query = parse_qs(parts.query)
    if parts.path.endswith(SHARE_PATH):
        values = query.get("infoCode") or query.get("infocode") or []
    elif parts.path.endswith(JSON_PATH):
        values = query.get("id") or []
    else:
        return None
    try:
        return normalize_infocode(values[0]) if values else None
    except InvalidInfoCode:
        return None


def share_json_url(share_url: str) -> str:
    """The JSON URL that carries the article behind a share URL (same scheme and host)."""
    parts = split_url(share_url)
    code = infocode_from_share_url(share_url)
    if code is None:
        raise InvalidInfoCode(f"no infoCode in share URL {share_url}")
    return f"{parts.scheme}://{parts.netloc}{JSON_PATH}?id={code}"


def infocode_from_slug(slug: str) -> str | None:
    """A post's file-name id: ``202112082206768417`` → NW…; ``NW2021…`` kept; else None."""
    if CODE_RE.fullmatch(slug):
        return slug                 # the usual slug: the infoCode itself
    s = _DATE_PREFIX.sub("", slug.strip())
    try:
        return normalize_infocode(s)
    except InvalidInfoCode:
        return None


def infocode_from_text(text: str) -> str | None:
    """The id inside an EastMoney article URL found in a post body, else None."""
    m = EM_URL_RE.search(text)
    return "NW" + m.group(1) if m else None
