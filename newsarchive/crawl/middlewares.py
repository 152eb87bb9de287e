"""Drop-ins for Scrapy components, each cheaper than Scrapy's own and tested against it: the request
fingerprinter, the proxy middleware and the meta-refresh middleware."""
from __future__ import annotations

import hashlib
import inspect
import json
import re
from urllib.request import proxy_bypass
from weakref import WeakKeyDictionary

from scrapy.downloadermiddlewares.httpproxy import HttpProxyMiddleware
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware as ScrapyRedirectMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.request import RequestFingerprinter

from newsarchive.crawl.meta import CARRIES_ARTICLE, ROLE

# a URL that canonicalize_url leaves as it is: lower-case scheme and host, plain path, at most one
# plain query argument, no fragment — every URL the mirror spider builds for a post or share JSON
_CANONICAL_URL = re.compile(r"https?://[a-z0-9.-]+(?::[0-9]+)?/[A-Za-z0-9/._~!$&'*+,;=:@-]*(?:\?[A-Za-z0-9_]+=[A-Za-z0-9_.-]*)?")


class Fingerprinter(RequestFingerprinter):
    """Scrapy's request fingerprint, bit for bit, without its costliest step for the URLs that do
    not need it: ``canonicalize_url`` (~2% of a crawl's CPU) returns an already canonical URL as
    it is, so the fingerprint is computed from the URL directly."""

    def __init__(self, crawler=None):
        super().__init__(crawler)
        self._cache: WeakKeyDictionary = WeakKeyDictionary()

    def fingerprint(self, request) -> bytes:
        if request.method != "GET" or request.body or request.meta.get("verbatim_url"):
            return super().fingerprint(request)
        url = request.url
        if not _CANONICAL_URL.fullmatch(url):
            return super().fingerprint(request)
        fp = self._cache.get(request)
        if fp is None:
            data = json.dumps({"method": "GET", "url": url, "body": "", "headers": {}}, sort_keys=True)
            fp = self._cache[request] = hashlib.sha1(data.encode()).digest()
        return fp


# Scrapy 2.14+ deprecates the ``spider`` argument of middleware methods (and warns when it is given)
_SPIDER_OPTIONAL = inspect.signature(HttpProxyMiddleware.process_request).parameters["spider"].default is None


class ProxyMiddleware(HttpProxyMiddleware):
    """Scrapy's HttpProxyMiddleware (``http_proxy``, ``https_proxy``, ``no_proxy`` as Scrapy reads
    them), with the ``no_proxy`` verdict remembered per host: urllib's ``proxy_bypass`` scans the
    whole environment on every call, ~0.4 ms a request — a fifth of a bare crawl's CPU."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bypass: dict[str, bool] = {}

    def process_request(self, request, spider=None):
        if "proxy" in request.meta or not self.proxies:
            return super().process_request(request, *(() if _SPIDER_OPTIONAL else (spider,)))
        parsed = urlparse_cached(request)
        scheme, host = parsed.scheme, parsed.hostname
        creds = proxy_url = used = None
        if scheme in self.proxies and (scheme not in ("http", "https") or host):
            bypass = self._bypass.get(host) if host else False
            if bypass is None and host:
                bypass = self._bypass.setdefault(host, bool(proxy_bypass(host)))
            if scheme not in ("http", "https") or not bypass:
                used = scheme
                creds, proxy_url = self.proxies[scheme]
        self._set_proxy_and_creds(request, proxy_url, creds, used)
        return None


try:    # on lower-cased bytes: a literal scan for "<meta"; possessive (Python 3.11+): no backtracking
    _META_TAG = re.compile(rb"""<meta\b(?:[^>"']++|"[^"]*+"|'[^']*+')*+""")
except re.error:
    _META_TAG = re.compile(rb"""<meta\b(?:"[^"]*"|'[^']*'|[^>"'])*""")


class _UnfilteredRedirects:
    """A redirect that loops (to a URL of its own chain: a page redirecting to itself, or to itself with
    a query the server ignores) or that carries a post's article (a share answer) passes the duplicate
    filter. Scrapy's filter dropped it without a word: the post was lost, no failure recorded, exit 0.
    The loop now ends at ``REDIRECT_MAX_TIMES`` as a recorded failure ("redirect loop"), and a post whose
    share answer loops keeps the mirror's body. A redirect to a page the crawl has already requested
    (an alias of it) is still filtered: that page is fetched once."""

    def _redirect(self, redirected, request, reason):
        redirected = super()._redirect(redirected, request, reason)  # type: ignore[misc]
        if request.meta.get(ROLE) in CARRIES_ARTICLE or self._loops(redirected):
            redirected.dont_filter = True
        return redirected

    def _loops(self, redirected) -> bool:
        fingerprint = self.crawler.request_fingerprinter.fingerprint  # type: ignore[attr-defined]
        chain = {fingerprint(redirected.replace(url=url)) for url in redirected.meta.get("redirect_urls", ())}
        return fingerprint(redirected) in chain


class RedirectMiddleware(_UnfilteredRedirects, ScrapyRedirectMiddleware):
    """Scrapy's RedirectMiddleware, its redirects past the duplicate filter (``_UnfilteredRedirects``)."""


class MetaRefreshMiddleware(_UnfilteredRedirects, ScrapyMetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware (Jekyll's redirect_from pages are meta refreshes), which
    decodes every HTML page to read its first 4,096 characters (~3% of a crawl's CPU): a page
    whose first 16 KB (4,096 characters at most 4 bytes each) hold no ``<meta …>`` tag that says
    ``refresh``, in an ASCII-compatible encoding, has none, so it is passed on undecoded. (The
    mirror's pages say "AutoRefresh" in a script and have a ``<meta http-equiv="X-UA-Compatible">``.)"""

    def process_response(self, request, response, spider=None):
        if isinstance(response, HtmlResponse):
            head = response.body[:16384].lower()
            if b"\x00" not in head and (b"refresh" not in head
                                        or not any(b"refresh" in m.group() for m in _META_TAG.finditer(head))):
                return response
        return super().process_response(request, response)
