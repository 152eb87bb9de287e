"""``export --format site``: a static site read in headless Chromium from file:// and over HTTP under a
base path — every local link and asset there, search.html?q= finding the posts that hold the word, no
script of the archive's running — and a second export that rewrites only what changed."""
from __future__ import annotations

import datetime as dt
import functools
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import pytest
from browser import Reader, available

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import run_cli

pytestmark = pytest.mark.e2e
START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    posts = synthetic_posts(40, seed=23, media=["南方日报", "21世纪经济报道 21财经APP", "安信国际证券(香港)"], start=START)
    posts[3].digest = "摘要：央行*宣布*降准"
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    out = tmp_path_factory.mktemp("archive") / "a"
    site = tmp_path_factory.mktemp("site") / "s"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
    result = run_cli("export", "--output", out, "--format", "site", "--to", site)
    assert result.returncode == 0, result.stderr
    return {"posts": posts, "folder": folder, "out": out, "site": site}


def _local_links(page: Path) -> list[str]:
    doc = lxml.html.fromstring(page.read_text("utf-8"))
    refs = doc.xpath("//a/@href | //link/@href | //script/@src | //img/@src")
    return [r for r in refs if not urlsplit(r).scheme and not r.startswith("//")]


def test_the_site_has_its_pages_and_every_local_link_resolves(exported):
    site = exported["site"]
    pages = sorted(site.rglob("*.html"))
    assert (site / "index.html").is_file() and (site / "search.html").is_file() and (site / "archive.html").is_file()
    assert len(list((site / "posts").rglob("*.html"))) == 40 and len(list((site / "category").glob("*.html"))) == 3
    assert (site / "pagefind" / "pagefind-ui.js").is_file()
    broken = []
    for page in pages:
        for ref in _local_links(page):
            if ref.startswith("/"):
                broken.append((page.name, ref, "root-absolute"))
                continue
            target = (page.parent / unquote(urlsplit(ref).path)).resolve()
            if not target.exists():
                broken.append((page.relative_to(site).as_posix(), ref))
    assert broken == []


def _article_text(section) -> str:
    """The post's own text on a page: the body between the title and the links."""
    return re.sub(r"\s+", "", section.text_content())


def test_a_post_page_shows_the_text_jekyll_shows_and_links_into_the_site(exported):
    site, folder = exported["site"], exported["folder"]
    for p in exported["posts"]:
        ours = lxml.html.fromstring((site / f"posts/{p.date:%Y/%m/%d}/{p.info_code}.html").read_text("utf-8"))
        body = ours.xpath('//div[@class="post-body"]')[0]
        mirror = lxml.html.fromstring((folder / "site" / p.path.lstrip("/")).read_text("utf-8"))
        section = mirror.xpath('//div[@class="wrapper"]/section')[-1]
        parts = [c for c in section if c.tag not in ("small", "h1")]
        parts = [c for c in parts if not c.xpath(".//a[starts-with(@href, 'http') and . = @href]")
                 and "返回" not in c.text_content()]
        assert _article_text(body) == "".join(_article_text(c) for c in parts), p.info_code
        back = ours.xpath('//p[@class="back"]/a/@href')
        assert len(back) == 2 and all(not urlsplit(h).scheme for h in back)
        assert ours.xpath('//p[@class="source"]/a/@href') == [p.link_url]        # the original, as 原文


