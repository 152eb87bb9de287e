"""The one path (``store.ingest``), the sinks that carry items to it, and the writer process's message
handling: component tests on a tmp folder and Scrapy's ``get_crawler``, no server."""
import datetime as dt
import multiprocessing
import threading

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from newsarchive.core import reasons as R
from newsarchive.core.extract import SiteMap
from newsarchive.core.items import ArticleItem
from newsarchive.demo.mirrorgen import render_post_page, synthetic_posts
from newsarchive.store.catalog import Catalog
from newsarchive.store.ingest import Archivist
from newsarchive.store.warc import WarcRecord, iter_captures, warc_files

pytestmark = pytest.mark.component

SITE = "http://127.0.0.1:8000/"


def _crawler(**settings):
    """A crawler with newsarchive's own settings (as scrapy.cfg gives them) and ``settings`` on top."""
    import newsarchive.settings as project

    base = {k: getattr(project, k) for k in dir(project) if k.isupper()}
    return get_crawler(settings_dict={**base, **settings})
POSTS = synthetic_posts(3, seed=5, media=["南方日报"], start=dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.timezone.utc))


def _raw(post, page: bytes | None = None, code: str | None = None) -> ArticleItem:
    return ArticleItem(info_code=post.info_code if code is None else code, share_url=post.share_url,
                       source_url=SITE.rstrip("/") + post.path, page=post.path, body_source="mirror",
                       raw_page=render_post_page(post).encode() if page is None else page,
                       raw_page_type="text/html; charset=utf-8")


def _record(item: ArticleItem, key: str = "") -> WarcRecord:
    return WarcRecord(item.source_url, [(b"User-Agent", [b"t"])], "200 OK",
                      [(b"Content-Type", [b"text/html; charset=utf-8"])], item.raw_page, "post", key, SITE)


@pytest.fixture
def archivist(tmp_path):
    a = Archivist(tmp_path / "archive", fsync=False, sitemap=SiteMap(SITE, ["finews.withounder.com"]))
    yield a
    a.close()


def test_ingest_writes_then_says_unchanged_and_counts_nothing_twice(archivist, tmp_path):
    item = _raw(POSTS[0])
    first = archivist.ingest(item, [_record(item)])
    assert (first.status, first.info_code, first.body_source) == (R.WRITTEN, POSTS[0].info_code, "mirror")
    assert first.path.endswith(f"{POSTS[0].info_code}.md") and first.title == POSTS[0].title
    again = Archivist(tmp_path / "archive", fsync=False, warc=False)       # the next crawl
    try:
        assert again.ingest(_raw(POSTS[0])).status == R.UNCHANGED
    finally:
        again.close()


def test_a_second_article_with_the_same_infocode_in_one_crawl_is_a_duplicate(archivist):
    assert archivist.ingest(_raw(POSTS[1])).status == R.WRITTEN
    dup = archivist.ingest(_raw(POSTS[1]))
    assert (dup.status, dup.reason) == ("dropped", R.DUPLICATE)


def test_dedupe_is_on_the_key_the_page_gives_not_the_quick_look(archivist):
    # a page whose quick key names another post (a forged share link) does not make that post a duplicate
    assert archivist.ingest(_raw(POSTS[0], code=POSTS[2].info_code)).info_code == POSTS[0].info_code
    assert archivist.ingest(_raw(POSTS[2])).status == R.WRITTEN


def test_not_a_post_and_no_infocode_are_dropped_and_recorded(archivist):
    broken = _raw(POSTS[0], page=b"<html><body><p>gone</p></body></html>")
    out = archivist.ingest(broken)
    assert (out.status, out.reason) == ("dropped", R.NOT_A_POST) and "not a post page" in out.message
    failures = archivist.catalog.permanent_failures()
    assert broken.source_url in failures
    notice = ArticleItem(info_code="", title="公告", date="2026-09-01 08:00", category="x", body_html="<p>x</p>",
                         source_url=SITE + "x/2026/09/01/notice.html", page="/x/2026/09/01/notice.html")
    out = archivist.ingest(notice)
    assert out.reason == R.NO_INFOCODE and "/x/2026/09/01/notice.html" in archivist.catalog.ignored_pages()


