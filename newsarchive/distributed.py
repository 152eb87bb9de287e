"""Distributed crawling on Redis with scrapy-redis: many workers, one frontier, each post once.

With ``--redis URL`` the scheduler queue and the request dupefilter are scrapy-redis's, in Redis,
so workers started with the same command on any machines share one crawl frontier. On top of it:

* **in-flight registry** — a request a worker takes from the queue is recorded in
  ``<prefix>:pending`` until its callback's output has been handled (items written); each worker
  keeps a heartbeat key alive. Requests of a worker whose heartbeat expired (killed, machine gone)
  go back to the queue: nothing is lost, and a restarted worker simply joins the same crawl.
* **infoCode dedupe** — ``<prefix>:seen`` (this run) and ``<prefix>:archived`` (every post ever
  archived) are Redis sets, so each infoCode is archived once whichever worker finds it, and known
  posts are skipped before download by every worker.
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
import os
import socket
import time
import uuid

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy_redis.scheduler import Scheduler as RedisScheduler

logger = logging.getLogger(__name__)

PREFIX = "newsarchive:%(spider)s"


def redis_settings(url: str, follow: bool = False, push_items: bool = False) -> dict:
    """The Scrapy settings that put a crawl on Redis."""
    settings = {
        "NEWSARCHIVE_REDIS_URL": url,
        "NEWSARCHIVE_REDIS_FOLLOW": follow,
        "NEWSARCHIVE_REDIS_ITEMS": push_items,
        "REDIS_URL": url,
        "SCHEDULER": "newsarchive.distributed.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": PREFIX + ":requests",
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


class Scheduler(RedisScheduler):
    """scrapy-redis's scheduler with the in-flight registry and dead-worker recovery."""

    worker_id: str = ""

    @classmethod
    def from_crawler(cls, crawler):
        instance = super().from_crawler(crawler)
        instance.crawler = crawler
        instance.heartbeat = crawler.settings.getfloat("NEWSARCHIVE_REDIS_HEARTBEAT", 2.0)
        instance.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        instance.last_recovery = 0.0
        return instance

    def open(self, spider):
        super().open(spider)
        self.keys = keys(spider.name)
        self.beat()

    # -- the worker's heartbeat ------------------------------------------------------------------
    def beat(self) -> None:
        self.server.set(f"{self.keys['workers']}:{self.worker_id}", "1", px=int(self.heartbeat * 5000))

    def live_workers(self) -> set[str]:
        prefix = f"{self.keys['workers']}:"
        return {k.decode()[len(prefix):] for k in self.server.scan_iter(match=prefix + "*", count=500)}

    # -- queue --------------------------------------------------------------------------------
    def enqueue_request(self, request):
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self):
        now = time.monotonic()
        if now - self.last_recovery >= self.heartbeat:
            self.last_recovery = now
            self.beat()
            self.recover()
        request = self.queue.pop(self.idle_before_close)
        if request is not None:
            self.stats.inc_value("scheduler/dequeued/redis")
            fp = self.fingerprint(request)
            pipe = self.server.pipeline()
            pipe.hset(self.keys["pending"], fp, self.queue._encode_request(request))
            pipe.hset(self.keys["pending_worker"], fp, self.worker_id)
            pipe.execute()
            request.meta["newsarchive_fp"] = fp
        return request

    def fingerprint(self, request) -> str:
        return self.crawler.request_fingerprinter.fingerprint(request).hex()

    def done(self, request) -> None:
        fp = request.meta.get("newsarchive_fp") if request is not None else None
        if fp:
            pipe = self.server.pipeline()
            pipe.hdel(self.keys["pending"], fp)
            pipe.hdel(self.keys["pending_worker"], fp)
            pipe.execute()

    def recover(self) -> int:
        """Requests in flight at workers whose heartbeat has expired go back to the queue."""
        owners = self.server.hgetall(self.keys["pending_worker"])
        if not owners:
            return 0
        live = self.live_workers() | {self.worker_id}
        requeued = 0
        for fp, owner in owners.items():
            if owner.decode() in live:
                continue
            encoded = self.server.hget(self.keys["pending"], fp)
            # whoever deletes the entry requeues it: exactly one worker does
            if self.server.hdel(self.keys["pending_worker"], fp) and encoded:
                self.server.hdel(self.keys["pending"], fp)
                self.queue.push(self.queue._decode_request(encoded))
                requeued += 1
        if requeued:
            logger.warning("requeued %d request(s) of worker(s) that stopped answering", requeued)
            self.stats.inc_value("newsarchive/redis/requeued", requeued)
        return requeued

    def in_flight_elsewhere(self) -> int:
        owners = self.server.hvals(self.keys["pending_worker"])
        mine = self.worker_id.encode()
        return sum(1 for o in owners if o != mine)

    def drop_own_pending(self) -> None:
        """When this worker is idle nothing of its own is in flight: clear stale entries."""
        mine = self.worker_id.encode()
        for fp, owner in self.server.hgetall(self.keys["pending_worker"]).items():
            if owner == mine:
                self.server.hdel(self.keys["pending_worker"], fp)
                self.server.hdel(self.keys["pending"], fp)

    def has_pending_requests(self):
        return len(self) > 0

    def close(self, reason):
        self.server.delete(f"{self.keys['workers']}:{self.worker_id}")
        others = self.live_workers() - {self.worker_id}
        if not others and reason == "finished":
            # the last worker out: this run is over; the next crawl starts with a clean frontier
            self.server.delete(self.keys["requests"], self.keys["dupefilter"], self.keys["seen"],
                               self.keys["pending"], self.keys["pending_worker"])
        super().close(reason)


class PendingDone:
    """Spider middleware: a request leaves the in-flight registry once its callback's output
    (and so its items, written by the pipelines) has been handled, or its failure dealt with."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
            raise NotConfigured
        return cls(crawler)

    def _scheduler(self):
        return self.crawler.engine.scheduler if self.crawler.engine else None

    def _done(self, response):
        scheduler = self._scheduler()
        request = getattr(response, "request", None)
        if isinstance(scheduler, Scheduler) and request is not None:
            scheduler.done(request)

    def process_spider_output(self, response, result, spider=None):
        yield from result
        self._done(response)

    async def process_spider_output_async(self, response, result, spider=None):
        async for o in result:
            yield o
        self._done(response)

    def process_spider_exception(self, response, exception, spider=None):
        self._done(response)


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

    def first_sight(self, code: str) -> bool:
        return bool(self.server.sadd(self.keys["seen"], code))

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
