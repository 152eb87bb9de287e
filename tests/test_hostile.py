"""Hostile and broken input, table-driven: each case has its documented outcome — a clean post, or
a counted drop/failure with a one-line reason — and never a crash, a path outside the archive, a
front matter that fails yaml.safe_load, or markup that runs script in a browser (checked for real
in headless Chromium when it is installed)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from newsarchive.core.encoding import decode_html
from newsarchive.core.extract import ExtractError, SiteMap, parse_post_page
from newsarchive.core.normalize import PostError, article_from_share, build_post
from newsarchive.core.post import render_post, split_front_matter
from newsarchive.core.share import ShareError, parse_share_json
from newsarchive.store.files import ArchiveWriter

from helpers import run_cli

pytestmark = pytest.mark.e2e

CODE = "NW202112242225123833"
PWN = "document.documentElement.setAttribute('data-pwned','1')"
BASE = {"infoCode": CODE, "title": "正常标题", "showtime": "2021-12-24 11:18:57", "medianame": "南方日报",
        "text": "<p>正文内容。</p>"}


def rec(**changes):
    data = {**BASE, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}, ensure_ascii=False).encode("utf-8")


# (name, share JSON bytes, infoCode from the URL, expected outcome, extra check on the post text)
CASES = [
    # titles
    ("title double quotes", rec(title='他说"涨"了'), CODE, "post", lambda m, t: m["title"] == '他说"涨"了'),
    ("title backslash", rec(title="C:\\路径\\n"), CODE, "post", lambda m, t: m["title"] == "C:\\路径\\n"),
    ("title colon", rec(title="央行: 降准"), CODE, "post", lambda m, t: m["title"] == "央行: 降准"),
    ("title hash", rec(title="#热点 #新闻"), CODE, "post", lambda m, t: m["title"] == "#热点 #新闻"),
    ("title three dashes", rec(title="---"), CODE, "post", lambda m, t: m["title"] == "---"),
    ("title newlines", rec(title="第一行\n---\n第二行"), CODE, "post", lambda m, t: m["title"] == "第一行 --- 第二行"),
    ("title leading >", rec(title="> 引用"), CODE, "post", lambda m, t: m["title"] == "> 引用"),
    ("title leading *", rec(title="*星号"), CODE, "post", lambda m, t: m["title"] == "*星号"),
    ("title leading &", rec(title="&锚点"), CODE, "post", lambda m, t: m["title"] == "&锚点"),
    ("title 2000 chars", rec(title="长" * 2000), CODE, "post", lambda m, t: m["title"] == "长" * 2000),
    ("title empty", rec(title=""), CODE, "post", lambda m, t: m["title"] == ""),
    ("title missing", rec(title=...), CODE, "post", lambda m, t: m["title"] == ""),
    ("title wrong type", rec(title={"a": 1}), CODE, "drop:bad_title", None),
    ("title script tag", rec(title=f"<script>{PWN}</script>标题"), CODE, "post", lambda m, t: "<" not in m["title"]),
    ("title tag behind entities", rec(title="&lt;img src=x onerror=alert(1)&gt;新闻"), CODE, "post",
     lambda m, t: m["title"] == "新闻"),
    ("title control and bidi chars", rec(title="标\x00题\x1b\u2028\ufeff"), CODE, "post", lambda m, t: m["title"] == "标题"),
    ("title mojibake", rec(title="ç§‘æŠ€åˆ›æ–°"), CODE, "post", lambda m, t: m["title"] == "科技创新"),
    # dates
    ("date missing", rec(showtime=...), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 00:00:00")),
    ("date garbled", rec(showtime="昨天下午"), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 00:00:00")),
    ("date in the future", rec(showtime="2099-01-01 00:00:00"), CODE, "post",
     lambda m, t: str(m["date"]).startswith("2021-12-24 00:00:00")),
    ("date epoch zero", rec(showtime=0), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 00:00:00")),
    ("date epoch ms", rec(showtime=1640315937000), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 11:18:57")),
    ("date ISO Z", rec(showtime="2021-12-24T03:18:57Z"), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 11:18:57")),
    ("date wrong type", rec(showtime=["2021"]), CODE, "post", lambda m, t: str(m["date"]).startswith("2021-12-24 00:00:00")),
    ("date none and code without a date", rec(showtime=...), "NW209913992391921712", "drop:bad_date", None),
    # bodies
    ("body script", rec(text=f"<p>a</p><script>{PWN}</script>"), CODE, "post", lambda m, t: "<script" not in t),
    ("body control characters", rec(text="<p>央行\x1b]0;T\x07\x1b[31m红\x9b2J\x00</p>"), CODE, "post",
     lambda m, t: "央行]0;T[31m红2J" in t and not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", t)),
    ("body blank line in an attribute", rec(text=f'<p>a</p><img title="A\n\n[返回](x)">\n\n<img alt=" src=x onerror={PWN} ">'),
     CODE, "post", lambda m, t: 'title="A&#10;&#10;[返回](x)"' in t and not re.search(r"<[^<>]*\n[^<>]*>", t)),
    ("body iframe", rec(text='<iframe src="https://evil/"></iframe><p>a</p>'), CODE, "post", lambda m, t: "iframe" not in t),
    ("body onerror", rec(text=f'<img src="x" onerror="{PWN}"><p>a</p>'), CODE, "post", lambda m, t: "onerror" not in t),
    ("body javascript url", rec(text='<a href="javascript:alert(1)">点</a>'), CODE, "post", lambda m, t: "javascript" not in t),
    ("body data url", rec(text='<img src="data:text/html;base64,PHNjcmlwdD4="><p>a</p>'), CODE, "post",
     lambda m, t: "data:" not in t),
    ("body style", rec(text="<style>*{display:none}</style><p>a</p>"), CODE, "post", lambda m, t: "<style" not in t),
    ("body svg onload", rec(text=f'<svg onload="{PWN}"></svg><p>a</p>'), CODE, "post", lambda m, t: "svg" not in t),
    ("body meta refresh", rec(text='<meta http-equiv="refresh" content="0;url=javascript:alert(1)"><p>a</p>'), CODE,
     "post", lambda m, t: "refresh" not in t),
    ("body unclosed tags", rec(text="<p>未闭合<b>粗体<p>下一段"), CODE, "post", lambda m, t: t.count("<p>") == t.count("</p>")),
    ("body nested tables", rec(text="<table><tr><td><table><tr><td>内</td></tr></table></td></tr></table>"), CODE,
     "post", lambda m, t: t.count("<table>") == 2 == t.count("</table>")),
    ("body 5 MB of text", rec(text="<p>" + "文" * 1_700_000 + "</p>"), CODE, "post", lambda m, t: len(t.encode()) > 5_000_000),
    ("body empty", rec(text=""), CODE, "fail:article has no text", None),
    ("body only script", rec(text="<script>x</script>"), CODE, "drop:bad_body", None),
    ("body wrong type", rec(text=["<p>a</p>"]), CODE, "fail:article has no text", None),
    ("body content field", rec(text=..., content="<p>来自content</p>"), CODE, "post", lambda m, t: "来自content" in t),
    # encodings
    ("JSON in GB18030", json.dumps(json.loads(rec()), ensure_ascii=False).encode("gb18030"), CODE, "post",
     lambda m, t: m["title"] == "正常标题"),
    ("JSON not JSON", b"<html>502 Bad Gateway</html>", CODE, "fail:not JSON", None),
    ("JSON array", b"[1, 2]", CODE, "fail:JSON is a list", None),
    ("JSON error", b'{"error": "no such article"}', CODE, "fail:share host says", None),
    ("JSON error with terminal escapes", b'{"error": "\\u001b]0;PWNED\\u0007\\u001b[2J\\u009bRED"}', CODE,
     "fail:share host says: ]0;PWNED[2JRED", None),
    ("JSON medianame wrong type", rec(medianame=["南方"]), CODE, "fail:medianame is a list", None),
    # infoCodes (as a share URL names them) and slugs
    ("infoCode path traversal", rec(), "../../etc/passwd", "drop:bad_infocode", None),
    ("infoCode too short", rec(), "NW1", "drop:bad_infocode", None),
    ("infoCode lower case", rec(), CODE.lower(), "post", None),
    ("infoCode unicode digits", rec(), "NW２０２１１２２４２２２５１２３８３３", "drop:bad_infocode", None),
    ("infoCode empty", rec(), "", "drop:bad_infocode", None),
    ("slug with slash and dots", rec(medianame="../南方/日报"), CODE, "post",
     lambda m, t: "/" not in m["categories"] and ".." not in m["categories"]),
    ("slug with spaces", rec(medianame="21世纪经济报道 21财经APP"), CODE, "post",
     lambda m, t: "(//finews.withounder.com/category/21shijijingjibaodao 21caijingAPP.html)" in t),
    ("media name markdown injection", rec(medianame="a](javascript:alert(1))[b"), CODE, "post",
     lambda m, t: not re.search(r"(?<!\\)\]\(\s*javascript:", t)),
    ("media name empty", rec(medianame=""), CODE, "drop:no_category", None),
    # what an HTML5 parser takes time squared for: refused before it is parsed (``bench/hostile.py`` times them)
    ("formatting tags left open before blocks", rec(text="<b><div>" * 128_000), CODE, "drop:bad_body", None),
    ("elements left open by the ten thousand", rec(text="<div>" * 40_000 + "正文"), CODE, "drop:bad_body", None),
    ("a tag with 40,000 attributes without values", rec(text="<p " + " a" * 40_000 + ">正文</p>"), CODE,
     "drop:bad_body", None),
    ("a tag with 40,000 attributes whose values hold >", rec(text="<p " + " ".join(f'a{i}=">"' for i in range(40_000))
                                                           + ">正文</p>"), CODE, "drop:bad_body", None),
    ("a big table is read, however many tags", rec(text="<table>" + "<tr><td><span>数</span></td></tr>" * 6_000
                                                  + "</table>"), CODE, "post", lambda m, t: t.count("<td>") == 6_000),
    ("paragraphs left unclosed, as HTML allows", rec(text="<p>段" * 3_000), CODE, "post", None),
    ("share JSON nested past the stack", b'{"text": ' + b"[" * 200_000, CODE, "fail:JSON nested too deep", None),
    ("an unreadable IPv6 link in the text", rec(text='<p>正文<a href="http://[2001:db8::1/x.html">相关</a></p>'),
     CODE, "post", lambda m, t: "相关" in t),
]


def run_case(data: bytes, code: str, out: Path) -> tuple[str, str]:
    """The whole path of an article from the share host to the archive, as the fetch does it."""
    try:
        article = parse_share_json(data)
    except ShareError as exc:
        return f"fail:{exc}", ""
    item = article_from_share(article, code, f"http://finews.zning.xyz/html_News/NewsShare.html?infoCode={code}", "u")
    try:
        post = build_post(item)
    except PostError as exc:
        return f"drop:{exc.reason}", str(exc)
    writer = ArchiveWriter(out)
    try:
        writer.write(post.info_code, post.filename, render_post(post), {
            "title": post.title, "date": "", "category": post.category, "tags": " ".join(post.tags),
            "source_url": "", "share_url": post.share_url, "body_source": "share"})
    finally:
        writer.close()
    return "post", str(out / "_posts" / post.filename)


def test_there_are_forty_cases_or_more():
    assert len(CASES) >= 40 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, data, code, expected, check", CASES, ids=[c[0] for c in CASES])
def test_hostile_case(tmp_path, name, data, code, expected, check):
    out = tmp_path / "output"
    outcome, detail = run_case(data, code, out)
    assert outcome.startswith(expected), (outcome, detail)
    assert "\n" not in outcome
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(out in p.parents for p in files)                      # nothing outside output/
    if expected != "post":
        assert not list((out / "_posts").glob("*.md")) if (out / "_posts").exists() else True
        return
    path = Path(detail)
    assert path.parent == out / "_posts" and path.name.endswith(f"-{code.upper()}.md")
    text = path.read_text("utf-8")
    meta = yaml.safe_load(text.split("\n---\n", 1)[0][4:])
    assert set(meta) == {"layout", "title", "date", "categories", "tags"}
    _, body = split_front_matter(text)
    article, _, backlinks = body.rpartition("\n\n")
    blanked = re.sub(r'"[^"]*"', '""', article)      # attribute values are text, not markup (nh3 quotes them all)
    assert not re.search(r"<script|<[^<>]*\son\w+\s*=|<iframe|<object|<embed|<svg|<style", blanked, re.I)
    assert "javascript:" not in article
    # the back-links are exactly two Markdown links: no name can open a third one
    assert len(re.findall(r"(?<!\\)\]\(", backlinks)) == 2 and backlinks.endswith("｜[返回首页](//finews.withounder.com/)")
    if check:
        assert check(meta, body)


def test_hostile_mirror_pages():
    site = SiteMap("http://127.0.0.1:1/", ["finews.withounder.com"])
    head_spill = ('<html><head><meta property="og:description" content="<p class="x">正文<h1>假标题</h1>'
                  '<small>(GMT+8, Asia/Shanghai, CST) 1999-01-01 00:00:00</small>"></head><body><div class="wrapper">'
                  '<header><h1>金融消息</h1></header><section><small>(GMT+8, Asia/Shanghai, CST) 2021-12-24 11:18:57</small>'
                  '<h1>真标题</h1><p>真正文</p><small>tags: <em>南方日报新闻</em></small></section></div></body></html>')
    found = parse_post_page(head_spill, "http://127.0.0.1:1/nanfangribao/2021/12/24/NW202112242225123833.html", site)
    assert (found.title, found.date_text, found.body_html) == ("真标题", "2021-12-24 11:18:57", "<p>真正文</p>")
    for broken in ("", "<html><body><p>no section</p></body></html>", "<section><p>no h1</p></section>"):
        with pytest.raises(ExtractError):
            parse_post_page(broken, "http://127.0.0.1:1/x/2021/12/24/a.html", site)
    page = head_spill.replace('<html><head>', '<html><head><meta charset="utf-8">').encode("gb18030")
    text, _ = decode_html(page, "text/html; charset=utf-8")             # GB18030 with a wrong charset
    assert "真标题" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _pwned(page: Path) -> bool:
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             f"--user-data-dir={page.parent / '.chromium'}", "--virtual-time-budget=3000",
                             "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<html" in result.stdout, result.stderr[-500:]
    return re.search(r"<html[^>]*data-pwned", result.stdout) is not None


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (Debian package 'chromium'): "
                                           "the in-browser check was not run")
def test_no_script_runs_in_a_browser(tmp_path):
    bodies = []
    for name, data, code, expected, _ in CASES:
        if expected == "post" and "5 MB" not in name:
            _outcome, path = run_case(data, code, tmp_path / "case" / re.sub(r"\W+", "_", name))
            _, body = split_front_matter(Path(path).read_text("utf-8"))
            meta = yaml.safe_load(Path(path).read_text("utf-8").split("\n---\n", 1)[0][4:])
            bodies.append((meta["title"], body))
    # the control: the same page with a live payload does report it
    control = tmp_path / "control.html"
    control.write_text(f'<html><body><img src="x" onerror="{PWN}"></body></html>', "utf-8")
    assert _pwned(control)
    # every archived post in a page as naive as a layout can be: title and body unescaped
    page = tmp_path / "all.html"
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>" + "".join(
        f"<section><h1>{title}</h1>{body}</section>" for title, body in bodies) + "</body></html>", "utf-8")
    assert not _pwned(page)
    if shutil.which("jekyll"):   # and the Jekyll export of an archive holding them, really built
        archive = tmp_path / "archive"
        for i, (_name, data, code, expected, _) in enumerate(CASES):
            if expected == "post":   # each its own infoCode, so the site holds them all
                run_case(data, f"NW20211224222512{i:04d}" if code == CODE else code, archive)
        assert len(list((archive / "_posts").glob("*.md"))) >= 35
        site = tmp_path / "site"
        assert run_cli("export", "--output", archive, "--format", "jekyll", "--to", site).returncode == 0
        subprocess.run(["jekyll", "build", "-q", "-s", str(site), "-d", str(site / "_site")], check=True, timeout=300)
        for built in (site / "_site").rglob("*.html"):
            assert not _pwned(built), built


def test_the_parsers_refuse_what_they_would_take_time_squared_for():
    """A tag with 50,000 attributes (libxml2's repeated-attribute check), read on a page as on a body."""
    from newsarchive.core import htmlparse

    tag = "<p " + " ".join(f"a{i}=1" for i in range(50_000)) + ">x</p>"
    page = f'<html><body><div class="wrapper"><section><h1>t</h1>{tag}</section></div></body></html>'
    with pytest.raises(ExtractError, match="attributes"):
        parse_post_page(page, "http://127.0.0.1/x/2021/12/24/NW202112242225123833.html")
    with pytest.raises(htmlparse.TooManyAttributes):
        htmlparse.fragment(tag)
    for odd in ("<p " + " a" * 40_000 + ">x</p>", "<p " + " ".join(f'a{i}=">"' for i in range(40_000)) + ">x</p>",
                "<p a0" + "".join(f"/a{i}" for i in range(1, 40_000)) + ">x</p>"):
        with pytest.raises(htmlparse.TooManyAttributes):      # no values; values that hold ">"
            htmlparse.document(f"<html><body>{odd}</body></html>")
    assert htmlparse.fragment('<p a="1" b="2">x</p>').text_content() == "x"


def test_the_linear_forms_of_the_page_patterns_read_what_they_read():
    """The patterns rewritten to run in linear time (a page of "<a <a …", a title of ideographic spaces,
    back-links with a long run of spaces) still find what they found."""
    from newsarchive.core.extract import quick_share_link
    from newsarchive.core.htmlclean import clean_title
    from newsarchive.offline.site import render_body

    share = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=" + CODE
    page = b'<div class="wrapper">' + b"<a " * 100_000 + f'<a class="x" href="{share}">原文</a>'.encode()
    assert quick_share_link(page) == share
    assert clean_title("前后\u3000\u3000" * 10_000 + "x") == "前后\u3000\u3000" * 10_000 + "x"
    assert clean_title("前后空白\u3000 与\t\u3000尾") == "前后空白 与 尾"
    assert clean_title("<" * 100_000 + "a" + ">a" * 100_000).strip("a") == ""      # tags nested in tags: gone
    links = "[返回南方日报新闻](//finews.withounder.com/category/nanfangribao.html)" + " " * 200_000 + \
        "｜[返回首页](//finews.withounder.com/)"
    article, source = render_body("<p>正文</p>\n\n" + links, "../", "c.html")
    assert article == "<p>正文</p>" and source.count("<a ") == 2
