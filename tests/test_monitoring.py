"""Monitoring with Spidermon: a crawl whose monitors fail (a mirror whose listings suddenly yield no
posts; the last good crawl older than half the mirror's retention) produces the report, the catalog's
record, a one-line cause and non-zero exit, and a call of the configured webhook on loopback."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import run_cli

pytestmark = pytest.mark.e2e


def _hook(status: int) -> HTTPServer:
    """A webhook receiver on loopback that answers ``status``; ``.calls``: the JSON documents it got."""
    calls: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.calls = calls  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    return server


@pytest.fixture
def webhook():
    server = _hook(204)
    yield server
    server.shutdown()


def _mirror(tmp_path, posts: int, seed: int):
    """``(mirror folder, archive folder)``: a mirror of ``posts`` posts of one source."""
    made = synthetic_posts(posts, seed=seed, media=["南方日报"], start=dt.datetime(2026, 9, 1, tzinfo=BEIJING))
    return build_site(made, tmp_path / "m"), tmp_path / "archive"


def _crawled_ago(out, age: dt.timedelta) -> None:
    """Every crawl of the archive as if it had finished ``age`` ago."""
    db = sqlite3.connect(out / "archive.sqlite3")
    db.execute("UPDATE crawls SET finished = ?", ((dt.datetime.now(BEIJING) - age).isoformat(timespec="seconds"),))
    db.commit()
    db.close()


def test_a_changed_mirror_fails_the_posts_found_monitor_and_calls_the_webhook(tmp_path, webhook):
    posts = synthetic_posts(20, seed=2, media=["南方日报", "第一财经"], start=dt.datetime(2026, 9, 1, tzinfo=BEIJING))
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    hook = ["-s", f"NEWSARCHIVE_MONITOR_WEBHOOK={webhook.url}"]
    with MockServer(folder) as server:
        first = run_cli("crawl", "--site", server.url, "--output", out, *hook, server=server)
        assert first.returncode == 0 and webhook.calls == []              # all monitors passed: no call
        for page in [folder / "site" / "index.html", folder / "site" / "feed.xml",
                     *(folder / "site" / "category").glob("*.html")]:   # the mirror changes its format
            page.write_text("<html><body><div class='wrapper'><section><p>新版首页</p></section></div></body></html>")
        second = run_cli("crawl", "--site", server.url, "--output", out, *hook, server=server)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert "has the mirror changed its format" in second.stderr.strip().splitlines()[-1]
    report = json.loads((out / "monitor-report.json").read_text("utf-8"))
    # (the new "feed" is no Atom feed, cut short as the checks read it: a page that could not be read too)
    assert sorted(f["monitor"] for f in report["failed"]) == ["Listings/every page of the mirror could be read",
                                                             "Listings/the listings still yield posts"]
    assert len(webhook.calls) == 1 and webhook.calls[0]["failed"] == report["failed"]
    assert "changed its format" in webhook.calls[0]["text"]
    stats = run_cli("stats", "--output", out)
    assert "monitors: 2 of 7 failed" in stats.stdout and "Listings/the listings still yield posts" in stats.stdout


def test_the_retention_alarm_sounds_when_the_last_good_crawl_is_older_than_half_the_window(tmp_path, webhook):
    folder, out = _mirror(tmp_path, 5, seed=3)
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
    _crawled_ago(out, dt.timedelta(days=2))
    # the mirror is gone: this crawl fails too, and the alarm says how long is left
    failed = run_cli("crawl", "--site", "http://127.0.0.1:9/", "--output", out,
                     "-s", f"NEWSARCHIVE_MONITOR_WEBHOOK={webhook.url}", "-s", "RETRY_TIMES=0")
    assert failed.returncode == 1
    report = json.loads((out / "monitor-report.json").read_text("utf-8"))
    retention = [f for f in report["failed"] if f["monitor"].startswith("Retention")]
    assert retention and "48." in retention[0]["message"] and "h ago" in retention[0]["message"]
    assert len(webhook.calls) == 1 and any(f["monitor"].startswith("Retention") for f in webhook.calls[0]["failed"])
    stats = json.loads(run_cli("stats", "--output", out, "--json").stdout)
    assert stats["retention"]["alarm"] and 23 < stats["retention"]["hours_left"] < 25
    assert "ALARM" in run_cli("stats", "--output", out).stdout


def _maintenance(folder) -> None:
    """The mirror answers every page with a maintenance page (HTTP 200, no post)."""
    for page in [folder / "site" / "index.html", folder / "site" / "feed.xml",
                 *(folder / "site" / "category").glob("*.html")]:
        page.write_text("<html><body><p>系统维护中，请稍后访问</p></body></html>", "utf-8")


def test_crawls_of_a_maintenance_page_never_count_as_good_crawls(tmp_path):
    """A mirror in maintenance answers 200 and yields no post: each such crawl fails the Listings monitor
    (from the sixth on they passed: the zeros had become the baseline), and none is the last good crawl
    the retention alarm counts from (it stayed silent, `stats` said 72 h left)."""
    folder, out = _mirror(tmp_path, 6, seed=4)
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
        _crawled_ago(out, dt.timedelta(hours=40))
        _maintenance(folder)
        for run in range(6):
            result = run_cli("crawl", "--site", server.url, "--output", out, server=server)
            assert result.returncode == 1, (run, result.stdout, result.stderr)
            report = json.loads((out / "monitor-report.json").read_text("utf-8"))
            failed = [f["monitor"] for f in report["failed"]]
            assert "Listings/the listings still yield posts" in failed, (run, failed)
            assert any(m.startswith("Retention") for m in failed), (run, failed)
    stats = json.loads(run_cli("stats", "--output", out, "--json").stdout)
    assert stats["retention"]["alarm"] and 31 < stats["retention"]["hours_left"] < 33
    assert len(list((out / "_posts").glob("*.md"))) == 6


def test_an_alert_that_cannot_be_sent_is_said(tmp_path):
    """A webhook that answers 500: the crawl says the alert was not sent (it said nothing, even at DEBUG)."""
    hook = _hook(500)
    folder, out = _mirror(tmp_path, 4, seed=5)
    stats_file = tmp_path / "stats.json"
    try:
        with MockServer(folder) as server:
            assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
            _maintenance(folder)
            result = run_cli("crawl", "--site", server.url, "--output", out, "--stats-file", stats_file,
                             "-s", f"NEWSARCHIVE_MONITOR_WEBHOOK={hook.url}",
                             server=server)
    finally:
        hook.shutdown()
    assert result.returncode == 1
    assert "the alert Webhook could not be sent: " in result.stderr and "500" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(stats_file.read_text())["newsarchive/monitors/alerts_failed"] == 1


def test_a_new_archive_whose_first_crawls_meet_a_maintenance_page_has_no_good_crawl(tmp_path):
    """With no good crawl yet, a crawl that found no post is none either (it passed every monitor, for ever)."""
    posts = synthetic_posts(3, seed=6, media=["南方日报"], start=dt.datetime(2026, 9, 1, tzinfo=BEIJING))
    folder = build_site(posts, tmp_path / "m")
    _maintenance(folder)
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        result = run_cli("crawl", "--site", server.url, "--output", out, server=server)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no crawl of this archive has succeeded yet" in result.stderr.strip().splitlines()[-1]


def test_a_listing_that_keeps_failing_is_alerted(tmp_path, webhook):
    """A listing answering 503 every run: the run exits 1 and the webhook hears of it (it did not: every
    monitor passed while the category's posts left the mirror)."""
    folder, out = _mirror(tmp_path, 6, seed=7)
    listing = next(p.name for p in (folder / "site" / "category").glob("*.html"))
    with MockServer(folder) as server:
        server.httpd.dynamic = lambda path, query: (503, {}, b"busy") if path == f"/category/{listing}" else None
        result = run_cli("crawl", "--site", server.url, "--output", out, "-s", "RETRY_TIMES=0",
                         "-s", f"NEWSARCHIVE_MONITOR_WEBHOOK={webhook.url}", server=server)
    assert result.returncode == 1
    assert len(webhook.calls) == 1 and "every page of the mirror could be read" in webhook.calls[0]["text"]
