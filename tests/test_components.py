"""newsarchive's Scrapy components that replace Scrapy's own for speed: same behaviour, tested
against Scrapy's."""
import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.request import fingerprint
from scrapy.utils.test import get_crawler

from newsarchive.crawl.middlewares import Fingerprinter, MetaRefreshMiddleware

pytestmark = pytest.mark.component


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/emnews/2021/12/24/202112242226768417.html",
    "http://finews.zning.xyz/NewsData/GetNewsText.do?id=NW202112242226768417",
    "http://127.0.0.1:8000/category/21shijijingjibaodao%2021caijingAPP.html",
    "http://127.0.0.1:8000/a%2fb/c.html", "http://a.b/x?b=1&a=2", "HTTP://A.b/x#frag", "http://a.b/x?id=",
    "http://a.b/x?id=1#f", "http://a.b/%E4%B8%AD.html", "http://a.b/中.html", "http://a.b/x y.html", "http://a.b",
])
def test_fingerprint_is_scrapys(url):
    for request in (Request(url), Request(url, method="POST", body=b"x"), Request(url, meta={"verbatim_url": True})):
        assert Fingerprinter().fingerprint(request) == fingerprint(request)


def _refresh(body: bytes, encoding="utf-8", mw_class=MetaRefreshMiddleware):
    mw = mw_class.from_crawler(get_crawler(settings_dict={}))
    request = Request("http://127.0.0.1:1/old/2021/12/24/x.html")
    response = HtmlResponse(request.url, body=body, encoding=encoding, request=request)
    return response, mw.process_response(request, response)


PAGE = "<html><head>{}<title>标题</title></head><body>{}</body></html>"


@pytest.mark.parametrize("head, encoding", [
    ('<meta http-equiv="refresh" content="0; url=/new/2021/12/24/x.html">', "utf-8"),
    ('<meta HTTP-EQUIV="Refresh" content="0;url=/new/2021/12/24/x.html">', "gb18030"),
    ('<meta http-equiv="refresh" content="0; url=/new/2021/12/24/x.html">', "utf-16"),
    ('<meta content="0; url=/new/2021/12/24/x.html" data-x="a>b" http-equiv=refresh>', "utf-8"),
])
def test_meta_refresh_pages_are_followed(head, encoding):
    body = PAGE.format(head, "正文" * 3000).encode(encoding)
    _, result = _refresh(body, encoding)
    _, scrapys = _refresh(body, encoding, ScrapyMetaRefreshMiddleware)
    assert isinstance(result, Request) and result.url.startswith("http://127.0.0.1:1/new/2021/12/24/x.html")
    assert result.url == scrapys.url


@pytest.mark.parametrize("body, decoded", [
    (PAGE.format('<meta charset="utf-8">', "<p>正文</p>"), False),
    (PAGE.format("", "正文" * 3000 + '<meta http-equiv="refresh" content="0; url=/y">'), False),  # past 4,096 chars
    (PAGE.format("", "<p>refresh 一词，没有 meta</p>"), False),
    (PAGE.format('<meta http-equiv="X-UA-Compatible" content="IE=edge"><script>function AutoRefresh(t) {}</script>',
                 ""), False),                                            # the mirror's own head
    (PAGE.format('<meta name="description" content="refresh 不是跳转">', ""), True),   # a meta that says refresh
])
def test_pages_without_a_meta_refresh_pass(body, decoded):
    response, result = _refresh(body.encode("utf-8"))
    assert result is response and _refresh(body.encode("utf-8"), mw_class=ScrapyMetaRefreshMiddleware)[1].url == response.url
    assert (response._cached_ubody is not None) == decoded          # undecoded unless it might refresh


def test_stats_collector_counts_like_scrapys():
    from scrapy.statscollectors import MemoryStatsCollector

    from newsarchive.crawl.extensions import StatsCollector

    results = []
    for cls in (StatsCollector, MemoryStatsCollector):
        crawler = get_crawler(settings_dict={"STATS_DUMP": False})
        stats = cls(crawler)
        stats.open_spider()
        stats.inc_value("a")
        stats.inc_value("a", 2)
        stats.inc_value("b", start=10)
        stats.set_value("c", "x")
        stats.max_value("m", 3)
        stats.max_value("m", 1)
        stats.min_value("n", 3)
        stats.min_value("n", 1)
        results.append((stats.get_stats(), stats.get_value("a"), stats.get_value("z", 7)))
    assert results[0] == results[1] == ({"a": 3, "b": 11, "c": "x", "m": 3, "n": 1}, 3, 7)


def test_the_http_client_add_on_puts_in_scrapys_aiohttp_handler_and_steps_aside():
    """``NEWSARCHIVE_HTTP_CLIENT``: aiohttp (default) puts Scrapy's aiohttp handler, built lazily, on
    http and https at the add-on's priority; twisted, another reactor or a project's own handler keeps
    theirs; a bad value stops the crawl before it starts."""
    from scrapy.settings import Settings

    from newsarchive.crawl.download import ASYNCIO_REACTOR, HANDLER, HttpClientAddon

    def handlers(**values):
        settings = Settings({"TWISTED_REACTOR": ASYNCIO_REACTOR, **values})
        HttpClientAddon().update_settings(settings)
        got = settings.getwithbase("DOWNLOAD_HANDLERS")
        return got["http"], got["https"]

    assert handlers() == (HANDLER, HANDLER)       # (the class: test_crawl's test of both clients)
    scrapys = Settings().getwithbase("DOWNLOAD_HANDLERS")
    default = (scrapys["http"], scrapys["https"])
    assert handlers(NEWSARCHIVE_HTTP_CLIENT="Twisted") == default
    assert handlers(TWISTED_REACTOR="twisted.internet.epollreactor.EPollReactor") == default
    mine = Settings({"TWISTED_REACTOR": ASYNCIO_REACTOR})
    mine.set("DOWNLOAD_HANDLERS", {"http": "my.Handler"}, priority="cmdline")
    HttpClientAddon().update_settings(mine)
    assert mine.getwithbase("DOWNLOAD_HANDLERS")["http"] == "my.Handler"
    assert mine.getwithbase("DOWNLOAD_HANDLERS")["https"] == HANDLER
    with pytest.raises(ValueError, match="NEWSARCHIVE_HTTP_CLIENT must be one of aiohttp, twisted, not 'curl'"):
        handlers(NEWSARCHIVE_HTTP_CLIENT="curl")
