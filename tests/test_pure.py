"""The pure functions, tested on strings: slugs, infoCodes, dates, titles, front matter."""
import datetime as dt

import pytest
import yaml

from newsarchive.core.dates import BEIJING, date_from_infocode, format_date, parse_date
from newsarchive.core.htmlclean import clean_title
from newsarchive.core.infocode import (
    InvalidInfoCode,
    infocode_from_share_url,
    infocode_from_slug,
    infocode_from_text,
    normalize_infocode,
    share_json_url,
)
from newsarchive.core.post import Post, render_post, split_front_matter, yaml_double_quoted, yaml_scalar
from newsarchive.core.slug import category_slug

pytestmark = pytest.mark.pure

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=BEIJING)


@pytest.mark.parametrize("media, slug", [
    ("中国银行", "zhongguoyinxing"),            # first reading of 行, as the mirror made it
    ("安信国际证券(香港)", "anxinguojizhengquan(xianggang)"),
    ("21世纪经济报道 21财经APP", "21shijijingjibaodao 21caijingAPP"),
    ("Career In 投行PEVC", "Career In touxingPEVC"),
    ("南方日报", "nanfangribao"),
    ("21世纪经济报道  南财理财通", "21shijijingjibaodao  nancailicaitong"),
    ("a/../b", "a.b"),
    ("../../etc", "etc"),
])
def test_category_slug(media, slug):
    assert category_slug(media) == slug


@pytest.mark.parametrize("raw, code", [
    ("NW202112242225123833", "NW202112242225123833"),
    ("nw202112242225123833", "NW202112242225123833"),
    ("202112082206768417", "NW202112082206768417"),
    (" NW202112242225123833 ", "NW202112242225123833"),
])
def test_infocode_valid(raw, code):
    assert normalize_infocode(raw) == code


@pytest.mark.parametrize("raw", ["../../etc/passwd", "NW1", "", "NW2021122422251238331", "NW２０２１１２２４２２２５１２３８３３",
                                 None, ["NW202112242225123833"], "NW20211224222512383/"])
def test_infocode_rejected(raw):
    with pytest.raises(InvalidInfoCode):
        normalize_infocode(raw)


def test_infocode_sources():
    share = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112242225123833"
    assert infocode_from_share_url(share) == "NW202112242225123833"
    assert share_json_url(share) == "http://finews.zning.xyz/NewsData/GetNewsText.do?id=NW202112242225123833"
    assert infocode_from_share_url("http://h/html_News/NewsShare.html?infoCode=../x") is None
    assert infocode_from_slug("202112082206768417") == "NW202112082206768417"
    assert infocode_from_slug("NW202112082206768417") == "NW202112082206768417"
    assert infocode_from_slug("2021-12-08-NW202112082206768417") == "NW202112082206768417"
    assert infocode_from_slug(" nw202112082206768417") == "NW202112082206768417"
    assert infocode_from_slug("init") is None
    assert infocode_from_text("<http://finance.eastmoney.com/news/1355,202112082206768417.html>") == "NW202112082206768417"


@pytest.mark.parametrize("raw, expected", [
    ("2021-12-24 11:18:57", "2021-12-24 11:18:57 +0800"),
    ("2021-12-24 11:18", "2021-12-24 11:18:00 +0800"),
    ("2021/12/24 11:18:57", "2021-12-24 11:18:57 +0800"),
    ("2021-12-24T03:18:57Z", "2021-12-24 11:18:57 +0800"),
    ("2021-12-24T11:18:57+08:00", "2021-12-24 11:18:57 +0800"),
    ("2021-12-24T05:18:57+02:00", "2021-12-24 11:18:57 +0800"),
    (1640315937000, "2021-12-24 11:18:57 +0800"),
    ("1640315937000", "2021-12-24 11:18:57 +0800"),
])
def test_parse_date(raw, expected):
    assert format_date(parse_date(raw, now=NOW)) == expected


@pytest.mark.parametrize("raw", [None, "", "garbled", "2021-13-45 99:00", 0, "1970-01-01 00:00:00",
                                 "2099-01-01 00:00:00", True, [2021]])
def test_parse_date_rejects(raw):
    assert parse_date(raw, now=NOW) is None


