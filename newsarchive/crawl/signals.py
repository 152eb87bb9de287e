"""newsarchive's own signals (sent with ``crawler.signals.send_catch_log``), and the end of a crawl."""
from __future__ import annotations

from typing import Any

# an article could not be fetched: kwargs url, info_code, reason, permanent, origin
article_failed = object()


def close_crawl(crawler, reason: str) -> None:
    """Stop the crawl with ``reason`` as its finish reason, from any signal handler."""
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    engine = crawler.engine
    if hasattr(engine, "close_spider_async"):        # Scrapy 2.14+
        from scrapy.utils.defer import deferred_from_coro

        reactor.callLater(0, lambda: deferred_from_coro(engine.close_spider_async(reason=reason)))
    else:
        reactor.callLater(0, engine.close_spider, crawler.spider, reason)
