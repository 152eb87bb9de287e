"""Distributed crawling on Redis with scrapy-redis: many workers, one frontier, each post once.

With ``--redis URL`` the scheduler queue and the request dupefilter are scrapy-redis's, in Redis,
so workers started with the same command on any machines share one crawl frontier. On top of it:

* **in-flight registry** — a request a worker takes from the queue is recorded in
  ``<prefix>:pending`` until its callback's output has been handled (items written); each worker
  keeps a heartbeat key alive. Requests of a worker whose heartbeat expired (killed, machine gone)
  go back to the queue: nothing is lost, and a restarted worker simply joins the same crawl.
* **infoCode dedupe** — ``<prefix>:seen`` (this run's claims: infoCode → worker) and
  ``<prefix>:archived`` (every post ever archived) live in Redis, so each infoCode is archived once
  whichever worker finds it, known posts are skipped before download by every worker, and the claim
  of a worker that died before writing passes to the next worker that meets the article.
* **idle exit** — a worker closes once the frontier (queue and every worker's in-flight requests)
  has been empty for ``NEWSARCHIVE_REDIS_IDLE`` seconds; ``--follow`` keeps it waiting. The last
  worker out clears the run's queue, dupefilter and sets, so the next crawl starts afresh.
* **getting posts to one archive** — workers sharing a folder write it directly, each post under
  the archive lock (``flock``), the catalog being SQLite with a busy timeout. Workers that do not
  share a disk run with ``--redis-items``: they push finished posts to ``<prefix>:items`` and one
  ``newsarchive collect`` process writes them.
"""
from __future__ import annotations

import json
import logging
import time

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

logger = logging.getLogger(__name__)

PREFIX = "newsarchive:%(spider)s"


def redis_settings(url: str, follow: bool = False, push_items: bool = False) -> dict:
    """The Scrapy settings that put a crawl on Redis."""
    settings = {
        "NEWSARCHIVE_REDIS_URL": url,
        "NEWSARCHIVE_REDIS_FOLLOW": follow,
        "NEWSARCHIVE_REDIS_ITEMS": push_items,
        "REDIS_URL": url,
        "SCHEDULER": "newsarchive.distributed.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": PREFIX + ":requests",
        "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        "SCHEDULER_DUPEFILTER_KEY": PREFIX + ":dupefilter",
    }
    return settings


def keys(spider_name: str) -> dict[str, str]:
    p = PREFIX % {"spider": spider_name}
    return {name: f"{p}:{name}" for name in
            ("requests", "dupefilter", "pending", "pending_worker", "seen", "archived", "items", "workers")}


def connect(url: str):
    import redis

    return redis.Redis.from_url(url)


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
        scheduler = self.crawler.engine.scheduler
        scheduler.drop_own_pending()
        if scheduler.recover() or len(scheduler) or scheduler.in_flight_elsewhere():
            self.empty_since = None
            raise DontCloseSpider
        now = time.monotonic()
        self.empty_since = self.empty_since or now
        if self.follow or now - self.empty_since < self.idle:
            scheduler.beat()
            raise DontCloseSpider


class RedisSets:
    """The two infoCode sets every worker shares: this run's ``seen`` and the ``archived``."""

    def __init__(self, url: str, spider_name: str = "mirror"):
        self.server = connect(url)
        self.keys = keys(spider_name)

    def first_sight(self, code: str, worker: str) -> bool:
        """True for the first worker to handle ``code`` in this run — or for a worker taking over
        from one that died before the post was archived (its claim would otherwise lose it)."""
        if self.server.hsetnx(self.keys["seen"], code, worker):
            return True
        owner = (self.server.hget(self.keys["seen"], code) or b"").decode()
        if owner == worker or self.server.exists(f"{self.keys['workers']}:{owner}") or self.archived(code):
            return False
        self.server.hset(self.keys["seen"], code, worker)
        return True

    def archived(self, code: str) -> bool:
        return bool(self.server.sismember(self.keys["archived"], code))

    def mark_archived(self, code: str) -> None:
        self.server.sadd(self.keys["archived"], code)

    def seed_archived(self, codes) -> None:
        batch = []
        for code in codes:
            batch.append(code)
            if len(batch) >= 5000:
                self.server.sadd(self.keys["archived"], *batch)
                batch = []
        if batch:
            self.server.sadd(self.keys["archived"], *batch)

    def push_item(self, payload: dict) -> None:
        self.server.rpush(self.keys["items"], json.dumps(payload, ensure_ascii=False))
