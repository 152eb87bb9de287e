"""Scrapy components of a distributed crawl: the one Redis connection of a crawl (``RedisState``),
the in-flight bookkeeping spider middleware (``PendingDone``) and the idle exit (``IdleClose``).
Each switches itself off (``NotConfigured``) without ``NEWSARCHIVE_REDIS_URL``."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

if TYPE_CHECKING:
    from newsarchive.distributed.sets import RedisSets

logger = logging.getLogger(__name__)


class RedisState:
    """The crawl's one Redis client and shared sets; other components find it with
    ``crawler.get_extension(RedisState)``."""

    def __init__(self, crawler):
        from newsarchive.distributed.sets import RedisSets  # (redis is imported by a distributed crawl only)

        self.sets = RedisSets(crawler.settings.get("NEWSARCHIVE_REDIS_URL"))
        self.server = self.sets.server
        # (Redis gone: the scheduler ends the crawl, said once)
        self.sets.on_lost = lambda exc: getattr(crawler.engine.scheduler, "redis_lost", lambda e: None)(exc)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
            raise NotConfigured
        return cls(crawler)


def shared_sets(crawler) -> RedisSets | None:
    """The crawl's shared sets, or None when the crawl is not distributed."""
    if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
        return None
    state = crawler.get_extension(RedisState)
    return state.sets


class PendingDone:
    """Spider middleware: tells the scheduler which outputs came from which in-flight request and
    when its callback has ended; the scheduler clears the request once every output is handled."""

    def __init__(self, crawler):
        from newsarchive.distributed.scheduler import Scheduler

        self.crawler = crawler
        self.scheduler_class = Scheduler

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
            raise NotConfigured
        return cls(crawler)

    def _scheduler(self):
        return self.crawler.engine.scheduler if self.crawler.engine else None

    def _wrap_one(self, scheduler, fp, o):
        if fp is not None and isinstance(scheduler, self.scheduler_class):
            scheduler.track(fp, o)
        return o

    def _context(self, response):
        scheduler = self._scheduler()
        request = getattr(response, "request", None)
        fp = request.meta.get("newsarchive_fp") if request is not None else None
        return scheduler, fp

    def _ended(self, scheduler, fp):
        if fp is not None and isinstance(scheduler, self.scheduler_class):
            scheduler.callback_ended(fp)

    def process_spider_output(self, response, result, spider=None):
        scheduler, fp = self._context(response)
        for o in result:
            yield self._wrap_one(scheduler, fp, o)
        self._ended(scheduler, fp)

    async def process_spider_output_async(self, response, result, spider=None):
        scheduler, fp = self._context(response)
        async for o in result:
            yield self._wrap_one(scheduler, fp, o)
        self._ended(scheduler, fp)

    def process_spider_exception(self, response, exception, spider=None):
        self._ended(*self._context(response))


class IdleClose:
    """Keeps a worker open while the shared frontier has work (here or in flight elsewhere), and
    for ``NEWSARCHIVE_REDIS_IDLE`` seconds after it went empty; ``--follow`` keeps it for ever."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.idle = crawler.settings.getfloat("NEWSARCHIVE_REDIS_IDLE", 5.0)
        self.follow = crawler.settings.getbool("NEWSARCHIVE_REDIS_FOLLOW")
        self.empty_since = None

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        return ext

    def spider_idle(self, spider=None):
        scheduler = self.crawler.engine.scheduler      # (Redis gone: the crawl is closing, redis_unreachable)
        scheduler._redis(self._keep_open, scheduler)

    def _keep_open(self, scheduler) -> None:
        scheduler.drop_own_pending()
        if scheduler.recover() or len(scheduler) or scheduler.in_flight_elsewhere():
            self.empty_since = None
            raise DontCloseSpider
        now = time.monotonic()
        self.empty_since = self.empty_since or now
        if self.follow or now - self.empty_since < self.idle:
            scheduler.beat()
            raise DontCloseSpider
