"""Where a crawl's posts go: the sink, chosen once at the start (as Scrapy's FilesPipeline picks its
store from ``FILES_STORE_SCHEMES``).

``NEWSARCHIVE_SINK`` names one of ``NEWSARCHIVE_SINKS`` — ``process`` (the writer process, default),
``local`` (in the crawl process), ``redis`` (push to Redis for ``newsarchive collect``), ``stdout``
(print, archive untouched) — or ``auto``, which picks from the other settings. The
:class:`ArchiveSink` extension owns the backend: the archive pipeline hands it items, the WARC
capture hands it records, failures reach it by signal, and it records the crawl at the end. Every
backend that writes runs the one :class:`~newsarchive.store.ingest.Archivist`.
"""
from __future__ import annotations

import logging
import sqlite3
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from scrapy import signals
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object

from newsarchive.core import reasons as R
from newsarchive.core.items import ArticleItem
from newsarchive.crawl import signals as na_signals
from newsarchive.crawl.signals import close_crawl
from newsarchive.crawl.writerproc import WriterGone
from newsarchive.store.catalog import Catalog, now_text
from newsarchive.store.ingest import REINDEXED, Archivist, CrawlRecord, Outcome, prepare
from newsarchive.store.warc import WarcRecord

if TYPE_CHECKING:
    from newsarchive.core.extract import SiteMap
    from newsarchive.distributed.sets import RedisSets

logger = logging.getLogger(__name__)


class Backend(Protocol):
    def ingest(self, item: ArticleItem, records: list[WarcRecord]) -> Any: ...   # Outcome or its Deferred
    def capture(self, record: WarcRecord) -> None: ...
    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None: ...
    def close(self) -> None: ...


def warc_info(settings) -> dict[str, str]:
    """The warcinfo of the crawl's WARC files: what made them, and how."""
    import scrapy

    keys = ("ROBOTSTXT_OBEY", "USER_AGENT", "CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY",
            "AUTOTHROTTLE_ENABLED", "DOWNLOAD_TIMEOUT", "DOWNLOAD_MAXSIZE", "RETRY_TIMES", "NEWSARCHIVE_SITE",
            "NEWSARCHIVE_SHARE", "NEWSARCHIVE_SHARE_HOSTS", "NEWSARCHIVE_REFRESH")
    return {"software-scrapy": f"Scrapy/{scrapy.__version__}",
            "robots": "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore",
            "http-header-user-agent": str(settings.get("USER_AGENT")),
            "settings": "; ".join(f"{k}={settings.get(k)}" for k in keys)}


def _archivist_options(settings) -> dict:
    return {"fsync": settings.getbool("NEWSARCHIVE_FSYNC", True), "site_base": settings.get("NEWSARCHIVE_SITE_BASE"),
            "warc": settings.getbool("NEWSARCHIVE_WARC"), "warc_max": settings.getint("NEWSARCHIVE_WARC_MAX_BYTES"),
            "lock_each_write": bool(settings.get("NEWSARCHIVE_SHARD") or settings.get("NEWSARCHIVE_REDIS_URL")),
            "search": settings.getbool("NEWSARCHIVE_SEARCH_INDEX", True)}


class LocalBackend:
    """The Archivist in the crawl process."""

    def __init__(self, sink: ArchiveSink):
        shared = sink.shared
        claim = None
        if shared is not None:            # workers share the claims of this run in Redis
            worker = sink.crawler.engine.scheduler.worker_id
            claim = lambda code: shared.first_sight(code, worker)
        self.archivist = Archivist(sink.folder, sitemap=sink.sitemap, claim=claim, warc_info=warc_info(sink.settings),
                                   **_archivist_options(sink.settings))
        if self.archivist.removed_temps:
            logger.warning("removed %d temp file(s) left by an interrupted run", self.archivist.removed_temps)
        if self.archivist.salvaged:
            sink.stats.set_value(R.stat("warc", "salvaged"), self.archivist.salvaged)
        if self.archivist.reindexed:
            logger.warning(REINDEXED, self.archivist.reindexed)
        self.shared = sink.shared
        if self.shared is not None:        # what this archive holds, for every worker to skip
            self.shared.seed_archived(r["info_code"] for r in self.archivist.catalog.iter_posts())

    def ingest(self, item: ArticleItem, records: list[WarcRecord]) -> Outcome:
        outcome = self.archivist.ingest(item, records)
        if self.shared is not None and not outcome.dropped:
            self.shared.mark_archived(outcome.info_code)
        return outcome

    def capture(self, record: WarcRecord) -> None:
        self.archivist.capture(record)

    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        self.archivist.failure(url, info_code, reason, permanent)

    def close(self) -> None:
        self.archivist.close()


