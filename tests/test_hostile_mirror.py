"""A hostile mirror, crawled for real on loopback: each class of attack the archive must withstand —
script that would reach the reader through the mirror's own Markdown parts, Markdown or Liquid that
would become live, requests the crawler would be turned into (SSRF), and posts that would be lost
silently — one case (or more) each, built from our own payloads. The posts and the Jekyll export
are then read in headless Chromium: loaded, hovered, every link clicked."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from browser import PWN, Reader, available

from newsarchive.core.dates import BEIJING
from newsarchive.core.post import split_front_matter
from newsarchive.demo.mirrorgen import SHARE_HOST, SourcePost, build_site
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog

from helpers import run_cli

pytestmark = pytest.mark.e2e

DAY = dt.datetime(2021, 12, 24, 11, 18, tzinfo=BEIJING)
MEDIA = "恶意镜像"


LONG_FROM = SourcePost("NW000000000000000000", "", DAY, MEDIA, []).category


def markdown_of(text: str) -> str:
    """The parts of a post's body kramdown reads as Markdown: not the HTML blocks (whose content it
    leaves as it is, parse_block_html being off), so the digest, the autolink and the back-links."""
    body = text[text.index("\n---\n", 3) + 5:]
    return "\n\n".join(p for p in body.split("\n\n")
                       if not re.match(r"<(p|div|center|blockquote|ul|ol|table|h[1-6]|hr|pre|dl)\b", p))


def no_script_link(text: str) -> bool:
    return not re.search(r"(?<!\\)\]\(\s*javascript:", markdown_of(text), re.I)


def no_attribute_list(text: str) -> bool:
    return not re.search(r"(?<!\\)\{:", markdown_of(text))


def code(i: int) -> str:
    return f"NW2021122422251{i:05d}"


class Canary:
    """A second loopback listener: any connection to it is a request the crawler must never make."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                         b'{"title": "canary", "text": "<p>SSRF</p>", "medianame": "x"}')
            conn.close()


@dataclasses.dataclass
class Case:
    name: str
    post: SourcePost
    patch: tuple[str, str] | None = None       # (old, new) in the post page's HTML
    share_text: str | None = None              # the share answer's text, instead of the post's
    share_raw: str | None = None               # the share answer itself, instead of its JSON
    check: object = None                       # (meta, text) -> bool on the archived post


