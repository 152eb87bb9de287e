"""Build a mirror fixture: Chinese news posts rendered in the real mirror's exact HTML structure.

The layouts reproduce what Jekyll 4.3 makes of the mirror's own ``post``, ``category`` and
``default`` layouts, broken ``og:description`` head included; ``upstream/<infoCode>.json`` is what
the share host answers. Used by ``newsarchive demo`` (a bundled sample), the tests and the
benchmark (``bench/``), so every crawl test meets the real structure.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from newsarchive.core.dates import BEIJING
from newsarchive.core.slug import category_slug

CANONICAL = "https://finews.withounder.com"
SHARE_HOST = "http://finews.zning.xyz"


@dataclass
class SourcePost:
    """A post as the mirror's writer made it (before Jekyll)."""

    info_code: str
    title: str
    date: dt.datetime
    media: str
    paragraphs: list[str]               # article HTML paragraphs (inner HTML)
    category: str = ""
    share: bool = True                  # links its share URL (the current format)
    digest: str = ""                    # leading "> digest" blockquote
    extra_html: str = ""                # raw HTML appended to the article (widgets…)
    encoding: str = "utf-8"             # the page's encoding on the mirror
    indent: bool = True                 # share JSON text carries "　　" indents

    def __post_init__(self):
        self.category = self.category or category_slug(self.media)

    @property
    def tag(self) -> str:
        return f"{self.media}新闻"

    @property
    def slug(self) -> str:
        return self.info_code if self.share else self.info_code[2:]

    @property
    def path(self) -> str:
        # Jekyll splits a space-separated category into path segments
        return f"/{'/'.join(self.category.split())}/{self.date:%Y/%m/%d}/{self.slug}.html"

    @property
    def share_url(self) -> str:
        return f"{SHARE_HOST}/html_News/NewsShare.html?infoCode={self.info_code}"

    @property
    def source_url(self) -> str:
        return f"http://finance.eastmoney.com/news/1354,{self.info_code[2:]}.html"

    @property
    def link_url(self) -> str:
        return self.share_url if self.share else self.source_url

    def share_json(self) -> dict:
        indent = "\u3000\u3000" if self.indent else ""
        text = "".join(f"<p>{indent}{p}</p>" for p in self.paragraphs) + self.extra_html
        return {"infoCode": self.info_code, "title": self.title,
                "showtime": self.date.strftime("%Y-%m-%d %H:%M:%S"), "medianame": self.media, "text": text}

    def rendered_body(self) -> str:
        """What kramdown makes of the post's Markdown body."""
        parts = []
        if self.digest:
            parts.append(f"<blockquote>\n  <p>{self.digest}</p>\n</blockquote>\n")
        parts.append("\n".join(f"<p>{p}</p>" for p in self.paragraphs) + self.extra_html + "\n")
        link = self.link_url
        parts.append(f'<p><a href="{link}">{link}</a></p>\n')
        parts.append(f'<p><a href="//finews.withounder.com/category/{self.category}.html">返回{self.tag}</a>'
                     f'｜<a href="//finews.withounder.com/">返回首页</a></p>\n')
        return "\n".join(parts)


HEAD = """<!DOCTYPE html>
<html lang="zh-CN">
  <head>
    <meta charset="{charset}">
    <meta http-equiv="X-UA-Compatible" content="IE=edge">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta content="ZNing" name="author" />
    <meta property="og:type" content="website" />
    <meta property="og:title" content="{title}">
    <meta property="og:description" content="{raw_description}">
    <meta property="og:image" content="https://withounder.com/images/newzningnetcircle.png">
    <meta property="og:url" content="https://finews.zning.me{path}">
    <meta name="theme-color" content="#1976D2">
    <link rel="shortcut icon" href="https://withounder.com/images/favicon.ico">

<!-- Begin Jekyll SEO tag v2.8.0 -->
<title>{title_e} | 金融消息</title>
<meta name="generator" content="Jekyll v4.3.1" />
<meta property="og:title" content="{title_e}" />
<meta name="author" content="ZNing" />
<meta property="og:locale" content="zh_CN" />
<link rel="canonical" href="{canonical}{path_e}" />
<meta property="og:url" content="{canonical}{path_e}" />
<meta property="og:site_name" content="金融消息" />
<meta property="og:type" content="{og_type}" />
<meta name="twitter:card" content="summary" />
<meta property="twitter:title" content="{title_e}" />
<!-- End Jekyll SEO tag -->

    <link rel="stylesheet" href="/assets/css/style.css?v=">
    <!--[if lt IE 9]>
    <script src="https://cdnjs.cloudflare.com/ajax/libs/html5shiv/3.7.3/html5shiv.min.js"></script>
    <![endif]-->
    
    <script type="text/JavaScript">
      function AutoRefresh( t ) {{
       setTimeout("location.reload(true);", t);
      }}
    </script>
  </head>
  <body onload="JavaScript:AutoRefresh(60000);">
    <div class="wrapper">
      <header>
        <h1><a href="https://finews.withounder.com/">金融消息</a></h1>

        

        <p></p>

      </header>
      <section>

      {content}
      </section>
      <footer>
        <p>&copy; 2021</p>
      </footer>
    </div>
    <script src="/assets/js/scale.fix.js"></script>
  </body>
</html>
"""


