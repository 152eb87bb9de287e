"""The archive's writer in a process of its own (the ``process`` sink, default on).

Scrapy runs on one core; reading, normalising, rendering, hashing, fsync-ing, cataloguing and
WARC-writing every post is CPU and I/O that need not stand in its way. The crawl sends typed
messages down a pipe; this process runs an :class:`~newsarchive.store.ingest.Archivist` — the same
one path every route uses — and answers each :class:`Ingest` with its
:class:`~newsarchive.store.ingest.Outcome`.

If the crawl process dies (kill -9), this process sees the pipe close, finishes what it was sent,
closes the catalog and WARC file cleanly and exits: nothing half-written either way.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from newsarchive.core import reasons as R
from newsarchive.core.mdsafe import one_line
from newsarchive.store.ingest import REINDEXED, Outcome
from newsarchive.store.warc import WarcRecord

logger = logging.getLogger(__name__)


# -- messages (crawl → writer) ------------------------------------------------------------------
@dataclass
class Ingest:
    ident: int
    item: dict              # ArticleItem fields
    records: list[WarcRecord]


@dataclass
class Capture:
    record: WarcRecord


@dataclass
class Failure:
    url: str
    info_code: str | None
    reason: str
    permanent: bool


@dataclass
class Close:
    ident: int


# -- messages (writer → crawl) ------------------------------------------------------------------
@dataclass
class Ready:
    removed_temps: int
    salvaged: int
    error: str = ""         # the archive could not be opened (the child then stops)
    reindexed: int = 0      # posts of an earlier version's search index indexed anew


@dataclass
class Answer:
    ident: int
    outcome: Outcome | None


@dataclass(frozen=True)
class WriterConfig:
    folder: str
    fsync: bool
    site_base: str
    warc: bool
    warc_max: int
    lock_each_write: bool
    site: tuple[str, tuple[str, ...]] | None = None
    warc_info: tuple[tuple[str, str], ...] = ()
    search: bool = True


class WriterGone(RuntimeError):
    """The writer process stopped (killed, or the disk refused it)."""


# group commit: while messages wait, posts are written in a batch (files unsynced, rows held) that is
# made durable — one sync, one commit — when the pipe falls idle, or at these bounds
BATCH_POSTS = 128
BATCH_SECONDS = 0.25


def _serve(conn, config: WriterConfig) -> None:
    """The child: answer messages until ``Close`` or the pipe closes. A post's answer is sent once its
    file and its row are durable: a writer killed mid-batch loses the batch's rows (its files are
    there, the next run records them), and the crawl never counted them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the crawl decides when to stop, and says so
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from newsarchive.core.extract import SiteMap
    from newsarchive.core.items import ArticleItem
    from newsarchive.store.ingest import Archivist

    try:
        archivist = Archivist(config.folder, fsync=config.fsync, site_base=config.site_base,
                              sitemap=SiteMap(*config.site) if config.site else None, warc=config.warc,
                              warc_max=config.warc_max, lock_each_write=config.lock_each_write,
                              warc_info=dict(config.warc_info), search=config.search)
    except Exception as exc:  # noqa: BLE001 - a full disk, a catalog gone bad: the crawl says why, in one line
        conn.send(Ready(0, 0, error=f"the archive could not be opened: {one_line(exc)}"))
        conn.close()
        return
    if not config.lock_each_write:      # (several writers on one folder: each post its own commit)
        archivist.writer.batch(durable=config.fsync)
    conn.send(Ready(archivist.removed_temps, archivist.salvaged, reindexed=archivist.reindexed))
    answers: list[Answer] = []
    opened = 0.0

    def commit() -> None:
        nonlocal answers
        held, answers = answers, []
        if not archivist.broken:
            try:
                archivist.checkpoint()
            except Exception as exc:  # noqa: BLE001 - a disk that refused the group
                archivist.broken = archivist.broken or f"could not write the catalog: {exc}"
        if archivist.broken:            # the archive broke during the group: none of its posts counts
            held = [a if a.outcome is None or a.outcome.dropped else
                    Answer(a.ident, Outcome("dropped", a.outcome.info_code, reason=R.WRITE_ERROR,
                                            message=archivist.broken, fatal=True)) for a in held]
        try:
            for answer in held:
                conn.send(answer)
        except (OSError, ValueError):
            pass                # the crawl is gone: what it was sent is archived all the same

    def ingest(m: Ingest) -> None:
        nonlocal opened
        if not answers:
            opened = time.monotonic()
        answers.append(Answer(m.ident, archivist.ingest(ArticleItem(**m.item), m.records)))

    handlers: dict[type, Callable[[Any], Any]] = {
        Ingest: ingest,
        Capture: lambda m: archivist.capture(m.record),
        Failure: lambda m: archivist.failure(m.url, m.info_code, m.reason, m.permanent),
    }
    try:
        while True:
            if answers and (len(answers) >= BATCH_POSTS or time.monotonic() - opened >= BATCH_SECONDS
                            or not conn.poll(0)):
                commit()
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break                                   # the crawl is gone: finish cleanly
            if isinstance(msg, Close):
                commit()
                conn.send(Answer(msg.ident, None))
                break
            try:
                handlers[type(msg)](msg)
            except Exception as exc:  # noqa: BLE001 - the crawl hears of it as a failed write, not a crash
                archivist.broken = archivist.broken or f"the archive writer failed: {type(exc).__name__}: {exc}"
                if isinstance(msg, Ingest):
                    answers.append(Answer(msg.ident, Outcome("dropped", reason=R.WRITE_ERROR, message=archivist.broken,
                                                             fatal=True)))
    finally:
        try:
            archivist.close()
        except Exception as exc:  # noqa: BLE001 - a full disk at the very end: the next run salvages
            logger.error("closing the archive: %s", exc)
        conn.close()