def cases(canary: int) -> list[Case]:
    def post(i, **kw):
        kw.setdefault("paragraphs", [f"第{i}篇正文。"])
        return SourcePost(code(i), kw.pop("title", f"标题{i}"), DAY + dt.timedelta(minutes=i), kw.pop("media", MEDIA), **kw)

    share = f"{SHARE_HOST}/html_News/NewsShare.html?infoCode="
    img = f'&lt;img src=x onerror="{PWN}"&gt;'
    return [
        # script through the mirror's own Markdown parts
        Case("digest with an entity-escaped tag", post(1, share=False, digest=img),
             check=lambda m, t: "<img" not in t and "&lt;img" in t),
        Case("digest with a javascript link", post(2, share=False, digest=f"[点我](javascript:{PWN})"),
             check=lambda m, t: no_script_link(t)),
        Case("text after the home back-link", post(3), patch=("返回首页</a></p>", f"返回首页</a>{img}</p>"),
             check=lambda m, t: "<img" not in t),
        Case("javascript target in a back-link", post(4),
             patch=('href="//finews.withounder.com/">返回首页', f'href="javascript:{PWN}">返回首页'),
             check=lambda m, t: "javascript" not in t),
        Case("tag inside the autolink's href", post(5, share=False),
             patch=((f'<p><a href="http://finance.eastmoney.com/news/1354,{code(5)[2:]}.html">'
                    f'http://finance.eastmoney.com/news/1354,{code(5)[2:]}.html</a></p>'),
                    f'<p><a href="http://a/&gt;{img}">http://a/&gt;{img}</a></p>'),
             check=lambda m, t: "<img" not in t),
        # Markdown and kramdown syntax in article text
        Case("kramdown attribute list in the mirror's text", post(6, share=False,
             extra_html=f'\n*悬停*{{: onmouseover="{PWN}"}}\n[点](javascript:{PWN})'),
             check=lambda m, t: no_attribute_list(t) and no_script_link(t)),
        Case("Markdown javascript link in the share text", post(7),
             share_text=f'<p>正文</p>尾注<br>[点我](javascript:{PWN}) *悬停*{{: onmouseover="{PWN}"}}',
             check=lambda m, t: no_attribute_list(t) and no_script_link(t)),
        # Liquid, bidi, YAML that Jekyll reads otherwise
        Case("Liquid arithmetic in a title", post(8, title="标题{{ 7 | times: 6 }}"),
             check=lambda m, t: m["title"] == "标题{{ 7 | times: 6 }}"),
        Case("Liquid include in a title", post(9, title="{% include ../../etc/passwd %}")),
        Case("Liquid capture building a tag", post(10, title=f"{{% capture x %}}%3Cimg src=x onerror={PWN}%3E"
                                                         "{% endcapture %}{{ x | url_decode }}")),
        Case("bidi controls in a title", post(11, title="正常\u202e标题\u2066x\u2069\u200f\u061c"),
             check=lambda m, t: m["title"] == "正常标题x"),
        Case("mixed white space in a title", post(12, title="前后空白\u3000 与"), check=lambda m, t: m["title"] == "前后空白 与"),
        Case("a tag Ruby's YAML reads as a symbol", post(13), patch=(f"<em>{MEDIA}新闻</em>", "<em>:foo</em>"),
             check=lambda m, t: m["tags"] == ":foo" and 'tags: ":foo"' in t),
        # the crawler turned against other hosts: the post keeps the mirror's body
        Case("share link to another loopback port", post(14), patch=(share, f"http://127.0.0.1:{canary}/html_News/NewsShare.html?infoCode="),
             check=lambda m, t: "SSRF" not in t),
        Case("share link to localhost", post(15), patch=(share, f"http://localhost:{canary}/html_News/NewsShare.html?infoCode="),
             check=lambda m, t: "SSRF" not in t),
        Case("share link to a metadata address (through the proxy)", post(16),
             patch=(share, "http://169.254.169.254/html_News/NewsShare.html?infoCode=")),
        # posts that were lost silently
        Case("share link with a short infoCode", post(17), patch=(f"{share}{code(17)}", f"{share}NW20211224")),
        Case("share link with a path for an infoCode", post(18), patch=(f"{share}{code(18)}", f"{share}../../etc/passwd")),
        Case("nesting past lxml's default depth", post(19, extra_html="<div>" * 300 + "<p>深处</p>" + "</div>" * 300 + "<p>末段</p>"),
             check=lambda m, t: "末段" in t),
        Case("a 300-character category", post(20), patch=(f"/category/{LONG_FROM}.html", f"/category/{LONG}.html"),
             check=lambda m, t: m["categories"] == LONG),
        # a blank line in an attribute: a reader that splits the body into blocks at blank lines (kramdown,
        # the site export) must not split inside the tag and free the next tag's attribute text
        Case("blank line and a back-link inside an attribute", post(21),
             share_text=(f'<p>正文开始。</p><img title="AAA\n\n[返回](x)">\n\n<img alt=" src=x onerror={PWN} "><p>结束</p>'),
             check=lambda m, t: not re.search(r"<[^<>]*\n[^<>]*>", t) and "结束" in t),
        # terminal escapes: what the archive keeps is printed by `search`, `cat`, an editor
        Case("terminal escapes in the share text", post(22),
             share_text="<p>央行宣布降准\x1b]0;OWNED\x07\x1b[2J\x1b[31m红色\x1b[0m结束\x9b2J。\u202e倒序\u202c</p>",
             check=lambda m, t: not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", t) and "红色" in t),
        # a link no URL parser can read (an unclosed IPv6 bracket), as a broken link in a genuine article
        # would be: the link goes nowhere, the post is archived (it stopped the archive's writer)
        Case("an unreadable link in the article", post(23, share=False, extra_html=f'<p><a href="{BAD_LINK}">相关链接</a></p>'),
             check=lambda m, t: "相关链接" in t),
        Case("an unreadable share link", post(24), patch=(share, "http://[2001:db8::1/html_News/NewsShare.html?infoCode="),
             check=lambda m, t: "第24篇正文" in t),
        # a share answer nested past Python's stack (json.loads: RecursionError): the mirror's body is kept
        Case("share JSON nested past the stack", post(25), share_raw='{"text": ' + "[" * 200_000,
             check=lambda m, t: "第25篇正文" in t),
        # what no check foresaw in one article is that article's failure, never the writer's (a 401-digit
        # integer for a date stopped the archive: exit 73 every run); here the date falls back
        Case("a 401-digit integer for the share's date", post(26),
             share_raw=json.dumps({"title": "标题26", "showtime": 10 ** 400, "medianame": MEDIA, "text": "<p>原文26</p>"}),
             check=lambda m, t: "原文26" in t),
        # a share text too costly to read keeps the mirror's body (the post was dropped every run)
        Case("a share text that leaves 3,000 elements open", post(27), share_text="<div>" * 3_000 + "原文",
             check=lambda m, t: "第27篇正文" in t),
        Case("a share text of 30,000 bare '&'", post(28), share_text="<p>" + "中&" * 30_000 + "</p>",
             check=lambda m, t: "第28篇正文" in t),
    ]


REDIRECT, REFRESH = code(90), code(91)
BAD_LINK = "http://[2001:db8::1/page.html"
LONG = "a" * 150 + " " + "b" * 149


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    canary = Canary()
    table = cases(canary.port)
    extra = [SourcePost(REDIRECT, "跳转", DAY, MEDIA, ["x"]), SourcePost(REFRESH, "刷新", DAY, MEDIA, ["y"])]
    folder = build_site([c.post for c in table] + extra, tmp_path_factory.mktemp("hostile"))
    for c in table:
        page = folder / "site" / c.post.path.lstrip("/")
        if c.patch:
            text = page.read_text("utf-8")
            assert c.patch[0] in text, c.name
            page.write_text(text.replace(c.patch[0], c.patch[1]), "utf-8")
        if c.share_raw is not None:
            (folder / "upstream" / f"{c.post.info_code}.json").write_text(c.share_raw, "utf-8")
        if c.share_text is not None:
            record = json.loads((folder / "upstream" / f"{c.post.info_code}.json").read_text("utf-8"))
            (folder / "upstream" / f"{c.post.info_code}.json").write_text(
                json.dumps({**record, "text": c.share_text}, ensure_ascii=False), "utf-8")
    # the same unreadable link on the home page, in the feed and on the listing: every post is still found
    for page, anchor, link in (("index.html", "</body>", f'<a href="{BAD_LINK}">坏链接</a>'),
                               ("feed.xml", "</feed>", f'<entry><link href="{BAD_LINK}"/></entry>'),
                               (f"category/{LONG_FROM}.html", "</body>", f'<a href="{BAD_LINK}">坏链接</a>')):
        text = (folder / "site" / page).read_text("utf-8")
        assert anchor in text, page
        (folder / "site" / page).write_text(text.replace(anchor, link + anchor), "utf-8")
    paths = {p.info_code: p.path for p in extra}

    def dynamic(path, query):
        if path == paths[REDIRECT]:
            return 302, {"Location": f"http://127.0.0.1:{canary.port}/stolen"}, b""
        if path == paths[REFRESH]:
            return 200, {}, (f'<html><head><meta http-equiv="refresh" content="0; url=http://127.0.0.1:{canary.port}/x">'
                             "</head><body></body></html>").encode()
        return None

    archive = tmp_path_factory.mktemp("archive") / "out"
    stats = archive.parent / "stats.json"
    with MockServer(folder) as server:
        server.httpd.dynamic = dynamic
        result = run_cli("crawl", "--site", server.url, "--output", archive, "--stats-file", stats, server=server)
        hits = list(server.hits)
    yield {"table": table, "archive": archive, "result": result, "stats": json.loads(stats.read_text()),
           "canary": canary, "hits": hits, "mirror": server.url}
    canary.sock.close()


def _posts(archive: Path) -> dict[str, str]:
    return {p.name.split("-", 3)[-1][:-3]: p.read_text("utf-8") for p in (archive / "_posts").glob("*.md")}


def test_the_crawl_of_a_hostile_mirror_ends_cleanly(hostile):
    assert hostile["result"].returncode in (0, 1), hostile["result"].stderr[-2000:]
    assert "Traceback" not in hostile["result"].stderr


@pytest.mark.parametrize("index", range(28))
def test_hostile_post_is_archived_inert(hostile, index):
    case = hostile["table"][index]
    posts = _posts(hostile["archive"])
    assert case.post.info_code in posts, (case.name, sorted(posts))
    text = posts[case.post.info_code]
    meta, body = split_front_matter(text)
    assert yaml.safe_load(text[4:text.index("\n---\n")]) == meta
    # nothing live: no tag with an event handler or a script URL, no such tag at all, no Markdown link
    # to a script URL (the payloads may stay as visible, escaped text)
    tags = re.findall(r"<[A-Za-z][^<>]*>?", re.sub(r'="[^"]*"', '=""', body))   # (attribute values are text)
    assert not [t for t in tags if re.search(r"\son\w+\s*=|^<(script|iframe|object|embed|svg|math|style)\b", t, re.I)], tags
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", body, re.I)
    assert no_script_link(text) and no_attribute_list(text), body
    assert not re.search(r"\{[{%]", body), "Liquid in the body"
    if case.check:
        assert case.check(meta, text), (case.name, text[-600:])


def test_search_prints_no_terminal_escape_from_the_archive(hostile):
    for args in ([], ["--json"]):
        found = run_cli("search", "红色", "--output", hostile["archive"], *args)
        assert found.returncode == 0 and "红色" in found.stdout, found.stderr
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", found.stdout + found.stderr)
        assert not re.search("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", found.stdout)   # no bidi reordering


def test_no_request_reached_another_host(hostile):
    assert hostile["canary"].hits == 0
    # through the proxy only the share host and the mirror were asked for anything
    foreign = [h for h in hostile["hits"] if h.startswith("http://") and not h.startswith(SHARE_HOST + "/")]
    assert foreign == []
    stats = hostile["stats"]
    assert stats["newsarchive/drop/offsite_share"] >= 3 and stats["newsarchive/drop/offsite"] >= 2
    assert stats["newsarchive/share/bad_link"] == 2


def test_redirect_and_refresh_to_another_host_are_recorded_failures(hostile):
    failures = {r[0]: r[1] for r in Catalog(hostile["archive"], readonly=True).conn.execute(
        "SELECT url, reason FROM failures")}
    assert any(url.endswith(f"{REDIRECT}.html") and reason.startswith("offsite") for url, reason in failures.items())
    assert not any(REFRESH in p for p in _posts(hostile["archive"]))


def test_the_jekyll_export_of_it_builds_and_renders_titles_as_text(hostile, tmp_path):
    if not shutil.which("jekyll"):
        pytest.skip("jekyll is not installed (Debian package 'jekyll'): the real build was not run")
    site = tmp_path / "site"
    assert run_cli("export", "--output", hostile["archive"], "--format", "jekyll", "--to", site).returncode == 0
    build = subprocess.run(["jekyll", "build", "-q", "-s", str(site), "-d", str(site / "_site")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    pages = {p.read_text("utf-8") for p in (site / "_site").rglob("*.html")}
    text = "\n".join(pages)
    assert "标题{{ 7 | times: 6 }}" in text.replace("&#123;", "{").replace("&#125;", "}") and "标题42" not in text
    assert "root:" not in text                                         # no /etc/passwd came in


@pytest.mark.skipif(not available(), reason="playwright or Debian's chromium is not installed: the browser check was not run")
def test_no_script_runs_when_the_archive_is_read_in_a_browser(hostile, tmp_path):
    control = tmp_path / "control.html"
    control.write_text(f'<html><body><a href="javascript:{PWN}">a</a><p onmouseover="{PWN}">p</p></body></html>', "utf-8")
    loaded = tmp_path / "loaded.html"
    loaded.write_text(f'<html><body><img src="x" onerror="{PWN}"></body></html>', "utf-8")
    # the archive's posts in a page as naive as a layout can be: title and body unescaped
    naive = tmp_path / "naive.html"
    parts = []
    for text in _posts(hostile["archive"]).values():
        meta, body = split_front_matter(text)
        parts.append(f"<section><h1>{meta['title']}</h1>{body}</section>")
    naive.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + "".join(parts) + "</body></html>", "utf-8")
    pages = [naive]
    site_export = tmp_path / "reading"        # the static site, read as a reader opens it
    assert run_cli("export", "--output", hostile["archive"], "--format", "site", "--to", site_export).returncode == 0
    pages += sorted(p for p in site_export.rglob("*.html") if p.name != "search.html" and "pagefind" not in p.parts)
    if shutil.which("jekyll"):
        site = tmp_path / "site"
        assert run_cli("export", "--output", hostile["archive"], "--format", "jekyll", "--to", site).returncode == 0
        subprocess.run(["jekyll", "build", "-q", "-s", str(site), "-d", str(site / "_site")], check=True, timeout=300)
        pages += sorted((site / "_site").rglob("*.html"))
    with Reader() as reader:
        assert "click javascript:" + PWN in reader.check(control) and "hover" in reader.check(control)
        assert "load" in reader.check(loaded)                               # the check sees live payloads
        ran = {str(p): found for p in pages if (found := reader.check(p))}
    assert len(pages) > 3 and ran == {}
