"""Item pipelines: normalise → dedupe on infoCode → write. Only the writer touches the archive.

Items are :class:`~newsarchive.core.items.ArticleItem` dataclasses, read and written through ItemAdapter.
Every drop is a DropItem subclass with a reason, logged and counted as
``newsarchive/drop/<reason>``.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.defer import maybe_deferred_to_future

from newsarchive.crawl import signals as na_signals
from newsarchive.store.files import ArchiveWriter
from newsarchive.store.catalog import Catalog
from newsarchive.core.dates import format_date
from newsarchive.core.infocode import InvalidInfoCode, normalize_infocode
from newsarchive.core.normalize import PostError, build_post
from newsarchive.core.post import render_post
from newsarchive.crawl.writerproc import offloaded

logger = logging.getLogger(__name__)


class ArticleDropped(DropItem):
    """Base of newsarchive's drops; ``reason`` names the stats key."""

    reason = "dropped"

    def __init__(self, message: str, reason: str | None = None, log_level: str = "WARNING"):
        try:
            super().__init__(message, log_level=log_level)
        except TypeError:  # Scrapy < 2.13 has no per-drop log level
            super().__init__(message)
        if reason:
            self.reason = reason


class InvalidArticle(ArticleDropped):
    """The article cannot become a post (bad infoCode, no date, empty body…)."""

    reason = "invalid"


class NoInfoCode(ArticleDropped):
    """A mirror page with no infoCode anywhere (a site notice, not an article)."""

    reason = "no_infocode"


class DuplicatePost(ArticleDropped):
    """A second route to an infoCode already handled in this crawl."""

    reason = "duplicate"


def _count_drop(stats, exception: DropItem) -> None:
    reason = getattr(exception, "reason", "dropped")
    stats.inc_value(f"newsarchive/drop/{reason}")
    if reason == "duplicate":
        stats.inc_value("newsarchive/posts/duplicate")
    elif reason != "no_infocode":
        stats.inc_value("newsarchive/posts/failed")


class NormalizePipeline:
    """Raw article fields → the post's text and file name (pure functions in ``normalize``)."""

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.site_base = crawler.settings.get("NEWSARCHIVE_SITE_BASE")
        self.offload = offloaded(crawler.settings)
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def item_dropped(self, item, response, exception, spider=None):
        _count_drop(self.stats, exception)

    def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        if not adapter.get("info_code"):
            raise NoInfoCode(f"no infoCode in {adapter.get('source_url')}", log_level="INFO")
        if self.offload:  # the writer process normalises; the key is checked here, for dedupe
            try:
                adapter["info_code"] = normalize_infocode(adapter["info_code"])
            except InvalidInfoCode as exc:
                raise InvalidArticle(f"{adapter.get('source_url')}: {exc}", reason="bad_infocode") from None
            return item
        try:
            post = build_post(item)
        except PostError as exc:
            raise InvalidArticle(f"{adapter.get('source_url')}: {exc}", reason=exc.reason) from None
        for note in post.notes:
            logger.info("%s: %s", post.info_code, note)
            self.stats.inc_value("newsarchive/normalize/" + note.split()[0].replace(" ", "_"))
        adapter["info_code"] = post.info_code
        adapter["text"] = render_post(post, self.site_base)
        adapter["filename"] = post.filename
        adapter["category"] = post.category
        adapter["tags"] = post.tags
        adapter["title"] = post.title
        adapter["date"] = format_date(post.date)
        self.stats.inc_value(f"newsarchive/body/{post.body_source}")
        return item


class DedupePipeline:
    """One post per infoCode in a crawl, whatever route found it. (Across runs the catalog is the
    memory: known posts are not even downloaded, see KnownPostsMiddleware, and the writer says
    ``unchanged`` for an identical text.)"""

    def __init__(self, stats, redis_url: str = "", crawler=None):
        self.stats = stats
        self.crawler = crawler
        self.seen: set[str] = set()
        self.shared = None
        if redis_url:  # workers share the run's set of infoCodes in Redis
            from newsarchive.distributed import RedisSets

            self.shared = RedisSets(redis_url)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats, crawler.settings.get("NEWSARCHIVE_REDIS_URL") or "", crawler)

    def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        if adapter.get("raw_page"):     # keyed by a quick look: the writer process dedupes on the page's key
            return item
        code = adapter["info_code"]
        if self.shared is not None:
            first = self.shared.first_sight(code, self.crawler.engine.scheduler.worker_id)
        else:
            first = code not in self.seen
        if not first:
            raise DuplicatePost(f"duplicate of {code} already handled in this crawl", log_level="INFO")
        self.seen.add(code)
        return item