def _page(title: str, path: str, content: str, raw_description: str = "", og_type="website", charset="UTF-8") -> str:
    # og:description is the page's raw content, unescaped: the real mirror's broken head
    return HEAD.format(charset=charset, title=title, raw_description=raw_description, path=path,
                       title_e=html.escape(title, quote=True), canonical=CANONICAL,
                       path_e=quote(path, safe="/()"), og_type=og_type, content=content)


def render_post_page(post: SourcePost) -> str:
    body = post.rendered_body()
    content = (f"<small>(GMT+8, Asia/Shanghai, CST) {post.date:%Y-%m-%d %H:%M:%S}</small>\n"
               f"<h1>{html.escape(post.title, quote=False)}</h1>\n\n{body}\n\n\n"
               f"  <small>tags: <em>{html.escape(post.tag, quote=False)}</em></small>\n\n\n\n")
    return _page(post.title, post.path, content, body, "article",
                 "gb2312" if post.encoding != "utf-8" else "UTF-8")


def render_listing(category: str, posts: list[SourcePost], next_page: str = "") -> str:
    items = "".join(f'\n    <li><a href="{quote(p.path, safe="/()")}">{html.escape(p.title, quote=False)}</a></li>\n  '
                    for p in posts)
    nav = f'\n<p><a rel="next" href="{next_page}">下一页</a></p>\n' if next_page else ""
    content = f'\n<h2 id=""></h2>\n\n<ul>\n  {items}\n</ul>\n{nav}\n\n'
    return _page(posts[0].media if posts else category, f"/category/{category}.html", content)


def render_index(posts: list[SourcePost], per_tag: int = 5) -> str:
    groups: dict[str, list[SourcePost]] = {}
    for p in sorted(posts, key=lambda p: p.date, reverse=True):
        groups.setdefault(p.tag, []).append(p)
    out = []
    for tag, group in groups.items():
        lis = "".join(f'\n    \n      <li><a href="{quote(p.path, safe="/()")}">{html.escape(p.title, quote=False)}</a></li>'
                      for p in group[:per_tag])
        out.append(f'\n<h2 id="{tag}">{tag}</h2>\n<ul>{lis}\n    \n  </ul>\n<hr />\n')
    return _page("首页", "/", "".join(out) + "\n\n")


def render_feed(posts: list[SourcePost], limit: int = 10) -> str:
    entries = []
    for p in sorted(posts, key=lambda p: p.date, reverse=True)[:limit]:
        url = CANONICAL + quote(p.path, safe="/()")
        t = html.escape(p.title)
        entries.append(
            f'<entry><title type="html">{t}</title><link href="{url}" rel="alternate" type="text/html" title="{t}" />'
            f"<published>{p.date.isoformat()}</published><updated>{p.date.isoformat()}</updated>"
            f"<id>{url[:-5]}</id><content type=\"html\" xml:base=\"{url}\"><![CDATA[{p.rendered_body()}]]></content>"
            f'<author><name>ZNing</name></author><category term="{html.escape(p.category)}" />'
            f'<category term="{html.escape(p.tag)}" /></entry>')
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-CN">'
            '<generator uri="https://jekyllrb.com/" version="4.3.1">Jekyll</generator>'
            f'<link href="{CANONICAL}/feed.xml" rel="self" type="application/atom+xml" />'
            f'<id>{CANONICAL}/feed.xml</id><title type="html">金融消息</title>' + "".join(entries) + "</feed>")


def build_site(posts: list[SourcePost], folder: str | Path, page_size: int = 0) -> Path:
    """Write ``folder/site`` and ``folder/upstream`` for these posts; returns the folder."""
    folder = Path(folder)
    site, upstream = folder / "site", folder / "upstream"
    (site / "category").mkdir(parents=True, exist_ok=True)
    upstream.mkdir(parents=True, exist_ok=True)
    by_cat: dict[str, list[SourcePost]] = {}
    for p in posts:
        target = site / p.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(render_post_page(p).encode(p.encoding))
        if p.share:
            (upstream / f"{p.info_code}.json").write_text(json.dumps(p.share_json(), ensure_ascii=False), "utf-8")
        by_cat.setdefault(p.category, []).append(p)
    for cat, group in by_cat.items():
        group.sort(key=lambda p: p.date, reverse=True)
        pages = [group[i:i + page_size] for i in range(0, len(group), page_size)] if page_size else [group]
        for n, chunk in enumerate(pages):
            name = f"{cat}.html" if n == 0 else f"{cat}-{n + 1}.html"
            nxt = f"/category/{quote(cat)}-{n + 2}.html" if n + 1 < len(pages) else ""
            (site / "category" / name).write_text(render_listing(cat, chunk, nxt), "utf-8")
    (site / "index.html").write_text(render_index(posts), "utf-8")
    (site / "feed.xml").write_text(render_feed(posts), "utf-8")
    return folder