def _serve(root: Path):
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    SimpleHTTPRequestHandler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.skipif(not available(), reason="playwright or Debian's chromium is not installed: the browser check was not run")
def test_in_a_browser_from_file_and_under_a_base_path_with_search(exported, tmp_path):
    site = exported["site"]
    www = tmp_path / "www"
    shutil.copytree(site, www / "archive" / "base")
    server = _serve(www)
    base = f"http://127.0.0.1:{server.server_address[1]}/archive/base/"
    post = exported["posts"][3]
    pages = ["index.html", f"category/{next(site.glob('category/*.html')).name}", f"posts/{post.date:%Y/%m/%d}/{post.info_code}.html"]
    shots = tmp_path / "shots"
    shots.mkdir()
    with Reader() as reader:
        page = reader.page
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url) if "ABORTED" not in (r.failure or "") else None)
        for root in (site.as_uri() + "/", base):
            for rel in pages:
                page.goto(urljoin(root, rel), wait_until="load")
                assert page.title().endswith("金融消息归档")
                for href in page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)"):
                    if href.startswith(root):
                        if root.startswith("file:"):
                            assert Path(unquote(urlsplit(href).path)).exists(), href
                        else:
                            assert page.request.get(href).status == 200, href
            assert reader.check(urljoin(root, pages[2])) == []
        assert [u for u in failed if u.startswith(("file:", base))] == []   # (the 原文 links lead off-site)
        # search, over HTTP under the base path
        for word in ("央行", "降准", "半导体", "王晓明", "不存在的词"):
            page.goto(base + f"search.html?q={word}", wait_until="load")
            page.wait_for_function("() => { const m = document.querySelector('.pagefind-ui__message'); "
                                   "if (!m) return false; if (/没有找到/.test(m.textContent)) return true; "
                                   "const n = parseInt((m.textContent.match(/[0-9]+/) || ['-1'])[0]); "
                                   "return n >= 0 && document.querySelectorAll('.pagefind-ui__result-link').length "
                                   "=== Math.min(n, 5); }", timeout=15000)
            message = page.evaluate("() => document.querySelector('.pagefind-ui__message').textContent")
            count = int(re.search(r"[0-9]+", message).group()) if re.search(r"[0-9]+", message) else 0
            results = page.evaluate("() => Array.from(document.querySelectorAll('.pagefind-ui__result-link'), a => a.href)")
            want = {p.info_code for p in exported["posts"]
                    if word in (p.title + "".join(p.paragraphs) + p.digest)}
            got = {Path(urlsplit(r).path).stem for r in results}
            assert count == len(want) and got <= want and len(got) == min(5, len(want)), (word, message, got - want)
            excerpts = page.evaluate("() => Array.from(document.querySelectorAll('.pagefind-ui__result-excerpt'), "
                                     "e => e.textContent)")
            assert len(excerpts) == len(got) and all(word in e for e in excerpts), (word, excerpts)
            assert not [e for e in excerpts if re.search("[\u4e00-\u9fff] | [\u4e00-\u9fff]", e)], excerpts
            if got:
                assert "分类" in page.evaluate("() => document.querySelector('.pagefind-ui__filter-panel').textContent")
        shown = page.evaluate("() => unspace('近 期 <mark>央 行</mark> 降 准 对 A 股 ， 年 12 月 份 的 GDP 与 Dow Jones 及 "
                              "stocks 股 s ')")
        assert shown == "近期<mark>央行</mark>降准对A股，年12月份的GDP与Dow Jones及stocks股s "   # (the space between words stays)
        for i, rel in enumerate([*pages, "search.html?q=央行"]):
            page.goto(base + rel, wait_until="load")
            page.wait_for_timeout(800 if "search" in rel else 100)
            page.screenshot(path=str(shots / f"{i}.png"), full_page=False)
    server.shutdown()
    assert len(list(shots.glob("*.png"))) == 4


def test_a_second_export_rewrites_only_what_changed(exported, tmp_path):
    site = tmp_path / "s"
    assert run_cli("export", "--output", exported["out"], "--format", "site", "--to", site).returncode == 0
    stamps = {p: p.stat().st_mtime_ns for p in site.rglob("*.html") if "pagefind" not in p.parts}
    assert run_cli("export", "--output", exported["out"], "--format", "site", "--to", site).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in site.rglob("*.html") if "pagefind" not in p.parts} == stamps
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    refused = run_cli("export", "--output", exported["out"], "--format", "site", "--to", other)
    assert refused.returncode == 1 and "no newsarchive site export" in refused.stderr


@pytest.mark.pure
def test_only_the_body_s_last_parts_are_read_as_its_links():
    """An archive written before attribute line breaks were encoded can hold a blank line and a
    back-link inside a tag: the article is kept whole (not cut there, which would free the next tag's
    attribute text), and only the body's trailing autolink and back-links become its links."""
    from newsarchive.offline.site import render_body

    article_in = ('> 摘要\n\n<p>正文</p><img title="A\n\n[返回](x)">\n\n<img alt=" src=x onerror=alert(1) "><p>结束</p>')
    body = (article_in + "\n\n<http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112242225123833>"
            "\n\n[返回南方日报新闻](//finews.withounder.com/category/nanfangribao.html)｜[返回首页](//finews.withounder.com/)")
    article, source = render_body(body, "../", "../category/nanfangribao.html")
    assert article == "<blockquote><p>摘要</p></blockquote>\n" + article_in.split("\n\n", 1)[1]
    assert source == ('<p class="source">原文：<a href="http://finews.zning.xyz/html_News/NewsShare.html?infoCode='
                      'NW202112242225123833" rel="noreferrer noopener">http://finews.zning.xyz/html_News/NewsShare.html?'
                      'infoCode=NW202112242225123833</a></p>\n<p class="back"><a href="../category/nanfangribao.html">'
                      '返回南方日报新闻</a>｜<a href="../index.html">返回首页</a></p>')
    older = "<p>正文</p>\n\n<http://finance.eastmoney.com/news/1355,202112082206735975.html>\n\n[返回东财滚动新闻](../emnews/)\n[返回首页](../)"
    article, source = render_body(older, "../", "../category/emnews.html")       # back-links one a line
    assert article == "<p>正文</p>" and source.endswith('<a href="../category/emnews.html">返回东财滚动新闻</a>｜'
                                                        '<a href="../index.html">返回首页</a></p>')
