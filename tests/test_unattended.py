"""Unattended for years: every way a run can fail says so — a non-zero exit a scheduler sees, one line
on stderr naming the cause and what to do, no traceback, a `crawls` row with the reason — and
nothing archived is lost; `verify` finds what is wrong and `verify --repair` puts it right."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, demo_posts, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog

from helpers import run_cli

pytestmark = pytest.mark.e2e
START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING)


def _files(out: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for d in ("_posts", "old_post") if (out / d).is_dir()
            for p in (out / d).glob("*.md")}


def _one_line_cause(result, *words) -> None:
    err = result.stderr.strip()
    assert "Traceback" not in result.stderr and err and len(err.splitlines()) <= 2, result.stderr[-2000:]
    assert all(w in err for w in words), err


def _crawls(out: Path) -> list[tuple]:
    db = sqlite3.connect(out / "archive.sqlite3")
    try:
        return db.execute("SELECT new, failed, reason FROM crawls ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    posts = synthetic_posts(120, seed=21, media=["南方日报", "上海证券报", "第一财经"], start=START)
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    with MockServer(folder) as server:
        server.posts = posts
        yield server


@pytest.fixture(scope="module")
def clean(mirror, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "archive"
    assert run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror).returncode == 0
    return out


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_catalog_stops_the_crawl_and_verify_repair_makes_the_archive_whole(mirror, clean, tmp_path, damage):
    out = tmp_path / "archive"
    shutil.copytree(clean, out)
    db = out / "archive.sqlite3"
    for extra in ("archive.sqlite3-wal", "archive.sqlite3-shm"):
        (out / extra).unlink(missing_ok=True)
    data = db.read_bytes()
    db.write_bytes({"garbage": os.urandom(len(data)), "truncated": data[:20000], "empty": b""}[damage])
    before = _files(out)
    crawl = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
    assert crawl.returncode == 65
    _one_line_cause(crawl, "archive.sqlite3", "newsarchive verify --repair")
    for command in (["stats"], ["export", "--format", "jsonl", "--to", tmp_path / "x.jsonl"],
                    ["fetch", f"{mirror.url}category/nanfangribao.html"]):
        result = run_cli(*command, "--output", out, server=mirror)
        assert result.returncode == 65, command
        _one_line_cause(result, "verify --repair")
    sched = run_cli("schedule", "--every", "1s", "--runs", "1", "--site", mirror.url, "--output", out, server=mirror)
    assert "exit 65" in sched.stdout and "verify --repair" in sched.stdout, sched.stdout
    assert _files(out) == before                                    # nothing archived was touched
    verify = run_cli("verify", "--output", out)
    assert verify.returncode == 1 and "catalog" in verify.stdout
    repair = run_cli("verify", "--repair", "--output", out)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert list(out.glob("archive.sqlite3.damaged-*")) != [] or damage == "empty"
    # the archive equals a clean crawl: the same files, a row for each, verify clean, a crawl writes nothing
    assert _files(out) == _files(clean)
    catalog = Catalog(out, readonly=True)
    assert catalog.count() == len(_files(out))
    catalog.close()
    assert run_cli("verify", "--output", out).returncode == 0
    found = run_cli("search", "央行", "--output", out, "--json", "--limit", "1000")     # searchable again
    want = run_cli("search", "央行", "--output", clean, "--json", "--limit", "1000")
    assert found.returncode == 0 and found.stdout == want.stdout and "not in the index" not in found.stderr
    again = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
    assert again.returncode == 0 and "new 0, updated 0" in again.stdout


def test_repair_leaves_a_file_that_is_no_post_uncatalogued(clean, tmp_path):
    out = tmp_path / "archive"
    shutil.copytree(clean, out)
    junk = out / "_posts" / "2021-12-24-NW202112242225999999.md"
    junk.write_text("junk\n", "utf-8")
    repaired = run_cli("verify", "--repair", "--output", out)
    assert repaired.returncode == 1 and f"not repaired: extra           {junk}" in repaired.stderr, repaired.stderr
    catalog = Catalog(out, readonly=True)
    assert catalog.get("NW202112242225999999") is None and junk.read_text("utf-8") == "junk\n"
    catalog.close()


def test_deleted_posts_are_listed_and_restored_byte_for_byte_from_the_captures(clean, tmp_path):
    out = tmp_path / "archive"
    shutil.copytree(clean, out)
    gone = sorted((out / "_posts").glob("*.md"))[:3]
    want = {p.name: p.read_bytes() for p in gone}
    for p in gone:
        p.unlink()
    edited = sorted((out / "_posts").glob("*.md"))[5]
    original = edited.read_bytes()
    edited.write_bytes(original.replace("南方日报".encode(), "北方日报".encode()) + b"\nhand edit")
    verify = run_cli("verify", "--output", out)
    assert verify.returncode == 1
    missing = [line for line in verify.stdout.splitlines() if line.startswith("missing")]
    assert sorted(Path(line.split()[1]).name for line in missing) == sorted(want)
    assert any(line.startswith("changed") and edited.name in line for line in verify.stdout.splitlines())
    repair = run_cli("verify", "--repair", "--output", out)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert {name: (out / "_posts" / name).read_bytes() for name in want} == want
    assert edited.read_bytes() == original
    revisions = sqlite3.connect(out / "archive.sqlite3").execute("SELECT text FROM revisions").fetchall()
    assert any("hand edit" in r[0] for r in revisions)                # the edited text is kept


def test_the_writer_process_killed_mid_crawl_is_a_failed_run_and_the_rerun_completes(mirror, clean, tmp_path):
    out = tmp_path / "archive"
    env = {**os.environ, "http_proxy": mirror.url, "no_proxy": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "newsarchive", "crawl", "--site", mirror.url, "--output", str(out),
                             "-s", "CONCURRENT_REQUESTS=2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "_posts").is_dir() or len(list((out / "_posts").glob("*.md"))) < 10:
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.02)
    writers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "multiprocessing"], capture_output=True, text=True).stdout.split()
    assert writers
    for pid in writers:
        os.kill(int(pid), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 73 and stdout.startswith("crawl failed:")
    assert "Traceback" not in stderr and "writer process stopped" in stderr.splitlines()[-1]
    assert _crawls(out)[-1][2] == "archive_unwritable"
    rerun = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
    assert rerun.returncode == 0 and _files(out) == _files(clean)


def _mount(*args) -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None and \
        subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def _small_disk(folder: Path, size: str):
    """``folder``, a tmpfs of ``size`` for the test's time (skipped where it cannot be mounted)."""
    folder.mkdir()
    if not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)):
        pytest.skip("mounting a small tmpfs needs root and mount(8): the disk-full case was not run")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_full_disk_stops_the_crawl_with_its_cause_and_the_rerun_completes(mirror, clean, tmp_path):
    with _small_disk(tmp_path / "small", "600k") as out:
        result = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
        assert result.returncode == 73 and result.stdout.startswith("crawl failed:")
        _one_line_cause(result, "could not be written")
        assert "No space left on device" in result.stderr or "disk is full" in result.stderr
        kept = _files(out)
        assert 0 < len(kept) < len(_files(clean)) and all(kept[n] == _files(clean)[n] for n in kept)
        assert _crawls(out)[-1][2] == "archive_unwritable", result.stderr   # recorded, on a full disk
        subprocess.run(["mount", "-o", "remount,size=20m", str(out)], check=True)
        rerun = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
        assert rerun.returncode == 0 and _files(out) == _files(clean)
        assert [r[2] for r in _crawls(out)][-1] == "finished"


