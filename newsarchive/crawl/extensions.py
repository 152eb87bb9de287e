"""Extensions: live progress on a terminal, and the final stats as a JSON file."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import MemoryStatsCollector
from twisted.internet import task

from newsarchive.store.files import atomic_write
from newsarchive.crawl.middlewares import KEY, POST_URL, ROLE
from newsarchive.store.warc import H_KEY, H_ORIGIN, H_POST, H_ROLE, H_SITE


def summary(stats: dict) -> str:
    """The one-line summary of a crawl, from its stats."""
    get = lambda k: stats.get(f"newsarchive/{k}", 0)  # noqa: E731
    return (f"listings {get('pages/listings')}, posts found {get('posts/found')}, "
            f"new {get('posts/written')}, updated {get('posts/updated')}, "
            f"unchanged {get('posts/unchanged')}, skipped known {get('posts/skipped_known')}, "
            f"duplicate {get('posts/duplicate')}, failed {get('posts/failed')}")


class StatsCollector(MemoryStatsCollector):
    """Scrapy's MemoryStatsCollector (``STATS_CLASS``) without the hook Scrapy 2.13+ runs on every
    attribute read of the collector to warn about a ``spider`` argument (~2% of a crawl's CPU,
    for a few hundred thousand reads). The methods still take ``spider``, and ignore it."""

    __getattribute__ = object.__getattribute__


class Progress:
    """A progress line on stderr, rewritten in place, while a crawl runs on a terminal.
    ``NEWSARCHIVE_PROGRESS``: auto (only on a TTY), on, off."""

    def __init__(self, stats, interval: float, stream=sys.stderr):
        self.stats = stats
        self.interval = interval
        self.stream = stream
        self.task = None

    @classmethod
    def from_crawler(cls, crawler):
        mode = str(crawler.settings.get("NEWSARCHIVE_PROGRESS", "auto")).lower()
        if mode in ("off", "0", "false", "no") or (mode == "auto" and not sys.stderr.isatty()):
            raise NotConfigured
        ext = cls(crawler.stats, crawler.settings.getfloat("NEWSARCHIVE_PROGRESS_INTERVAL", 1.0))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider=None):
        self.task = task.LoopingCall(self.show)
        self.task.start(self.interval, now=False)

    def show(self, end: str = "") -> None:
        self.stream.write("\r\x1b[K" + summary(self.stats.get_stats()) + end)
        self.stream.flush()

    def spider_closed(self, spider=None, reason=None):
        if self.task and self.task.running:
            self.task.stop()
        self.stream.write("\r\x1b[K")
        self.stream.flush()


class StatsFile:
    """Writes Scrapy's final stats as JSON to ``NEWSARCHIVE_STATS_FILE`` (atomically)."""

    def __init__(self, crawler, path: Path):
        self.crawler = crawler
        self.path = path

    @classmethod
    def from_crawler(cls, crawler):
        path = crawler.settings.get("NEWSARCHIVE_STATS_FILE")
        if not path:
            raise NotConfigured
        ext = cls(crawler, Path(path))
        # engine_stopped comes after the stats collector has its finish_time and finish_reason
        crawler.signals.connect(ext.write, signal=signals.engine_stopped)
        return ext

    def write(self) -> None:
        stats = self.crawler.stats.get_stats()
        data = json.dumps(stats, default=str, ensure_ascii=False, indent=2, sort_keys=True)
        atomic_write(self.path, data.encode("utf-8"))


class WarcCapture:
    """``NEWSARCHIVE_WARC`` (default on): every 2xx response that produced or fed a post —
    home, feed, listing, post page, share JSON — and its request, as WARC records under
    ``<archive>/warc/`` (rolling at ``NEWSARCHIVE_WARC_MAX_BYTES``)."""

    def __init__(self, crawler, folder: Path, max_bytes: int):
        from newsarchive.crawl.writerproc import offloaded
        from newsarchive.store.warc import WarcArchive, salvage

        self.crawler = crawler
        # with a writer process, it writes the WARC files; pages that only lead to posts (home,
        # feed, listings) wait in memory until a post comes: a crawl that finds nothing new
        # records nothing and starts no writer
        self.offload = offloaded(crawler.settings)
        self.remote = None
        self.held: list = []
        self.archive = None
        if not self.offload:
            saved = salvage(folder) if folder.is_dir() else 0
            if saved:
                crawler.stats.set_value("newsarchive/warc/salvaged", saved)
            self.archive = WarcArchive(folder, max_bytes)

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        if not settings.getbool("NEWSARCHIVE_WARC") or settings.getbool("NEWSARCHIVE_STDOUT"):
            raise NotConfigured
        from newsarchive.store.warc import WARC_DIR

        ext = cls(crawler, Path(settings.get("NEWSARCHIVE_OUTPUT")) / WARC_DIR,
                  settings.getint("NEWSARCHIVE_WARC_MAX_BYTES"))
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def response_received(self, response, request, spider=None):
        meta = request.meta
        role = meta.get(ROLE)
        if not role or not 200 <= response.status < 300:
            return
        spider = spider or self.crawler.spider
        key = meta.get(KEY) or ""
        if role == "post" and not key:  # a slug without the infoCode: the page says it
            from newsarchive.core.encoding import decode_html
            from newsarchive.core.extract import ExtractError, parse_post_page

            try:
                text = decode_html(response.body, (response.headers.get("Content-Type") or b"").decode("latin-1"))[0]
                key = parse_post_page(text, response.url).info_code or ""
            except ExtractError:
                pass
        # (bytes, [bytes…]) as Scrapy's Headers store them (its items() re-normalises every name
        # and copies every list, for each response); warc.py decodes them
        req_headers = list(dict.items(request.headers))
        resp_headers = list(dict.items(response.headers))
        reason = {200: "OK", 203: "Non-Authoritative Information"}.get(response.status, "OK")
        record = (response.url, req_headers, f"{response.status} {reason}", resp_headers, response.body, {
            H_ROLE: role, H_KEY: key, H_SITE: getattr(getattr(spider, "sitemap", None), "site", ""),
            H_POST: meta.get(POST_URL) or "", H_ORIGIN: meta.get("origin") or "",
        })
        self.crawler.stats.inc_value("newsarchive/warc/records")
        if self.archive is not None:
            self.archive.write(*record)
        elif role in ("home", "feed", "listing") and self.remote is None:
            self.held.append(record)
        else:
            if self.remote is None:
                from newsarchive.crawl.writerproc import for_crawler

                self.remote = for_crawler(self.crawler)
                for held in self.held:
                    self.remote.send("warc", *held)
                self.held = []
            if role == "post":      # it goes with its post's message (``WriterProcess.post``)
                self.remote.stage(response.url, record)
            elif role == "share" and meta.get(POST_URL):
                self.remote.stage(meta[POST_URL], record)
            else:
                self.remote.send("warc", *record)

    def spider_closed(self, spider=None, reason=None):
        if self.archive is not None:
            self.archive.close()
