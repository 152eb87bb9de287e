"""The item pipeline: each article goes to the crawl's sink, which runs the one path (read, validate,
normalise, dedupe on infoCode, write; ``store.ingest``) and answers its outcome.

Dedupe is not a pipeline of its own: a post page's infoCode is known for sure only once the page is
read in full, in the archivist (the crawl's quick look is a guess that a page could forge to make
another post look like a duplicate). Across runs the catalog is the memory: known posts are not
even downloaded (``KnownPostsMiddleware``) and an identical text is ``unchanged``.

Items are :class:`~newsarchive.core.items.ArticleItem` dataclasses, read and written through
ItemAdapter. Every drop is a DropItem subclass with a reason; the sink counts each as
``newsarchive/drop/<reason>`` (``core.reasons`` spells the keys).
"""
from __future__ import annotations

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.utils.misc import load_object

from newsarchive.core import reasons as R
from newsarchive.crawl.sinks import ArchiveSink


class ArticleDropped(DropItem):
    """Base of newsarchive's drops; ``reason`` names the stats key."""

    reason = "dropped"

    def __init__(self, message: str, reason: str | None = None, log_level: str = "WARNING"):
        super().__init__(message, log_level=log_level)
        if reason:
            self.reason = reason


class InvalidArticle(ArticleDropped):
    """The article cannot become a post (bad infoCode, no date, empty body, not a post page…)."""

    reason = "invalid"


class NoInfoCode(ArticleDropped):
    """A mirror page with no infoCode anywhere (a site notice, not an article)."""

    reason = R.NO_INFOCODE


class DuplicatePost(ArticleDropped):
    """A second route to an infoCode already handled in this crawl."""

    reason = R.DUPLICATE


def drop_for(source_url: str, reason: str, message: str) -> ArticleDropped:
    if reason == R.DUPLICATE:
        return DuplicatePost(message, log_level="INFO")
    if reason == R.NO_INFOCODE:
        return NoInfoCode(message, log_level="INFO")
    level = "ERROR" if reason == R.WRITE_ERROR else "WARNING"
    return InvalidArticle(f"{source_url}: {message}", reason=reason, log_level=level)


class ArchivePipeline:
    """Hands each article to the crawl's sink (``ArchiveSink``) and takes back its outcome."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.sink: ArchiveSink | None = None

    @classmethod
    def from_crawler(cls, crawler):
        from scrapy.exceptions import NotConfigured
        from scrapy.utils.conf import build_component_list

        if not any(load_object(path) is ArchiveSink if isinstance(path, str) else path is ArchiveSink
                   for path in build_component_list(crawler.settings.getwithbase("EXTENSIONS"))):
            raise NotConfigured("no ArchiveSink in EXTENSIONS: items are not archived")
        return cls(crawler)

    def open_spider(self, spider=None):
        self.sink = self.crawler.get_extension(ArchiveSink)

    async def process_item(self, item, spider=None):
        assert self.sink is not None
        adapter = ItemAdapter(item)
        outcome = await self.sink.ingest(item)
        if adapter.get("raw_page"):     # read by the archivist: no need to hold the bytes any longer
            adapter["raw_page"], adapter["share"] = b"", None
        if outcome.dropped:
            drop = drop_for(adapter.get("source_url") or "", outcome.reason, outcome.message)
            if outcome.fatal:       # said once by the sink, which stops the crawl
                drop = InvalidArticle(str(drop), reason=outcome.reason, log_level="DEBUG")
            raise drop
        adapter["outcome"] = outcome.status
        adapter["filename"] = outcome.path
        if outcome.title or outcome.date:
            for key in ("info_code", "title", "date", "category", "tags"):
                adapter[key] = getattr(outcome, key)
        return item