def _fire(ready: list) -> None:
    for d, outcome in ready:
        d.callback(outcome)


class WriterProcess:
    """The parent's handle: ``ingest(fields, records)`` returns a Deferred for the Outcome;
    ``send(message)`` does not wait. A sender thread writes to the pipe (a full pipe never
    stalls the reactor), a reader thread hands answers to the reactor in batches."""

    def __init__(self, config: WriterConfig):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, config), name="newsarchive-writer", daemon=False)
        self.proc.start()          # the child imports and opens the archive while the crawl goes on
        child.close()
        self.removed_temps = self.salvaged = 0
        self.error = ""
        self.ids = itertools.count(1)
        self.waiting: dict[int, Any] = {}
        self.lock = threading.Lock()
        self.closed = self.gone = False
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()
        self.sender = threading.Thread(target=self._write, name="newsarchive-writer-sender", daemon=True)
        self.sender.start()
        self.reader = threading.Thread(target=self._read, name="newsarchive-writer-reader", daemon=True)
        self.reader.start()
        atexit.register(self._abandon)

    def _abandon(self) -> None:
        """At the interpreter's exit, a writer never closed (a forced stop: a second Ctrl-C or SIGTERM
        ends the crawl without closing its components) is let go: the pipe closed, the child hears the
        crawl is gone and finishes what it has. (multiprocessing joins it next: without this, forever.)"""
        if self.closed:
            return
        self.closed = True
        self.outbox.put(None)
        try:        # shut down, not only closed: the threads blocked on it hold it open (no EOF otherwise)
            socket.fromfd(self.conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sender.join(timeout=5)
        self.conn.close()

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
            if isinstance(msg, Ready):
                self.removed_temps, self.salvaged = msg.removed_temps, msg.salvaged
                self.error = msg.error
                if msg.removed_temps:
                    logger.warning("removed %d temp file(s) left by an interrupted run", msg.removed_temps)
                if msg.salvaged:
                    logger.warning("salvaged %d WARC record(s) left by an interrupted run", msg.salvaged)
                if msg.reindexed:
                    logger.warning(REINDEXED, msg.reindexed)
                continue
            batch = [msg]       # answers that are already there go to the reactor together:
            try:                # one wake-up of the reactor for many answers
                while len(batch) < 256 and self.conn.poll(0):
                    batch.append(self.conn.recv())
            except (EOFError, OSError):
                pass
            with self.lock:
                ready = [(d, m.outcome) for m in batch if (d := self.waiting.pop(m.ident, None)) is not None]
            if ready:
                reactor.callFromThread(_fire, ready)
        with self.lock:
            waiting, self.waiting = list(self.waiting.values()), {}
            self.gone = True
        for d in waiting:
            reactor.callFromThread(d.errback, self._gone())

    def _gone(self) -> WriterGone:
        return WriterGone(self.error or "the archive writer process stopped (killed, or out of memory?)")

    def ingest(self, fields: dict, records: list[WarcRecord]):
        """Send an article with its WARC records; a Deferred for its Outcome."""
        from twisted.internet.defer import Deferred

        d: Deferred = Deferred()
        ident = next(self.ids)
        with self.lock:
            if self.gone:
                d.errback(self._gone())
                return d
            self.waiting[ident] = d
        self.outbox.put(Ingest(ident, fields, records))
        return d

    def send(self, message: Capture | Failure) -> None:
        if not self.closed:
            self.outbox.put(message)

    def close(self) -> None:
        """Ask the child to finish and wait for it (blocking: called once, at the crawl's end)."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self._abandon)
        self.outbox.put(Close(0))
        self.outbox.put(None)
        self.sender.join(timeout=120)
        self.proc.join(timeout=120)
        self.conn.close()
