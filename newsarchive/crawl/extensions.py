"""Extensions: live progress on a terminal, and the final stats as a JSON file."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import MemoryStatsCollector
from twisted.internet import task

from newsarchive.crawl.meta import ROLE
from newsarchive.store.files import atomic_write


def summary(stats: dict) -> str:
    """The one-line summary of a crawl, from its stats."""
    get = lambda k: stats.get(f"newsarchive/{k}", 0)
    return (f"listings {get('pages/listings')}, posts found {get('posts/found')}, "
            f"new {get('posts/written')}, updated {get('posts/updated')}, "
            f"unchanged {get('posts/unchanged')}, skipped known {get('posts/skipped_known')}, "
            f"duplicate {get('posts/duplicate')}, failed {get('posts/failed')}"
            + (f", pages failed {get('pages/failed')}" if get("pages/failed") else ""))


def unread_pages(stats: dict) -> str:
    """What the pages of the mirror that failed this crawl cost, in one line ("" when none did); a page
    gone for good (404/410) is the mirror's state, not counted."""
    failed = stats.get("newsarchive/pages/failed", 0) - stats.get("newsarchive/pages/gone", 0)
    if failed <= 0:
        return ""
    return (f"{failed} page(s) of the mirror could not be read, their posts not looked for "
            f"(last: {stats.get('newsarchive/pages/failure', '?')})")


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
        self.task: task.LoopingCall | None = None

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


class ShareHostReport:
    """A share host that is down is the mirror's normal case: not an ERROR with a traceback per
    request, but one WARNING at the end of the crawl that says how many posts kept the mirror's
    body. (Scrapy's "Gave up retrying" lines for share requests are counted instead of logged.)"""

    def __init__(self, crawler):
        self.crawler = crawler
        self.given_up: dict[str, int] = {}
        self.filter = _ShareRetryFilter(self.given_up)
        logging.getLogger("scrapy.downloadermiddlewares.retry").addFilter(self.filter)

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider=None, reason=None):
        logging.getLogger("scrapy.downloadermiddlewares.retry").removeFilter(self.filter)
        stats = self.crawler.stats
        failed = stats.get_value("newsarchive/share/failed", 0)
        if failed:
            used = stats.get_value("newsarchive/share/used", 0)
            hosts = ", ".join(sorted(self.given_up)) or "the share host"
            logging.getLogger("newsarchive").warning(
                "%s failed for %d of %d posts (timeouts, refused connections or answers that are no article): "
                "those posts keep the mirror's body", hosts, failed, failed + used)


class _ShareRetryFilter(logging.Filter):
    def __init__(self, given_up: dict[str, int]):
        super().__init__()
        self.given_up = given_up

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        request = args.get("request") if isinstance(args, dict) else None
        if request is not None and request.meta.get(ROLE) in ("share", "share_direct") \
                and not request.meta.get("origin"):
            host = request.url.split("/")[2] if "//" in request.url else request.url
            self.given_up[host] = self.given_up.get(host, 0) + 1
            return False
        return True