def test_date_from_infocode():
    assert format_date(date_from_infocode("NW202205262391921712")) == "2022-05-26 00:00:00 +0800"
    assert date_from_infocode("NW209913992391921712") is None


@pytest.mark.parametrize("raw, title", [
    ("  科技创新服务\n助推  宝安 ", "科技创新服务 助推 宝安"),
    ("A&amp;B &lt;C&gt; &quot;D&quot;", 'A&B "D"'),          # a tag behind entities is still a tag
    ("&lt;img src=x onerror=alert(1)&gt;新闻", "新闻"),
    ("营收<10亿", "营收<10亿"),
    ("ç§‘æŠ€", "科技"),                          # UTF-8 read as CP1252: repaired
    ("「港股」：恒指涨1%，（收盘）", "「港股」：恒指涨1%，（收盘）"),   # full-width kept, no NFKC
    ("标题\x00\x1b[31m红", "标题[31m红"),
    ("<b>加粗</b>标题", "加粗标题"),
])
def test_clean_title(raw, title):
    assert clean_title(raw) == title


HOSTILE_TITLES = ['"quoted"', "back\\slash", "key: value", "# not a comment", "---", "line\nbreak",
                  "> quote", "* star", "& anchor", "'single'", "x" * 2000, "", "tab\there", "\u2028sep",
                  "emoji 😀 and 𠮷", "null", "true", "123", "[list]", "{map}", "%YAML", "@at", "`tick`",
                  "\x7f\x85\ufeff", "\ud800"]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_title_round_trips_through_yaml(title):
    fm = f"title: {yaml_double_quoted(title)}\n"
    assert yaml.safe_load(fm) == {"title": title}


def test_plain_quoted_form_kept():
    assert yaml_double_quoted("科技创新服务助推宝安科创产业大步快跑") == '"科技创新服务助推宝安科创产业大步快跑"'
    assert yaml_scalar("nanfangribao") == "nanfangribao"
    assert yaml_scalar("南方日报新闻") == "南方日报新闻"
    for awkward in ("a: b", "#x", "true", "2021", "- x", "x #y", "[a]"):
        assert yaml.safe_load(f"k: {yaml_scalar(awkward)}") == {"k": awkward}
    # what PyYAML reads as text and Ruby's Psych (Jekyll) does not: booleans and null in any case, dates
    # with one-digit months or days — quoted, or Jekyll fails the post's front matter
    for psych in ("oFF", "nO", "tRUE", "yEs", "Null", "2021-1-1", "2021-12-1"):
        assert yaml_scalar(psych) == f'"{psych}"'


def test_render_post_format():
    post = Post(info_code="NW202112242225123833", title="标题", date=parse_date("2021-12-24 11:18:57", now=NOW),
                category="nanfangribao", tags=["南方日报新闻"], body="<p>正文</p>",
                link_url="http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112242225123833")
    text = render_post(post)
    assert text == ('---\nlayout: post\ntitle: "标题"\ndate: 2021-12-24 11:18:57 +0800\ncategories: nanfangribao\n'
                    'tags: 南方日报新闻\n---\n<p>正文</p>\n\n<http://finews.zning.xyz/html_News/NewsShare.html?'
                    'infoCode=NW202112242225123833>\n\n[返回南方日报新闻](//finews.withounder.com/category/nanfangribao.html)'
                    '｜[返回首页](//finews.withounder.com/)')
    assert post.filename == "2021-12-24-NW202112242225123833.md"
    meta, body = split_front_matter(text)
    assert meta["title"] == "标题" and body.startswith("<p>正文</p>")
    assert render_post(post, site_base="//mirror.example").endswith("[返回首页](//mirror.example/)")


# -- the crawl's quick reading of a post page, and the writer's full one --------------------------
def _page_with(section_html: str) -> bytes:
    head = '<html><head><meta property="og:description" content="<a href=\'http://x/html_News/NewsShare.html?infoCode=NW111111111111111111\'>">'
    return (head + '</head><body><div class="wrapper"><section>' + section_html + "</section></div></body></html>").encode()


SHARE = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112242226768417"


