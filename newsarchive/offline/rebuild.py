"""Re-create every post from the WARC captures, with no network, through the same normalisation.

The captures are replayed in the order they were made: a post page gives the mirror's item, the
share answer made for it (if one was captured) applies the original on top, exactly as the spider
does; the latest capture of each infoCode wins. Each post is normalised as of its capture time, so a
rebuild long after the crawl gives the same bytes. This is how an archive is re-normalised when the
rules improve, long after the mirror dropped the pages.
"""
from __future__ import annotations

import collections
import copy
from pathlib import Path

from newsarchive.core.extract import ExtractError, SiteMap, read_post_page
from newsarchive.core.infocode import SHARE_PATH, infocode_from_share_url
from newsarchive.core.normalize import apply_share, article_from_mirror, article_from_share
from newsarchive.core.post import DEFAULT_SITE_BASE
from newsarchive.core.share import ShareError, parse_share_json
from newsarchive.store.ingest import Archivist
from newsarchive.store.warc import iter_captures, readable_records, warc_files

DEFAULT_CANONICAL = ("finews.withounder.com", "finews.zning.me")


def items_from_captures(captures, canonical_hosts=DEFAULT_CANONICAL):
    """Yield ``(item, capture time)`` in capture order, as the spider would have made them."""
    pending = {}      # post page URL → its mirror item, waiting for a share answer
    sitemaps: dict[str, SiteMap] = {}
    for cap in captures:
        if cap.role == "post":
            sitemap = sitemaps.get(cap.site) or sitemaps.setdefault(cap.site, SiteMap(cap.site or cap.url, canonical_hosts))
            try:
                found = read_post_page(cap.body, cap.content_type, cap.url, sitemap)
            except ExtractError:
                continue
            item = article_from_mirror(found, cap.url, sitemap.local_path(cap.url) or "")
            pending[cap.url] = item
            yield item, cap.date
        elif cap.role == "share" and cap.post_url in pending:
            item = pending[cap.post_url]
            if not item.share_url or (cap.key or infocode_from_share_url(cap.url)) != item.info_code:
                continue  # fetched for a share link the page, read in full, does not name: the
                #           crawl kept the mirror's body (normalize.article_from_raw_page)
            try:
                article = parse_share_json(cap.body)
            except ShareError:
                continue  # the spider kept the mirror's body, already yielded
            yield apply_share(copy.copy(item), article), cap.date
        elif cap.role == "share_direct":
            code = cap.key or infocode_from_share_url(cap.url)
            if not code:
                continue
            try:
                article = parse_share_json(cap.body)
            except ShareError:
                continue
            scheme_host = cap.url.split("/NewsData/", 1)[0]
            yield article_from_share(article, code, f"{scheme_host}{SHARE_PATH}?infoCode={code}", cap.url), cap.date


def rebuild(warc_folder: str | Path, output: str | Path, site_base: str = DEFAULT_SITE_BASE,
            canonical_hosts=DEFAULT_CANONICAL, problems: list[str] | None = None) -> collections.Counter:
    """Rebuild the posts of ``warc_folder``'s captures into ``output``; returns outcome counts. Records
    that cannot be read are skipped, each a line in ``problems``; the rest is rebuilt."""
    latest = {}
    files = warc_files(warc_folder)
    if problems is not None:        # a damaged file (verify's check): what is past the damage is lost
        for path in files:
            _, damage = readable_records(path)
            if damage:
                problems.append(f"{path.name}: {damage}: the captures past it cannot be read")
    captures = iter_captures(files, problems=problems)
    for item, when in items_from_captures(captures, canonical_hosts):
        if item.info_code:
            latest[item.info_code.upper()] = (item, when)
    counts: collections.Counter = collections.Counter()
    archivist = Archivist(output, site_base=site_base, warc=False)
    try:
        for item, when in latest.values():
            outcome = archivist.ingest(item, now=when)      # normalised as of its capture time
            counts[f"dropped ({outcome.reason})" if outcome.dropped else outcome.status] += 1
    finally:
        archivist.close()
    return counts