def test_records_travel_with_their_post_and_get_its_key(archivist, tmp_path):
    item = _raw(POSTS[0])
    from dataclasses import replace

    shipped = replace(_record(item), body=b"", body_is_page=True)      # left out on the pipe
    archivist.ingest(item, [shipped])
    archivist.close()
    caps = list(iter_captures(warc_files(tmp_path / "archive" / "warc")))
    assert [(c.key, c.body == item.raw_page) for c in caps] == [(POSTS[0].info_code, True)]


def test_a_disk_that_refuses_is_a_write_error_not_a_crash(archivist):
    # a folder where the post's file should go: the rename fails, even for root
    (archivist.writer.posts / f"{POSTS[0].date:%Y-%m-%d}-{POSTS[0].info_code}.md").mkdir()
    out = archivist.ingest(_raw(POSTS[0]))
    assert (out.status, out.reason) == ("dropped", R.WRITE_ERROR) and "could not write" in out.message
    assert not archivist.catalog.known(POSTS[0].info_code)


def test_writer_process_messages_are_dispatched_to_the_archivist(tmp_path):
    """The child's loop (``writerproc._serve``) over a real pipe, in a thread of this process."""
    from newsarchive.crawl.writerproc import (
        Answer,
        Capture,
        Close,
        Failure,
        Ingest,
        Ready,
        WriterConfig,
        _serve,
    )

    parent, child = multiprocessing.Pipe()
    config = WriterConfig(str(tmp_path / "a"), fsync=False, site_base="//finews.withounder.com", warc=True,
                          warc_max=1 << 20, lock_each_write=False, site=(SITE, ("finews.withounder.com",)))
    import signal as _signal
    saved = _signal.getsignal(_signal.SIGINT), _signal.getsignal(_signal.SIGTERM)
    thread = threading.Thread(target=lambda: _serve_here(_serve, child, config))
    thread.start()
    try:
        assert parent.poll(30), "the writer loop died before it was ready"
        assert isinstance(parent.recv(), Ready)
        item = _raw(POSTS[0])
        parent.send(Ingest(1, vars(item).copy(), [_record(item)]))
        parent.send(Capture(WarcRecord(SITE, [], "200 OK", [], b"<html></html>", "home")))
        parent.send(Failure(SITE + "gone.html", None, "HTTP 404", True))
        parent.send(Close(2))
        assert parent.poll(30), "no answer from the writer loop"
        answers = [parent.recv(), parent.recv()]
    finally:
        thread.join(10)
        _signal.signal(_signal.SIGINT, saved[0])
        _signal.signal(_signal.SIGTERM, saved[1])
    assert isinstance(answers[0], Answer) and answers[0].ident == 1 and answers[0].outcome.status == R.WRITTEN
    assert answers[1] == Answer(2, None)
    catalog = Catalog(tmp_path / "a", readonly=True)
    assert catalog.known(POSTS[0].info_code) and SITE + "gone.html" in catalog.permanent_failures()
    roles = [c.role for c in iter_captures(warc_files(tmp_path / "a" / "warc"))]
    assert sorted(roles) == ["home", "post"]


def _serve_here(serve, conn, config):
    import signal as _signal
    # _serve ignores SIGINT/SIGTERM (the crawl decides); signal handlers can only be set in the main
    # thread, so here they are no-ops
    real = _signal.signal
    _signal.signal = lambda *a: None
    try:
        serve(conn, config)
    finally:
        _signal.signal = real


@pytest.mark.parametrize("settings, expected", [
    ({}, "process"),
    ({"NEWSARCHIVE_WRITER_PROCESS": False}, "local"),
    ({"NEWSARCHIVE_STDOUT": True}, "stdout"),
    ({"NEWSARCHIVE_REDIS_URL": "redis://127.0.0.1:1/0"}, "local"),
    ({"NEWSARCHIVE_REDIS_URL": "redis://127.0.0.1:1/0", "NEWSARCHIVE_REDIS_ITEMS": True}, "redis"),
    ({"NEWSARCHIVE_SINK": "local", "NEWSARCHIVE_STDOUT": True}, "local"),
])
def test_the_sink_is_chosen_once_from_the_settings(settings, expected):
    from newsarchive.crawl.sinks import sink_name
    assert sink_name(_crawler(**settings).settings) == expected


