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


# Each step that moves a request between the dupefilter, the queue and the in-flight registry is
# one Lua script, so a worker killed at any instant leaves every request somewhere: seen and
# queued, or in flight under its name (and recovered), never seen but nowhere.
ENQUEUE = """
if ARGV[1] == '1' or redis.call('SADD', KEYS[1], ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  return 1
end
return 0
"""
DEQUEUE = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0)
if #r == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
local id = redis.sha1hex(r[1])
redis.call('HSET', KEYS[2], id, r[1])
redis.call('HSET', KEYS[3], id, ARGV[1])
return {id, r[1]}
"""
REQUEUE = """
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then
  local data = redis.call('HGET', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  if data then redis.call('ZADD', KEYS[1], 0, data) return 1 end
end
return 0
"""


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
        # a request leaves the in-flight registry only when every output of its callback has been
        # handled: each request enqueued, each item written or dropped (Scrapy hands outputs to
        # the pipelines asynchronously, so the callback's end is not enough)
        instance.outputs: dict[str, list] = {}      # fp → [outputs not yet handled, callback ended]
        instance.parents: dict[int, str] = {}       # id(output) → its response's fp
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(instance.item_handled, signal=signal)
        return instance

    def open(self, spider):
        super().open(spider)
        self.keys = keys(spider.name)
        self._enqueue = self.server.register_script(ENQUEUE)
        self._dequeue = self.server.register_script(DEQUEUE)
        self._requeue = self.server.register_script(REQUEUE)
        self.beat()

    # -- the worker's heartbeat ------------------------------------------------------------------
    def beat(self) -> None:
        self.server.set(f"{self.keys['workers']}:{self.worker_id}", "1", px=int(self.heartbeat * 5000))

    def live_workers(self) -> set[str]:
        prefix = f"{self.keys['workers']}:"
        return {k.decode()[len(prefix):] for k in self.server.scan_iter(match=prefix + "*", count=500)}

    # -- queue --------------------------------------------------------------------------------
    def enqueue_request(self, request):
        fp = self.df.request_fingerprint(request)
        added = self._enqueue(keys=[self.df.key, self.queue.key],
                              args=["1" if request.dont_filter else "0", fp, -request.priority,
                                    self.queue._encode_request(request)])
        self.handled(request)
        if not added:
            self.df.log(request, self.spider)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        now = time.monotonic()
        if now - self.last_recovery >= self.heartbeat:
            self.last_recovery = now
            self.beat()
            self.recover()
        popped = self._dequeue(keys=[self.queue.key, self.keys["pending"], self.keys["pending_worker"]],
                               args=[self.worker_id])
        if not popped:
            return None
        ident, data = popped
        request = self.queue._decode_request(data)
        request.meta["newsarchive_fp"] = ident.decode() if isinstance(ident, bytes) else ident
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    # -- outputs of a callback --------------------------------------------------------------------
    def track(self, fp: str, output) -> None:
        self.outputs.setdefault(fp, [0, False])[0] += 1
        self.parents[id(output)] = fp

    def handled(self, output) -> None:
        fp = self.parents.pop(id(output), None)
        if fp is not None and fp in self.outputs:
            self.outputs[fp][0] -= 1
            self._maybe_done(fp)

    def item_handled(self, item, **kwargs) -> None:
        self.handled(item)

    def callback_ended(self, fp: str) -> None:
        self.outputs.setdefault(fp, [0, False])[1] = True
        self._maybe_done(fp)

    def _maybe_done(self, fp: str) -> None:
        left, ended = self.outputs[fp]
        if ended and left <= 0:
            del self.outputs[fp]
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
            if owner.decode() not in live:
                requeued += self._requeue(keys=[self.queue.key, self.keys["pending"], self.keys["pending_worker"]],
                                          args=[fp])
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
    """Spider middleware: tells the scheduler which outputs came from which in-flight request and
    when its callback has ended; the scheduler clears the request once every output is handled."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("NEWSARCHIVE_REDIS_URL"):
            raise NotConfigured
        return cls(crawler)

    def _scheduler(self):
        return self.crawler.engine.scheduler if self.crawler.engine else None

    def _wrap_one(self, scheduler, fp, o):
        if fp is not None and isinstance(scheduler, Scheduler):
            scheduler.track(fp, o)
        return o

    def _context(self, response):
        scheduler = self._scheduler()
        request = getattr(response, "request", None)
        fp = request.meta.get("newsarchive_fp") if request is not None else None
        return scheduler, fp

    def _ended(self, scheduler, fp):
        if fp is not None and isinstance(scheduler, Scheduler):
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
