"""The archive writer in a process of its own (``NEWSARCHIVE_WRITER_PROCESS``, default on).

Scrapy runs on one core; normalising, rendering, hashing, fsync-ing, cataloguing and WARC-writing
every post is CPU and I/O that need not stand in its way. The pipeline sends each article (and the
WARC capture extension each response) down a pipe to this process, which owns the archive: it is
the one writer of posts, catalog and WARC files. Answers (written / unchanged / updated, or a drop
with its reason) come back to the crawl as the Deferreds of ``process_item``.

If the crawl process dies (kill -9), this process sees the pipe close, finishes what it was sent,
closes the catalog and WARC file cleanly and exits: nothing half-written either way.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing
import queue
import signal
import threading

logger = logging.getLogger(__name__)


def _serve(conn, folder: str, fsync: bool, site_base: str, warc: bool, warc_max: int, shared: bool,
           site: tuple[str, list[str]] | None = None) -> None:
    """The child: read messages until ``close`` or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the crawl decides when to stop, and says so
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from pathlib import Path

    from newsarchive.store.files import ArchiveWriter
    from newsarchive.core.dates import format_date
    from newsarchive.core.extract import ExtractError, SiteMap
    from newsarchive.core.items import ArticleItem
    from newsarchive.core.normalize import PostError, article_from_raw_page, build_post
    from newsarchive.core.post import render_post
    from newsarchive.store.warc import WARC_DIR, WarcArchive, salvage

    writer = ArchiveWriter(folder, fsync=fsync, lock_each_write=shared)
    warc_dir = Path(folder) / WARC_DIR
    salvaged = salvage(warc_dir) if warc and warc_dir.is_dir() else 0
    archive = WarcArchive(warc_dir, warc_max) if warc else None
    sitemap = SiteMap(*site) if site else None
    seen: set[str] = set()       # infoCodes of this crawl, for posts whose key only the full read knew
    conn.send(("ready", writer.removed_temps, salvaged))
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break                                   # the crawl is gone: finish cleanly
            kind = msg[0]
            if kind == "post":
                _, ident, fields, records = msg
                if archive is not None:
                    for record in records:
                        archive.write(*record)
                item = ArticleItem(**fields)
                notes = []
                if item.raw_page:        # a post page the crawl did not read: read it here
                    key = item.info_code
                    try:
                        item, notes = article_from_raw_page(item, sitemap)
                    except ExtractError as exc:
                        reason = f"not a post page: {exc}"
                        writer.catalog.record_failure(item.source_url, key, reason, True)
                        conn.send((ident, "drop", "not_a_post", reason))
                        continue
                    if not item.info_code:      # the crawl records the page as ignored (item_dropped)
                        conn.send((ident, "drop", "no_infocode", f"no infoCode in {item.source_url}"))
                        continue
                    if item.info_code in seen:        # two quick readings, one article
                        conn.send((ident, "drop", "duplicate", f"duplicate of {item.info_code} already handled"))
                        continue
                try:
                    post = build_post(item)
                except PostError as exc:
                    conn.send((ident, "drop", exc.reason, str(exc)))
                    continue
                post.notes[:0] = notes
                seen.add(post.info_code)
                text = render_post(post, site_base)
                try:
                    outcome, target = writer.write_post(post, text, item.source_url)
                except (OSError, ValueError) as exc:
                    conn.send((ident, "error", type(exc).__name__, str(exc)))
                    continue
                conn.send((ident, "ok", {"outcome": outcome, "filename": str(target), "info_code": post.info_code,
                                         "title": post.title, "date": format_date(post.date),
                                         "category": post.category, "tags": post.tags, "text": text,
                                         "notes": post.notes, "body_source": post.body_source}))
            elif kind == "warc" and archive is not None:
                archive.write(*msg[1:])
            elif kind == "ignored":
                writer.catalog.record_ignored(*msg[1:])
            elif kind == "failure":
                writer.catalog.record_failure(*msg[1:])
            elif kind == "crawl":
                writer.catalog.record_crawl(*msg[1:])
            elif kind == "close":
                conn.send((msg[1], "ok", None))
                break
    finally:
        if archive is not None:
            archive.close()
        writer.close()
        conn.close()


def _fire(ready: list) -> None:
    for d, answer in ready:
        d.callback(answer)