class ProcessBackend:
    """The Archivist in a writer process of its own (``writerproc``): the crawl keeps its core."""

    def __init__(self, sink: ArchiveSink):
        from newsarchive.crawl.writerproc import WriterConfig, WriterProcess

        site = (sink.sitemap.site, tuple(sorted(sink.sitemap.hosts))) if sink.sitemap is not None else None
        self.proc = WriterProcess(WriterConfig(str(sink.folder), site=site,
                                               warc_info=tuple(warc_info(sink.settings).items()),
                                               **_archivist_options(sink.settings)))

    def ingest(self, item: ArticleItem, records: list[WarcRecord]):
        # the page's bytes cross the pipe once: its record's body is left out and filled back in there
        records = [replace(r, body=b"", body_is_page=True) if r.body is item.raw_page and r.body else r
                   for r in records]
        return self.proc.ingest(vars(item).copy(), records)

    def capture(self, record: WarcRecord) -> None:
        from newsarchive.crawl.writerproc import Capture

        self.proc.send(Capture(record))

    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        from newsarchive.crawl.writerproc import Failure

        self.proc.send(Failure(url, info_code, reason, permanent))

    def close(self) -> None:
        self.proc.close()


class RedisPushBackend:
    """``--redis-items``: workers without the archive's disk push articles (and their records) to
    Redis; ``newsarchive collect`` ingests them, the one writer of the archive."""

    def __init__(self, sink: ArchiveSink):
        from newsarchive.distributed import sets

        assert sink.shared is not None, "the redis sink needs NEWSARCHIVE_REDIS_URL"
        self.shared = sink.shared
        self.sets = sets

    def ingest(self, item: ArticleItem, records: list[WarcRecord]) -> Outcome:
        self.shared.push(self.sets.encode_post(item, records))
        return Outcome(R.QUEUED, item.info_code)

    def capture(self, record: WarcRecord) -> None:
        self.shared.push(self.sets.encode_capture(record))

    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        pass                        # a worker without the archive keeps no failure list

    def close(self) -> None:
        pass


class StdoutBackend:
    """``--stdout``: each post printed (exactly the file's bytes), the archive untouched."""

    def __init__(self, sink: ArchiveSink):
        self.site_base = sink.settings.get("NEWSARCHIVE_SITE_BASE")
        self.sitemap = sink.sitemap
        self.first = True

    def ingest(self, item: ArticleItem, records: list[WarcRecord]) -> Outcome:
        from newsarchive.core.normalize import PostError

        try:
            prepared = prepare(item, self.site_base, self.sitemap)
        except PostError as exc:
            return Outcome("dropped", item.info_code, reason=exc.reason, message=str(exc))
        sys.stdout.write(("" if self.first else "\n") + prepared.text)
        sys.stdout.flush()
        self.first = False
        return Outcome.of(R.PRINTED, prepared.post)

    def capture(self, record: WarcRecord) -> None:
        pass

    def failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        pass

    def close(self) -> None:
        pass


SINKS = {
    "local": "newsarchive.crawl.sinks.LocalBackend",
    "process": "newsarchive.crawl.sinks.ProcessBackend",
    "redis": "newsarchive.crawl.sinks.RedisPushBackend",
    "stdout": "newsarchive.crawl.sinks.StdoutBackend",
}


def sink_name(settings) -> str:
    """The backend ``NEWSARCHIVE_SINK`` names, or for ``auto`` the one the other settings ask for."""
    name = str(settings.get("NEWSARCHIVE_SINK") or "auto").lower()
    if name != "auto":
        return name
    if settings.getbool("NEWSARCHIVE_STDOUT"):
        return "stdout"
    if settings.get("NEWSARCHIVE_REDIS_URL"):
        return "redis" if settings.getbool("NEWSARCHIVE_REDIS_ITEMS") else "local"
    return "process" if settings.getbool("NEWSARCHIVE_WRITER_PROCESS") else "local"


