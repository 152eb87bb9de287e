"""Redis mode as a Scrapy add-on (``ADDONS``), as scrapy-zyte-api does it: with
``NEWSARCHIVE_REDIS_URL`` set — by ``newsarchive crawl --redis``, by ``scrapy crawl mirror -s …`` or by
a Scrapyd job's ``setting=`` — the crawl gets scrapy-redis's queue and dupefilter behind
newsarchive's in-flight scheduler; without it the add-on switches itself off."""
from __future__ import annotations

from scrapy.exceptions import NotConfigured

from newsarchive.distributed.keys import redis_settings


class RedisUnavailable(RuntimeError):
    """A distributed crawl was asked for, but cannot run here."""


class RedisAddon:
    def __init__(self, url: str):
        self.url = url

    @classmethod
    def from_crawler(cls, crawler):
        url = crawler.settings.get("NEWSARCHIVE_REDIS_URL")
        if not url:
            raise NotConfigured
        return cls(url)

    def update_settings(self, settings) -> None:
        try:
            import scrapy_redis  # noqa: F401
        except ImportError:
            raise RedisUnavailable("a distributed crawl (NEWSARCHIVE_REDIS_URL) needs the redis extra: "
                                   "pip install 'newsarchive[redis]'") from None
        for name, value in redis_settings(self.url).items():
            settings.set(name, value, priority="addon")
