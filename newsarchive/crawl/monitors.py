"""newsarchive's Spidermon monitors and actions (imported by ``crawl.monitoring`` at a crawl's end)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import statistics
import urllib.request
from pathlib import Path
from typing import ClassVar

from spidermon import Monitor, MonitorSuite, monitors
from spidermon.contrib.scrapy.monitors import ErrorCountMonitor, FinishReasonMonitor
from spidermon.core.actions import Action

from newsarchive.core.dates import parse_duration
from newsarchive.crawl.extensions import unread_pages

logger = logging.getLogger("newsarchive.monitors")


class _ArchiveMonitor(Monitor):
    longMessage = False         # the message alone, not unittest's "0 not greater than 3.6 : …" before it
    @property
    def settings(self):
        return self.data.crawler.settings

    @property
    def stats(self):
        return self.data.stats


@monitors.name("Share host")
class ShareHostMonitor(_ArchiveMonitor):
    @monitors.name("the share host answered for most posts")
    def test_share_host_answered(self):
        used = self.stats.get("newsarchive/share/used", 0)
        failed = self.stats.get("newsarchive/share/failed", 0)
        limit = self.settings.getfloat("NEWSARCHIVE_MONITOR_SHARE_FAILURE_RATE")
        if used + failed < 10:
            return
        rate = failed / (used + failed)
        self.assertLessEqual(rate, limit, msg=f"the share host failed for {failed} of {used + failed} posts "
                                              f"({rate:.0%}, more than {limit:.0%}): they keep the mirror's body")


@monitors.name("Listings")
class PostsFoundMonitor(_ArchiveMonitor):
    @monitors.name("the listings still yield posts")
    def test_listings_yield_posts(self):
        found = self.stats.get("newsarchive/posts/found", 0)
        previous = [n for n in self.data.archive.get("previous_found", []) if n]
        if not previous or self.stats.get("newsarchive/crawl/scope") != "full":
            return
        usual = statistics.median(previous)
        failed = self.stats.get("newsarchive/pages/failed", 0)
        read = sum(self.stats.get(f"newsarchive/pages/{k}", 0) for k in ("home", "feed", "listings"))
        unread = f"{failed} page(s) could not be read (last: {self.stats.get('newsarchive/pages/failure', '?')})"
        why = "; ".join([*(["has the mirror changed its format?"] if read else []), *([unread] if failed else [])])
        self.assertGreaterEqual(found, max(1, usual / 10), msg=(
            f"the listings yielded {found} posts, the last successful crawls {usual:.0f} (median): {why}"))

    @monitors.name("every page of the mirror could be read")
    def test_pages_are_read(self):
        # (a listing that fails on every run loses its posts as the mirror drops them: alerted, not only
        # an exit status; a page gone for good, 404/410, is the mirror's state)
        unread = unread_pages(self.stats)
        self.assertFalse(unread, msg=unread)


@monitors.name("Extraction")
class ExtractionMonitor(_ArchiveMonitor):
    @monitors.name("post pages are articles")
    def test_pages_are_articles(self):
        bad = sum(self.stats.get(f"newsarchive/drop/{r}", 0) for r in ("not_a_post", "truncated_parse"))
        pages = self.stats.get("newsarchive/pages/posts", 0)
        limit = max(self.settings.getint("NEWSARCHIVE_MONITOR_MAX_EXTRACTION_FAILURES"), pages // 10)
        self.assertLessEqual(bad, limit, msg=f"{bad} of {pages} post pages held no article that could be read")


@monitors.name("Retention")
class RetentionMonitor(_ArchiveMonitor):
    @monitors.name("the last good crawl is within half the mirror's retention")
    def test_retention_margin(self):
        window = parse_duration(self.settings.get("NEWSARCHIVE_MIRROR_RETENTION"))
        last = self.data.archive.get("last_success")
        if last is None:    # (a first crawl that found no post — a maintenance page — is no success)
            found = self.stats.get("newsarchive/posts/found", 0) > 0 or self.stats.get("newsarchive/crawl/scope") != "full"
            self.assertTrue(self.stats.get("finish_reason") == "finished" and found,
                            msg="no crawl of this archive has succeeded yet")
            return
        age = (dt.datetime.now(dt.timezone.utc) - last).total_seconds()
        self.assertLess(age, window / 2, msg=(
            f"the last successful crawl finished {age / 3600:.1f} h ago; the mirror keeps {window / 3600:.0f} h: "
            f"posts are lost for ever unless a crawl succeeds within {max(0.0, window - age) / 3600:.1f} h"))


def _failures(result) -> list[dict]:
    out = []
    for r in result.monitors_failed_results:
        text = (r.error or r.reason or "").strip().splitlines()
        message = text[-1] if text else ""
        if message.startswith("AssertionError: "):
            message = message[len("AssertionError: "):]
        out.append({"monitor": r.monitor.name, "message": message})
    return out


class LogResults(Action):
    """One line in the log: how many monitors passed, and each failure's reason."""

    def run_action(self):
        failed = _failures(self.result)
        total = len(self.result.monitor_results)
        if failed:
            # (the newsarchive command says it in its last line, with the crawl's other causes)
            level = logging.INFO if self.data.crawler.settings.getbool("NEWSARCHIVE_CLI_REPORT") else logging.WARNING
            logger.log(level, "monitors: %d of %d failed: %s", len(failed), total,
                       "; ".join(f"{f['monitor']}: {f['message']}" for f in failed))
        else:
            logger.info("monitors: all %d passed", total)


