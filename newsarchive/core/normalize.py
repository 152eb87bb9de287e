"""From raw article fields to a normalised :class:`~newsarchive.core.post.Post` (pure).

Every reason a post cannot be made is a :class:`PostError` with a short ``reason`` code (used in
stats keys and drop messages) and a one-line message.
"""
from __future__ import annotations

import datetime as dt

from newsarchive.core import reasons as R
from newsarchive.core.dates import date_from_infocode, parse_date
from newsarchive.core.extract import read_post_page
from newsarchive.core.htmlclean import BodyError, check_parse_cost, clean_title, normalize_body
from newsarchive.core.infocode import InvalidInfoCode, normalize_infocode
from newsarchive.core.items import ArticleItem
from newsarchive.core.post import Post
from newsarchive.core.share import ShareArticle
from newsarchive.core.slug import category_slug, safe_slug


class PostError(ValueError):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def build_post(raw: ArticleItem, now: dt.datetime | None = None) -> Post:
    """Normalise every field; raise PostError with a reason when the article is unusable."""
    try:
        code = normalize_infocode(raw.info_code)
    except InvalidInfoCode as exc:
        raise PostError(R.BAD_INFOCODE, str(exc)) from None
    notes: list[R.Note] = []
    try:
        title = clean_title(raw.title)
    except BodyError as exc:
        raise PostError(R.BAD_TITLE, str(exc)) from None
    if not title:
        notes.append(R.Note(R.EMPTY_TITLE, "empty title"))
    date = parse_date(raw.date, now=now)
    if date is None:
        date = date_from_infocode(code)
        if date is None:
            raise PostError(R.BAD_DATE, f"no usable date ({str(raw.date)[:40]!r}) and none in {code}")
        notes.append(R.Note(R.DATE_FALLBACK, f"date {str(raw.date)[:40]!r} unusable, used the infoCode's date"))
    media = clean_title(raw.media_name) if isinstance(raw.media_name, str) else ""
    category = safe_slug(raw.category) if raw.category else category_slug(media) if media else ""
    if not category:
        raise PostError(R.NO_CATEGORY, "no media name or category to file the post under")
    tags = [t for t in (clean_title(t) for t in raw.tags if isinstance(t, str)) if t]
    if not tags:
        tags = [f"{media}新闻"] if media else []
    try:
        body = normalize_body(raw.body_html)
    except BodyError as exc:
        raise PostError(R.BAD_BODY, str(exc)) from None
    if raw.body_leading_md:
        body = raw.body_leading_md + "\n\n" + body
    return Post(
        info_code=code,
        title=title,
        date=date,
        category=category,
        tags=tags,
        body=body,
        link_url=raw.share_url or raw.link_url,
        backlinks=raw.backlinks,
        share_url=raw.share_url,
        source_url=raw.source_url,
        body_source=raw.body_source,
        notes=notes,
    )


def article_from_mirror(found, url: str, page: str = "", origin: str = "") -> ArticleItem:
    """The item for a mirror post page (``extract.MirrorPost``); its body is the mirror's."""
    return ArticleItem(
        info_code=found.info_code or "", title=found.title, date=found.date_text,
        category=found.category, tags=list(found.tags), body_html=found.body_html,
        body_leading_md=found.leading_md, link_url=found.link_url, backlinks=found.backlinks,
        share_url=found.share_url, source_url=url, body_source="mirror", page=page, origin=origin,
    )


def article_from_share(article, info_code: str, share_url: str, url: str, origin: str = "") -> ArticleItem:
    """The item for a share URL fetched directly (``share.ShareArticle``)."""
    return ArticleItem(
        info_code=info_code, title=article.title, date=article.showtime, media_name=article.media_name,
        body_html=article.text, share_url=share_url, source_url=url, body_source="share", origin=origin,
    )


def apply_share(item: ArticleItem, article) -> ArticleItem:
    """Prefer the share host's original over the mirror's copy: body always, title and date when
    usable; the mirror's category, tags and links stay (they are what the mirror links to). A share text
    too costly to read (``check_parse_cost``) is not taken: the mirror's body is kept (as with no share)."""
    try:
        check_parse_cost(article.text)
    except BodyError:
        return item
    title = clean_title(article.title) if isinstance(article.title, str) else ""
    if title:
        item.title = title
    if parse_date(article.showtime) is not None:
        item.date = article.showtime
    item.body_html = article.text
    item.body_source = "share"
    if item.body_leading_md:
        digest = item.body_leading_md.lstrip("> ").strip()
        if digest and digest[:30] in article.text[:400]:
            item.body_leading_md = ""  # the original already starts with the digest
    return item


SHARE_MISMATCH = R.Note(R.SHARE_MISMATCH, "share-link mismatch: the page names another share link than the "
                                          "crawl's quick look saw; kept the mirror's body")


def article_from_raw_page(raw: ArticleItem, site=None) -> tuple[ArticleItem, list[R.Note]]:
    """The full reading of a post page the crawl shipped unread (``raw.raw_page``): decode, extract,
    then apply the share host's article fetched for the share link the crawl saw (``raw.share``)
    only if the page, read in full, names that same link. Returns the item and notes; raises
    ``extract.ExtractError`` for a page that holds no article."""
    found = read_post_page(raw.raw_page, raw.raw_page_type, raw.source_url, site)
    item = article_from_mirror(found, raw.source_url, raw.page, raw.origin)
    notes: list[R.Note] = []
    share = raw.share
    if isinstance(share, dict):
        share = ShareArticle(**share)
    if share is not None:
        if found.share_url == raw.share_url and (found.info_code or "") == raw.info_code:
            apply_share(item, share)
        else:
            notes.append(SHARE_MISMATCH)
    return item, notes
