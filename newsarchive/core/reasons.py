"""Reason codes and stats keys: the one place they are spelt (pure).

Every drop, failure and normalisation note has a short code; the stats key of each is made here and
nowhere else, so the crawl, the writer process, rebuild, collect and import count alike.
"""
from __future__ import annotations

from dataclasses import dataclass

PREFIX = "newsarchive"

# outcomes of writing a post
WRITTEN, UPDATED, UNCHANGED = "written", "updated", "unchanged"
QUEUED, PRINTED = "queued", "printed"

# drops: the article did not become a post (stats newsarchive/drop/<reason>)
DUPLICATE = "duplicate"          # a second route to an infoCode already handled in this crawl
NO_INFOCODE = "no_infocode"      # a mirror page without an infoCode (a site notice)
NOT_A_POST = "not_a_post"        # a page that holds no article
WRITE_ERROR = "write_error"      # the disk refused the file
BAD_INFOCODE, BAD_TITLE, BAD_DATE, BAD_BODY, NO_CATEGORY = (
    "bad_infocode", "bad_title", "bad_date", "bad_body", "no_category")
TRUNCATED_PARSE = "truncated_parse"   # the HTML parser gave up part of the page (nesting too deep)
UNREADABLE = "unreadable"        # reading the article raised what no check foresaw (tried again next run)

# notes: the post was made, with a repair worth knowing (stats newsarchive/normalize/<code>)
EMPTY_TITLE = "empty_title"
DATE_FALLBACK = "date_fallback"
SHARE_MISMATCH = "share_mismatch"


@dataclass(frozen=True)
class Note:
    """A repair made while normalising a post: ``code`` for the stats, ``text`` for the log."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


def stat(area: str, event: str) -> str:
    """``newsarchive/<area>/<event>``."""
    return f"{PREFIX}/{area}/{event}"


def drop_key(reason: str) -> str:
    return stat("drop", reason)


def note_key(note: Note) -> str:
    return stat("normalize", note.code)


def outcome_key(outcome: str) -> str:
    return stat("posts", outcome)


def counts_as_failure(reason: str) -> bool:
    """A drop that means a post was lost (not a duplicate, not a page that is no article)."""
    return reason not in (DUPLICATE, NO_INFOCODE)