# -- synthetic Chinese news -----------------------------------------------------------------------
SUBJECTS = ["央行", "证监会", "国家统计局", "上交所", "深交所", "多家券商", "外资机构", "新能源车企", "光伏龙头",
            "半导体公司", "商业银行", "保险资管", "公募基金", "地方政府", "海关总署", "财政部"]
VERBS = ["宣布", "发布", "表示", "披露", "预计", "强调", "提出", "启动", "完成", "上调", "下调", "推进"]
OBJECTS = ["新一轮降准措施", "三季度经营数据", "绿色金融支持政策", "跨境资金流动情况", "产能扩张计划",
           "数字人民币试点", "专精特新企业扶持方案", "消费品以旧换新细则", "科创板改革举措", "稳外贸政策",
           "年度分红方案", "重大资产重组预案", "海外市场布局", "研发投入规划"]
TAILS = ["，市场人士认为此举有助于稳定预期。", "，业内预计将带动相关产业链回暖。", "，同比增长12.5%。",
         "，环比回落0.3个百分点。", "，相关负责人在发布会上作了详细说明。", "，引发投资者广泛关注。",
         "（记者 王晓明）", "，具体实施细则将另行公布。", "，涉及金额约3.6亿元。", "，截至目前进展顺利。"]
MEDIA = ["南方日报", "上海证券报", "中国银行", "安信国际证券(香港)", "21世纪经济报道 21财经APP",
         "Career In 投行PEVC", "证券时报网", "第一财经"]


def sentence(rng: random.Random) -> str:
    return rng.choice(SUBJECTS) + rng.choice(VERBS) + rng.choice(OBJECTS) + rng.choice(TAILS)


def paragraph(rng: random.Random, sentences: int) -> str:
    return "".join(sentence(rng) for _ in range(sentences))


WIDGET_HTML = ('<p style="display:none;height:1px;overflow:hidden;"><br /></p>'
               '<!-- EM_StockImg_Start --><p style="text-align:center;"><a href="http://quote.eastmoney.com/unify/r/106.NIO">'
               '<img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?nid=106.NIO&amp;token=abc" alt="K图 NIO_0" /></a></p>'
               '<!-- EM_StockImg_End --><p>据悉，<span id="stock_106.NIO"><a href="http://quote.eastmoney.com/unify/r/106.NIO" '
               'class="keytip" data-code="106,NIO">蔚来</a></span><span id="quote_106.NIO"></span>旗下<span web="1" '
               'href="http://quote.eastmoney.com/unify/r/90.BK0493" class="em_stock_key_common" data-code="90,BK0493">新能源</span>'
               '汽车首发，<span id="Info.3321"><a href="http://data.eastmoney.com/bbsj/" class="infokey">业绩</a></span>可期。</p>')


def synthetic_posts(count: int, seed: int = 7, media: list[str] | None = None, start: dt.datetime | None = None,
                    paragraphs: tuple[int, int] = (3, 6), sentences: tuple[int, int] = (2, 5)) -> list[SourcePost]:
    """Deterministic Chinese posts spread over ``media`` (categories), one minute apart."""
    rng = random.Random(seed)
    media = media or MEDIA
    start = start or dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=BEIJING)
    posts = []
    for i in range(count):
        date = start + dt.timedelta(minutes=7 * i, seconds=rng.randrange(60))
        code = f"NW{date:%Y%m%d}{2200000000 + seed * 1000000 + i:010d}"
        paras = [paragraph(rng, rng.randint(*sentences)) for _ in range(rng.randint(*paragraphs))]
        posts.append(SourcePost(info_code=code, title=rng.choice(SUBJECTS) + rng.choice(VERBS) + rng.choice(OBJECTS),
                                date=date, media=media[i % len(media)], paragraphs=paras))
    return posts


def demo_posts() -> list[SourcePost]:
    """The bundled demo mirror: 36 posts in 6 categories, one GB18030 page, one with EastMoney
    widgets, one old-format post (EastMoney link, digest), titles with quotes and colons."""
    posts = synthetic_posts(36, seed=3, media=MEDIA[:6], start=dt.datetime(2026, 11, 24, 8, 0, 0, tzinfo=BEIJING))
    posts[0].title = '央行：“稳中求进” 释放\\信号 #1'
    posts[1].encoding = "gb18030"
    posts[1].title = "深交所发布《创业板改革》配套细则：涉及€与𠮷字"
    posts[2].extra_html = WIDGET_HTML
    posts[3].share = False
    posts[3].digest = posts[3].paragraphs[0]
    return posts
