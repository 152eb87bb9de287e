"""Dates of posts: parse what the feeds send, write Beijing time (pure)."""
from __future__ import annotations

import datetime as dt
import re

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
# plausibility window: the feed started in 2021; earlier or far-future values are garbage
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=BEIJING)
FUTURE_SLACK = dt.timedelta(days=2)

_DT_RE = re.compile(
    r"(?P<y>[0-9]{4})[-/.](?P<mo>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})"
    r"(?:[ T]+(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2})(?:\.[0-9]+)?)?)?"
    r"\s*(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2})?",
    re.ASCII,
)
_EPOCH_RE = re.compile(r"[0-9]{9,13}", re.ASCII)


def _plausible(value: dt.datetime, now: dt.datetime | None) -> dt.datetime | None:
    now = now or dt.datetime.now(BEIJING)
    if value < EARLIEST or value > now + FUTURE_SLACK:
        return None
    return value


def parse_date(value: object, now: dt.datetime | None = None) -> dt.datetime | None:
    """Parse a feed date into an aware Beijing datetime; None when missing, garbled or implausible.

    Accepts ``YYYY-MM-DD HH:MM[:SS]``, ``YYYY/MM/DD …``, ISO 8601 with an offset or ``Z``, and
    epoch seconds or milliseconds (numbers or digit strings). Naive values are Beijing time.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:    # (a 401-digit integer cannot even be divided into a float: OverflowError)
            seconds = value / 1000 if abs(value) >= 1e11 else value
            parsed = dt.datetime.fromtimestamp(seconds, BEIJING)
        except (OverflowError, OSError, ValueError):
            return None
        return _plausible(parsed, now)
    if not isinstance(value, str):
        return None
    s = value.strip()
    if _EPOCH_RE.fullmatch(s):
        return parse_date(int(s), now)
    m = _DT_RE.fullmatch(s)
    if not m:
        return None
    try:
        parsed = dt.datetime(
            int(m["y"]), int(m["mo"]), int(m["d"]),
            int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0),
        )
    except ValueError:
        return None
    tz = m["tz"]
    if tz == "Z":
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    elif tz:
        tz = tz.replace(":", "")
        sign = 1 if tz[0] == "+" else -1
        offset = dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
        if offset >= dt.timedelta(hours=24):
            return None
        parsed = parsed.replace(tzinfo=dt.timezone(sign * offset))
    else:
        parsed = parsed.replace(tzinfo=BEIJING)
    return _plausible(parsed.astimezone(BEIJING), now)


def date_from_infocode(code: str) -> dt.datetime | None:
    """``NW20220526…`` → 2022-05-26 00:00:00 Beijing; None when the digits are no date."""
    m = re.match(r"[A-Z]{2}([0-9]{4})([0-9]{2})([0-9]{2})", code or "")
    if not m:
        return None
    try:
        when = dt.datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=BEIJING)
    except ValueError:
        return None
    # not before the earliest plausible date (``NW0001…`` named year 1: a file ``1-01-01 00-NW….md``); a
    # date ahead of the clock stays (a post kept with the date its code names, never dropped for it)
    return when if when >= EARLIEST else None


def format_date(value: dt.datetime) -> str:
    """``2021-12-24 11:18:57 +0800``: the front matter form, always in Beijing time."""
    return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S +0800")


def parse_duration(value) -> float:
    """``3d``, ``36h``, ``90m``, ``600s`` or a number of seconds → seconds; ValueError otherwise."""
    text = str(value).strip().lower()
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)
