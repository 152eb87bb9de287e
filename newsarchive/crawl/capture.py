"""WARC capture (``NEWSARCHIVE_WARC``, default on): every 2xx response that produced or fed a post —
home, feed, listing, post page, share JSON — with its request, handed to the crawl's sink, which
writes it under ``<archive>/warc/``. Nothing is parsed here: a post page's key is its link's
infoCode or the quick look's; a page whose key only the full reading knows gets it from the
archivist, which reads the page with the record in hand."""
from __future__ import annotations

from scrapy import signals
from scrapy.exceptions import NotConfigured

from newsarchive.core.extract import quick_share_link
from newsarchive.core.infocode import infocode_from_share_url
from newsarchive.crawl.meta import KEY, ORIGIN, POST_URL, ROLE
from newsarchive.crawl.sinks import ArchiveSink
from newsarchive.store.warc import WarcRecord

LEADS = ("home", "feed", "listing")      # pages that only lead to posts


class WarcCapture:
    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.sink: ArchiveSink | None = None
        self.site = ""

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_WARC") or settings.getbool("NEWSARCHIVE_STDOUT"):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        return ext

    def spider_opened(self, spider=None):
        self.sink = self.crawler.get_extension(ArchiveSink)
        sitemap = getattr(spider or self.crawler.spider, "sitemap", None)
        self.site = getattr(sitemap, "site", "")

    def response_received(self, response, request, spider=None):
        meta = request.meta
        role = meta.get(ROLE)
        if not role or not 200 <= response.status < 300 or self.sink is None:
            return
        key = meta.get(KEY) or ""
        if role == "post" and not key:      # a slug without the infoCode: the quick look, if any
            link = quick_share_link(response.body)
            key = (infocode_from_share_url(link) if link else None) or ""
        reason = {200: "OK", 203: "Non-Authoritative Information"}.get(response.status, "OK")
        # headers as Scrapy's Headers store them, (bytes, [bytes…]); store.warc decodes them
        record = WarcRecord(response.url, list(dict.items(request.headers)), f"{response.status} {reason}",
                            list(dict.items(response.headers)), response.body, role, key, self.site,
                            meta.get(POST_URL) or "", meta.get(ORIGIN) or "")
        self.stats.inc_value("newsarchive/warc/records")
        if role == "post":          # it goes with its post (``ArchiveSink.ingest``)
            self.sink.stage(response.url, record)
        elif role == "share" and meta.get(POST_URL):
            self.sink.stage(meta[POST_URL], record)
        else:
            self.sink.capture(record, leads_only=role in LEADS)