@pytest.mark.parametrize("section, expected", [
    (f'<h1>t</h1><p>a <a href="http://other/">x</a></p><p><a href="{SHARE}">{SHARE}</a></p>', SHARE),
    (f"<h1>t</h1><p><a class=x href='{SHARE}'>s</a></p>", SHARE),
    (f"<h1>t</h1><p><A HREF={SHARE}>s</A></p>", SHARE),
    (f'<h1>t</h1><p><a href=" {SHARE.replace("?", "&#63;")} ">s</a></p>', SHARE),   # entities, spaces
    ('<h1>t</h1><p><a href="http://finews.zning.xyz/other.html">s</a></p>', ""),
    ("<h1>t</h1><p>no links</p>", ""),
])
def test_quick_share_link(section, expected):
    from newsarchive.core.extract import parse_post_page, quick_share_link

    page = _page_with(section)
    assert quick_share_link(page) == expected                       # the head's link is not the post's
    assert parse_post_page(page.decode(), "http://m/emnews/2021/12/24/x.html").share_url == expected


def test_quick_share_link_needs_the_wrapper():
    from newsarchive.core.extract import quick_share_link

    assert quick_share_link(f'<section><a href="{SHARE}">s</a></section>'.encode()) == ""


def _raw_item(page: bytes, share_url: str, share=None):
    from newsarchive.core.infocode import infocode_from_share_url
    from newsarchive.core.items import ArticleItem

    return ArticleItem(info_code=infocode_from_share_url(share_url) or "", share_url=share_url, raw_page=page,
                       raw_page_type="text/html; charset=utf-8", source_url="http://m/emnews/2021/12/24/x.html",
                       page="/emnews/2021/12/24/x.html", share=share)


def test_raw_page_read_by_the_writer_takes_the_share_article_for_the_same_link():
    from newsarchive.core.normalize import article_from_raw_page
    from newsarchive.core.share import ShareArticle

    page = _page_with(f"<h1>镜像标题</h1><small>(GMT+8) 2021-12-24 22:26:00</small><p>镜像正文</p>"
                      f'<p><a href="{SHARE}">{SHARE}</a></p>')
    share = ShareArticle("NW202112242226768417", "原文标题", "2021-12-24 22:25:12", "东方财富", "<p>原文</p>")
    item, notes = article_from_raw_page(_raw_item(page, SHARE, share))
    assert (item.title, item.body_html, item.body_source, item.category, notes) == (
        "原文标题", "<p>原文</p>", "share", "emnews", [])
    assert item.date == "2021-12-24 22:25:12" and item.info_code == "NW202112242226768417"
    # the share article arrives as a dict through the writer's pipe: same result
    again, _ = article_from_raw_page(_raw_item(page, SHARE, vars(share)))
    assert again == item


def test_raw_page_whose_full_reading_differs_keeps_the_mirror_body():
    from newsarchive.core.normalize import SHARE_MISMATCH, article_from_raw_page
    from newsarchive.core.share import ShareArticle

    other = SHARE.replace("NW202112242226768417", "NW202112242226768418")
    # the quick look saw `other` in a comment; the parser sees SHARE
    page = _page_with(f'<h1>镜像标题</h1><!-- <a href="{other}"> --><p>镜像正文</p><p><a href="{SHARE}">{SHARE}</a></p>')
    share = ShareArticle("NW202112242226768418", "别的文章", "2021-12-24 22:25:12", "东方财富", "<p>别的</p>")
    item, notes = article_from_raw_page(_raw_item(page, other, share))
    assert notes == [SHARE_MISMATCH]
    assert (item.title, item.body_html, item.body_source, item.info_code) == (
        "镜像标题", "<p>镜像正文</p>", "mirror", "NW202112242226768417")


def test_raw_page_without_an_article_raises():
    from newsarchive.core.extract import ExtractError
    from newsarchive.core.normalize import article_from_raw_page

    with pytest.raises(ExtractError):
        article_from_raw_page(_raw_item(b"<html><body><p>404</p></body></html>", SHARE))