class ArchiveSink:
    """The extension that owns the crawl's sink. The backend starts with the first thing to write
    (an incremental crawl that finds nothing new starts no writer process and records no WARC);
    records of pages that only lead to posts wait for it, a bounded number of them."""

    HOLD_MAX = 256          # listing records held before the backend starts…
    HOLD_BYTES = 8 << 20    # …and their bytes
    STAGE_MAX = 1000        # posts whose page/share records wait for the post itself…
    STAGE_BYTES = 64 << 20  # …and their bytes

    def __init__(self, crawler, name: str):
        self.crawler = crawler
        self.settings = crawler.settings
        self.stats = crawler.stats
        self.name = name
        self.backend_path = {**SINKS, **self.settings.getdict("NEWSARCHIVE_SINKS")}[name]
        from pathlib import Path

        self.folder = Path(self.settings.get("NEWSARCHIVE_OUTPUT"))
        self.backend: Backend | None = None
        self.held: list[WarcRecord] = []
        self.held_bytes = 0
        self.staged: dict[str, list[WarcRecord]] = {}
        self.staged_bytes = 0
        self.started = now_text()
        self.crawl_id: int | None = None
        self.scope = "full"
        self.own_catalog: Catalog | None = None
        # the newsarchive command says why a crawl failed in its last line; scrapy crawl has the log
        self.report_level = logging.INFO if self.settings.getbool("NEWSARCHIVE_CLI_REPORT") else logging.ERROR
        self.unusable = ""              # why the archive folder cannot be used, if it cannot
        self.fatal = ""                 # why the archive stopped taking posts, if it did
        self.sitemap: SiteMap | None = None
        self.shared: RedisSets | None = None

    @classmethod
    def from_crawler(cls, crawler):
        name = sink_name(crawler.settings)
        if name not in {**SINKS, **crawler.settings.getdict("NEWSARCHIVE_SINKS")}:
            raise ValueError(f"NEWSARCHIVE_SINK: no sink {name!r} (known: {', '.join(sorted(SINKS))})")
        sink = cls(crawler, name)
        crawler.signals.connect(sink.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(sink.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(sink.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(sink.article_failed, signal=na_signals.article_failed)
        return sink

    @property
    def writes_archive(self) -> bool:
        return self.name in ("local", "process")

    def spider_opened(self, spider=None) -> None:
        from newsarchive.distributed.components import shared_sets

        self.sitemap = getattr(spider or self.crawler.spider, "sitemap", None)
        self.shared = shared_sets(self.crawler)
        if self.writes_archive:             # a folder whose parts are links is never written through
            from newsarchive.store.paths import UnsafeArchive, check_folder

            try:
                check_folder(self.folder)
            except UnsafeArchive as exc:
                logger.log(self.report_level, "%s", exc)
                self.unusable = str(exc)
                self.stats.set_value(R.stat("archive", "unusable"), str(exc))
                close_crawl(self.crawler, "archive_unusable")
                return
            spider = spider or self.crawler.spider
            name = getattr(spider, "name", "?")
            partial = bool(getattr(spider, "categories", None) or getattr(spider, "urls", None)
                           or self.settings.get("NEWSARCHIVE_SHARD") or self.settings.get("NEWSARCHIVE_REDIS_URL"))
            self.scope = "partial" if partial else "full"
            self.stats.set_value(R.stat("crawl", "scope"), self.scope)
            self.crawl_id = self._catalog_crawl(lambda c: c.start_crawl(name, self.started, self.scope))

    def _backend(self) -> Backend:
        if self.backend is None:
            self.backend = load_object(self.backend_path)(self)
            held, self.held, self.held_bytes = self.held, [], 0
            for record in held:
                self.backend.capture(record)
        return self.backend

    # -- what the crawl hands over ------------------------------------------------------------
    async def ingest(self, item: ArticleItem) -> Outcome:
        records = self.staged.pop(item.source_url, [])
        self.staged_bytes -= sum(len(r.body) for r in records)
        if self.fatal:
            return Outcome("dropped", item.info_code, reason=R.WRITE_ERROR, message=self.fatal, fatal=True)
        try:
            result = self._backend().ingest(item, records)
            outcome: Outcome = result if isinstance(result, Outcome) else await maybe_deferred_to_future(result)
        except WriterGone as exc:
            outcome = Outcome("dropped", item.info_code, reason=R.WRITE_ERROR, fatal=True, message=str(exc))
        if outcome.fatal:
            self.stop(outcome.message)
        elif not outcome.dropped:
            self.count(outcome)
        return outcome

    def stop(self, why: str) -> None:
        """The archive cannot be written: say so once, and end the crawl (``archive_unwritable``)."""
        if not self.fatal:
            self.fatal = why
            logger.log(self.report_level, "cannot write the archive %s: %s; the crawl stops", self.folder, why)
            self.stats.set_value(R.stat("archive", "unwritable"), why)
            close_crawl(self.crawler, "archive_unwritable")

    def count(self, outcome: Outcome) -> None:
        """The one mapping of an outcome to stats (its notes logged and counted)."""
        for note in outcome.notes:
            logger.info("%s: %s", outcome.info_code, note)
            self.stats.inc_value(R.note_key(note))
        if outcome.body_source:
            self.stats.inc_value(R.stat("body", outcome.body_source))
        self.stats.inc_value(R.outcome_key(outcome.status))

    def capture(self, record: WarcRecord, leads_only: bool) -> None:
        """A WARC record. ``leads_only``: a page that only leads to posts (home, feed, listing) —
        held until the backend starts, and dropped if nothing is ever written."""
        if leads_only and self.backend is None and len(self.held) < self.HOLD_MAX \
                and self.held_bytes + len(record.body) <= self.HOLD_BYTES:
            self.held.append(record)
            self.held_bytes += len(record.body)
            return
        self._backend().capture(record)

    def stage(self, post_url: str, record: WarcRecord) -> None:
        """Hold a post page's or share answer's record until its post is ingested: one message."""
        self.staged.setdefault(post_url, []).append(record)
        self.staged_bytes += len(record.body)
        if len(self.staged) > self.STAGE_MAX or self.staged_bytes > self.STAGE_BYTES:
            self._flush_staged()

    def _flush_staged(self) -> None:
        staged, self.staged, self.staged_bytes = self.staged, {}, 0
        backend = self._backend()
        for records in staged.values():
            for record in records:
                backend.capture(record)

    def article_failed(self, url, info_code, reason, permanent, origin=None) -> None:
        if self.writes_archive:
            self._backend().failure(url, info_code, reason, permanent)

    def item_dropped(self, item, response, exception, spider=None) -> None:
        reason = getattr(exception, "reason", "dropped")
        self.stats.inc_value(R.drop_key(reason))
        if reason == R.DUPLICATE:
            self.stats.inc_value(R.outcome_key(R.DUPLICATE))
        elif R.counts_as_failure(reason):
            self.stats.inc_value(R.stat("posts", "failed"))

    def spider_closed(self, spider=None, reason: str = "finished") -> None:
        """Every item has been handled: the records left go out, the crawl is recorded, the
        backend closes (the writer process finishes and exits)."""
        if self.staged:
            self._flush_staged()
        get = self.stats.get_value
        pages = sum(get(f"newsarchive/pages/{k}", 0) for k in ("home", "feed", "listings", "posts"))
        if reason == "finished" and not pages and get("newsarchive/pages/failed", 0):
            reason = "mirror_unreachable"   # Scrapy finished, but with nothing read: not a good crawl
        self.stats.set_value(R.stat("crawl", "result"), reason)
        crawl = CrawlRecord(getattr(spider or self.crawler.spider, "name", "?"), self.started,
                            get(R.outcome_key(R.WRITTEN), 0), get(R.outcome_key(R.UPDATED), 0),
                            get(R.outcome_key(R.UNCHANGED), 0), get(R.stat("posts", "failed"), 0), reason,
                            get(R.stat("posts", "found"), 0))
        if self.backend is not None:
            try:
                self.backend.close()
            except Exception as exc:  # noqa: BLE001 - the end of a crawl that could not write
                logger.error("closing the archive: %s", exc)
        if self.writes_archive and not self.unusable:
            self._catalog_crawl(lambda c: c.finish_crawl(self.crawl_id, crawl.spider, crawl.started, crawl.new,
                                                         crawl.updated, crawl.unchanged, crawl.failed, crawl.reason,
                                                         crawl.found), last=True)

    def _catalog_crawl(self, write, last: bool = False) -> Any:
        """The crawl's own row in the catalog, written from this process with a connection held for
        the whole crawl: the row is there also when the writer process is gone, and it is updated in
        place at the end, in the WAL the open connection keeps — so even on a full disk."""
        try:
            if self.own_catalog is None:
                self.own_catalog = Catalog(self.folder)
            return write(self.own_catalog)
        except (OSError, sqlite3.Error) as exc:
            logger.log(self.report_level, "could not record the crawl in the catalog: %s", exc)
            return None
        finally:
            if last and self.own_catalog is not None:
                self.own_catalog.close()
                self.own_catalog = None
