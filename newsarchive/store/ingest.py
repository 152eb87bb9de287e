"""The one path from an article to an archived post (no Scrapy, no Twisted).

``prepare(item)`` reads a post page the crawl shipped unread, normalises and renders it (pure);
``Archivist.ingest(item)`` is prepare + dedupe + write + catalogue + the post's WARC records, and answers an
:class:`Outcome`. Every route calls it: the crawl in process and in the writer process, ``collect``
for Redis workers, ``rebuild`` from the captures (and ``--stdout`` calls ``prepare``). What a drop,
a note or an outcome counts as is spelt once, in :mod:`newsarchive.core.reasons`.
"""
from __future__ import annotations

import datetime as dt
import errno
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from newsarchive.core import reasons as R
from newsarchive.core.dates import BEIJING, format_date
from newsarchive.core.extract import ExtractError, NestingTooDeep, SiteMap
from newsarchive.core.items import ArticleItem
from newsarchive.core.mdsafe import one_line
from newsarchive.core.normalize import PostError, article_from_raw_page, build_post
from newsarchive.core.post import DEFAULT_SITE_BASE, Post, render_post
from newsarchive.store.files import ArchiveWriter, sha256_text
from newsarchive.store.warc import WARC_DIR, WarcArchive, WarcRecord, holds_captures, salvage

logger = logging.getLogger(__name__)

REINDEXED = "the search index held an earlier version's tokens: made it anew (%d posts)"

# a write that fails so has nothing to do with the post: no other post will be written either
# (ENOENT: the archive folder was moved or removed under the crawl)
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT}


def _detail(exc: Exception) -> str:
    """What a failed write says: the OS's words for an OSError, the message otherwise."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


@dataclass
class Prepared:
    post: Post
    text: str
    item: ArticleItem        # the item as read (a shipped page, read in full)


@dataclass
class Outcome:
    """What became of one article: ``status`` is an outcome (written, updated, unchanged, printed,
    queued) or ``dropped`` with its ``reason`` code and a one-line ``message``."""

    status: str
    info_code: str = ""
    path: str = ""
    reason: str = ""
    message: str = ""
    notes: list[R.Note] = field(default_factory=list)
    body_source: str = ""
    title: str = ""
    date: str = ""
    category: str = ""
    tags: list[str] = field(default_factory=list)
    fatal: bool = False     # the archive cannot be written at all (disk full, read-only, catalog broken)

    @property
    def dropped(self) -> bool:
        return self.status == "dropped"

    @classmethod
    def of(cls, status: str, post: Post, path: str = "") -> Outcome:
        return cls(status, post.info_code, path, notes=list(post.notes), body_source=post.body_source,
                   title=post.title, date=format_date(post.date), category=post.category, tags=list(post.tags))


def prepare(item: ArticleItem, site_base: str = DEFAULT_SITE_BASE, sitemap: SiteMap | None = None,
            now: dt.datetime | None = None) -> Prepared:
    """Read (if shipped unread), normalise and render one article; raises PostError with a reason —
    also for what no check foresaw (a 401-digit integer for a date): one article's failure, never the
    writer's."""
    try:
        return _prepare(item, site_base, sitemap, now)
    except PostError:
        raise
    except Exception as exc:  # noqa: BLE001 - one article's failure, counted and recorded, never the archive's
        raise PostError(R.UNREADABLE, f"could not be read: {type(exc).__name__}: {one_line(exc, 200)}") from None


def _prepare(item: ArticleItem, site_base: str, sitemap: SiteMap | None, now: dt.datetime | None) -> Prepared:
    notes: list[R.Note] = []
    if item.raw_page:
        try:
            item, notes = article_from_raw_page(item, sitemap)
        except NestingTooDeep as exc:
            raise PostError(R.TRUNCATED_PARSE, f"not read: {exc}") from None
        except ExtractError as exc:
            raise PostError(R.NOT_A_POST, f"not a post page: {exc}") from None
    if not item.info_code:
        raise PostError(R.NO_INFOCODE, f"no infoCode in {item.source_url}")
    post = build_post(item, now=now)
    post.notes[:0] = notes
    return Prepared(post, render_post(post, site_base), item)


