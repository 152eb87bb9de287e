"""The incremental crawl: posts already archived are not downloaded again."""
from __future__ import annotations

import datetime as dt

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware

from newsarchive.crawl.meta import EXPLICIT, KEY, PAGE, VETTED
from newsarchive.store.catalog import Catalog


class KnownPostsMiddleware(BaseSpiderMiddleware):
    """Drops requests for posts whose infoCode (from the link's slug) is already archived, and for
    pages known to carry no article, unless ``NEWSARCHIVE_REFRESH`` is on. Counted as
    ``newsarchive/posts/skipped_known``. Post pages that failed for good (404, oversize) are not
    tried again until ``NEWSARCHIVE_RETRY_PERMANENT_AFTER`` seconds have passed
    (``newsarchive/posts/skipped_failed``)."""

    def __init__(self, crawler, catalog: Catalog):
        super().__init__(crawler)
        self.catalog = catalog
        self.stats = crawler.stats
        # one read of the catalog instead of a query per link; posts archived during this crawl
        # are the dupefilter's and DedupePipeline's business. Processes sharing an archive
        # (--jobs, --redis) still ask the catalog about codes they did not see at the start.
        self.known = catalog.known_codes()
        self.ignored = catalog.ignored_pages()
        self.failures = catalog.permanent_failures()
        settings = crawler.settings
        self.live = bool(settings.get("NEWSARCHIVE_SHARD") or settings.get("NEWSARCHIVE_REDIS_URL"))
        self.retry_after = crawler.settings.getfloat("NEWSARCHIVE_RETRY_PERMANENT_AFTER", 86400)
        self.skipped: set[str] = set()   # each post counted once, however many links lead to it
        from newsarchive.distributed.components import shared_sets

        self.shared = shared_sets(crawler)        # what any worker archived

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if settings.getbool("NEWSARCHIVE_REFRESH") or settings.getbool("NEWSARCHIVE_STDOUT"):
            raise NotConfigured
        mw = cls(crawler, Catalog(settings.get("NEWSARCHIVE_OUTPUT"), readonly=True))
        crawler.signals.connect(mw.catalog.close, signal=signals.spider_closed)
        return mw

    def get_processed_request(self, request, response):
        """Requests the spider already vetted with ``skips`` (meta VETTED) are not looked up again;
        any other request for a post is."""
        meta = request.meta
        if meta.get(VETTED) or meta.get(EXPLICIT) or not self.skips(meta.get(KEY), meta.get(PAGE), request.url):
            return request
        return None

    def skips(self, key: str | None, page: str | None, url: str) -> bool:
        """Whether a post link is skipped (and counted): archived, known to hold no article, or
        failed for good not long ago."""
        known = key and (key in self.known or (self.live and self.catalog.known(key))
                         or (self.shared is not None and self.shared.archived(key)))
        if known or (page and not key and page in self.ignored):
            self._count("skipped_known", key or page or url)
            return True
        if page and self._failed_recently(url):
            self._count("skipped_failed", page)
            return True
        return False

    def _count(self, what: str, ident: str) -> None:
        if ident not in self.skipped:
            self.skipped.add(ident)
            self.stats.inc_value(f"newsarchive/posts/{what}")

    def _failed_recently(self, url: str) -> bool:
        when = self.failures.get(url)
        if when is None:
            return False
        age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(when)
        return age.total_seconds() < self.retry_after


