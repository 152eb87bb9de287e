"""The HTTP(S) client of a crawl: Scrapy's aiohttp download handler, put in by an add-on.

Scrapy 2.19 ships two HTTP/1.1 download handlers: its default on Twisted's HTTP client (pure Python),
and one on aiohttp (a C parser on asyncio; aiohttp is one of Scrapy's own dependencies, and this
handler is the one Scrapy itself uses when it runs without a Twisted reactor). On the bench's mirror
the aiohttp one spends ~15% less CPU a request, and requests are most of a crawl's CPU. Either is
Scrapy's code around the same middlewares: proxies (the share host through ``http_proxy``),
``DOWNLOAD_MAXSIZE``/``WARNSIZE``, ``DOWNLOAD_TIMEOUT``, data loss and the bind address are Scrapy's
handling in both, and the hostile-mirror tests run on it.

``NEWSARCHIVE_HTTP_CLIENT`` picks: ``aiohttp`` (default) or ``twisted`` (Scrapy's default handler). The
aiohttp one needs the asyncio reactor (Scrapy's default) and a Scrapy that has it (2.19 keeps it in
a private module, ``_aiohttp``); without either, the crawl says so at INFO and keeps Scrapy's default.
A ``DOWNLOAD_HANDLERS`` entry of your own for ``http``/``https`` (in a project or ``-s``) wins.
"""
from __future__ import annotations

import importlib.util
import logging

from newsarchive.core.mdsafe import one_line

logger = logging.getLogger(__name__)

CLIENTS = ("aiohttp", "twisted")
ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
HANDLER = "newsarchive.crawl.download.AiohttpHandler"
_TWISTED = "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"

try:            # (found, not imported: aiohttp is imported when Scrapy loads the handler's class, as it builds
                # the downloader, not when the settings are read)
    _MISSING = "" if importlib.util.find_spec("scrapy.core.downloader.handlers._aiohttp") else \
        "this Scrapy has no aiohttp handler"
except ImportError as exc:
    _MISSING = f"this Scrapy has no aiohttp handler ({exc})"


def __getattr__(name: str):
    """``AiohttpHandler``, made when Scrapy first loads it."""
    if name != "AiohttpHandler":
        raise AttributeError(name)
    from aiohttp.http_exceptions import BadHttpMessage, PayloadEncodingError
    from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler
    from scrapy.http import Headers
    from scrapy.utils.misc import build_from_crawler

    def refused(exc: BaseException) -> str:
        """The message of aiohttp's parser refusing a response's head (a header over 8 KB, a doubled
        Content-Length…), found in the exception's chain; "" for any other failure (a body cut short)."""
        seen: set[int] = set()
        e: BaseException | None = exc
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            if isinstance(e, BadHttpMessage) and not isinstance(e, PayloadEncodingError):
                return one_line(e.message, 120) or type(e).__name__
            e = e.__cause__ or e.__context__
        return ""

    class AiohttpHandler(AiohttpDownloadHandler):
        """Scrapy's aiohttp handler, with Scrapy's Twisted handler behind it for what aiohttp does not
        take as Twisted does (each such request counted in ``newsarchive/http/twisted``):
        - a response head that aiohttp's stricter parser refuses (a header over 8 KB or more than 128 of
          them, a doubled Content-Length, a line without a colon…): the request is made again through
          Twisted's, which reads such heads (also some bodies aiohttp's parser refuses after the head, a
          bad trailer: downloaded twice, then Twisted's verdict);
        - a proxy with credentials: Scrapy 2.19's handler writes them into the proxy's URL unescaped, and
          a ``/`` in the password sends the request to another host."""

        # built at the first request, inside the running event loop (aiohttp's session needs one):
        # a script that starts the crawl with CrawlerProcess, before the loop runs, gets it too
        lazy = True
        # Scrapy warns "experimental, not recommended for production" at every crawl: newsarchive's
        # tests (loopback mirrors, the share host through a proxy, hostile servers) run on it
        experimental = False

        def __init__(self, crawler):
            super().__init__(crawler)
            self._crawler = crawler
            self._twisted = None
            # (Scrapy without a reactor has no Twisted handler: aiohttp's answer is the last word there)
            self._fallback = crawler.settings.getbool("TWISTED_REACTOR_ENABLED", True)

        @staticmethod
        def _extract_headers(response) -> Headers:
            # the header bytes as received: aiohttp's str headers are decoded with surrogateescape,
            # which Scrapy's Headers cannot encode again (a GBK byte in any header failed the page)
            return Headers(list(response.raw_headers))

        async def download_request(self, request):
            if self._fallback and request.meta.get("proxy") and request.headers.get(b"Proxy-Authorization"):
                return await self._through_twisted(request, "a proxy with credentials")
            try:
                return await super().download_request(request)
            except Exception as exc:
                why = refused(exc) if self._fallback else ""
                if not why:
                    raise
            return await self._through_twisted(request, f"aiohttp refused the response: {why}")

        async def _through_twisted(self, request, why: str):
            twisted = self._twisted
            if twisted is None:         # (the first such request: said at INFO, the stats count them all)
                from scrapy.utils.misc import load_object

                twisted = self._twisted = build_from_crawler(load_object(_TWISTED), self._crawler)
                level = logging.INFO
            else:
                level = logging.DEBUG
            logger.log(level, "HTTP client: %s through Twisted's, for %s", request.url, why)
            self._crawler.stats.inc_value("newsarchive/http/twisted")
            return await twisted.download_request(request)

        async def close(self) -> None:
            try:
                await super().close()
            finally:
                if self._twisted is not None:
                    await self._twisted.close()

    AiohttpHandler.__module__ = __name__
    globals()[name] = AiohttpHandler
    return AiohttpHandler


