"""Redis key names and the connection of a distributed crawl (no Scrapy)."""
from __future__ import annotations

PREFIX = "newsarchive:%(spider)s"


def redis_settings(url: str) -> dict:
    """The Scrapy settings that put a crawl on Redis (applied by ``addon.RedisAddon``)."""
    settings = {
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
            ("requests", "dupefilter", "pending", "pending_worker", "seen", "archived", "items", "workers",
             "collector")}


def connect(url: str):
    import redis

    return redis.Redis.from_url(url)
