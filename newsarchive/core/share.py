"""The share host's article JSON (``/NewsData/GetNewsText.do?id=…``), parsed and checked (pure)."""
from __future__ import annotations

import json
from dataclasses import dataclass

from newsarchive.core.mdsafe import one_line


class ShareError(ValueError):
    """The share host's answer is not an article; the message is one line."""


@dataclass
class ShareArticle:
    info_code: str
    title: object
    showtime: object
    media_name: str
    text: object


def parse_share_json(data: str | bytes) -> ShareArticle:
    """Read the JSON; ``{"error": …}``, non-JSON and wrong shapes raise ShareError."""
    if isinstance(data, bytes):
        raw = data
        try:
            data = raw.decode("utf-8-sig")
        except UnicodeDecodeError:  # GBK-era share hosts
            data = raw.decode("gb18030", errors="replace")
    try:
        obj = json.loads(data)
    except ValueError:
        raise ShareError(f"not JSON: {one_line(data, 60)!r}") from None
    except RecursionError:      # nested past Python's stack: no article record is
        raise ShareError("JSON nested too deep to be an article record") from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "text" not in obj:
        obj = obj["data"]  # some share hosts wrap the record
    if not isinstance(obj, dict):
        raise ShareError(f"JSON is a {type(obj).__name__}, not an article object")
    if obj.get("error"):
        raise ShareError(f"share host says: {one_line(obj['error'], 120)}")
    text = obj.get("text")
    if text in (None, ""):
        text = obj.get("content")
    if not isinstance(text, str) or not text.strip():
        raise ShareError("article has no text")
    media = obj.get("medianame") or ""
    if not isinstance(media, str):
        raise ShareError(f"medianame is a {type(media).__name__}, not text")
    code = obj.get("infoCode") or obj.get("infocode") or ""
    return ShareArticle(
        info_code=str(code) if isinstance(code, (str, int)) else "",
        title=obj.get("title"),
        showtime=obj.get("showtime"),
        media_name=media.strip(),
        text=text,
    )
