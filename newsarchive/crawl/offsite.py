"""The hosts a crawl may talk to: the mirror (``--site``), the share hosts (``NEWSARCHIVE_SHARE_HOSTS``)
and the hosts of URLs a person gave. Nothing else — not another port of the same machine, not
``localhost``, not a metadata address through the proxy — whatever a page, a redirect or a meta
refresh names. A request elsewhere is dropped before it is sent, counted
(``newsarchive/drop/offsite_share`` for share answers, ``newsarchive/drop/offsite`` for the rest) and
logged once per host; a post whose share host is not allowed keeps the mirror's body.

Hosts are compared with their port (``127.0.0.1:8000`` is not ``127.0.0.1:9000``); a share host
named without a port allows the scheme's default port only.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.httpobj import urlparse_cached

from newsarchive.core import reasons as R
from newsarchive.crawl.meta import ROLE

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(scheme: str, host: str | None, port: int | None) -> str:
    """``host:port`` with the scheme's default port spelt out, lower case."""
    return f"{(host or '').lower()}:{port or _DEFAULT_PORTS.get(scheme.lower(), 0)}"


def url_host_key(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        return host_key(parts.scheme, parts.hostname, parts.port)
    except ValueError:
        return None


def _entry_keys(entry: str) -> set[str]:
    """A setting's entry (``host``, ``host:port`` or a URL) as host keys."""
    entry = entry.strip()
    if not entry:
        return set()
    if "://" in entry:
        key = url_host_key(entry)
        return {key} if key else set()
    host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
    if port.isdigit():
        return {f"{host.lower()}:{int(port)}"}
    return {f"{entry.lower()}:80", f"{entry.lower()}:443"}


class HostPolicy:
    def __init__(self, site: str, share_hosts, extra_urls=()):
        self.allowed: set[str] = set()
        for entry in [site, *share_hosts, *extra_urls]:
            self.allowed |= _entry_keys(entry)

    def allows(self, url: str) -> bool:
        key = url_host_key(url)
        return key is not None and key in self.allowed


class HostGuard:
    """Downloader middleware (first in the chain): every request — the spider's, a redirect's, a meta
    refresh's, robots.txt's — to a host the policy does not allow is dropped before it is sent."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.policy: HostPolicy | None = None
        self.warned: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler):
        mw = cls(crawler)
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        return mw

    def spider_opened(self, spider=None) -> None:
        spider = spider or self.crawler.spider
        sitemap = getattr(spider, "sitemap", None)
        if sitemap is None:         # not one of newsarchive's spiders: its hosts are its own business
            return
        self.policy = HostPolicy(sitemap.site, self.crawler.settings.getlist("NEWSARCHIVE_SHARE_HOSTS"),
                                 getattr(spider, "urls", ()))

    def allows(self, url: str) -> bool:
        return self.policy is None or self.policy.allows(url)

    def refuse(self, url: str, role: str | None) -> str:
        """Count and log (once per host) a request that will not be made; the reason as one line."""
        reason = "offsite_share" if role in ("share", "share_direct") else "offsite"
        self.stats.inc_value(R.drop_key(reason))
        host = url_host_key(url) or url[:80]
        if host not in self.warned:
            self.warned.add(host)
            logger.warning("not contacting %s (%s): not the mirror nor an allowed share host "
                           "(NEWSARCHIVE_SHARE_HOSTS); further requests to it are dropped silently", host, url[:200])
        return f"offsite: {host} is not an allowed host"

    def process_request(self, request, spider=None):
        parts = urlparse_cached(request)
        if self.policy is None or host_key(parts.scheme, parts.hostname, parts.port) in self.policy.allowed:
            return
        raise IgnoreRequest(self.refuse(request.url, request.meta.get(ROLE)))