def report(result, data) -> dict:
    stats = data.stats
    return {"crawl_id": data.crawl_id, "finish_reason": stats.get("finish_reason"),
            "finished": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
            "passed": [r.monitor.name for r in result.monitors_passed_results], "failed": _failures(result),
            "stats": {k: v for k, v in stats.items() if k.startswith("newsarchive/") and isinstance(v, (int, float))}}


class SaveResults(Action):
    """The JSON report beside the archive (``monitor-report.json``, atomic) and the results in the
    catalog's ``monitor_results`` (``newsarchive stats`` shows the last runs')."""

    def run_action(self):
        from newsarchive.store.catalog import Catalog
        from newsarchive.store.files import atomic_write

        folder = Path(self.data.folder)
        doc = report(self.result, self.data)
        target = self.data.crawler.settings.get("NEWSARCHIVE_MONITOR_REPORT") or folder / "monitor-report.json"
        if folder.is_dir():
            atomic_write(Path(target), json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8"), fsync=False)
            if self.data.crawl_id:
                catalog = Catalog(folder)
                try:
                    catalog.record_monitors(self.data.crawl_id, doc["passed"], doc["failed"])
                finally:
                    catalog.close()


class Webhook(Action):
    """A JSON POST of the report to ``NEWSARCHIVE_MONITOR_WEBHOOK`` (Slack-compatible ``text`` too)."""

    def __init__(self, url: str = "", timeout: float = 10.0):
        super().__init__()
        self.url = url
        self.timeout = timeout

    @classmethod
    def from_crawler_kwargs(cls, crawler):
        return {"url": crawler.settings.get("NEWSARCHIVE_MONITOR_WEBHOOK") or ""}

    def run_action(self):
        if not self.url:
            return
        doc = report(self.result, self.data)
        doc["text"] = "newsarchive: " + "; ".join(f"{f['monitor']}: {f['message']}" for f in doc["failed"])
        request = urllib.request.Request(self.url, data=json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            answer.read()


# Spidermon's notifiers, each used when its settings are there
NOTIFIERS = {
    "SPIDERMON_EMAIL_TO": "spidermon.contrib.actions.email.smtp.SendSmtpEmail",
    "SPIDERMON_SLACK_SENDER_TOKEN": "spidermon.contrib.actions.slack.notifiers.SendSlackMessageSpiderFinished",
    "SPIDERMON_TELEGRAM_SENDER_TOKEN": "spidermon.contrib.actions.telegram.notifiers.SendTelegramMessageSpiderFinished",
}


class ArchiveMonitors(MonitorSuite):
    monitors: ClassVar = [FinishReasonMonitor, ErrorCountMonitor, ShareHostMonitor, PostsFoundMonitor,
                          ExtractionMonitor, RetentionMonitor]
    monitors_finished_actions: ClassVar = [LogResults, SaveResults]
    monitors_failed_actions: ClassVar = [Webhook]

    def __init__(self, *args, crawler=None, **kwargs):
        super().__init__(*args, crawler=crawler, **kwargs)
        if crawler is not None:
            from scrapy.utils.misc import load_object

            for setting, path in NOTIFIERS.items():
                if crawler.settings.get(setting):
                    self.add_monitors_failed_action(load_object(path))
