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


@pytest.fixture
def webhook():
    calls: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            calls.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.calls = calls
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield server
    server.shutdown()


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
    assert [f["monitor"] for f in report["failed"]] == ["Listings/the listings still yield posts"]
    assert len(webhook.calls) == 1 and webhook.calls[0]["failed"] == report["failed"]
    assert "changed its format" in webhook.calls[0]["text"]
    stats = run_cli("stats", "--output", out)
    assert "monitors: 1 of 6 failed" in stats.stdout and "Listings/the listings still yield posts" in stats.stdout


def test_the_retention_alarm_sounds_when_the_last_good_crawl_is_older_than_half_the_window(tmp_path, webhook):
    posts = synthetic_posts(5, seed=3, media=["南方日报"], start=dt.datetime(2026, 9, 1, tzinfo=BEIJING))
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
    db = sqlite3.connect(out / "archive.sqlite3")
    two_days_ago = (dt.datetime.now(BEIJING) - dt.timedelta(days=2)).isoformat(timespec="seconds")
    db.execute("UPDATE crawls SET finished = ?", (two_days_ago,))
    db.commit()
    db.close()
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