@pytest.mark.parametrize("reason, kind", [
    (R.DUPLICATE, "DuplicatePost"), (R.NO_INFOCODE, "NoInfoCode"), (R.NOT_A_POST, "InvalidArticle"),
    (R.WRITE_ERROR, "InvalidArticle"), (R.BAD_DATE, "InvalidArticle"),
])
def test_a_dropped_outcome_becomes_the_drop_with_its_reason(reason, kind):
    from newsarchive.crawl.pipelines import drop_for

    drop = drop_for("http://m/x.html", reason, "why")
    assert (type(drop).__name__, drop.reason) == (kind, reason)


def test_the_sink_counts_outcomes_and_drops_under_one_scheme(tmp_path):
    from newsarchive.crawl.pipelines import DuplicatePost, InvalidArticle
    from newsarchive.crawl.sinks import ArchiveSink
    from newsarchive.store.ingest import Outcome

    crawler = _crawler(NEWSARCHIVE_OUTPUT=str(tmp_path), NEWSARCHIVE_SINK="local")
    crawler.stats.open_spider()
    sink = ArchiveSink.from_crawler(crawler)
    sink.count(Outcome(R.WRITTEN, "NW1", notes=[R.Note(R.EMPTY_TITLE, "empty title")], body_source="share"))
    sink.item_dropped(None, None, DuplicatePost("dup"))
    sink.item_dropped(None, None, InvalidArticle("x", reason=R.NOT_A_POST))
    stats = crawler.stats.get_stats()
    assert {k: v for k, v in stats.items() if k.startswith("newsarchive/")} == {
        "newsarchive/posts/written": 1, "newsarchive/body/share": 1, "newsarchive/normalize/empty_title": 1,
        "newsarchive/drop/duplicate": 1, "newsarchive/posts/duplicate": 1,
        "newsarchive/drop/not_a_post": 1, "newsarchive/posts/failed": 1}


def test_known_posts_middleware_filters_unvetted_requests_and_trusts_vetted_ones(tmp_path):
    from newsarchive.crawl.known import KnownPostsMiddleware
    from newsarchive.crawl.meta import KEY, VETTED

    a = Archivist(tmp_path, fsync=False, warc=False)
    a.ingest(_raw(POSTS[0]))
    a.close()
    crawler = _crawler(NEWSARCHIVE_OUTPUT=str(tmp_path))
    crawler.stats.open_spider()
    mw = KnownPostsMiddleware.from_crawler(crawler)
    known = Request(SITE + "p.html", meta={KEY: POSTS[0].info_code})
    new = Request(SITE + "q.html", meta={KEY: POSTS[1].info_code})
    vetted = Request(SITE + "p.html", meta={KEY: POSTS[0].info_code, VETTED: True})
    assert [mw.get_processed_request(r, None) is r for r in (known, new, vetted)] == [False, True, True]
    assert crawler.stats.get_value("newsarchive/posts/skipped_known") == 1


