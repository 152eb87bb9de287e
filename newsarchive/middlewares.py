"""Middlewares: skipping posts already archived (the incremental crawl), and a cheaper proxy
middleware."""
from __future__ import annotations

import datetime as dt
from urllib.request import proxy_bypass

from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.httpobj import urlparse_cached

from newsarchive.catalog import Catalog

# request.meta keys set by the spiders
KEY = "newsarchive_key"          # the infoCode a post link stands for (known before download)
PAGE = "newsarchive_page"        # the post page's path on the mirror
EXPLICIT = "newsarchive_explicit"  # asked for by a person: always fetched
ROLE = "newsarchive_role"        # home, feed, listing, post, share, share_direct (for WARC capture)
POST_URL = "newsarchive_post"    # the post page a share request was made for


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
        self.retry_after = crawler.settings.getfloat("NEWSARCHIVE_RETRY_PERMANENT_AFTER", 86400)
        self.skipped: set[str] = set()   # each post counted once, however many links lead to it
        self.shared = None
        if crawler.settings.get("NEWSARCHIVE_REDIS_URL"):   # what any worker archived
            from newsarchive.distributed import RedisSets

            self.shared = RedisSets(crawler.settings.get("NEWSARCHIVE_REDIS_URL"))

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if settings.getbool("NEWSARCHIVE_REFRESH") or settings.getbool("NEWSARCHIVE_STDOUT"):
            raise NotConfigured
        mw = cls(crawler, Catalog(settings.get("NEWSARCHIVE_OUTPUT"), readonly=True))
        from scrapy import signals
        crawler.signals.connect(mw.catalog.close, signal=signals.spider_closed)
        return mw

    def get_processed_request(self, request, response):
        meta = request.meta
        if meta.get(EXPLICIT):
            return request
        key, page = meta.get(KEY), meta.get(PAGE)
        known = key and (self.catalog.known(key) or (self.shared is not None and self.shared.archived(key)))
        if known or (page and not key and self.catalog.ignored(page)):
            self._count("skipped_known", key or page)
            return None
        if page and self._failed_recently(request.url):
            self._count("skipped_failed", page)
            return None
        return request

    def _count(self, what: str, ident: str) -> None:
        if ident not in self.skipped:
            self.skipped.add(ident)
            self.stats.inc_value(f"newsarchive/posts/{what}")

    def _failed_recently(self, url: str) -> bool:
        when = self.catalog.permanent_failure(url)
        if when is None:
            return False
        age = dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(when)
        return age.total_seconds() < self.retry_after


class ProxyMiddleware(HttpProxyMiddleware):
    """Scrapy's HttpProxyMiddleware (``http_proxy``, ``https_proxy``, ``no_proxy`` as Scrapy reads
    them), with the ``no_proxy`` verdict remembered per host: urllib's ``proxy_bypass`` scans the
    whole environment on every call, ~0.4 ms a request — a fifth of a bare crawl's CPU."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bypass: dict[str, bool] = {}

    def process_request(self, request, spider=None):
        if "proxy" in request.meta or not self.proxies:
            return super().process_request(request, spider)
        parsed = urlparse_cached(request)
        scheme, host = parsed.scheme, parsed.hostname
        creds = proxy_url = used = None
        if scheme in self.proxies and (scheme not in ("http", "https") or host):
            bypass = self._bypass.get(host) if host else False
            if bypass is None:
                bypass = self._bypass.setdefault(host, bool(proxy_bypass(host)))
            if scheme not in ("http", "https") or not bypass:
                used = scheme
                creds, proxy_url = self.proxies[scheme]
        self._set_proxy_and_creds(request, proxy_url, creds, used)
        return None
