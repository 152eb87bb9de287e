"""The mirror spider: home page, feed and category listings → post pages → share JSON.

It only builds requests and calls the pure extractors; normalising, dedupe and writing are the
pipelines' work. Request meta carries the infoCode known from a link's slug, so the
KnownPostsMiddleware can skip archived posts before they are downloaded.
"""
from __future__ import annotations

import collections
import zlib

import scrapy
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request

from newsarchive.core.encoding import decode_html
from newsarchive.core.extract import (
    POST_PATH,
    ExtractError,
    SiteMap,
    feed_links,
    page_links,
    quick_share_link,
    read_post_page,
)
from newsarchive.core.infocode import (
    SHARE_PATH,
    InvalidInfoCode,
    infocode_from_share_url,
    is_share_url,
    share_json_url,
    split_url,
)
from newsarchive.core.items import ArticleItem
from newsarchive.core.mdsafe import one_line
from newsarchive.core.normalize import apply_share, article_from_mirror, article_from_share
from newsarchive.core.share import ShareError, parse_share_json
from newsarchive.crawl import signals as na_signals
from newsarchive.crawl.failures import describe_failure
from newsarchive.crawl.known import KnownPostsMiddleware
from newsarchive.crawl.meta import EXPLICIT, KEY, LISTING_PAGE, PAGE, POST_URL, ROLE, VETTED
from newsarchive.crawl.offsite import HostGuard


def _flag(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def _as_list(value) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v).strip() for v in value if str(v).strip()]


def _asked(origin: str | None) -> dict:
    """The meta of a request made for a URL a person asked for (``origin``): fetched though known,
    reported against that URL; nothing without one."""
    return {EXPLICIT: True, "origin": origin} if origin else {}


class Report:
    """What became of each URL a person asked for (the ``fetch`` command prints it)."""

    def __init__(self):
        self.outcomes: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.paths: dict[str, list[str]] = collections.defaultdict(list)
        self.errors: dict[str, list[str]] = collections.defaultdict(list)

    def ok(self, origin: str, outcome: str, path: str = "") -> None:
        self.outcomes[origin][outcome] += 1
        if path:
            self.paths[origin].append(path)

    def fail(self, origin: str, reason: str) -> None:
        self.outcomes[origin]["failed"] += 1
        self.errors[origin].append(reason)


