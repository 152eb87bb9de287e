"""Extraction from the mirror's pages: post pages, category listings, home page, feed (pure).

The mirror is a Jekyll site. Its post pages carry the article in the last ``div.wrapper >
section``; the head before it is broken in real life (``og:description`` holds unescaped HTML that
spills into the body when parsed), so nothing is read from the head.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import lxml.etree
import lxml.html
from w3lib.url import safe_url_string

from newsarchive.core import htmlparse
from newsarchive.core.encoding import decode_html
from newsarchive.core.infocode import (
    infocode_from_share_url,
    infocode_from_slug,
    infocode_from_text,
    is_share_url,
    join_url,
    split_url,
)
from newsarchive.core.mdsafe import md_line, md_link, md_text

POST_PATH = re.compile(r"^/(?P<cat>.+?)/(?P<y>[0-9]{4})/(?P<m>[0-9]{2})/(?P<d>[0-9]{2})/(?P<slug>[^/]+)\.html$")
LISTING_PATH = re.compile(r"^/category/(?P<slug>[^/]+)\.html$")
DATE_SMALL = re.compile(r"\(GMT\+8[^)]*\)\s*(.+)$", re.S)
NEXT_TEXTS = ("下一页", "下页", "next", "older")
_ODD_PATH = re.compile(r"[?#\\]|/\.\.?(?:/|$)|\s")
_ABSOLUTE = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?:)?//([A-Za-z0-9.-]+)(/[^?#\\\s]*)$")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~!$&'*+,;=:@-]*")


class ExtractError(ValueError):
    """A page is not what it should be (no article section, no title…)."""


@dataclass
class MirrorPost:
    title: str
    date_text: str
    tags: list[str]
    category: str
    body_html: str
    leading_md: str = ""
    link_url: str = ""
    backlinks: str | None = None
    share_url: str = ""
    info_code: str | None = None


@dataclass
class PostLink:
    url: str
    category: str
    slug: str
    info_code: str | None = None
    path: str = ""          # the post's path on the mirror


@dataclass
class Links:
    posts: list[PostLink] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    next_pages: list[str] = field(default_factory=list)
    over_limit: int = 0         # links past the page's limit, not taken


class SiteMap:
    """Maps links found on the mirror to URLs fetched from ``site`` (a loopback copy, say).

    Links to the canonical hosts (``//finews.withounder.com/…``, older ``//finews.zning.me/…``)
    and relative links are fetched from ``site``; the path below the site's own prefix is kept.
    """

    def __init__(self, site: str, canonical_hosts: tuple[str, ...] | list[str] = ()):
        if "://" not in site:
            site = "http://" + site
        parts = urlsplit(site)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) site URL: {site}")
        self.site = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/"
        self.prefix = parts.path.rstrip("/")
        self.hosts = {h.lower() for h in canonical_hosts} | {parts.netloc.lower()}

    def local_path(self, url: str, base: str | None = None) -> str | None:
        """The mirror-relative path (``/emnews/…``) of a link, or None if it leaves the mirror."""
        url = url.strip()
        if url[:1] == "/" and url[1:2] != "/" and not self.prefix and not _ODD_PATH.search(url):
            return unquote(url) if "%" in url else url   # the common case, without urljoin/urlsplit
        m = _ABSOLUTE.match(url)   # the mirror's own links: //finews.withounder.com/…, as urljoin reads them
        if m and m[1].lower() in self.hosts and not _ODD_PATH.search(m[2]) and \
                (base is None or base.startswith(("http://", "https://"))):
            return self._below_prefix(unquote(m[2]) if "%" in m[2] else m[2])
        return self._joined_path(url, base)

    def _joined_path(self, url: str, base: str | None) -> str | None:
        """``local_path`` the long way (urljoin, urlsplit): the reference of its shortcuts."""
        parts = split_url(join_url(base or self.site, url))
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in self.hosts:
            return None
        return self._below_prefix(unquote(parts.path))

    def _below_prefix(self, path: str) -> str:
        if self.prefix and path.startswith(self.prefix + "/"):
            path = path[len(self.prefix):]
        return path or "/"

    def url(self, path: str) -> str:
        """The URL to fetch for a mirror path; spaces and brackets made safe (w3lib)."""
        path = self.prefix_free(path)
        if path.isascii() and _PLAIN_PATH.fullmatch(path):
            return self.site[:-1] + path          # nothing to escape: skip w3lib's ~30 µs
        return safe_url_string(self.site.rstrip("/") + path)

    @staticmethod
    def prefix_free(path: str) -> str:
        return path if path.startswith("/") else "/" + path

    def listing_url(self, category: str) -> str:
        return self.url(f"/category/{category}.html")

    def classify(self, url: str, base: str | None = None) -> tuple[str, Any] | None:
        """``("post", PostLink)``, ``("listing", url)`` or None for a link found on a page."""
        path = self.local_path(url, base)
        if path is None:
            return None
        m = POST_PATH.match(path)
        if m:
            slug = m["slug"]
            category = m["cat"].replace("/", " ")
            return "post", PostLink(self.url(path), category, slug, infocode_from_slug(slug), path)
        m = LISTING_PATH.match(path)
        if m:
            return "listing", self.url(path)
        return None


class NestingTooDeep(ExtractError):
    """The page nests too deep to be read whole (``core.htmlparse``): never archived in part."""


def _parse_html(text: str):
    if not text or not text.strip():
        raise ExtractError("empty page")
    try:
        return htmlparse.document(text)
    except htmlparse.TooDeep as exc:
        raise NestingTooDeep(str(exc)) from None
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractError(f"unparsable HTML: {exc}") from None


_WRAPPER_SECTIONS = lxml.etree.XPath('//div[contains(concat(" ", normalize-space(@class), " "), " wrapper ")]/section')
_SECTIONS = lxml.etree.XPath("//section")       # (compiled once: ~15 µs a page less than doc.xpath's string)


def _article_section(doc):
    sections = _WRAPPER_SECTIONS(doc)
    if not sections:
        sections = _SECTIONS(doc)
    if not sections:
        raise ExtractError("no article section")
    return sections[-1]


def _is_autolink(el, anchors: list) -> bool:
    """``<p><a href=X>X</a></p>``: one ``a`` child whose text is all the paragraph's (``anchors``: its ``.//a``)."""
    children = anchors if len(anchors) == 1 and anchors[0].getparent() is el else el.findall("a")
    if len(children) != 1:
        return False
    href = (children[0].get("href") or "").strip()
    return href.startswith(("http://", "https://")) and el.text_content().strip() == href


def _is_backlinks(anchors: list) -> bool:
    return bool(anchors) and all(a.text_content().strip().startswith("返回") for a in anchors)


def backlinks_markdown(p) -> str:
    """``<p><a href=X>返回…</a>｜<a href=Y>返回首页</a></p>`` → ``[返回…](X)｜[返回首页](Y)``, every text
    and target through the output sanitiser (a ``javascript:`` target leaves the text alone)."""
    out = [_md_between(p.text or "")]
    for child in p:
        if child.tag == "a":
            out.append(md_link(" ".join(child.text_content().split()), child.get("href") or ""))
        out.append(_md_between(child.tail or ""))
    return "".join(out).strip()


def _md_between(text: str) -> str:
    """Text between back-links, its line breaks kept (the mirror's old posts put each link on a line
    of its own), each line inert Markdown."""
    lines = text.split("\n")
    return "\n".join(md_line(line) if i else md_text(line) for i, line in enumerate(lines))


def blockquote_markdown(bq) -> str:
    """A digest ``<blockquote><p>…</p></blockquote>`` back to ``> …`` (one line a paragraph), its text
    made inert Markdown (``core.mdsafe``): what the mirror showed as text stays text."""
    paras = [" ".join(p.text_content().split()) for p in bq.findall("p")] or [" ".join(bq.text_content().split())]
    return "\n>\n".join(f"> {md_line(p)}" for p in paras if p)


def _serialize(el) -> str:
    return lxml.html.tostring(el, encoding="unicode", with_tail=False)


WRAPPER = '<div class="wrapper">'


def parse_post_page(text: str, url: str, site: SiteMap | None = None) -> MirrorPost:
    """Read a mirror post page; raises ExtractError for a page that holds no article.

    The article is in the last ``div.wrapper > section``. Parsing from the last wrapper tag on is
    5× cheaper than parsing the whole page, whose broken head spills a second copy of the article;
    when that part holds no article (a page of another shape), the whole page is parsed."""
    start = text.rfind(WRAPPER)
    if start > 0:
        try:
            return _post_from_doc(_parse_html(text[start:]), url, site)
        except NestingTooDeep:
            raise
        except ExtractError:
            pass
    return _post_from_doc(_parse_html(text), url, site)


def read_post_page(body: bytes, content_type: str | None, url: str, site: SiteMap | None = None) -> MirrorPost:
    """The one reader of a post page's bytes: decoded as Scrapy/w3lib do, then ``parse_post_page``.
    Every route that reads a post page (the crawl, the writer process, rebuild) calls this."""
    return parse_post_page(decode_html(body, content_type)[0], url, site)


# (no "<" inside the tag: a page of "<a <a <a …" made each try scan to the page's end, in time squared)
_A_HREF = re.compile(rb"""<a\s[^<>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))""", re.I)


def quick_share_link(data: bytes) -> str:
    """The first share-URL link after a post page's last ``<div class="wrapper">``, read without
    parsing the page: the crawl's cheap reading of a post's key (``parse_post_page``, run later by
    the writer, has the last word). "" when there is none."""
    start = data.rfind(WRAPPER.encode())
    if start < 0:
        return ""
    for m in _A_HREF.finditer(data, start):
        raw = m.group(1) or m.group(2) or m.group(3) or b""
        if b"NewsShare" not in raw and b"&" not in raw:
            continue
        href = html.unescape(raw.decode("utf-8", "replace")).strip()
        if is_share_url(href):
            return href
    return ""


def _post_from_doc(doc, url: str, site: SiteMap | None) -> MirrorPost:
    section = _article_section(doc)
    children = [c for c in section if isinstance(c.tag, str)]
    h1 = next((c for c in children if c.tag == "h1"), None)
    if h1 is None:
        raise ExtractError("no <h1> title in the article section")
    date_text = ""
    tags: list[str] = []
    for small in section.iter("small"):
        content = small.text_content().strip()
        m = DATE_SMALL.search(content)
        if m and not date_text:
            date_text = m.group(1).strip()
        elif content.startswith("tags:"):
            tags = [em.text_content().strip() for em in small.iter("em") if em.text_content().strip()]
    body_parts: list[str] = []
    leading_md = ""
    link_url = ""
    backlinks = None
    after_h1 = children[children.index(h1) + 1:]
    for _i, el in enumerate(after_h1):
        if el.tag == "small" and el.text_content().strip().startswith("tags:"):
            break
        anchors = el.findall(".//a") if el.tag == "p" else []      # (most paragraphs have none)
        if anchors and _is_autolink(el, anchors):
            link_url = el.find("a").get("href").strip()
            continue
        if anchors and _is_backlinks(anchors):
            backlinks = backlinks_markdown(el)
            continue
        if link_url or backlinks is not None:
            continue  # anything after the link paragraphs is layout, not article
        if el.tag == "blockquote" and not body_parts and not leading_md:
            leading_md = blockquote_markdown(el)
        else:
            body_parts.append(_serialize(el))
        tail = (el.tail or "").strip()
        if tail and not (link_url or backlinks):
            body_parts.append(tail)
    category = ""
    page_path = split_url(url).path
    if site is not None:
        page_path = site.local_path(url) or page_path
    m = POST_PATH.match(unquote(page_path))
    if backlinks:
        cat = re.search(r"/category/([^/)]+)\.html\)", backlinks)
        if cat:
            category = unquote(cat.group(1))
    if not category and m:
        category = m["cat"].replace("/", " ")
    share_url = ""
    for a in section.iter("a"):
        href = (a.get("href") or "").strip()
        if is_share_url(href):
            share_url = href
            break
    body_html = "".join(body_parts)
    code = None
    if share_url:
        code = infocode_from_share_url(share_url)
    if code is None and m:
        code = infocode_from_slug(m["slug"])
    if code is None:
        code = infocode_from_text(link_url or "") or infocode_from_text(body_html)
    return MirrorPost(
        title=h1.text_content(),
        date_text=date_text,
        tags=tags,
        category=category,
        body_html=body_html,
        leading_md=leading_md,
        link_url=link_url,
        backlinks=backlinks,
        share_url=share_url,
        info_code=code,
    )


def page_links(text: str, url: str, site: SiteMap, limit: int = 0) -> Links:
    """Post links, listing links and next-page links of a home page or category listing; at most
    ``limit`` post and listing links (0: no limit), the rest counted in ``over_limit``."""
    doc = _parse_html(text)
    links = Links()
    seen: set[str] = set()
    for a in doc.iter("a"):
        href = a.get("href")
        if not href:
            continue
        rel = (a.get("rel") or "").lower().split()
        label = (a.text_content() if len(a) else a.text or "").strip().lower()   # (no children: its text)
        found = site.classify(href, url)
        if "next" in rel or label.startswith(NEXT_TEXTS):
            target = site.local_path(href, url)
            if target is not None:
                links.next_pages.append(site.url(target))
                continue
        if found is None:
            continue
        key = found[1].url if found[0] == "post" else found[1]
        if key in seen:
            continue
        if limit and len(seen) >= limit:
            links.over_limit += 1
            continue
        seen.add(key)
        if found[0] == "post":
            links.posts.append(found[1])
        else:
            links.listings.append(found[1])
    for link in doc.xpath("//link[@rel='next']/@href"):
        target = site.local_path(link, url)
        if target is not None:
            links.next_pages.append(site.url(target))
    return links


def feed_links(data: bytes, site: SiteMap, limit: int = 0) -> Links:
    """Post links of an Atom ``feed.xml`` (entries' alternate links); at most ``limit`` (0: no limit),
    the rest counted in ``over_limit``, as ``page_links`` does."""
    parser = lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    links = Links()
    try:
        root = lxml.etree.fromstring(data, parser)
    except lxml.etree.XMLSyntaxError:
        return links
    if root is None:
        return links
    for el in root.iter("{http://www.w3.org/2005/Atom}link", "link"):
        href = el.get("href")
        if not href or (el.get("rel") or "alternate") != "alternate":
            continue
        found = site.classify(href)
        if found and found[0] == "post":
            if limit and len(links.posts) >= limit:
                links.over_limit += 1
            else:
                links.posts.append(found[1])
    return links
