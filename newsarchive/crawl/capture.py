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
from newsarchive.store.warc import WarcRecord, warc_date

LEADS = ("home", "feed", "listing")      # pages that only lead to posts
RAW = "newsarchive_raw"


def _protocol(response) -> str:
    protocol = (getattr(response, "protocol", None) or "HTTP/1.1").upper()
    return protocol if protocol.startswith("HTTP/") else "HTTP/1.1"


class RawResponses:
    """Downloader middleware placed before HttpCompressionMiddleware in ``process_response`` order
    (595 > 590): it keeps, for WARC capture, each 2xx response of a page newsarchive captures as it
    came off the wire — headers as received (``Content-Encoding`` and ``Content-Length`` of the raw
    body included), the raw body, the moment it arrived — before Scrapy decompresses it."""

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_WARC") or settings.getbool("NEWSARCHIVE_STDOUT"):
            raise NotConfigured
        return cls()

    def process_response(self, request, response, spider=None):
        if request.meta.get(ROLE) and 200 <= response.status < 300:
            request.meta[RAW] = (list(dict.items(response.headers)), response.body, warc_date())
        return response


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
        raw = meta.get(RAW)             # the response as it came off the wire (RawResponses)
        headers, body = (raw[0], raw[1]) if raw is not None else (list(dict.items(response.headers)), response.body)
        # headers as Scrapy's Headers store them, (bytes, [bytes…]); store.warc decodes them
        record = WarcRecord(response.url, list(dict.items(request.headers)), f"{response.status} {reason}",
                            headers, body, role, key, self.site, meta.get(POST_URL) or "", meta.get(ORIGIN) or "",
                            ip=str(response.ip_address or ""), date=raw[2] if raw is not None else warc_date(),
                            protocol=_protocol(response), method=request.method, via_proxy=bool(meta.get("proxy")))
        self.stats.inc_value("newsarchive/warc/records")
        if role == "post":          # it goes with its post (``ArchiveSink.ingest``)
            self.sink.stage(response.url, record)
        elif role == "share" and meta.get(POST_URL):
            self.sink.stage(meta[POST_URL], record)
        else:
            self.sink.capture(record, leads_only=role in LEADS)
