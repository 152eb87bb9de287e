"""Items that flow through the pipelines (dataclasses, used through ItemAdapter)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(repr=False)
class ArticleItem:
    """An article as a spider found it: raw fields, not yet normalised.

    ``body_source`` says where ``body_html`` came from: ``share`` (the share host's JSON, the
    original) or ``mirror`` (the mirror's rendered post page). ``backlinks`` is the post's own
    back-link Markdown when the mirror page had one; None asks for the standard pair.
    """

    info_code: str
    title: Any = None
    date: Any = None
    media_name: str = ""
    category: str = ""
    tags: list[str] = field(default_factory=list)
    body_html: Any = None
    link_url: str = ""
    backlinks: str | None = None
    share_url: str = ""
    source_url: str = ""
    body_source: str = "share"
    body_leading_md: str = ""
    page: str = ""          # the mirror page's path, when the article came from the mirror
    origin: str = ""        # the URL a person or the crawl started from (for reports)
    # a post page shipped unread to the writer process (see ``normalize.article_from_raw_page``)
    raw_page: bytes = b""
    raw_page_type: str = ""  # its Content-Type
    share: Any = None       # the share host's article (``share.ShareArticle``) to apply to it
    # filled by the pipelines
    text: str = ""
    filename: str = ""
    outcome: str = ""

    def __repr__(self) -> str:
        # (what a log line shows of it: Scrapy's "Error processing …" printed the whole page's bytes)
        return (f"ArticleItem(info_code={self.info_code!r}, source_url={self.source_url!r}, "
                f"body_source={self.body_source!r}, raw_page={len(self.raw_page)} bytes)")