class WriterProcess:
    """The parent's handle: ``call(kind, …)`` returns a Deferred for the child's answer;
    ``send(kind, …)`` does not wait. A sender thread writes to the pipe (a full pipe never
    stalls the reactor), a reader thread hands answers to the reactor."""

    STAGE_MAX = 1000        # posts whose records wait for them, at most

    def __init__(self, folder: str, fsync: bool, site_base: str, warc: bool, warc_max: int, shared: bool = False,
                 site: tuple[str, list[str]] | None = None):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, folder, fsync, site_base, warc, warc_max, shared, site),
                                name="newsarchive-writer", daemon=False)
        self.proc.start()          # the child imports and opens the archive while the crawl goes on
        child.close()
        self.removed_temps = self.salvaged = 0
        self.ids = itertools.count(1)
        self.waiting: dict[int, object] = {}
        self.staged: dict[str, list[tuple]] = {}
        self.lock = threading.Lock()
        self.closed = self.gone = False
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._write, name="newsarchive-writer-sender", daemon=True)
        self.sender.start()
        self.reader = threading.Thread(target=self._read, name="newsarchive-writer-reader", daemon=True)
        self.reader.start()

    def _write(self) -> None:
        while (msg := self.outbox.get()) is not None:
            try:
                self.conn.send(msg)
            except (OSError, ValueError):
                return          # the child is gone: the reader fails whatever waits for it

    def _read(self) -> None:
        from twisted.internet import reactor

        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] == "ready":
                self.removed_temps, self.salvaged = msg[1], msg[2]
                if msg[1]:
                    logger.warning("removed %d temp file(s) left by an interrupted run", msg[1])
                if msg[2]:
                    logger.warning("salvaged %d WARC record(s) left by an interrupted run", msg[2])
                continue
            batch = [msg]       # answers that are already there go to the reactor together:
            try:                # one wake-up of the reactor for many answers
                while len(batch) < 256 and self.conn.poll(0):
                    batch.append(self.conn.recv())
            except (EOFError, OSError):
                pass
            with self.lock:
                ready = [(d, m[1:]) for m in batch if (d := self.waiting.pop(m[0], None)) is not None]
            if ready:
                reactor.callFromThread(_fire, ready)
        with self.lock:
            waiting, self.waiting = list(self.waiting.values()), {}
            self.gone = True
        for d in waiting:
            reactor.callFromThread(d.errback, RuntimeError("the archive writer process stopped"))

    def call(self, kind: str, *args):
        from twisted.internet.defer import Deferred

        d = Deferred()
        ident = next(self.ids)
        with self.lock:
            if self.gone:
                d.errback(RuntimeError("the archive writer process stopped"))
                return d
            self.waiting[ident] = d
        self.outbox.put((kind, ident, *args))
        return d

    def send(self, kind: str, *args) -> None:
        if not self.closed:
            self.outbox.put((kind, *args))

    def stage(self, post_url: str, record: tuple) -> None:
        """Hold a WARC record of a post page or its share JSON until the post itself is sent:
        one message instead of three. Records whose post never comes are sent at the end."""
        self.staged.setdefault(post_url, []).append(record)
        if len(self.staged) > self.STAGE_MAX:
            self._flush_staged()

    def _flush_staged(self) -> None:
        staged, self.staged = self.staged, {}
        for records in staged.values():
            for record in records:
                self.send("warc", *record)

    def post(self, fields: dict):
        """Send an article (with its staged WARC records); a Deferred for the answer."""
        return self.call("post", fields, self.staged.pop(fields.get("source_url") or "", []))

    def close(self):
        """Ask the child to finish and wait for it (blocking: called once, at the crawl's end)."""
        if self.closed:
            return
        self._flush_staged()
        self.closed = True
        self.outbox.put(("close", 0))
        self.outbox.put(None)
        self.sender.join(timeout=120)
        self.proc.join(timeout=120)
        self.conn.close()


_BY_CRAWLER: dict[int, WriterProcess] = {}


def started(crawler) -> WriterProcess | None:
    """The crawl's writer process if it has been started."""
    return _BY_CRAWLER.get(id(crawler))


def offloaded(settings) -> bool:
    """Whether posts are read, normalised and written by the writer process."""
    return (settings.getbool("NEWSARCHIVE_WRITER_PROCESS") and not settings.getbool("NEWSARCHIVE_STDOUT")
            and not settings.get("NEWSARCHIVE_REDIS_URL"))


def for_crawler(crawler) -> WriterProcess | None:
    """The crawl's writer process (started on first use), or None when it is switched off."""
    settings = crawler.settings
    if not offloaded(settings):
        return None
    wp = _BY_CRAWLER.get(id(crawler))
    if wp is None:
        spider = crawler.spider
        sitemap = getattr(spider, "sitemap", None)
        site = (sitemap.site, sorted(sitemap.hosts)) if sitemap is not None else None
        wp = WriterProcess(settings.get("NEWSARCHIVE_OUTPUT"), settings.getbool("NEWSARCHIVE_FSYNC", True),
                           settings.get("NEWSARCHIVE_SITE_BASE"), settings.getbool("NEWSARCHIVE_WARC"),
                           settings.getint("NEWSARCHIVE_WARC_MAX_BYTES"), bool(settings.get("NEWSARCHIVE_SHARD")),
                           site)
        _BY_CRAWLER[id(crawler)] = wp
    return wp
