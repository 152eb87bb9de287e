"""Monitoring of unattended crawls, with Spidermon (the Scrapy monitoring framework).

At the end of every crawl (``engine_stopped``: the stats hold the finish reason) the
:class:`Monitoring` extension runs newsarchive's monitor suite through Spidermon's runner:

- the crawl finished cleanly (Spidermon's ``FinishReasonMonitor``);
- few errors (Spidermon's ``ErrorCountMonitor``, ``SPIDERMON_MAX_ERRORS``);
- the share host answered (``NEWSARCHIVE_MONITOR_SHARE_FAILURE_RATE``: the share host is often down
  in part, so only a near-total failure fails);
- the listings still yield posts (posts found against the last successful crawls: a mirror whose
  listings suddenly yield none has changed its format);
- few pages that are no article (``NEWSARCHIVE_MONITOR_MAX_EXTRACTION_FAILURES``);
- the **retention alarm**: the last successful crawl is not older than half the mirror's retention
  window (``NEWSARCHIVE_MIRROR_RETENTION``, 3 days): past the whole window posts are lost for ever.

Actions: always a line in the log, a JSON report (``<archive>/monitor-report.json``) and the results in
the catalog (``newsarchive stats`` shows them); when monitors fail, Spidermon's e-mail, Slack and
Telegram actions when their settings are given, and a JSON POST to ``NEWSARCHIVE_MONITOR_WEBHOOK``.
Spidermon is imported only at the end of a crawl (it costs ~0.1 s of start-up).
"""
from __future__ import annotations

import datetime as dt
import logging

from scrapy import signals
from scrapy.exceptions import NotConfigured

from newsarchive.core.mdsafe import one_line

logger = logging.getLogger(__name__)

def archive_context(folder, crawl_id: int | None, now: dt.datetime | None = None, last: int = 5) -> dict:
    """What the catalog says around this crawl: the last successful crawls before it, and when the
    last successful crawl (this one included) finished."""
    from newsarchive.store.catalog import SUCCESSFUL_CRAWL, Catalog

    out: dict = {"previous_found": [], "last_success": None}
    catalog = Catalog(folder, readonly=True)
    try:
        if catalog.db is None:
            return out
        rows = catalog.conn.execute(
            f"SELECT id, finished, found, scope FROM crawls WHERE {SUCCESSFUL_CRAWL} ORDER BY id DESC LIMIT ?",
            (4 * last,)).fetchall()
    finally:
        catalog.close()
    # posts found are compared between crawls of the whole mirror only
    out["previous_found"] = [found for i, _, found, scope in rows
                             if i != crawl_id and found is not None and scope == "full"][:last]
    if rows and rows[0][1]:
        out["last_success"] = dt.datetime.fromisoformat(rows[0][1])
    return out


class Monitoring:
    def __init__(self, crawler):
        self.crawler = crawler
        self.results: list[dict] = []

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.getbool("NEWSARCHIVE_MONITOR"):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def engine_stopped(self) -> None:
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - monitoring never turns a crawl into a crash
            logger.error("the monitors could not run: %s: %s", type(exc).__name__, exc)

    def run(self):
        from spidermon.runners import MonitorRunner

        from newsarchive.crawl.monitors import ArchiveMonitors
        from newsarchive.crawl.sinks import ArchiveSink

        crawler = self.crawler
        spider = crawler.spider
        sink = crawler.get_extension(ArchiveSink)
        folder = crawler.settings.get("NEWSARCHIVE_OUTPUT")
        context = archive_context(folder, sink.crawl_id if sink else None) if sink and sink.writes_archive else {}
        suite = ArchiveMonitors(crawler=crawler)
        # (Spidermon's plain runner: its Scrapy runner logs a whole report with tracebacks; the LogResults
        # action says it in one line, and the JSON report has the rest)
        result = MonitorRunner().run(suite, stats=crawler.stats.get_stats(), stats_history=[], crawler=crawler, spider=spider,
                            sc_spider_name=spider.name, job=None, archive=context,
                            crawl_id=sink.crawl_id if sink else None, folder=folder)
        from newsarchive.crawl.monitors import _failures

        failed = _failures(result)
        self._alerts_not_sent(result)
        crawler.stats.set_value("newsarchive/monitors/passed", len(result.monitors_passed_results))
        crawler.stats.set_value("newsarchive/monitors/failed", len(failed))
        if failed:
            crawler.stats.set_value("newsarchive/monitors/failures", "; ".join(
                f"{f['monitor'].split('/')[0]}: {f['message']}" for f in failed))
        return result

    def _alerts_not_sent(self, result) -> None:
        """An action that raised (a webhook answering 500, a mail server refusing) is said, in one line
        each, and counted (``newsarchive/monitors/alerts_failed``): an alert nobody got is no alert."""
        from spidermon import settings as spidermon_settings

        errors = [r for r in (*result.monitors_finished_action_results, *result.monitors_passed_action_results,
                              *result.monitors_failed_action_results)
                  if r.status == spidermon_settings.ACTION.STATUS.ERROR]
        for r in errors:
            lines = (r.error or "").strip().splitlines()
            logger.error("the alert %s could not be sent: %s", r.action.name, one_line(lines[-1] if lines else "", 300))
        if errors:
            self.crawler.stats.set_value("newsarchive/monitors/alerts_failed", len(errors))
