"""The Redis scheduler of distributed crawls (see ``distributed``): scrapy-redis's, with an in-flight
registry, heartbeats and the requeue of dead workers' requests. Imported only with ``--redis``
(scrapy-redis is the optional ``redis`` extra)."""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from redis.exceptions import RedisError
from scrapy import signals
from scrapy_redis.scheduler import Scheduler as RedisScheduler

from newsarchive.core.mdsafe import one_line
from newsarchive.crawl.signals import close_crawl
from newsarchive.distributed.keys import keys

logger = logging.getLogger(__name__)


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
    last_recovery: float = 0.0
    outputs: dict[str, list]
    parents: dict[int, str]

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
        instance.outputs = {}       # fp → [outputs not yet handled, callback ended]
        instance.parents = {}       # id(output) → its response's fp
        for signal in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(instance.item_handled, signal=signal)
        return instance

    def open(self, spider):
        super().open(spider)
        self.keys = keys(spider.name)
        self._enqueue = self.server.register_script(ENQUEUE)
        self._dequeue = self.server.register_script(DEQUEUE)
        self._requeue = self.server.register_script(REQUEUE)
        if not self.live_workers() and not self.server.exists(self.keys["collector"]):
            # the first worker of a run, no collector there: the set of what "the archive" holds is made
            # anew by this run's archives (each seeds it from its catalog), never kept from a run into
            # another archive on the same Redis, whose posts this one would skip as archived and never have
            self.server.delete(self.keys["archived"])
        self.beat()

    # -- the worker's heartbeat ------------------------------------------------------------------
    def beat(self) -> None:
        self.server.set(f"{self.keys['workers']}:{self.worker_id}", "1", px=int(self.heartbeat * 5000))

    def live_workers(self) -> set[str]:
        prefix = f"{self.keys['workers']}:"
        return {k.decode()[len(prefix):] for k in self.server.scan_iter(match=prefix + "*", count=500)}

    # -- Redis gone ------------------------------------------------------------------------------
    lost = ""

    def redis_lost(self, exc: Exception) -> None:
        """Redis stopped answering: the crawl ends (``redis_unreachable``, exit 69), said once — the
        frontier is Redis's, so no worker can go on, nor tell what is left."""
        if not self.lost:
            self.lost = one_line(exc, 200) or type(exc).__name__
            logger.error("Redis stopped answering: %s", self.lost)
            self.stats.set_value("newsarchive/redis/lost", self.lost)
            close_crawl(self.crawler, "redis_unreachable")

    def _redis(self, call, *args, default=None):
        """``call(*args)``, or ``default`` once Redis is gone (the loss said once, by ``redis_lost``)."""
        if self.lost:
            return default
        try:
            return call(*args)
        except RedisError as exc:
            self.redis_lost(exc)
            return default

    # -- queue --------------------------------------------------------------------------------
    def enqueue_request(self, request):
        return self._redis(self._enqueue_request, request, default=False)

    def next_request(self):
        return self._redis(self._next_request)

    def has_pending_requests(self):
        return self._redis(lambda: len(self) > 0, default=False)

    def _enqueue_request(self, request):
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

    def _next_request(self):
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
        self._redis(self.handled, item)

    def callback_ended(self, fp: str) -> None:
        self.outputs.setdefault(fp, [0, False])[1] = True
        self._redis(self._maybe_done, fp)

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

    def close(self, reason):
        # (nothing to tidy in a Redis that does not answer; the next crawl recovers)
        self._redis(self._close, reason)

    def _close(self, reason):
        self.server.delete(f"{self.keys['workers']}:{self.worker_id}")
        others = self.live_workers() - {self.worker_id}
        if not others and reason == "finished":
            # the last worker out: this run is over; the next crawl starts with a clean frontier
            self.server.delete(self.keys["requests"], self.keys["dupefilter"], self.keys["seen"],
                               self.keys["pending"], self.keys["pending_worker"])
        super().close(reason)
