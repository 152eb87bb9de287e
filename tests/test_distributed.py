"""Distributed crawl on a real Redis (Debian's redis-server) with scrapy-redis: several workers, one
archive, each post exactly once — also when a worker is killed halfway."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog

pytestmark = pytest.mark.e2e

REDIS_SERVER = shutil.which("redis-server")
FAST = ["-s", "NEWSARCHIVE_REDIS_HEARTBEAT=0.5", "-s", "NEWSARCHIVE_REDIS_IDLE=3", "-s", "NEWSARCHIVE_PROGRESS=off"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_server(port: int, folder: Path) -> subprocess.Popen:
    """A redis-server of our own on 127.0.0.1, answering."""
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            assert time.time() < deadline, "redis-server did not start"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """The Redis .ci/run started (NEWSARCHIVE_TEST_REDIS), else one of our own on a free port."""
    if os.environ.get("NEWSARCHIVE_TEST_REDIS"):
        yield os.environ["NEWSARCHIVE_TEST_REDIS"]
        return
    if not REDIS_SERVER:
        pytest.skip("redis-server is not installed (Debian package 'redis-server'): distributed tests not run")
    port = _free_port()
    proc = _redis_server(port, tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_db(redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    yield redis_url
    r.flushdb()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    posts = synthetic_posts(1000, seed=41, media=[f"媒体{i}" for i in range(12)], paragraphs=(2, 3))
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    with MockServer(folder) as server:
        server.posts = posts
        yield server


ROOT = Path(__file__).resolve().parents[1]


def _worker(server, redis_url, out, *extra, stats=None, via="cli"):
    """A worker started as ``newsarchive crawl --redis`` or as plain ``scrapy crawl mirror -s
    NEWSARCHIVE_REDIS_URL=…`` (what a Scrapyd job runs): the Redis add-on makes them the same."""
    env = {**os.environ, "http_proxy": server.url, "no_proxy": "127.0.0.1,localhost"}
    if via == "cli":
        cmd = [sys.executable, "-m", "newsarchive", "crawl", "--site", server.url, "--output", str(out),
               "--redis", redis_url, *FAST, *extra]
        if stats:
            cmd += ["--stats-file", str(stats)]
    else:
        cmd = [sys.executable, "-m", "scrapy", "crawl", "mirror", "-a", f"site={server.url}",
               "-s", f"NEWSARCHIVE_OUTPUT={out}", "-s", f"NEWSARCHIVE_REDIS_URL={redis_url}", *FAST,
               "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "DOWNLOAD_DELAY=0", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=32",
               "-s", "LOG_LEVEL=WARNING", *(["-s", f"NEWSARCHIVE_STATS_FILE={stats}"] if stats else [])]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_once(out: Path, posts) -> None:
    files = sorted(p.name for p in (out / "_posts").glob("*.md"))
    assert files == sorted(f"{p.date:%Y-%m-%d}-{p.info_code}.md" for p in posts)
    catalog = Catalog(out, readonly=True)
    assert catalog.count() == len(posts)
    catalog.close()


def test_three_workers_archive_each_post_exactly_once(mirror, redis_db, tmp_path):
    out = tmp_path / "archive"
    workers = [_worker(mirror, redis_db, out, stats=tmp_path / f"w{i}.json") for i in range(3)]
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read()[-3000:]    # each exits by itself
    _check_once(out, mirror.posts)
    stats = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(3)]
    written = [s.get("newsarchive/posts/written", 0) for s in stats]
    assert sum(written) == 1000 and sum(1 for w in written if w) >= 2    # work was shared, each post once
    assert all(s.get("newsarchive/posts/failed", 0) == 0 for s in stats)
    import redis
    r = redis.Redis.from_url(redis_db)
    assert r.scard("newsarchive:mirror:archived") == 1000
    assert not r.exists("newsarchive:mirror:requests", "newsarchive:mirror:dupefilter", "newsarchive:mirror:pending")
    # a second distributed crawl of the unchanged mirror downloads no post
    again = _worker(mirror, redis_db, out, stats=tmp_path / "again.json")
    assert again.wait(timeout=120) == 0
    s = json.loads((tmp_path / "again.json").read_text())
    assert s.get("newsarchive/pages/posts", 0) == 0 and s.get("newsarchive/posts/written", 0) == 0


def test_a_worker_killed_halfway_loses_nothing(mirror, redis_db, tmp_path):
    out = tmp_path / "archive"
    victim = _worker(mirror, redis_db, out)
    survivors = [_worker(mirror, redis_db, out, stats=tmp_path / f"s{i}.json") for i in range(2)]
    _kill_at(victim, out, 300)
    for w in survivors:
        assert w.wait(timeout=300) == 0, w.stderr.read()[-3000:]
    _check_once(out, mirror.posts)
    assert not list((out / "_posts").glob(".tmp-*"))
    # a restarted worker joins and finds nothing left to do
    late = _worker(mirror, redis_db, out, stats=tmp_path / "late.json")
    assert late.wait(timeout=120) == 0
    assert json.loads((tmp_path / "late.json").read_text()).get("newsarchive/posts/written", 0) == 0


def _kill_at(victim, out: Path, posts: int) -> None:
    deadline = time.time() + 120
    while len(list((out / "_posts").glob("*.md"))) < posts if (out / "_posts").exists() else True:
        assert time.time() < deadline and victim.poll() is None
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def test_scrapy_crawl_workers_on_redis_one_killed_and_restarted_archive_each_post_once(mirror, redis_db, tmp_path):
    """``scrapy crawl mirror -s NEWSARCHIVE_REDIS_URL=…`` gets the whole distributed crawl from the add-on:
    two workers, one killed with -9 and restarted, every post of the 1,000 archived exactly once."""
    out = tmp_path / "archive"
    victim = _worker(mirror, redis_db, out, via="scrapy")
    other = _worker(mirror, redis_db, out, stats=tmp_path / "other.json", via="scrapy")
    _kill_at(victim, out, 250)
    restarted = _worker(mirror, redis_db, out, stats=tmp_path / "restarted.json", via="scrapy")
    for w in (other, restarted):
        assert w.wait(timeout=300) == 0, w.stderr.read()[-3000:]
    _check_once(out, mirror.posts)
    stats = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("other", "restarted")]
    assert all(s.get("newsarchive/posts/failed", 0) == 0 for s in stats)
    assert all("scheduler/dequeued/redis" in s for s in stats)           # really on Redis


def test_workers_without_a_shared_disk_and_one_collector(mirror, redis_db, tmp_path):
    archive = tmp_path / "archive"
    workers = [_worker(mirror, redis_db, tmp_path / f"local{i}", "--redis-items", stats=tmp_path / f"p{i}.json")
               for i in range(2)]
    collector = subprocess.Popen([sys.executable, "-m", "newsarchive", "collect", "--redis", redis_db, "--output",
                                  str(archive), "--idle", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read()[-3000:]
    assert collector.wait(timeout=120) == 0, collector.stderr.read()
    assert "1000 written" in collector.stdout.read()
    _check_once(archive, mirror.posts)
    queued = [json.loads((tmp_path / f"p{i}.json").read_text()).get("newsarchive/posts/queued", 0) for i in range(2)]
    assert sum(queued) == 1000
    assert not any(list((tmp_path / f"local{i}" / "_posts").glob("*.md")) for i in range(2))


def test_a_crawl_into_another_archive_on_the_same_redis_skips_nothing(redis_db, tmp_path):
    """The set of archived infoCodes is this run's archives': a crawl into a new (or restored, or
    rebuilt) folder on the same Redis archives every post (it skipped them all as archived: new 0)."""
    posts = synthetic_posts(20, seed=43, media=["南方日报"])
    with MockServer(build_site(posts, tmp_path / "m")) as server:
        for out in (tmp_path / "first", tmp_path / "second"):
            w = _worker(server, redis_db, out)
            stdout, stderr = w.communicate(timeout=120)
            assert w.returncode == 0, stdout + stderr
            _check_once(out, posts)


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server is not installed: the loss of Redis was not tried")
def test_redis_lost_mid_crawl_ends_the_crawl_with_69(tmp_path):
    """Redis stops answering mid-crawl: the crawl ends, exit 69, one line naming Redis — not a crawl that
    never ends (an error every 5 s) and then says it finished."""
    port = _free_port()
    server_proc = _redis_server(port, tmp_path)
    try:
        posts = synthetic_posts(40, seed=44, media=["南方日报"])
        out = tmp_path / "archive"
        with MockServer(build_site(posts, tmp_path / "m"), delay=0.1) as server:
            w = _worker(server, f"redis://127.0.0.1:{port}/0", out, "-s", "CONCURRENT_REQUESTS=16")
            deadline = time.time() + 60
            while not list((out / "_posts").glob("*.md")) if (out / "_posts").exists() else True:
                assert time.time() < deadline and w.poll() is None, "the crawl wrote nothing"
                time.sleep(0.1)
            server_proc.kill()
            server_proc.wait()
            stdout, stderr = w.communicate(timeout=60)
        assert w.returncode == 69, stdout + stderr
        assert "Traceback" not in stderr, stderr
        assert stderr.strip().splitlines()[-1].startswith("newsarchive crawl: Redis stopped answering mid-crawl"), stderr
        assert len(stderr.strip().splitlines()) <= 5 and len(stderr) < 4000, stderr     # said once, not per post
        failures = sqlite3.connect(out / "archive.sqlite3").execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        assert failures == 0            # no post or page is a failure of its own for it
    finally:
        if server_proc.poll() is None:
            server_proc.kill()


def test_a_collector_keeps_what_its_archive_holds_for_the_workers(redis_db, tmp_path):
    """A collector started before the first worker: its archive's posts stay known to the workers, which
    skip them (the first worker made the set anew and they downloaded every post again)."""
    posts = synthetic_posts(20, seed=45, media=["南方日报"])
    archive = tmp_path / "archive"
    with MockServer(build_site(posts, tmp_path / "m")) as server:
        assert subprocess.run([sys.executable, "-m", "newsarchive", "crawl", "--site", server.url, "--output",
                               str(archive), *FAST], env={**os.environ, "http_proxy": server.url,
                               "no_proxy": "127.0.0.1,localhost"}, capture_output=True).returncode == 0
        collector = subprocess.Popen([sys.executable, "-m", "newsarchive", "collect", "--redis", redis_db, "--output",
                                      str(archive), "--idle", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        import redis

        deadline = time.time() + 30
        while not redis.Redis.from_url(redis_db).exists("newsarchive:mirror:collector"):
            assert time.time() < deadline and collector.poll() is None, "the collector did not start"
            time.sleep(0.05)
        w = _worker(server, redis_db, tmp_path / "local", "--redis-items", stats=tmp_path / "w.json")
        stdout, stderr = w.communicate(timeout=120)
        assert w.returncode == 0, stdout + stderr
        assert collector.wait(timeout=60) == 0, collector.stderr.read()
    stats = json.loads((tmp_path / "w.json").read_text())
    assert stats.get("newsarchive/posts/skipped_known") == 20 and not stats.get("newsarchive/posts/queued"), stats
