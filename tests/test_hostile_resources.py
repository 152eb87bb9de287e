"""A hostile mirror against the machine and the archive folder: endless pagination, huge listings,
nesting past the parser's depth, WARC files that would inflate or break a rebuild, and symbolic
links planted in the archive folder. Each ends by itself, is counted, and changes nothing outside
the archive. (Peak memory of the endless chain is the benchmark's: ``bench/hostile.py``.)"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import SourcePost, build_site, render_post_page, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import run_cli

pytestmark = pytest.mark.e2e

DAY = dt.datetime(2021, 12, 24, 11, 18, tzinfo=BEIJING)


def endless_listing(path: str, query: dict, with_posts: bool):
    """``/category/endless-N.html``: a listing whose next page is N+1, for ever (and, ``with_posts``, a
    new post on each page, served too)."""
    if path.startswith("/category/endless"):
        n = int(path[len("/category/endless-"):-5] or 0) if "-" in path else 0
        post = f'<a href="/endless/2021/12/24/NW2021122422{n:08d}.html">帖子{n}</a>' if with_posts else ""
        body = (f'<html><body><div class="wrapper"><section>{post}'
                f'<a rel="next" href="/category/endless-{n + 1}.html">下一页</a></section></div></body></html>')
        return 200, {}, body.encode()
    if with_posts and path.startswith("/endless/2021/12/24/NW"):
        code = path.rsplit("/", 1)[1][:-5]
        page = render_post_page(SourcePost(code, f"无尽{code[-4:]}", DAY, "无尽", ["正文。"], share=False))
        return 200, {}, page.encode()
    return None


@pytest.mark.parametrize("with_posts", [False, True], ids=["no posts", "one post a page"])
def test_an_endless_listing_chain_ends_by_itself(tmp_path, with_posts):
    folder = build_site([], tmp_path / "m")
    out, stats = tmp_path / "archive", tmp_path / "s.json"
    with MockServer(folder) as server:
        server.httpd.dynamic = lambda path, query: endless_listing(path, query, with_posts)
        result = run_cli("crawl", "--site", server.url, "--category", "endless", "--output", out, "--stats-file", stats,
                         "-s", "NEWSARCHIVE_MAX_LISTING_PAGES=40", server=server, timeout=300)
    assert "Traceback" not in result.stderr
    s = json.loads(stats.read_text())
    assert s["newsarchive/pages/listings"] == 40 and s["newsarchive/drop/listing_pages"] == 1
    assert len(list((out / "_posts").glob("*.md"))) == (40 if with_posts else 0)


def test_a_listing_with_200000_links_takes_the_first_ones_and_says_so(tmp_path):
    folder = build_site([], tmp_path / "m")
    links = "".join(f'<a href="/huge/2021/12/24/NW2021122422{i:08d}.html">{i}</a>' for i in range(200_000))
    (folder / "site" / "category" / "huge.html").write_text(
        f'<html><body><div class="wrapper"><section>{links}</section></div></body></html>', "utf-8")
    out, stats = tmp_path / "archive", tmp_path / "s.json"
    with MockServer(folder) as server:
        result = run_cli("crawl", "--site", server.url, "--category", "huge", "--output", out, "--stats-file", stats,
                         "-s", "NEWSARCHIVE_MAX_LINKS_PER_PAGE=500", "-s", "CLOSESPIDER_PAGECOUNT=60",
                         server=server, timeout=300)
    s = json.loads(stats.read_text())
    assert s["newsarchive/drop/links_over_limit"] == 200_000 - 500
    assert s["newsarchive/posts/found"] == 500
    assert s["finish_reason"] == "closespider_pagecount"              # and the budget stopped the rest
    assert "links past NEWSARCHIVE_MAX_LINKS_PER_PAGE" in result.stderr


def test_a_post_nested_past_the_parsers_depth_is_a_failure_never_a_truncated_post(tmp_path):
    posts = synthetic_posts(2, seed=3, media=["南方日报"], start=DAY)
    deep = posts[0]
    deep.extra_html = "<div>" * 3000 + "<p>深处</p>" + "</div>" * 3000 + "<p>末段</p>"
    folder = build_site(posts, tmp_path / "m")
    out, stats = tmp_path / "archive", tmp_path / "s.json"
    with MockServer(folder) as server:
        run_cli("crawl", "--site", server.url, "--output", out, "--stats-file", stats, "--no-share", server=server)
    names = [p.name for p in (out / "_posts").glob("*.md")]
    assert names == [f"{posts[1].date:%Y-%m-%d}-{posts[1].info_code}.md"]
    s = json.loads(stats.read_text())
    assert s["newsarchive/drop/truncated_parse"] == 1 and s["newsarchive/posts/failed"] == 1
    failures = json.loads(run_cli("stats", "--output", out, "--json").stdout)["failures"]
    assert [f["url"].endswith(deep.path) for f in failures] == [True] and "2,048" in failures[0]["reason"]


def _warc_record(writer, url, body, date="2021-12-24T03:18:57Z", status="200 OK", role="post"):
    http = StatusAndHeaders(status, [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    rec = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                    warc_headers_dict={"WARC-Newsarchive-Role": role, **({"WARC-Date": date} if date else {})})
    if not date:
        rec.rec_headers.remove_header("WARC-Date")
    writer.write_record(rec)


def test_rebuild_skips_what_it_cannot_read_and_rebuilds_the_rest(tmp_path):
    posts = synthetic_posts(3, seed=4, media=["南方日报"], start=DAY)
    folder = build_site(posts, tmp_path / "m")
    good = tmp_path / "good"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", good, "--no-share", server=server).returncode == 0
    warc = tmp_path / "warc"
    shutil.copytree(good / "warc", warc)
    with open(warc / "a-bad.warc.gz", "wb") as fh:                  # records that cannot be replayed
        w = WARCWriter(fh, gzip=True)
        _warc_record(w, "file:///etc/passwd", b"root:x:0:0")
        _warc_record(w, "http://127.0.0.1:1/x/2021/12/24/NW202112242225199999.html", b"<html>", date="")
        _warc_record(w, "http://127.0.0.1:1/x/2021/12/24/NW202112242225199998.html", b"<html>", status="banana")
        _warc_record(w, "http://127.0.0.1:1/x/2021/12/24/NW202112242225199997.html", b"<p>" + b"x" * (17 << 20))
    (warc / "b-random.warc.gz").write_bytes(os.urandom(4096))
    (warc / "c-plain-gzip.warc.gz").write_bytes(gzip.compress(b"not a WARC at all\n" * 100))
    bomb = gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 1073741824\r\n\r\n" + b"\0" * (64 << 20))
    (warc / "d-bomb.warc.gz").write_bytes(bomb)
    out = tmp_path / "rebuilt"
    result = run_cli("rebuild", "--warc", warc, "--output", out)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "b-random.warc.gz" in result.stderr and "payload over" in result.stderr and "not an http(s) URL" in result.stderr
    rebuilt = {p.name: p.read_bytes() for p in (out / "_posts").glob("*.md")}
    assert rebuilt == {p.name: p.read_bytes() for p in (good / "_posts").glob("*.md")} and len(rebuilt) == 3


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


@pytest.mark.parametrize("name", ["_posts", "warc", "old_post", ".newsarchive.lock", "archive.sqlite3"])
def test_a_symbolic_link_in_the_archive_folder_is_refused_and_nothing_outside_changes(tmp_path, name):
    posts = synthetic_posts(3, seed=6, media=["南方日报"], start=DAY)
    folder = build_site(posts, tmp_path / "m")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim_file = outside / "victim.txt"
    victim_file.write_text("do not touch\n")
    victim_db = outside / "other.sqlite3"
    sqlite3.connect(victim_db).execute("CREATE TABLE app (x)").connection.commit()
    out = tmp_path / "archive"
    out.mkdir()
    target = {"_posts": outside, "warc": outside, "old_post": outside, ".newsarchive.lock": victim_file,
              "archive.sqlite3": victim_db}[name]
    (out / name).symlink_to(target)
    before = {p.name: _digest(p) for p in outside.iterdir()}
    with MockServer(folder) as server:
        crawl = run_cli("crawl", "--site", server.url, "--output", out, "--no-share", server=server)
        keep = run_cli("schedule", "--every", "1s", "--runs", "1", "--keep-days", "1", "--site", server.url,
                       "--output", out, "--no-share", server=server)
    export = run_cli("export", "--output", out, "--format", "jsonl", "--to", tmp_path / "x.jsonl")
    assert crawl.returncode != 0 and keep.returncode != 0
    assert "symbolic link" in crawl.stderr and len(crawl.stderr.strip().splitlines()) == 1, crawl.stderr
    assert "Traceback" not in crawl.stderr + keep.stderr + export.stderr
    assert {p.name: _digest(p) for p in outside.iterdir()} == before          # the victims are untouched
    assert [r[0] for r in sqlite3.connect(victim_db).execute("SELECT name FROM sqlite_master")] == ["app"]
