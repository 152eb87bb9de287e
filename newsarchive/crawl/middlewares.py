"""Middlewares: skipping posts already archived (the incremental crawl), and a cheaper proxy
middleware."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from urllib.request import proxy_bypass
from weakref import WeakKeyDictionary

from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.base import BaseSpiderMiddleware
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.request import RequestFingerprinter

from newsarchive.store.catalog import Catalog

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
        self.spider_asks = False
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
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.catalog.close, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider=None):
        # the mirror spider asks before it makes a Request for a post link (see MirrorSpider):
        # its requests are not looked up a second time here
        if hasattr(spider, "known_posts"):
            spider.known_posts = self
            self.spider_asks = True

    def get_processed_request(self, request, response):
        meta = request.meta
        if self.spider_asks or meta.get(EXPLICIT) or not self.skips(meta.get(KEY), meta.get(PAGE), request.url):
            return request
        return None

    def skips(self, key: str | None, page: str | None, url: str) -> bool:
        """Whether a post link is skipped (and counted): archived, known to hold no article, or
        failed for good not long ago."""
        known = key and (key in self.known or (self.live and self.catalog.known(key))
                         or (self.shared is not None and self.shared.archived(key)))
        if known or (page and not key and page in self.ignored):
            self._count("skipped_known", key or page)
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


# a URL that canonicalize_url leaves as it is: lower-case scheme and host, plain path, at most one
# plain query argument, no fragment — every URL the mirror spider builds for a post or share JSON
_CANONICAL_URL = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9/._~!$&'*+,;=:@-]*(?:\?[A-Za-z0-9_]+=[A-Za-z0-9_.-]*)?")


class Fingerprinter(RequestFingerprinter):
    """Scrapy's request fingerprint, bit for bit, without its costliest step for the URLs that do
    not need it: ``canonicalize_url`` (~2% of a crawl's CPU) returns an already canonical URL as
    it is, so the fingerprint is computed from the URL directly."""

    def __init__(self, crawler=None):
        super().__init__(crawler)
        self._cache: WeakKeyDictionary = WeakKeyDictionary()

    def fingerprint(self, request) -> bytes:
        if request.method != "GET" or request.body or request.meta.get("verbatim_url"):
            return super().fingerprint(request)
        url = request.url
        if not _CANONICAL_URL.fullmatch(url):
            return super().fingerprint(request)
        fp = self._cache.get(request)
        if fp is None:
            data = json.dumps({"method": "GET", "url": url, "body": "", "headers": {}}, sort_keys=True)
            fp = self._cache[request] = hashlib.sha1(data.encode()).digest()  # noqa: S324 (Scrapy's)
        return fp


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


try:    # on lower-cased bytes: a literal scan for "<meta"; possessive (Python 3.11+): no backtracking
    _META_TAG = re.compile(rb"""<meta\b(?:[^>"']++|"[^"]*+"|'[^']*+')*+""")
except re.error:
    _META_TAG = re.compile(rb"""<meta\b(?:"[^"]*"|'[^']*'|[^>"'])*""")


class MetaRefreshMiddleware(ScrapyMetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware (Jekyll's redirect_from pages are meta refreshes), which
    decodes every HTML page to read its first 4,096 characters (~3% of a crawl's CPU): a page
    whose first 16 KB (4,096 characters at most 4 bytes each) hold no ``<meta …>`` tag that says
    ``refresh``, in an ASCII-compatible encoding, has none, so it is passed on undecoded. (The
    mirror's pages say "AutoRefresh" in a script and have a ``<meta http-equiv="X-UA-Compatible">``.)"""

    def process_response(self, request, response, spider=None):
        if isinstance(response, HtmlResponse):
            head = response.body[:16384].lower()
            if b"\x00" not in head and (b"refresh" not in head
                                        or not any(b"refresh" in m.group() for m in _META_TAG.finditer(head))):
                return response
        return super().process_response(request, response)
