"""newsarchive's Scrapy components that replace Scrapy's own for speed: same behaviour, tested
against Scrapy's."""
import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware as ScrapyMetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.request import fingerprint
from scrapy.utils.test import get_crawler

from newsarchive.middlewares import Fingerprinter, MetaRefreshMiddleware


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
    (PAGE.format("", "<p>refresh 一词，没有 meta</p>"), True),
])
def test_pages_without_a_meta_refresh_pass(body, decoded):
    response, result = _refresh(body.encode("utf-8"))
    assert result is response and _refresh(body.encode("utf-8"), mw_class=ScrapyMetaRefreshMiddleware)[1].url == response.url
    assert (response._cached_ubody is not None) == decoded          # undecoded unless it might refresh