def test_capture_stages_post_records_and_holds_listings_until_something_is_written(tmp_path):
    from newsarchive.crawl.capture import WarcCapture
    from newsarchive.crawl.meta import KEY, POST_URL, ROLE
    from newsarchive.crawl.sinks import ArchiveSink

    crawler = _crawler(NEWSARCHIVE_OUTPUT=str(tmp_path), NEWSARCHIVE_SINK="local")
    crawler.stats.open_spider()
    sink = ArchiveSink.from_crawler(crawler)
    capture = WarcCapture.from_crawler(crawler)
    capture.sink = sink

    def respond(url, meta, body=b"<html></html>"):
        request = Request(url, meta=meta)
        capture.response_received(HtmlResponse(url, body=body, request=request), request)

    respond(SITE + "category/a.html", {ROLE: "listing"})
    respond(SITE + "a/2026/09/01/x.html", {ROLE: "post", KEY: POSTS[0].info_code})
    respond("http://finews.zning.xyz/NewsData/GetNewsText.do?id=x", {ROLE: "share", POST_URL: SITE + "a/2026/09/01/x.html"})
    assert sink.backend is None and [r.role for r in sink.held] == ["listing"]
    assert [r.role for r in sink.staged[SITE + "a/2026/09/01/x.html"]] == ["post", "share"]
    for i in range(ArchiveSink.HOLD_MAX):      # bounded: past HOLD_MAX the backend starts and writes
        respond(SITE + f"category/p{i}.html", {ROLE: "listing"})
    assert sink.backend is not None and sink.held == []
    sink.backend.close()


_CRASH = '''
import os, sys, dataclasses
sys.path.insert(0, {root!r})
from newsarchive.store import files
from newsarchive.store.files import ArchiveWriter
from newsarchive.core.post import Post
import datetime as dt
w = ArchiveWriter({folder!r})
w.batch()
post = Post(info_code="NW202609010001", title="t", date=dt.datetime({year}, 9, 1, 8, tzinfo=dt.timezone.utc),
            category="c", tags=["x"], body="<p>{text}</p>", link_url="", share_url="")
if {where!r} == "before the file":
    files.atomic_write = lambda *a, **k: os._exit(0)
w.write_post(post, "---\\ntitle: t\\n---\\n<p>{text}</p>\\n", "http://m/")
os._exit(0)             # killed before the batch's own checkpoint
'''


@pytest.mark.parametrize("where", ["before the file", "after the write"])
@pytest.mark.parametrize("year", [2026, 2025])          # the same file name, or a new one (its date changed)
def test_an_update_in_a_batch_killed_midway_keeps_the_old_text_and_a_true_row(tmp_path, where, year):
    import subprocess
    import sys
    from pathlib import Path

    from newsarchive.core.post import Post
    from newsarchive.store.files import ArchiveWriter

    folder = tmp_path / "a"
    w = ArchiveWriter(folder)
    old = Post(info_code="NW202609010001", title="t", date=dt.datetime(2026, 9, 1, 8, tzinfo=dt.timezone.utc),
               category="c", tags=["x"], body="<p>old</p>", link_url="", share_url="")
    w.write_post(old, "---\ntitle: t\n---\n<p>old</p>\n", "http://m/")
    w.close()
    root = str(Path(__file__).resolve().parent.parent)
    subprocess.run([sys.executable, "-c", _CRASH.format(root=root, folder=str(folder), year=year, text="new", where=where)],
                   check=True)
    catalog = Catalog(folder, readonly=True)
    row = catalog.get("NW202609010001")
    revisions = [r[0] for r in catalog.conn.execute("SELECT text FROM revisions")]
    catalog.close()
    named = folder / row["location"] / row["path"]
    assert named.exists()                                                        # the row names a file
    assert "<p>old</p>" in named.read_text("utf-8") or any("<p>old</p>" in t for t in revisions)
    if where == "after the write":                                              # the update was durable
        assert "<p>new</p>" in named.read_text("utf-8") and row["revisions"] == 1 and len(revisions) == 1


def test_unchanged_posts_in_a_batch_cost_no_sync(archivist, tmp_path, monkeypatch):
    from newsarchive.store import files

    for post in POSTS:
        archivist.ingest(_raw(post))
    syncs = []
    monkeypatch.setattr(files, "sync_folder", lambda folder: syncs.append(folder))
    archivist.writer.batch()
    archivist.claimed.clear()
    outcomes = [archivist.ingest(_raw(post)).status for post in POSTS]
    archivist.checkpoint()
    assert outcomes == ["unchanged"] * len(POSTS) and len(syncs) == 1     # the batch's one, none a post


