"""The HTTP client against servers that answer oddly: response heads aiohttp's parser refuses or
decodes (read as Twisted reads them), redirects to a URL already requested (a recorded failure, not
a silent loss), a proxy with credentials (the share host reached through it)."""
import gzip
import json
from pathlib import Path

import pytest

from newsarchive.demo.mirrorgen import SHARE_HOST, build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.catalog import Catalog
from newsarchive.store.warc import warc_files

from helpers import run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def mirror(tmp_path):
    posts = synthetic_posts(8, seed=23, media=["南方日报", "上海证券报"])
    folder = build_site(posts, tmp_path / "mirror")
    with MockServer(folder) as server:
        server.posts = posts
        server.folder = folder
        yield server


def _page(server, path: str) -> bytes:
    return (server.folder / "site" / path.lstrip("/")).read_bytes()


def _share(server, code: str) -> bytes:
    return (server.folder / "upstream" / f"{code}.json").read_bytes()


def _warc_bytes(out: Path) -> bytes:
    raw = b""
    for f in warc_files(out / "warc"):
        with gzip.open(f) as fh:
            raw += fh.read()
    return raw


def _crawl(server, out: Path, *args, env=None) -> tuple[int, dict, str]:
    stats_file = out.parent / f"{out.name}-stats.json"
    result = run_cli("crawl", "--site", server.url, "--output", out, "--stats-file", stats_file,
                     "-s", "RETRY_TIMES=0", *args, server=server, env=env)
    return result.returncode, json.loads(stats_file.read_text()), result.stderr


def test_heads_aiohttp_refuses_are_read_through_twisted_and_header_bytes_stay_as_sent(mirror, tmp_path):
    """A GBK byte in a header (aiohttp's str headers could not be encoded again), a 9 KB header and
    a doubled Content-Length (aiohttp's parser refuses both, Twisted's reads them), on post pages and
    on a share answer: every post archived with its share body, as the Twisted client does."""
    p = mirror.posts
    odd = {p[0].path: {"X-Title": "\xb1\xea\xcc\xe2"},          # (sent as bytes: 标题 in GBK)
           p[1].path: {"X-Big": "a" * 9000},
           p[2].path: {"content-length": str(len(_page(mirror, p[2].path)))}}   # (and Content-Length)
    big_share = p[3].info_code

    def dynamic(path, query):
        if path in odd:
            return 200, odd[path], _page(mirror, path)
        if path.endswith("/GetNewsText.do") and query.get("id") == [big_share]:
            return 200, {"Content-Type": "application/json", "X-Big": "b" * 9000}, _share(mirror, big_share)
        return None

    mirror.httpd.dynamic = dynamic
    out = tmp_path / "archive"
    status, stats, stderr = _crawl(mirror, out)
    assert status == 0, stderr
    assert stats["newsarchive/posts/written"] == 8 and stats["newsarchive/share/used"] == 8
    assert stats["newsarchive/http/twisted"] == 3          # the 9 KB heads and the doubled length
    assert "Traceback" not in stderr
    twisted = tmp_path / "twisted"
    assert _crawl(mirror, twisted, "-s", "NEWSARCHIVE_HTTP_CLIENT=twisted")[0] == 0
    # the header's bytes as received, each a character (latin-1) %-encoded as warcio keeps non-ASCII
    # values, the same from either client
    line = b"\r\nX-Title: %C2%B1%C3%AA%C3%8C%C3%A2\r\n"
    assert line in _warc_bytes(out) and line in _warc_bytes(twisted)
    posts = sorted(f.name for f in (out / "_posts").glob("*.md"))
    assert posts == sorted(f.name for f in (twisted / "_posts").glob("*.md")) and len(posts) == 8
    assert all((out / "_posts" / n).read_bytes() == (twisted / "_posts" / n).read_bytes() for n in posts)


def test_a_page_or_share_answer_redirecting_to_itself_is_a_recorded_failure_not_a_silent_loss(mirror, tmp_path):
    """Scrapy's duplicate filter dropped a redirect to a URL already requested without a word: the
    post was lost, no failure recorded, exit 0. Now the loop ends at REDIRECT_MAX_TIMES: the post page
    is a failure in the catalog (exit 1), the post whose share answer loops keeps the mirror's body;
    a redirect to a page the crawl requests anyway is still filtered."""
    p = mirror.posts
    loop_page, loop_share, alias, target = p[0], p[1], p[2], p[3]
    share_text = f"{SHARE_HOST}/NewsData/GetNewsText.do?id={loop_share.info_code}"

    def dynamic(path, query):
        if path == loop_page.path:
            return 302, {"Location": loop_page.path}, b""
        if path == alias.path:          # an alias of a page the crawl requests too: fetched once
            return 301, {"Location": target.path}, b""
        if path.endswith("/GetNewsText.do") and query.get("id") == [loop_share.info_code]:
            return 302, {"Location": share_text}, b""
        return None

    mirror.httpd.dynamic = dynamic
    out = tmp_path / "archive"
    status, stats, stderr = _crawl(mirror, out)
    assert status == 1, stderr
    assert "redirect loop" in stderr
    assert stats["newsarchive/posts/written"] == 6 and stats["newsarchive/posts/failed"] == 1
    assert mirror.hits.count(target.path) == 1 and sum(h.startswith(loop_page.path) for h in mirror.hits) == 6
    assert stats["newsarchive/share/failed"] == 1
    failures = Catalog(out, readonly=True).db.execute("SELECT url, reason FROM failures").fetchall()
    assert [(url.endswith(loop_page.path), "redirect loop" in reason) for url, reason in failures] == [(True, True)]
    assert any(loop_share.info_code in f.name for f in (out / "_posts").glob("*.md"))


def test_the_share_host_is_reached_through_a_proxy_with_a_slash_in_its_password(mirror, tmp_path):
    """Scrapy 2.19's aiohttp handler writes a proxy's credentials into its URL unescaped: a ``/`` in
    the password made the share requests go to another host. They go through Twisted's client."""
    proxy = mirror.url.replace("http://", "http://archivist:pa%2Fss@")
    status, stats, stderr = _crawl(mirror, tmp_path / "archive", env={"http_proxy": proxy})
    assert status == 0, stderr
    assert stats["newsarchive/share/used"] == 8
    assert stats["newsarchive/http/twisted"] == 8           # the share answers, through the proxy
    assert sum("GetNewsText" in h for h in mirror.hits) == 8