class _ByName(type):
    target = ""         # the module of the class matched

    def __instancecheck__(cls, obj) -> bool:
        return any(c.__name__ == cls.__name__ and c.__module__ == cls.target for c in type(obj).__mro__)


class TunnelError(metaclass=_ByName):
    """Matches Scrapy's ``http11.TunnelError`` (a proxy's CONNECT refused) without importing its module
    (Twisted's HTTP client, ~50 ms of every crawl's start-up, unused while aiohttp downloads): in
    ``RETRY_EXCEPTIONS`` in its place."""

    target = _TWISTED.rpartition(".")[0]


def client(settings) -> str:
    """``NEWSARCHIVE_HTTP_CLIENT``, checked: a bad value stops the crawl before it starts."""
    name = str(settings.get("NEWSARCHIVE_HTTP_CLIENT") or "aiohttp").strip().lower()
    if name not in CLIENTS:
        raise ValueError(f"NEWSARCHIVE_HTTP_CLIENT must be one of {', '.join(CLIENTS)}, not {name!r}")
    return name


def unavailable(settings) -> str:
    """Why the aiohttp handler cannot run with these settings ("" when it can)."""
    if _MISSING:
        return _MISSING
    if settings.getbool("TWISTED_REACTOR_ENABLED", True) and settings.get("TWISTED_REACTOR") != ASYNCIO_REACTOR:
        return f"it needs the asyncio reactor (TWISTED_REACTOR is {settings.get('TWISTED_REACTOR')})"
    return ""


class HttpClientAddon:
    """``ADDONS`` entry: ``NEWSARCHIVE_HTTP_CLIENT=aiohttp`` puts :class:`AiohttpHandler` on http and
    https, at the add-on priority (below a project's or ``-s``'s own ``DOWNLOAD_HANDLERS``)."""

    def update_settings(self, settings) -> None:
        if client(settings) != "aiohttp":
            return
        why = unavailable(settings)
        if why:
            logger.info("HTTP client: Scrapy's default (Twisted), because %s", why)
            return
        handlers = settings["DOWNLOAD_HANDLERS"]
        for scheme in ("http", "https"):
            handlers.set(scheme, HANDLER, priority="addon")
        logger.debug("HTTP client: aiohttp (%s)", HANDLER)