def test_a_disk_too_full_to_open_the_archive_is_one_line(mirror, tmp_path):
    with _small_disk(tmp_path / "tiny", "150k") as out:
        result = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
        assert result.returncode == 73, result.stderr[-2000:]
        _one_line_cause(result, "the archive could not be opened", "disk is full")    # no writer traceback


def _fill(folder: Path) -> None:
    """Take every free byte of the file system ``folder`` is on."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:
            pass


def test_the_crawl_row_is_finished_on_a_disk_the_crawl_filled(tmp_path):
    with _small_disk(tmp_path / "small", "2m") as out:
        catalog = Catalog(out)
        try:
            crawl = catalog.start_crawl("mirror", "2026-12-01T08:00:00+08:00")
            _fill(out)
            with pytest.raises(sqlite3.OperationalError, match="full"):   # the disk is full for the catalog too
                catalog.start_crawl("mirror", "2026-12-01T08:00:01+08:00")
            catalog.conn.rollback()
            catalog.finish_crawl(crawl, "mirror", "2026-12-01T08:00:00+08:00", 3, 0, 0, 1, "archive_unwritable")
        finally:
            catalog.close()         # (before the disk is unmounted)
        assert [r[2] for r in _crawls(out)] == ["archive_unwritable"]
        assert not list(out.glob(".newsarchive.reserve-*"))


def test_a_read_only_posts_folder_stops_the_crawl_with_its_cause(mirror, clean, tmp_path):
    out = tmp_path / "archive"
    (out / "_posts").mkdir(parents=True)
    if not (_mount("--bind", str(out / "_posts"), str(out / "_posts"))
            and _mount("-o", "remount,bind,ro", str(out / "_posts"))):
        subprocess.run(["umount", str(out / "_posts")], capture_output=True)
        pytest.skip("a read-only bind mount needs root and mount(8): the read-only case was not run")
    try:
        result = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
        assert result.returncode == 73
        _one_line_cause(result, "Read-only file system")
        assert _crawls(out)[-1][2] == "archive_unwritable"
    finally:
        subprocess.run(["umount", str(out / "_posts")], capture_output=True)
    rerun = run_cli("crawl", "--site", mirror.url, "--output", out, server=mirror)
    assert rerun.returncode == 0 and _files(out) == _files(clean)


def test_a_dead_share_host_is_one_warning_and_every_post_is_archived(tmp_path):
    posts = demo_posts()
    folder = build_site(posts, tmp_path / "m", page_size=4)
    shutil.rmtree(folder / "upstream")
    (folder / "upstream").mkdir()
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        # the share host does not even answer: its name resolves nowhere (no proxy for it)
        result = run_cli("crawl", "--site", server.url, "--output", out, "-s", "NEWSARCHIVE_SHARE_TIMEOUT=2",
                         env={"no_proxy": "*"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stderr.strip().splitlines()) <= 5, result.stderr
    assert "keep the mirror's body" in result.stderr and "Traceback" not in result.stderr
    assert "Deprecat" not in result.stderr
    assert len(list((out / "_posts").glob("*.md"))) == len(posts)


@pytest.mark.parametrize("args, status, words", [
    (["crawl", "--redis", "notaurl"], 2, ["--redis takes"]),
    (["crawl", "--redis", "redis://127.0.0.1:1/0"], 69, ["does not answer"]),
    (["crawl", "-s", "CONCURRENT_REQUESTS=abc", "--site", "http://127.0.0.1:1/"], 2, ["abc"]),
    (["crawl", "--site", "ftp://example.org/"], 2, ["--site takes an http(s) URL"]),
    (["crawl", "--jobs", "0"], 2, ["--jobs"]),
    (["crawl", "--follow"], 2, ["--redis"]),
    (["collect", "--redis", "redis://127.0.0.1:1/0", "--idle", "1"], 69, ["does not answer"]),
    (["export", "--format", "jsonl", "--to", "x.jsonl", "--since", "2022-01-02", "--until", "2022-01-01"], 2, ["after"]),
    (["fetch", "http://[::1"], 2, ["not an http(s) URL"]),
    (["crawl", "--site", "http://[2001:db8::1/"], 2, ["--site takes an http(s) URL"]),
    (["schedule", "--every", "1s", "--runs", "0"], 2, ["--runs", "1 or more"]),
    (["schedule", "--every", "1s", "--keep-days", "-1"], 2, ["--keep-days", "0 or more"]),
    (["demo", "--serve", "--port", "99999"], 2, ["--port", "0 to 65535"]),
    (["stats", "--output", ""], 2, ["--output", "empty"]),
    (["search", "央\udcff行"], 2, ["not UTF-8"]),            # (a byte that is no UTF-8, as argv brings it)
    (["export", "--format", "jsonl", "--to", "-", "--category", "\udcff"], 2, ["not UTF-8"]),
])
def test_bad_input_is_one_line_and_the_right_status(tmp_path, args, status, words):
    result = run_cli(*args, "--output", tmp_path / "archive", cwd=tmp_path)
    assert result.returncode == status, (result.returncode, result.stderr)
    _one_line_cause(result, *words)


def test_an_unreachable_mirror_or_category_is_said_once_in_one_line(tmp_path, mirror):
    dead = run_cli("crawl", "--site", "http://127.0.0.1:1/", "--output", tmp_path / "a")
    assert dead.returncode == 1 and "Gave up retrying" not in dead.stderr and "Error downloading" not in dead.stderr
    assert dead.stderr.strip().splitlines()[-1] == "newsarchive crawl: no page of http://127.0.0.1:1/ could be read"
    wrong = run_cli("crawl", "--site", mirror.url, "--category", "nosuch", "--output", tmp_path / "b", server=mirror)
    assert wrong.returncode == 1 and "no listing of nosuch could be read" in wrong.stderr, wrong.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_standard_output_is_one_line_and_exit_74(clean):
    for command in (["stats"], ["search", "央行"]):
        with open("/dev/full", "w") as full:
            result = subprocess.run([sys.executable, "-m", "newsarchive", *command, "--output", str(clean)],
                                    stdout=full, stderr=subprocess.PIPE, text=True)
        assert result.returncode == 74, result.stderr
        _one_line_cause(result, "cannot write", "No space left on device")


def test_a_usage_error_leaves_no_lock_behind(tmp_path):
    for command in ("fetch", "crawl"):
        bad = run_cli(command, *(["http://127.0.0.1:1/category/x.html"] if command == "fetch" else []),
                      "-s", "FOO", "--output", tmp_path / "a")
        assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr, bad.stderr
        lock = tmp_path / "a" / ".newsarchive.lock"
        assert not lock.exists() or not lock.read_text(), command


def test_output_that_is_a_file_or_a_read_only_folder_is_one_line(tmp_path, mirror):
    target = tmp_path / "a-file"
    target.write_text("x")
    for command in (["crawl", "--site", mirror.url], ["fetch", f"{mirror.url}category/nanfangribao.html"],
                    ["rebuild", "--warc", tmp_path],
                    ["demo"]):
        result = run_cli(*command, "--output", target, server=mirror)
        assert result.returncode != 0, command
        _one_line_cause(result, "a-file")
    stats_dir = run_cli("crawl", "--site", mirror.url, "--output", tmp_path / "o", "--stats-file", tmp_path, server=mirror)
    assert stats_dir.returncode == 2
    _one_line_cause(stats_dir, "--stats-file")


def test_stats_into_a_closed_pipe_says_nothing(clean):
    proc = subprocess.run(f"{sys.executable} -m newsarchive stats --output {clean} | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.startswith("posts:") and proc.stderr == ""


def test_export_to_stdout_and_never_over_anything_but_a_regular_file(clean, tmp_path):
    result = run_cli("export", "--output", clean, "--format", "jsonl", "--to", "-")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == len(_files(clean))
    assert json.loads(result.stdout.splitlines()[0])["infoCode"] and "standard output" in result.stderr
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    folder = tmp_path / "folder"
    folder.mkdir()
    for target in (link, folder):
        bad = run_cli("export", "--output", clean, "--format", "jsonl", "--to", target)
        assert bad.returncode == 1
        _one_line_cause(bad, "not a regular file")
    assert not (tmp_path / "elsewhere").exists() and list(folder.iterdir()) == []
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_fetch_no_share_never_contacts_the_share_host_and_scrapy_fetch_says_why(mirror, tmp_path):
    share = f"http://finews.zning.xyz/html_News/NewsShare.html?infoCode={mirror.posts[0].info_code}"
    before = len(mirror.hits)
    result = run_cli("fetch", "--no-share", share, "--output", tmp_path / "a", server=mirror)
    assert result.returncode == 1 and "--no-share" in result.stdout + result.stderr
    assert not [h for h in mirror.hits[before:] if "zning.xyz" in h]
    root = Path(__file__).resolve().parents[1]
    for urls in ("ftp://x/y", "http://elsewhere.example/a.html", ""):
        scrapy = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "fetch", "-a", f"urls={urls}", "-s",
                                 f"NEWSARCHIVE_OUTPUT={tmp_path / 'b'}", "-s", "LOG_LEVEL=WARNING"],
                                cwd=root, capture_output=True, text=True, timeout=120)
        assert "not fetched" in scrapy.stderr or "nothing to fetch" in scrapy.stderr, (urls, scrapy.stderr[-1500:])


def test_the_archive_git_repository_ignores_lock_catalog_and_captures(mirror, tmp_path):
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    out = tmp_path / "archive"
    result = run_cli("schedule", "--every", "1s", "--runs", "1", "--git-commit", "--site", mirror.url, "--output", out,
                     server=mirror)
    assert result.returncode == 0
    tracked = subprocess.run(["git", "-C", str(out), "ls-files"], capture_output=True, text=True).stdout.split()
    assert ".gitignore" in tracked and all(t.startswith(("_posts/", ".gitignore")) for t in tracked)
    status = subprocess.run(["git", "-C", str(out), "status", "--porcelain"], capture_output=True, text=True).stdout
    assert status == ""                                              # lock, catalog, WARC: ignored


def test_a_listing_that_keeps_failing_is_a_failed_run_that_names_it(tmp_path):
    """A category listing that answers 503 on every run: its posts are not looked for, so each run exits 1
    and says which page and why (it exited 0 with "failed 0" while the category's posts left the mirror)."""
    posts = synthetic_posts(12, seed=61, media=["南方日报", "上海证券报"], start=START)
    folder = build_site(posts, tmp_path / "m")
    lost = next(p for p in posts if p.media == "南方日报")
    listing = f"/category/{lost.category}.html"
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        server.httpd.dynamic = lambda path, query: (503, {}, b"busy") if path == listing else None
        result = run_cli("crawl", "--site", server.url, "--output", out, "-s", "RETRY_TIMES=0", server=server)
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "page(s) of the mirror could not be read" in last and listing in last and "503" in last, last
    assert "pages failed 1" in result.stdout
    # a listing gone for good (404) is the mirror's state: said in the summary, not a failed run
    with MockServer(folder) as server:
        server.httpd.dynamic = lambda path, query: (404, {}, b"gone") if path == listing else None
        gone = run_cli("crawl", "--site", server.url, "--output", out, "-s", "RETRY_TIMES=0", server=server)
    assert gone.returncode == 0 and "pages failed 1" in gone.stdout, gone.stdout + gone.stderr


def test_an_archive_folder_moved_mid_crawl_stops_the_writing(tmp_path):
    """The archive folder moved away while a crawl runs: the crawl stops with its cause (exit 73) and makes
    no new archive at the old path (it re-made _posts/ there: half the posts went to a new folder with an
    empty catalog, and the crawl said "new 600", exit 0). The moved archive is whole after a repair."""
    posts = synthetic_posts(200, seed=62, media=["南方日报"], start=START)
    out, moved = tmp_path / "archive", tmp_path / "moved"
    with MockServer(build_site(posts, tmp_path / "m"), delay=0.02) as server:
        env = {**os.environ, "http_proxy": server.url, "no_proxy": "127.0.0.1,localhost"}
        crawl = subprocess.Popen([sys.executable, "-m", "newsarchive", "crawl", "--site", server.url, "--output",
                                  str(out), "-s", "CONCURRENT_REQUESTS=4"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while len(list((out / "_posts").glob("*.md"))) < 10 if (out / "_posts").is_dir() else True:
            assert time.time() < deadline and crawl.poll() is None, "no post was written"
            time.sleep(0.05)
        os.rename(out, moved)
        stdout, stderr = crawl.communicate(timeout=120)
    assert crawl.returncode == 73, stdout + stderr
    assert "Traceback" not in stderr and "No such file or directory" in stderr.strip().splitlines()[-1], stderr
    assert not list(out.glob("_posts/*.md")) and not list(out.glob("old_post/*.md"))
    assert run_cli("verify", "--repair", "--output", moved).returncode == 0
    assert run_cli("verify", "--output", moved).returncode == 0


def test_verify_of_an_empty_folder_says_there_is_no_archive(tmp_path):
    (tmp_path / "archive").mkdir()
    result = run_cli("verify", "--output", tmp_path / "archive")
    assert result.returncode == 1          # (it said "the archive is whole")
    _one_line_cause(result, "no archive in")


def test_verify_during_a_crawl_calls_its_batch_no_extra_posts(clean, tmp_path):
    """While a crawl holds the archive, a post file a moment old is its batch's (written before its row):
    verify says nothing of it (it called it extra and advised a repair). At rest, it is an extra file."""
    from newsarchive.store.lock import ArchiveLock

    out = tmp_path / "a"
    shutil.copytree(clean, out)
    post = sorted((out / "_posts").glob("*.md"))[0]
    shutil.copy(post, out / "_posts" / "2026-09-01-NW202609010800999999.md")
    with ArchiveLock(out, "crawl"):
        during = run_cli("verify", "--output", out)
    assert during.returncode == 0 and "extra" not in during.stdout, during.stdout
    after = run_cli("verify", "--output", out)
    assert after.returncode == 1 and "extra" in after.stdout, after.stdout