class WriterPipeline:
    """The only component that touches the archive folder: atomic post files and the catalog."""

    def __init__(self, crawler, folder: Path):
        self.crawler = crawler
        self.stats = crawler.stats
        self.folder = folder
        self.writer: ArchiveWriter | None = None
        self.catalog: Catalog | None = None
        self.remote = None
        self.shared = None
        self.offload = False
        crawler.signals.connect(self.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(self.article_failed, signal=na_signals.article_failed)

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.getbool("NEWSARCHIVE_STDOUT"):
            return StdoutWriterPipeline(crawler)
        if crawler.settings.get("NEWSARCHIVE_REDIS_URL") and crawler.settings.getbool("NEWSARCHIVE_REDIS_ITEMS"):
            return RedisPushPipeline(crawler)
        return cls(crawler, Path(crawler.settings.get("NEWSARCHIVE_OUTPUT")))

    def open_spider(self, spider=None):
        from newsarchive.store.catalog import now_text

        settings = self.crawler.settings
        self.started = now_text()
        if offloaded(settings):
            # the writer process starts with the first post (an incremental crawl may have none)
            self.offload = True
            return
        redis_url = settings.get("NEWSARCHIVE_REDIS_URL")
        self.writer = ArchiveWriter(self.folder, fsync=settings.getbool("NEWSARCHIVE_FSYNC", True),
                                    lock_each_write=bool(redis_url or settings.get("NEWSARCHIVE_SHARD")))
        if redis_url:
            from newsarchive.distributed import RedisSets

            self.shared = RedisSets(redis_url)
            self.shared.seed_archived(r["info_code"] for r in self.writer.catalog.iter_posts())
        if self.writer.removed_temps:
            logger.warning("removed %d temp file(s) left by an interrupted run", self.writer.removed_temps)
        self.catalog = self.writer.catalog

    def close_spider(self, spider=None):
        """One row in the catalog's ``crawls`` for this crawl, written by whichever writer there is."""
        from newsarchive.crawl.writerproc import started

        get = self.stats.get_value
        record = (getattr(spider or self.crawler.spider, "name", "?"), self.started,
                  get("newsarchive/posts/written", 0), get("newsarchive/posts/updated", 0),
                  get("newsarchive/posts/unchanged", 0), get("newsarchive/posts/failed", 0),
                  get("finish_reason", "finished"))
        remote = started(self.crawler) if self.offload else None
        if remote is not None:
            remote.send("crawl", *record)
            remote.close()
            return
        catalog = self.catalog or Catalog(self.folder)  # nothing was written: no writer was started
        try:
            catalog.record_crawl(*record)
        finally:
            catalog.close()
            self.catalog = None

    def item_dropped(self, item, response, exception, spider=None):
        page = ItemAdapter(item).get("page")
        if isinstance(exception, NoInfoCode) and page:
            if self.offload:
                self._writer().send("ignored", page, exception.reason)
            elif self.catalog is not None:
                self.catalog.record_ignored(page, exception.reason)

    def article_failed(self, url, info_code, reason, permanent, origin=None):
        if self.offload:
            self._writer().send("failure", url, info_code, reason, permanent)
        elif self.catalog is not None:
            self.catalog.record_failure(url, info_code, reason, permanent)

    def _writer(self):
        from newsarchive.crawl.writerproc import for_crawler

        if self.remote is None:
            self.remote = for_crawler(self.crawler)
        return self.remote

    def process_item(self, item, spider=None):
        if self.offload:
            return self._process_remote(item)
        adapter = ItemAdapter(item)
        outcome, target = self.writer.write(adapter["info_code"], adapter["filename"], adapter["text"], self._row(adapter))
        if self.shared is not None:
            self.shared.mark_archived(adapter["info_code"])
        adapter["outcome"] = outcome
        adapter["filename"] = str(target)
        self.stats.inc_value(f"newsarchive/posts/{outcome}")
        return item

    async def _process_remote(self, item):
        answer = await maybe_deferred_to_future(self._writer().post(vars(item).copy()))
        adapter = ItemAdapter(item)
        if adapter.get("raw_page"):     # read by the writer: no need to hold the bytes any longer
            adapter["raw_page"], adapter["share"] = b"", None
        return self._answered(answer, item)

    def _answered(self, answer, item):
        """The writer process's answer for one article."""
        status = answer[0]
        adapter = ItemAdapter(item)
        if status == "drop":
            kind = {"duplicate": DuplicatePost, "no_infocode": NoInfoCode}.get(answer[1])
            if kind is not None:
                raise kind(answer[2], log_level="INFO")
            raise InvalidArticle(f"{adapter.get('source_url')}: {answer[2]}", reason=answer[1])
        if status == "error":
            raise InvalidArticle(f"{adapter.get('source_url')}: could not write: {answer[1]}: {answer[2]}",
                                 reason="write_error", log_level="ERROR")
        result = answer[1]
        for key in ("outcome", "filename", "info_code", "title", "date", "category", "tags", "text"):
            adapter[key] = result[key]
        for note in result["notes"]:
            logger.info("%s: %s", result["info_code"], note)
            self.stats.inc_value("newsarchive/normalize/" + note.split()[0])
        self.stats.inc_value(f"newsarchive/body/{result['body_source']}")
        self.stats.inc_value(f"newsarchive/posts/{result['outcome']}")
        return item

    @staticmethod
    def _row(adapter) -> dict:
        return {
            "title": adapter["title"],
            "date": adapter["date"],
            "category": adapter["category"],
            "tags": " ".join(adapter["tags"]),
            "source_url": adapter.get("source_url") or "",
            "share_url": adapter.get("share_url") or "",
            "body_source": adapter.get("body_source") or "",
        }


class RedisPushPipeline:
    """``--redis-items``: workers without the archive's disk push finished posts to Redis; one
    ``newsarchive collect`` process writes them (the only writer of the archive)."""

    def __init__(self, crawler):
        from newsarchive.distributed import RedisSets

        self.stats = crawler.stats
        self.shared = RedisSets(crawler.settings.get("NEWSARCHIVE_REDIS_URL"))

    def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        self.shared.push_item({"info_code": adapter["info_code"], "filename": adapter["filename"],
                               "text": adapter["text"], "row": WriterPipeline._row(adapter)})
        adapter["outcome"] = "queued"
        self.stats.inc_value("newsarchive/posts/queued")
        return item


class StdoutWriterPipeline:
    """``--stdout``: print each post instead of archiving it (the archive is not touched)."""

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.first = True

    def process_item(self, item, spider=None):
        adapter = ItemAdapter(item)
        sys.stdout.write(("" if self.first else "\n") + adapter["text"])
        self.first = False
        sys.stdout.flush()
        adapter["outcome"] = "printed"
        self.stats.inc_value("newsarchive/posts/printed")
        return item

