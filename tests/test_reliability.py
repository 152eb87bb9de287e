"""Reliability: injected faults, kill -9 mid-crawl, a dead or lying share host. Nothing that can be
fetched is lost, nothing kept is corrupted."""
import datetime as dt
import difflib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from faultserver import FaultServer

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog

from helpers import run_cli

pytestmark = pytest.mark.e2e

FAST = ["-s", "DOWNLOAD_TIMEOUT=2", "-s", "NEWSARCHIVE_SHARE_TIMEOUT=2", "-s", "RETRY_TIMES=3"]


def _archive_state(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "_posts").glob("*.md")}


def _check_integrity(out: Path) -> None:
    files = list((out / "_posts").glob("*.md"))
    catalog = Catalog(out, readonly=True)
    rows = {r["path"] for r in catalog.iter_posts()}
    catalog.close()
    assert rows == {f.name for f in files}                         # catalog rows == files
    assert not list((out / "_posts").glob(".tmp-*"))                # no temp files
    for f in files:
        meta = yaml.safe_load(f.read_text("utf-8").split("---\n")[1])
        assert isinstance(meta, dict) and meta["layout"] == "post"


def test_twenty_percent_faults_one_rerun_archives_every_existing_post(tmp_path):
    posts = synthetic_posts(520, seed=31, media=[f"媒体{i}" for i in range(10)])
    folder = build_site(posts, tmp_path / "m")
    missing = {p.path for p in posts[::50]}                        # 11 posts answer 404
    huge = {posts[7].path}                                           # one 50 MB body
    exists = {p.info_code for p in posts if p.path not in missing | huge}
    out = tmp_path / "archive"
    with FaultServer(folder, rate=0.2, seed=5, missing=missing, huge=huge) as server:
        first = run_cli("crawl", "--site", server.url, "--output", out, *FAST, "--stats-file", tmp_path / "s1.json",
                        server=server, timeout=600)
        assert first.returncode == 1, first.stderr[-3000:]                # the 12 that do not exist failed
        assert "post(s) could not be archived" in first.stderr.strip().splitlines()[-1]
        second = run_cli("crawl", "--site", server.url, "--output", out, *FAST, "--stats-file", tmp_path / "s2.json",
                         server=server, timeout=600)
        faults = server.faults
    assert second.returncode == 0, second.stderr[-3000:]
    archived = {p.name[11:-3] for p in (out / "_posts").glob("*.md")}
    assert archived == exists                                       # 100% of what exists, nothing else
    injected = sum(v for k, v in faults.items() if k not in ("404", "huge"))
    assert injected > 150 and set(faults) >= {"500", "reset", "stall", "cut_body", "cut_html", "redirect_loop"}
    s1, s2 = (json.loads((tmp_path / f"s{i}.json").read_text()) for i in (1, 2))
    assert s1.get("retry/count", 0) > 50
    # permanent failures are listed and not retried by the re-run
    stats = json.loads(run_cli("stats", "--output", out, "--json").stdout)
    permanent = {(f["reason"], f["url"].split("/")[-1]) for f in stats["failures"] if f["permanent"]}
    assert {name for _, name in permanent} == {Path(p).name for p in missing | huge}
    assert {reason for reason, _ in permanent} == {"HTTP 404", "response too large"}
    assert s2.get("newsarchive/posts/skipped_failed", 0) == len(missing | huge)
    _check_integrity(out)
    report = {"faults": faults, "posts": len(posts), "exist": len(exists), "archived": len(archived),
              "first_run_written": s1.get("newsarchive/posts/written"), "rerun_written": s2.get("newsarchive/posts/written", 0)}
    (Path(os.environ.get("NEWSARCHIVE_REPORT_DIR", tmp_path)) / "faults.json").write_text(json.dumps(report))


def _count_posts(folder: Path) -> int:
    posts = folder / "_posts"
    return sum(1 for _ in posts.glob("*.md")) if posts.is_dir() else 0


def test_kill_9_ten_times_mid_crawl_then_equal_to_a_clean_crawl(tmp_path):
    # dated well in the past: 2,000 posts 7 minutes apart from the default start run days ahead, and a
    # post crossing the two-day future limit between the clean crawl and the last one flips its date
    posts = synthetic_posts(2000, seed=32, media=[f"媒体{i}" for i in range(20)], paragraphs=(2, 3),
                            start=dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING))
    folder = build_site(posts, tmp_path / "m")
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    rng = random.Random(7)
    with MockServer(folder) as server:
        env = {**os.environ, "http_proxy": server.url, "no_proxy": "127.0.0.1"}
        assert run_cli("crawl", "--site", server.url, "--output", clean, server=server, timeout=600).returncode == 0
        kills = []
        # each life is killed once the archive holds the next target count (150, 300, … 1,500 posts):
        # every kill lands mid-crawl whatever the machine's speed, most of them mid-write
        for target in range(150, 1501, 150):
            proc = subprocess.Popen([sys.executable, "-m", "newsarchive", "crawl", "--site", server.url,
                                     "--output", killed], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 120
            while _count_posts(killed) < target and proc.poll() is None and time.time() < deadline:
                time.sleep(0.02 + rng.random() * 0.02)
            assert proc.poll() is None, "the crawl ended before its kill"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append((target, _count_posts(killed)))
        final = run_cli("crawl", "--site", server.url, "--output", killed, server=server, timeout=600)
        assert final.returncode == 0, final.stderr[-2000:]
    got, want = _archive_state(killed), _archive_state(clean)
    differ = sorted(n for n in set(got) | set(want) if got.get(n) != want.get(n))
    assert not differ, (len(differ), differ[:3], "\n".join(difflib.unified_diff(
        want.get(differ[0], b"").decode().splitlines(), got.get(differ[0], b"").decode().splitlines(), lineterm=""))[:3000])
    assert len(_archive_state(clean)) == 2000
    _check_integrity(killed)
    assert not list((killed / "warc").glob("*.open"))
    assert all(target <= n < 2000 for target, n in kills)             # every kill landed mid-crawl
    (Path(os.environ.get("NEWSARCHIVE_REPORT_DIR", tmp_path)) / "kills.json").write_text(json.dumps(kills))


@pytest.mark.parametrize("share", ["down", "garbage", "error"])
def test_share_host_down_or_lying_keeps_the_mirror_body(tmp_path, share):
    posts = synthetic_posts(8, seed=33, media=["南方日报"])
    folder = build_site(posts, tmp_path / "m")
    for f in (folder / "upstream").glob("*.json"):
        if share == "garbage":
            f.write_bytes(b"\x00\xff<html>oops</html>")
        elif share == "error":
            f.write_text('{"error": "rate limited"}')
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        env = {"http_proxy": "http://127.0.0.1:9"} if share == "down" else {}
        result = run_cli("crawl", "--site", server.url, "--output", out, *FAST, "--stats-file", tmp_path / "s.json",
                         server=server, env=env)
    assert result.returncode == 0
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["newsarchive/posts/written"] == 8 and stats["newsarchive/share/failed"] == 8
    catalog = Catalog(out, readonly=True)
    assert {r["body_source"] for r in catalog.iter_posts()} == {"mirror"}
    for src in posts:
        text = (out / "_posts" / f"{src.date:%Y-%m-%d}-{src.info_code}.md").read_text("utf-8")
        assert "".join(f"<p>{p}</p>" for p in src.paragraphs) in text