class MirrorSpider(scrapy.Spider):
    """``scrapy crawl mirror [-a site=URL] [-a category=SLUG,…] [-a share=0] [-a urls=URL,…]``"""

    name = "mirror"
    sitemap: SiteMap
    share: bool
    shard: tuple[int, ...] | None
    share_timeout: float
    share_retries: int
    max_links: int
    max_listing_pages: int

    def __init__(self, site=None, category=None, share=None, urls=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._site_arg, self._share_arg = site, share
        self.categories = set(_as_list(category))
        self.urls = _as_list(urls)
        self.report = Report()
        self.listed: set[str] = set()     # categories whose listing this crawl has asked for
        self.found: set[str] = set()      # posts (infoCode or URL) the listings named, counted once
        self.warned_chains: set[str] = set()
        # links to archived posts are dropped before a Request is made for them, by asking
        # KnownPostsMiddleware (10,000 Requests that it would drop cost an incremental crawl ~0.6 s)
        self.known_posts: KnownPostsMiddleware | None = None
        self.host_guard: HostGuard | None = None

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.sitemap = SiteMap(spider._site_arg or settings.get("NEWSARCHIVE_SITE"),
                                 settings.getlist("NEWSARCHIVE_CANONICAL_HOSTS"))
        spider.share = _flag(spider._share_arg, settings.getbool("NEWSARCHIVE_SHARE"))
        shard = settings.get("NEWSARCHIVE_SHARD") or ""
        spider.shard = tuple(int(x) for x in shard.split("/")) if shard else None
        spider.share_timeout = settings.getfloat("NEWSARCHIVE_SHARE_TIMEOUT")
        spider.share_retries = settings.getint("NEWSARCHIVE_SHARE_RETRY_TIMES")
        spider.max_links = settings.getint("NEWSARCHIVE_MAX_LINKS_PER_PAGE")
        spider.max_listing_pages = max(1, settings.getint("NEWSARCHIVE_MAX_LISTING_PAGES"))
        crawler.signals.connect(spider._spider_error, signal=signals.spider_error)
        if spider.urls:     # only URLs a person gave are reported (each receiver costs every item a task)
            crawler.signals.connect(spider._item_scraped, signal=signals.item_scraped)
            crawler.signals.connect(spider._item_dropped, signal=signals.item_dropped)
        return spider

    # -- reports ------------------------------------------------------------------------------
    def _spider_error(self, failure, response, spider=None):
        """A page whose reading raised (a page no check foresaw): a failure like any other — counted,
        recorded for the next run, reported — not a page lost with only Scrapy's traceback in a log."""
        if type(failure.value).__module__.startswith("redis"):      # Redis gone: the crawl ends, said once
            lost = getattr(self.crawler.engine.scheduler, "redis_lost", None)
            if lost is not None:
                lost(failure.value)
                return
        meta = getattr(response, "meta", None) or {}     # (an errback that raised: a Failure, not a response)
        url = (meta.get("redirect_urls") or [getattr(response, "url", "") or "?"])[0]
        what = "posts" if meta.get(ROLE) in ("post", "share", "share_direct") else "pages"
        self._failed(url, f"could not be read: {one_line(f'{failure.type.__name__}: {failure.value}', 200)}",
                     False, meta.get("origin", ""), meta.get(KEY), what=what)

    def _item_scraped(self, item, response, spider=None):
        if item.origin:
            self.report.ok(item.origin, item.outcome, item.filename)

    def _item_dropped(self, item, response, exception, spider=None):
        origin = getattr(item, "origin", "")
        if origin:
            reason = getattr(exception, "reason", "dropped")
            if reason == "duplicate":
                self.report.ok(origin, "duplicate")
            else:
                self.report.fail(origin, str(exception))

    def _failed(self, url: str, reason: str, permanent: bool, origin: str = "", info_code=None, what="posts"):
        # a URL a person asked for is reported by the command; a crawl's failures are warnings
        self.logger.log(20 if origin else 30, "failed %s: %s", url, reason)
        self.crawler.stats.inc_value(f"newsarchive/{what}/failed")
        if what == "pages":         # (the crawl's last line names one, with why)
            self.crawler.stats.set_value("newsarchive/pages/failure", f"{url}: {reason}")
            if permanent:           # (gone for good, 404/410: the mirror's state, said, not a failed run)
                self.crawler.stats.inc_value("newsarchive/pages/gone")
        self.crawler.signals.send_catch_log(
            signal=na_signals.article_failed, url=url, info_code=info_code, reason=reason,
            permanent=permanent, origin=origin)
        if origin:
            self.report.fail(origin, reason)

    # -- start ------------------------------------------------------------------------------
    async def start(self):
        self.known_posts = self.crawler.get_spider_middleware(KnownPostsMiddleware)
        self.host_guard = self.crawler.get_downloader_middleware(HostGuard)
        for request in self.start_requests():
            yield request

    def start_requests(self):
        if self.urls:
            for url in self.urls:
                yield from self._explicit(url)
            return
        if self.categories:
            for slug in sorted(self.categories):
                yield self._listing(self.sitemap.listing_url(slug))
            return
        yield scrapy.Request(self.sitemap.url("/"), callback=self.parse_index, errback=self.page_failed,
                             meta={ROLE: "home"})
        yield scrapy.Request(self.sitemap.url("/feed.xml"), callback=self.parse_feed, errback=self.page_failed,
                             meta={ROLE: "feed"})

    def _explicit(self, url: str):
        """A URL a person gave: share URL, mirror post, or category listing."""
        meta = _asked(url)
        if is_share_url(url) or split_url(url).path.endswith("/NewsData/GetNewsText.do"):
            code = infocode_from_share_url(url)
            if code is None:
                self._refuse(url, "no valid infoCode in the share URL")
                return
            if not self.share:
                self._refuse(url, "a share URL, and --no-share says the share host is not contacted")
                return
            parts = split_url(url)
            share_url = f"{parts.scheme}://{parts.netloc}{SHARE_PATH}?infoCode={code}"
            yield scrapy.Request(share_json_url(share_url), callback=self.parse_share_direct,
                                 errback=self.share_direct_failed, dont_filter=True,
                                 meta={**meta, KEY: code, ROLE: "share_direct", "dont_obey_robotstxt": True},
                                 cb_kwargs={"share_url": share_url})
            return
        found = self.sitemap.classify(url)
        if found is None:
            self._refuse(url, f"not a share URL, nor a post or category page of the mirror {self.sitemap.site}")
            return
        kind, target = found
        if kind == "post":
            yield self._post(target, meta)
        else:
            yield self._listing(target, meta)

    def _refuse(self, url: str, reason: str) -> None:
        """A URL a person gave that is not fetched: in the report (the CLI prints it), and in the log
        for ``scrapy crawl fetch``, which prints no report."""
        self.report.fail(url, reason)
        self.crawler.stats.inc_value("newsarchive/fetch/refused")
        if not self.crawler.settings.getbool("NEWSARCHIVE_CLI_REPORT"):
            self.logger.warning("not fetched %s: %s", url, reason)

    def _listing(self, url: str, meta: dict | None = None):
        return scrapy.Request(url, callback=self.parse_listing, errback=self.page_failed,
                              meta={**(meta or {}), ROLE: "listing"})

    def _post(self, link, meta: dict | None = None, vetted: bool = False):
        meta = {**(meta or {}), KEY: link.info_code, PAGE: link.path or self.sitemap.local_path(link.url),
                ROLE: "post", VETTED: vetted}
        return scrapy.Request(link.url, callback=self.parse_post, errback=self.post_failed,
                              meta=meta, dont_filter=bool(meta.get(EXPLICIT)))

    def _wanted(self, category: str) -> bool:
        if self.shard and zlib.crc32(category.encode("utf-8")) % self.shard[1] != self.shard[0]:
            return False  # another process of `crawl --jobs N` has this category
        return not self.categories or category in self.categories

    # -- pages ------------------------------------------------------------------------------
    def _text(self, response) -> str:
        return decode_html(response.body, self._content_type(response))[0]

    def _follow_links(self, links, response):
        origin = response.meta.get("origin")
        inherited = _asked(origin)
        if links.over_limit:
            self.crawler.stats.inc_value("newsarchive/drop/links_over_limit", links.over_limit)
            self.logger.warning("%s: %d links past NEWSARCHIVE_MAX_LINKS_PER_PAGE (%d) not followed",
                                response.url, links.over_limit, self.max_links)
        # distinct posts, not links, and only this crawl's (a `--jobs` shard's categories, `--category`):
        # the shards' counts add up to the mirror's
        found = [link for link in links.posts if (link.info_code or link.url) not in self.found
                 and self._wanted(link.category)]
        self.found.update(link.info_code or link.url for link in found)
        self.crawler.stats.inc_value("newsarchive/posts/found", len(found))
        known = None if origin else self.known_posts
        for link in links.posts:
            if self._wanted(link.category) and not (known is not None and known.skips(link.info_code, link.path, link.url)):
                yield self._post(link, inherited, vetted=known is not None)
            if not origin and link.category not in self.listed and self._wanted(link.category):
                self.listed.add(link.category)   # (the dupefilter would drop it too, after costing a Request)
                yield self._listing(self.sitemap.listing_url(link.category))
        if not origin:
            for url in links.listings:
                if self._wanted((self.sitemap.local_path(url) or "")[len("/category/"):-len(".html")]):
                    yield self._listing(url)
        depth = response.meta.get(LISTING_PAGE, 1)
        for url in links.next_pages:
            if depth >= self.max_listing_pages:
                self.crawler.stats.inc_value("newsarchive/drop/listing_pages")
                if response.url not in self.warned_chains:
                    self.warned_chains.add(response.url)
                    self.logger.warning("%s: listing page %d of its chain: NEWSARCHIVE_MAX_LISTING_PAGES reached, "
                                        "its next page %s is not followed", response.url, depth, url[:200])
                continue
            yield self._listing(url, {**inherited, LISTING_PAGE: depth + 1})

    def _cut_short(self, response, end: bytes = b"</html>"):
        """A page cut short (the mirror's pages all end with ``</html>``) is retried the Scrapy way
        (RETRY_TIMES), then counted as a transient failure. Yields the retry, if any; returns
        True when the page is unusable."""
        if end in response.body[-4096:].lower():
            return False
        self.crawler.stats.inc_value("newsarchive/pages/truncated")
        retry = get_retry_request(response.request, spider=self, reason="truncated page")
        if retry is None:
            meta = response.meta
            self._failed(response.url, "truncated page (retries exhausted)", False, meta.get("origin", ""),
                         meta.get(KEY), what="posts" if meta.get(ROLE) == "post" else "pages")
        return retry or True

    def parse_index(self, response):
        if cut := self._cut_short(response):
            yield from ([] if cut is True else [cut])
            return
        self.crawler.stats.inc_value("newsarchive/pages/home")
        yield from self._listed_links(response)

    def parse_feed(self, response):
        if cut := self._cut_short(response, b"</feed>"):
            yield from ([] if cut is True else [cut])
            return
        self.crawler.stats.inc_value("newsarchive/pages/feed")
        yield from self._follow_links(feed_links(response.body, self.sitemap, self.max_links), response)

    def parse_listing(self, response):
        if cut := self._cut_short(response):
            yield from ([] if cut is True else [cut])
            return
        self.crawler.stats.inc_value("newsarchive/pages/listings")
        yield from self._listed_links(response)

    def _listed_links(self, response):
        try:
            links = page_links(self._text(response), response.url, self.sitemap, self.max_links)
        except ExtractError as exc:     # empty, unparsable, or nested too deep to be read whole
            self._failed(response.url, f"listing not read: {exc}", False, response.meta.get("origin", ""),
                         what="pages")
            return
        yield from self._follow_links(links, response)

    def parse_post(self, response):
        if cut := self._cut_short(response):
            yield from ([] if cut is True else [cut])
            return
        self.crawler.stats.inc_value("newsarchive/pages/posts")
        origin = response.meta.get("origin", "")
        item: ArticleItem | None = self._unread_post(response)
        if item is None:        # no key at a glance: read here, for the share link the page may name
            try:
                found = read_post_page(response.body, self._content_type(response), response.url, self.sitemap)
            except ExtractError:    # the archivist reads it again, records and reports what it is
                item = self._keyless_post(response)
            else:
                item = article_from_mirror(found, response.url, self._page(response), origin)
        if not origin and item.category and item.category not in self.listed and self._wanted(item.category):
            self.listed.add(item.category)      # its category's listing too
            yield self._listing(self.sitemap.listing_url(item.category))
        json_url = self._share_json_url(item) if self.share and item.share_url and item.info_code else None
        if json_url:
            yield scrapy.Request(
                json_url, callback=self.parse_share, errback=self.share_failed,
                # an unread page's key is a guess until the writer reads it: its share request is
                # never filtered as a duplicate (the writer drops true duplicates, and counts them)
                cb_kwargs={"item": item}, dont_filter=bool(origin or item.raw_page),
                # (robots.txt is not asked of the share host: each share URL is a link the mirror
                # publishes for its post, asked for once; a dead share host's robots.txt was a
                # traceback on every crawl)
                # (a post a person asked for is fetched whole again, share answer too: known or not)
                meta={"download_timeout": self.share_timeout, "max_retry_times": self.share_retries,
                      "dont_obey_robotstxt": True, ROLE: "share", KEY: item.info_code, POST_URL: response.url,
                      **_asked(origin)},
            )
        else:
            yield item

    def _share_json_url(self, item: ArticleItem) -> str | None:
        """The share answer's URL for a post, or None — the post keeps the mirror's body — when its
        share link names no valid infoCode (counted ``newsarchive/share/bad_link``) or a host that
        is not an allowed share host (``newsarchive/drop/offsite_share``, logged once per host)."""
        try:
            url = share_json_url(item.share_url)
        except InvalidInfoCode:
            self.crawler.stats.inc_value("newsarchive/share/bad_link")
            self.logger.info("%s: share link %r names no valid infoCode: keeping the mirror's body",
                             item.source_url, item.share_url[:200])
            return None
        guard = self.host_guard
        if guard is not None and not guard.allows(url):
            guard.refuse(url, "share")
            return None
        return url

    @staticmethod
    def _content_type(response) -> str:
        return response.headers.get("Content-Type", b"").decode("latin-1")

    def _page(self, response) -> str:
        return (response.meta.get(PAGE) if response.url == response.request.url else None) \
            or self.sitemap.local_path(response.url) or ""

    def _unread_post(self, response) -> ArticleItem | None:
        """A post page shipped unread to the archivist (which reads it with ``read_post_page``),
        keyed by a quick look for its share link or its slug's infoCode; None when that look finds
        no key."""
        share_url = quick_share_link(response.body)
        code = infocode_from_share_url(share_url) if share_url else response.meta.get(KEY)
        return self._shipped(response, code, share_url) if code else None

    def _keyless_post(self, response) -> ArticleItem:
        """A page that is not what a post page should be, shipped so the archivist says what it is."""
        return self._shipped(response, "", "")

    def _shipped(self, response, code: str, share_url: str) -> ArticleItem:
        page = self._page(response)
        m = POST_PATH.match(page)
        return ArticleItem(info_code=code or "", category=m["cat"].replace("/", " ") if m else "",
                           share_url=share_url, source_url=response.url, body_source="mirror", page=page,
                           origin=response.meta.get("origin", ""), raw_page=response.body,
                           raw_page_type=self._content_type(response))

    # -- the share host -------------------------------------------------------------------------
    def parse_share(self, response, item):
        try:
            article = parse_share_json(response.body)
        except ShareError as exc:
            if str(exc).startswith("not JSON"):  # cut short on the way? ask once more
                retry = get_retry_request(response.request, spider=self, reason="share JSON unreadable",
                                          max_retry_times=self.share_retries)
                if retry is not None:
                    return retry
            self._share_fallback(item, str(exc))
            return item
        self.crawler.stats.inc_value("newsarchive/share/used")
        if item.raw_page:           # the writer applies it once it has read the page
            item.share = article
            return item
        return apply_share(item, article)

    def _share_fallback(self, item, reason: str) -> None:
        self.logger.debug("share host failed for %s (%s): keeping the mirror's body", item.info_code, reason)
        self.crawler.stats.inc_value("newsarchive/share/failed")

    def share_failed(self, failure):
        item = failure.request.cb_kwargs["item"]
        self._share_fallback(item, describe_failure(failure)[0])
        return item

    def parse_share_direct(self, response, share_url):
        origin = response.meta.get("origin", "")
        code = response.meta[KEY]
        try:
            article = parse_share_json(response.body)
        except ShareError as exc:
            self._failed(share_url, str(exc), False, origin, code)
            return
        self.crawler.stats.inc_value("newsarchive/share/used")
        yield article_from_share(article, code, share_url, response.url, origin)

    def share_direct_failed(self, failure):
        reason, permanent = describe_failure(failure)
        meta = failure.request.meta
        self._failed(self._asked(failure), reason, permanent, meta.get("origin", ""), meta.get(KEY))

    @staticmethod
    def _asked(failure) -> str:
        """The URL that was asked for (a redirect's failure is the first URL's)."""
        return (failure.request.meta.get("redirect_urls") or [failure.request.url])[0]

    def post_failed(self, failure):
        reason, permanent = describe_failure(failure)
        meta = failure.request.meta
        self._failed(self._asked(failure), reason, permanent, meta.get("origin", ""), meta.get(KEY))

    def page_failed(self, failure):
        reason, permanent = describe_failure(failure)
        meta = failure.request.meta
        self._failed(self._asked(failure), reason, permanent, meta.get("origin", ""), None, what="pages")


class FetchSpider(MirrorSpider):
    """``scrapy crawl fetch -a urls=URL[,URL…]``: archive exactly the URLs given."""

    name = "fetch"

    def start_requests(self):
        if not self.urls:
            self.logger.error("scrapy crawl fetch needs -a urls=URL[,URL…]: nothing to fetch")
            self.crawler.stats.set_value("newsarchive/fetch/no_urls", 1)
            return
        yield from super().start_requests()