LINKS = ["/emnews/2021/12/24/NW202112242225123833.html", "//finews.withounder.com/emnews/a.html",
         "https://finews.withounder.com/category/emnews.html", "HTTPS://FINEWS.withounder.com/x%20y.html",
         "http://finews.zning.me/a/b.html", "//finews.withounder.com", "//finews.withounder.com:8080/a.html",
         "//user@finews.withounder.com/a.html", "//finews.withounder.com/a/../b.html", "//finews.withounder.com/./a",
         "//finews.withounder.com/a?x=1", "//finews.withounder.com/a#top", "//evil.example/emnews/a.html",
         "//finews.withounder.com./a.html", "ftp://finews.withounder.com/a.html", "//finews.withounder.com/a b.html",
         "//finews.withounder.com\\a.html", "https://finews.withounder.com/sub/emnews/a.html", "a.html", "../a.html",
         "  //finews.withounder.com/%E6%96%B0.html  ", "javascript:alert(1)", "//127.0.0.1:8000/emnews/a.html"]


@pytest.mark.parametrize("site", ["http://127.0.0.1:8000/", "https://mirror.example/sub/"])
@pytest.mark.parametrize("page", [None, "category/x.html", "a/b/c.html"])
@pytest.mark.parametrize("link", LINKS)
def test_local_path_shortcuts_agree_with_urljoin(site, page, link):
    """Links on a page of the mirror: the shortcuts give what urljoin + urlsplit give."""
    from newsarchive.core.extract import SiteMap

    sitemap = SiteMap(site, ["finews.withounder.com", "finews.zning.me"])
    base = page and site + page
    assert sitemap.local_path(link, base) == sitemap._joined_path(link.strip(), base)


@pytest.mark.parametrize("value", ["", "标题 “引号” \"quoted\" back\\slash", "".join(map(chr, range(0x20))) + "\x7f",
                                   "\u2028\u2029 😀 \ud7ff", "line\n\nline\r\n\ttab", None, 0, 7, True, 1.5, ["a"]])
def test_json_line_is_json_dumps(value):
    import json

    from newsarchive.offline.export import json_line

    record = {"infoCode": "NW202112242225123833", "body": value, "revisions": 3, "other key": value}
    assert json_line(record) == json.dumps(record, ensure_ascii=False) + "\n"


def test_back_links_on_lines_of_their_own_keep_their_line_break():
    """The mirror's old posts put each back-link on its own line; the archive writes them so too."""
    import lxml.html

    from newsarchive.core.extract import backlinks_markdown

    p = lxml.html.fragment_fromstring('<p><a href="//finews.zning.me/emnews/">返回东财滚动新闻</a>\n'
                                      '<a href="//finews.zning.me/">返回首页</a></p>')
    assert backlinks_markdown(p) == "[返回东财滚动新闻](//finews.zning.me/emnews/)\n[返回首页](//finews.zning.me/)"


def test_an_infocode_names_a_plausible_date_or_none():
    assert date_from_infocode("NW202112242225123833") == dt.datetime(2021, 12, 24, tzinfo=BEIJING)
    assert date_from_infocode("NW000101011111111111") is None         # year 1: no file "1-01-01 00-NW….md"
    # ahead of the clock: kept (the post is archived with the date its code names, never dropped for it)
    assert date_from_infocode("NW209901011111111111") == dt.datetime(2099, 1, 1, tzinfo=BEIJING)


def test_a_feed_gives_at_most_the_page_limit_of_links():
    """As a listing does: the rest counted, not followed (a 500-entry feed gave 500 requests at a limit of 100)."""
    from newsarchive.core.extract import SiteMap, feed_links

    entries = "".join(f'<entry><link href="https://finews.withounder.com/nanfangribao/2021/12/24/'
                      f'NW2021122422251{i:05d}.html"/></entry>' for i in range(500))
    feed = f'<feed xmlns="http://www.w3.org/2005/Atom">{entries}</feed>'.encode()
    site = SiteMap("https://finews.withounder.com/")
    links = feed_links(feed, site, limit=100)
    assert len(links.posts) == 100 and links.over_limit == 400
    assert len(feed_links(feed, site).posts) == 500


def test_front_matter_tags_and_categories_that_yaml_reads_as_no_string_are_their_words():
    from newsarchive.core.jekyllpost import page_path

    for value, words in ((31, "31"), (float("inf"), "inf"), (45000, "45000"), ("a b", "a/b"), (["x", 1], "x/1")):
        assert page_path({"categories": value, "date": "2021-12-24 11:18:57 +0800"},
                         "2021-12-24-NW202112242225123833.md") == f"/{words}/2021/12/24/NW202112242225123833.html"
