"""Scheduled crawls: runs in fresh processes, never overlapping; the archive lock; SIGTERM; git
commits; old posts retired; and the Scrapyd route, for real."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from newsarchive.commands.schedule import Timetable, parse_every
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog
from newsarchive.store.files import ArchiveWriter

from helpers import run_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def _env(server):
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env.update(http_proxy=server.url, no_proxy="127.0.0.1,localhost")
    return env


def _cli(*args):
    return [sys.executable, "-m", "newsarchive", *map(str, args)]


def test_parse_every_and_timetable():
    assert parse_every("30s") == 30 and parse_every("5m") == 300 and parse_every("2h") == 7200
    assert parse_every("1d") == 86400 and parse_every("2") == 2
    for bad in ("", "0s", "five minutes", "-1m"):
        with pytest.raises(ValueError):
            parse_every(bad)
    t = Timetable(every=300)
    assert t.first(1000.0) == 1000.0 and t.next(1000.0) == 1300.0
    cron = Timetable(cron="1-59/5 * * * *")
    nxt = cron.next(time.time())
    assert 0 < nxt - time.time() <= 300 and time.localtime(nxt).tm_min % 5 == 1
    with pytest.raises(ValueError):
        Timetable(cron="not cron")


def test_an_interval_is_timed_on_the_monotonic_clock(tmp_path):
    """(a wall clock set forward an hour ran three crawls back to back); cron keeps the wall clock."""
    from newsarchive.commands.schedule import Scheduler

    assert Scheduler([], tmp_path, Timetable(every=300)).clock is time.monotonic
    assert Scheduler([], tmp_path, Timetable(cron="*/5 * * * *")).clock is time.time


def test_three_runs_as_the_mirror_gains_posts(tmp_path):
    posts = synthetic_posts(9, seed=21, media=["南方日报", "中国银行"])
    folder = build_site(posts[:4], tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        proc = subprocess.Popen(_cli("schedule", "--every", "2s", "--runs", "3", "--site", server.url,
                                     "--output", out, "--git-commit"),
                                env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if " run 1:" in line:
                build_site(posts[:7], folder)
            elif " run 2:" in line:
                build_site(posts, folder)
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    runs = [line for line in lines if " run " in line and "run skipped" not in line]
    assert len(runs) == 3, lines
    assert ["new 4," in runs[0], "new 3," in runs[1], "new 2," in runs[2]] == [True] * 3
    assert all("failed 0," in r and "exit 0" in r for r in runs)
    files = sorted(p.name for p in (out / "_posts").glob("*.md"))
    assert len(files) == 9 == len(set(files)) == Catalog(out, readonly=True).count()
    log = subprocess.run(["git", "-C", str(out), "log", "--format=%s"], capture_output=True, text=True).stdout.splitlines()
    assert len(log) == 3 and log[0].startswith("archive ") and log[0].endswith(": 2 new, 0 updated")
    assert sum("committed:" in line for line in lines) == 3


def test_a_run_still_going_makes_the_next_skip(tmp_path):
    posts = synthetic_posts(6, seed=22, media=["南方日报"])
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder, delay=0.5) as server:
        result = subprocess.run(_cli("schedule", "--every", "1s", "--runs", "2", "--site", server.url,
                                     "--output", out, "-s", "CONCURRENT_REQUESTS=1"),
                                env=_env(server), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0
    assert "run skipped" in result.stdout and "still going" in result.stdout
    assert len(list((out / "_posts").glob("*.md"))) == 6


def _wait_for_lock(out: Path, seconds: float = 30) -> None:
    """Until a crawl has taken the archive lock."""
    deadline = time.time() + seconds
    while not (out / ".newsarchive.lock").exists() or not (out / ".newsarchive.lock").read_text():
        assert time.time() < deadline
        time.sleep(0.05)


def test_lock_contention_exits_75_at_once(tmp_path):
    posts = synthetic_posts(6, seed=23, media=["南方日报"])
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder, delay=0.5) as server:
        first = subprocess.Popen(_cli("crawl", "--site", server.url, "--output", out, "-s", "CONCURRENT_REQUESTS=1"),
                                 env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for_lock(out)
        for args in (("crawl", "--site", server.url), ("fetch", posts[0].share_url),
                     ("schedule", "--every", "5m", "--site", server.url), ("verify", "--repair")):
            started = time.time()
            second = run_cli(*args, "--output", out, server=server, timeout=60)
            assert second.returncode == 75, (args, second.stderr)
            assert "is in use by pid" in second.stderr and time.time() - started < 15
        assert first.wait(timeout=120) == 0
    assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode in (0, 1)


def test_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    posts = synthetic_posts(4, seed=24, media=["南方日报"])
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder, delay=1.0) as server:
        victim = subprocess.Popen(_cli("crawl", "--site", server.url, "--output", out), env=_env(server),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_lock(out)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        server.httpd.delay = 0
        result = run_cli("crawl", "--site", server.url, "--output", out, server=server)
    assert result.returncode == 0, result.stderr
    assert f"took over the lock left by pid {victim.pid}" in result.stderr
    assert len(list((out / "_posts").glob("*.md"))) == 4


def test_sigterm_mid_run_finishes_cleanly(tmp_path):
    posts = synthetic_posts(30, seed=25, media=["南方日报", "中国银行"])
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder, delay=0.2) as server:
        proc = subprocess.Popen(_cli("crawl", "--site", server.url, "--output", out, "-s", "CONCURRENT_REQUESTS=2"),
                                env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while len(list((out / "_posts").glob("*.md"))) < 3:
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert proc.stdout.read().startswith("crawl stopped (SIGTERM/SIGINT): ")      # not "finished"
    files = list((out / "_posts").glob("*.md"))
    assert 3 <= len(files) < 30
    assert Catalog(out, readonly=True).count() == len(files)
    assert not list((out / "_posts").glob(".tmp-*")) and not list((out / "warc").glob("*.open"))
    for f in files:
        assert isinstance(yaml.safe_load(f.read_text("utf-8").split("---\n")[1]), dict)
    assert not (out / ".newsarchive.lock").read_text()      # released
    # the next run completes the archive
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
    assert len(list((out / "_posts").glob("*.md"))) == 30


def test_two_signals_at_once_force_the_stop_and_it_ends(tmp_path):
    """A second SIGINT (a Ctrl-C the terminal sends to the whole process group, and a scheduler passing
    one on) makes Scrapy stop without closing its components: the writer process is let go at exit
    instead of being waited for forever, and the next run completes the archive."""
    posts = synthetic_posts(30, seed=26, media=["南方日报", "中国银行"])
    folder = build_site(posts, tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder, delay=0.2) as server:
        proc = subprocess.Popen(_cli("crawl", "--site", server.url, "--output", out, "-s", "CONCURRENT_REQUESTS=2"),
                                env=_env(server), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        deadline = time.time() + 60
        while len(list((out / "_posts").glob("*.md"))) < 3:
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the crawl did not end after two signals") from None
    assert proc.returncode == 1 and "the crawl was forced to stop before it could finish" in err, err[-1500:]
    assert "Traceback" not in err
    with MockServer(folder) as server:
        result = run_cli("crawl", "--site", server.url, "--output", out, server=server)
    assert result.returncode == 0, result.stderr[-1500:]
    assert len(list((out / "_posts").glob("*.md"))) == 30 == Catalog(out, readonly=True).count()


def test_keep_days_moves_old_posts_but_keeps_them(tmp_path, small_mirror):
    out = tmp_path / "archive"
    assert run_cli("crawl", "--site", small_mirror.url, "--output", out, server=small_mirror).returncode == 0
    writer = ArchiveWriter(out)
    newest = max(p.date for p in small_mirror.posts)
    moved = writer.retire(0, now=newest)
    writer.close()
    assert moved == 11
    assert len(list((out / "old_post").glob("*.md"))) == 11 and len(list((out / "_posts").glob("*.md"))) == 1
    target = tmp_path / "all.jsonl"
    assert run_cli("export", "--output", out, "--format", "jsonl", "--to", target).returncode == 0
    assert len(target.read_text("utf-8").splitlines()) == 12
    again = run_cli("crawl", "--site", small_mirror.url, "--output", out, server=small_mirror)
    assert "new 0" in again.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.skipif(not shutil.which("scrapyd", path=os.path.dirname(sys.executable)), reason="scrapyd is not installed")
def test_scrapyd_deploy_and_schedule(tmp_path, small_mirror):
    bindir = os.path.dirname(sys.executable)
    port = _free_port()
    home = tmp_path / "scrapyd"
    home.mkdir()
    (home / "scrapyd.conf").write_text(
        f"[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = {port}\neggs_dir = {home}/eggs\n"
        f"logs_dir = {home}/logs\nitems_dir =\ndbs_dir = {home}/dbs\npoll_interval = 0.5\n", "utf-8")
    proj = tmp_path / "proj"           # a clean copy: scrapyd-deploy writes a setup.py beside scrapy.cfg
    shutil.copytree(ROOT / "newsarchive", proj / "newsarchive", ignore=shutil.ignore_patterns("__pycache__"))
    (proj / "scrapy.cfg").write_text(
        f"[settings]\ndefault = newsarchive.settings\n\n[deploy]\nurl = http://127.0.0.1:{port}/\nproject = newsarchive\n")
    daemon = subprocess.Popen([os.path.join(bindir, "scrapyd")], cwd=home, env=_env(small_mirror),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                assert _get(f"http://127.0.0.1:{port}/daemonstatus.json")["status"] == "ok"
                break
            except OSError:
                assert time.time() < deadline, "scrapyd did not start"
                time.sleep(0.2)
        deploy = subprocess.run([os.path.join(bindir, "scrapyd-deploy")], cwd=proj, capture_output=True, text=True,
                                timeout=120)
        assert deploy.returncode == 0 and '"status": "ok"' in deploy.stdout + deploy.stderr, deploy.stderr
        assert "mirror" in _get(f"http://127.0.0.1:{port}/listspiders.json?project=newsarchive")["spiders"]
        out = tmp_path / "archive"
        data = urllib.parse.urlencode([("project", "newsarchive"), ("spider", "mirror"), ("site", small_mirror.url),
                                       ("setting", f"NEWSARCHIVE_OUTPUT={out}"), ("setting", "AUTOTHROTTLE_ENABLED=0"),
                                       ("setting", "DOWNLOAD_DELAY=0")]).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/schedule.json", data=data, timeout=10) as r:
            job = json.loads(r.read())["jobid"]
        deadline = time.time() + 120
        while not any(j["id"] == job for j in _get(f"http://127.0.0.1:{port}/listjobs.json?project=newsarchive")["finished"]):
            assert time.time() < deadline, "the job did not finish"
            time.sleep(0.5)
        assert len(list((out / "_posts").glob("*.md"))) == 12
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_a_crawl_that_says_much_never_hangs_the_scheduler(tmp_path):
    """Its messages are not left in a pipe nobody reads while it runs (over 64 KB of them hung it:
    the debug log of 60 posts is ~100 KB)."""
    posts = synthetic_posts(60, seed=23, media=["南方日报"])
    out = tmp_path / "archive"
    with MockServer(build_site(posts, tmp_path / "m")) as server:
        result = subprocess.run(_cli("schedule", "--every", "1s", "--runs", "1", "--site", server.url,
                                     "--output", out, "--log", "-s", "LOG_LEVEL=DEBUG"),
                                env=_env(server), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run 1:" in result.stdout and "exit 0" in result.stdout
    assert len(list((out / "_posts").glob("*.md"))) == 60


def test_keep_days_never_makes_a_new_catalog_for_a_lost_one(tmp_path, small_mirror):
    """A run refused for a lost catalog (65) retires nothing: retiring would open — so make — an empty
    catalog, and the next run would adopt the files as new. The schedule's status is the run's."""
    out = tmp_path / "archive"
    assert run_cli("crawl", "--site", small_mirror.url, "--output", out, server=small_mirror).returncode == 0
    (out / "archive.sqlite3").unlink()
    result = subprocess.run(_cli("schedule", "--every", "1s", "--runs", "1", "--keep-days", "0",
                                 "--site", small_mirror.url, "--output", out),
                            env=_env(small_mirror), capture_output=True, text=True, timeout=120)
    assert result.returncode == 65, result.stdout + result.stderr
    assert "exit 65" in result.stdout
    assert not (out / "archive.sqlite3").exists()
    assert not (out / "old_post").exists() and len(list((out / "_posts").glob("*.md"))) == len(small_mirror.posts)
    again = run_cli("crawl", "--site", small_mirror.url, "--output", out, server=small_mirror)
    assert again.returncode == 65, again.stdout + again.stderr
