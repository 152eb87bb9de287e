"""Turning a failed download into one line and a permanent/transient verdict (pure-ish)."""
from __future__ import annotations


def describe_failure(failure) -> tuple[str, bool]:
    """``(reason, permanent)`` for a Twisted Failure from a Scrapy errback."""
    exc = failure.value
    # (Scrapy 2.19 wraps Twisted's ResponseFailed in DownloadFailedError, whose text is the list of
    # failures' reprs: the first reason is the cause)
    reasons = getattr(exc.__cause__, "reasons", None) or getattr(exc, "reasons", None)
    if reasons:
        exc = getattr(reasons[0], "value", exc)
    name = type(exc).__name__
    if name in ("ConnectionLost", "ConnectionDone", "ResponseDataLossError"):
        return "connection lost mid-answer", False
    response = getattr(exc, "response", None)
    if response is not None and name == "HttpError":
        status = response.status
        return f"HTTP {status}", status in (400, 401, 403, 404, 410, 451)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "TimeoutError" in name or "timed out" in text.lower():
        return "timeout", False
    if "DNSLookupError" in name:
        return "DNS lookup failed", False
    if "ConnectionRefused" in name:
        return "connection refused", False
    low = text.lower()
    if "size" in low and ("exceed" in low or "maxsize" in low or "max size" in low):
        return "response too large", True
    if name in ("CancelledError", "DownloadCancelledError") or "cancel" in text.lower():
        return "download cancelled (too large?)", True
    if name == "IgnoreRequest":
        if "redirect" in text.lower():
            return "redirect loop (max redirections reached)", False
        return text or "request ignored (robots.txt?)", True
    return f"{name}: {text}" if text else name, False