def test_a_group_the_archive_broke_in_is_answered_as_not_archived(tmp_path, monkeypatch):
    """Group commit: posts written before a fatal error in the same group were not committed when it
    came, so none of them is answered as archived; every row there is names a file that is there."""
    import sqlite3

    from newsarchive.crawl.writerproc import Answer, Close, Ingest, Ready, WriterConfig, _serve

    posts = synthetic_posts(4, seed=9, media=["南方日报"], start=dt.datetime(2026, 9, 2, 8, tzinfo=dt.timezone.utc))
    real = Catalog.record_post
    calls = []

    def record_post(self, *a, **k):         # the disk refuses the fourth post's row
        calls.append(1)
        if len(calls) == 4:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *a, **k)

    monkeypatch.setattr(Catalog, "record_post", record_post)
    parent, child = multiprocessing.Pipe()
    config = WriterConfig(str(tmp_path / "a"), fsync=True, site_base="//finews.withounder.com", warc=False,
                          warc_max=1 << 20, lock_each_write=False, site=(SITE, ("finews.withounder.com",)))
    for i, post in enumerate(posts):         # all waiting in the pipe before the loop starts: one group
        item = _raw(post)
        parent.send(Ingest(i + 1, vars(item).copy(), []))
    parent.send(Close(9))
    _serve_here(_serve, child, config)
    got = []
    try:
        while parent.poll(1):
            got.append(parent.recv())
    except EOFError:                         # (the loop closed its end: everything was read)
        pass
    answers = [m for m in got if isinstance(m, Answer) and m.outcome is not None]
    assert isinstance(got[0], Ready) and [a.ident for a in answers] == [1, 2, 3, 4]
    assert all(a.outcome.dropped and a.outcome.reason == R.WRITE_ERROR for a in answers), answers
    catalog = Catalog(tmp_path / "a", readonly=True)
    assert all((tmp_path / "a" / r["location"] / r["path"]).exists() for r in catalog.iter_posts())


def test_the_surt_made_for_a_plain_url_is_surts_own_on_every_form():
    """``surt_key`` makes the SURT of a plain URL itself and sends every other to surt: the two agree
    on every combination of the forms below (case, www, default and odd ports, addresses, dot and empty
    segments, trailing slashes, session ids, query orders surt sorts as tuples, fragments)."""
    import itertools

    from newsarchive.store.warc import _PLAIN_URL, _library_surt, surt_key

    hosts = ["finews.withounder.com", "FiNews.Zning.XYZ", "www.x.com", "www1.x.com", "www.com", "www", "127.0.0.1",
             "127.1", "256.1.1.1", "01.2.3.4", "localhost", "a-b.c", "x.com.", "-x.com", "x..com", "wwwx.com",
             "1.2.3.4.5", "a.123"]
    paths = ["", "/", "/A/", "/guonei/2024/01/02/NW1.html", "/a//b", "/./a", "/a/.", "/a/..", "/a/.b", "/~u/",
             "/SESSION/x", "/a;b", "/a%41", "/a b", "/..x"]
    queries = [None, "", "b=2&a=1", "id=NW202401020000000001", "a&b=0&b=1", "a-b=1&a=x", "a&&b", "=a", "a=1=2",
               "Z=1&z=0", "sid=1", "cfid=1&cftoken=2"]
    import random

    plain = 0
    forms = list(itertools.product(["http", "HTTPS"], hosts, ["", ":80", ":443", ":8080", ":65536", ":080"], paths,
                                   queries, ["", "#f"]))
    for scheme, host, port, path, query, frag in random.Random(0).sample(forms, 5_000):
        url = f"{scheme}://{host}{port}{path}" + ("" if query is None else f"?{query}") + frag
        plain += _PLAIN_URL.fullmatch(url.lower()) is not None
        assert surt_key(url) == _library_surt(url), url
    assert plain > 600          # (many of them take the fast path)
    for url in ["http://x.com/\u212a", "http://x.com/?\u212a=1&a=2", "http://\u212a" + "a" * 63 + ".com/"]:
        assert surt_key(url) == _library_surt(url), url      # (the Kelvin sign lower-cases to an ASCII k)