class Archivist:
    """The store's one way in: articles, WARC records, failures, ignored pages, crawl records.
    Runs wherever the archive is written (the crawl process, its writer process, collect, rebuild)."""

    def __init__(self, folder: str | Path, *, fsync: bool = True, site_base: str = DEFAULT_SITE_BASE,
                 sitemap: SiteMap | None = None, warc: bool = True, warc_max: int = 100 * 1024 * 1024,
                 lock_each_write: bool = False, claim: Callable[[str], bool] | None = None,
                 warc_info: dict[str, str] | None = None, search: bool = True):
        self.folder = Path(folder)
        # per-crawl dedupe, on the key the full reading gives (a quick look's key is a guess a page
        # could forge): the first article to claim an infoCode is written, later ones are duplicates
        self.claimed: set[str] = set()
        self.broken = ""            # why nothing more can be written, once that is so
        self.claim = claim or self._claim_here
        self.site_base = site_base
        self.sitemap = sitemap
        self.writer = ArchiveWriter(self.folder, fsync=fsync, lock_each_write=lock_each_write)
        self.catalog = self.writer.catalog
        self.catalog.search = search    # off: posts are written unindexed (search --reindex indexes them)
        self.reindexed = self._reindex() if search and self.catalog.index_outdated() else 0
        warc_dir = self.folder / WARC_DIR
        self.salvaged = salvage(warc_dir) if warc and warc_dir.is_dir() else 0
        if warc and not holds_captures(warc_dir) and self.catalog.digest_count():
            # the captures were removed: no revisit may refer to them (nothing could follow it)
            logger.warning("the WARC captures the catalog names are gone: the next captures are whole records")
            self.catalog.reset_digests([])
        self.warc = WarcArchive(warc_dir, warc_max, digests=self.catalog, info=warc_info) if warc else None

    def _reindex(self) -> int:
        """The index of an earlier version's catalog made anew in this version's tokens, once (under the
        write lock when several writers share the folder: the first one makes it, the others find it made)."""
        lock = None
        if self.writer.lock_each_write:
            from newsarchive.store.lock import WRITE_LOCK_NAME, ArchiveLock

            lock = ArchiveLock(self.folder, "writer", WRITE_LOCK_NAME).acquire(timeout=600)
        try:
            if not self.catalog.index_outdated():
                return 0
            posts, _ = self.catalog.reindex()
            return posts
        finally:
            if lock:
                lock.release()

    def _claim_here(self, code: str) -> bool:
        if code in self.claimed:
            return False
        self.claimed.add(code)
        return True

    @property
    def removed_temps(self) -> int:
        return self.writer.removed_temps

    def ingest(self, item: ArticleItem, records: Iterable[WarcRecord] = (), now: dt.datetime | None = None) -> Outcome:
        """The one build → render → write of a post, with its page's and share answer's records."""
        if self.broken:
            return Outcome("dropped", item.info_code, reason=R.WRITE_ERROR, message=self.broken, fatal=True)
        try:
            prepared = prepare(item, self.site_base, self.sitemap, now)
        except PostError as exc:
            self.capture_all(records, item, item.info_code)
            if exc.reason in (R.NOT_A_POST, R.TRUNCATED_PARSE, R.UNREADABLE):
                self.catalog.record_failure(item.source_url, item.info_code or None, str(exc),
                                            exc.reason != R.UNREADABLE)
            elif exc.reason == R.NO_INFOCODE and item.page:
                self.catalog.record_ignored(item.page, R.NO_INFOCODE)
            return Outcome("dropped", item.info_code, reason=exc.reason, message=str(exc))
        post = prepared.post
        self.capture_all(records, item, post.info_code)
        if not self.claim(post.info_code):
            return Outcome("dropped", post.info_code, reason=R.DUPLICATE,
                           message=f"duplicate of {post.info_code} already handled in this crawl")
        try:
            status, target = self.writer.write_post(post, prepared.text, item.source_url)
        except (OSError, ValueError, sqlite3.Error) as exc:
            fatal = isinstance(exc, sqlite3.Error) or getattr(exc, "errno", None) in FATAL_ERRNOS
            where = f" {exc.filename}" if isinstance(exc, OSError) and exc.filename else ""
            message = f"could not write{where}: {_detail(exc)}"
            if fatal:               # nothing more is written; a batch under way is not durable either
                self.broken = self.broken or message
            return Outcome("dropped", post.info_code, reason=R.WRITE_ERROR, fatal=fatal, message=message)
        return Outcome.of(status, post, str(target))

    def import_version(self, item: ArticleItem, when: dt.datetime | None, location: str = "_posts",
                       since: str | None = None, until: str | None = None,
                       categories: list[str] | None = None) -> Outcome:
        """A version of a post from the mirror's own source (``newsarchive import``), the one way in:
        prepared as a crawled page is, the newest text wins — an older one than the archive's becomes
        a revision, a newer one replaces it (the old kept as a revision) — seen at ``when``."""
        try:
            prepared = prepare(item, self.site_base, self.sitemap, when)
        except PostError as exc:
            return Outcome("dropped", item.info_code, reason=exc.reason, message=str(exc))
        post, text = prepared.post, prepared.text
        day = format_date(post.date)[:10]
        if (since and day < since) or (until and day > until) or (categories and post.category not in categories):
            return Outcome("dropped", post.info_code, reason="filtered", message="outside the filters")
        stamp = (when or post.date).astimezone(BEIJING).isoformat(timespec="seconds")
        row = self.catalog.get(post.info_code)
        digest = sha256_text(text)
        if row is not None and row["sha256"] != digest:
            seen, at = dt.datetime.fromisoformat(row["last_seen"]), dt.datetime.fromisoformat(stamp)
            # older than the archive's text: a revision. Seen in the same second (two commits a second
            # apart in git's whole seconds) and already kept as an earlier text: older too (a second
            # import of the same history writes nothing)
            if seen > at or (seen == at and self.catalog.has_revision(post.info_code, digest)):
                added = self.catalog.add_revision(post.info_code, digest, text, stamp)
                return Outcome.of("revision" if added else "unchanged", post)
        if row is not None and row["sha256"] == digest:
            if row["location"] != location and (when is None or dt.datetime.fromisoformat(row["last_seen"])
                                                <= dt.datetime.fromisoformat(stamp)):
                self.writer.move(post.info_code, location)     # the mirror moved it (to old_post/)
            return Outcome.of("unchanged", post)
        try:
            status, target = self.writer.write_post(post, text, item.source_url, stamp=stamp, location=location)
        except (OSError, ValueError, sqlite3.Error) as exc:
            return Outcome("dropped", post.info_code, reason=R.WRITE_ERROR, message=f"could not write: {exc}")
        if row is not None and row["location"] != location:
            self.writer.move(post.info_code, location)
        return Outcome.of(status, post, str(target))

    def capture_all(self, records: Iterable[WarcRecord], item: ArticleItem, key: str) -> None:
        for rec in records:
            if rec.body_is_page:             # left out on the way: the item carries the bytes
                rec = replace(rec, body=item.raw_page, body_is_page=False)
            if not rec.key and key:          # a page whose key only the full reading knew
                rec = replace(rec, key=key)
            self.capture(rec)

    def capture(self, record: WarcRecord) -> None:
        if self.warc is not None and not self.broken:
            try:
                self.warc.write_record(record)
            except OSError as exc:      # no capture can be written: no post either (the crawl stops)
                self.broken = f"could not write the WARC captures: {exc.strerror or exc}"

    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        self.catalog.record_failure(url, info_code, reason, permanent)

    def checkpoint(self) -> None:
        """Make what a batch wrote durable (``ArchiveWriter.batch``): the files synced, then their rows
        committed. A disk that refuses it breaks the archivist, as a failed write does."""
        try:
            self.writer.checkpoint()
        except (OSError, sqlite3.Error) as exc:
            self.broken = self.broken or f"could not write the catalog: {_detail(exc)}"
            raise

    def close(self) -> None:
        try:
            if self.warc is not None:
                self.warc.close()
        except OSError:
            pass                    # (a full disk: the unfinished file is salvaged by the next run)
        finally:
            self.writer.close()


@dataclass(frozen=True)
class CrawlRecord:
    """One crawl, for the catalog's ``crawls`` table."""

    spider: str
    started: str
    new: int
    updated: int
    unchanged: int
    failed: int
    reason: str
    found: int = 0
