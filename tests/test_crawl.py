"""``newsarchive crawl`` (and ``scrapy crawl mirror``) against generated mirrors on loopback."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from newsarchive.core.htmlclean import normalize_body
from newsarchive.core.post import split_front_matter
from newsarchive.store.catalog import Catalog

from helpers import run_cli

pytestmark = pytest.mark.e2e


def _posts(out: Path) -> dict[str, str]:
    return {p.name: p.read_text("utf-8") for p in sorted((out / "_posts").glob("*.md"))}


def _post_hits(server) -> list[str]:
    return [h for h in server.hits if "/20" in h and h.endswith(".html") and "category" not in h]


def _share_hits(server) -> list[str]:
    return [h for h in server.hits if "GetNewsText" in h or "NewsShare" in h]


def test_full_crawl_archives_every_post_with_share_bodies(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    stats_file = tmp_path / "stats.json"
    result = run_cli("crawl", "--site", demo_mirror.url, "--output", out, "--stats-file", stats_file, server=demo_mirror)
    assert result.returncode == 0, result.stderr
    posts = _posts(out)
    assert len(posts) == len(demo_mirror.posts) == 36
    stats = json.loads(stats_file.read_text("utf-8"))
    assert stats["newsarchive/posts/written"] == 36
    assert stats["newsarchive/share/used"] == 35 and stats["newsarchive/body/mirror"] == 1  # one old-format post
    assert stats["newsarchive/pages/listings"] >= 6 + 3     # paginated listings followed
    for key in ("newsarchive/posts/unchanged", "newsarchive/posts/failed", "newsarchive/posts/duplicate"):
        assert stats.get(key, 0) == 0
    assert "crawl finished" in result.stdout and "new 36" in result.stdout
    for src in demo_mirror.posts:
        name = f"{src.date:%Y-%m-%d}-{src.info_code}.md"
        meta, body = split_front_matter(posts[name])
        assert meta["title"] == src.title
        assert meta["categories"] == src.category and meta["tags"] == src.tag
        assert str(meta["date"]) .startswith(f"{src.date:%Y-%m-%d %H:%M:%S}")
        assert body.endswith(f"[返回{src.tag}](//finews.withounder.com/category/{src.category}.html)｜"
                             "[返回首页](//finews.withounder.com/)")
        assert f"\n\n<{src.link_url}>\n\n" in body
        if src.digest:
            assert body.startswith(f"> {src.digest}\n\n")
        else:
            assert body.startswith(normalize_body(src.share_json()["text"]))
    widget = posts[f"{demo_mirror.posts[2].date:%Y-%m-%d}-{demo_mirror.posts[2].info_code}.md"]
    assert "蔚来旗下新能源汽车首发" in widget and "keytip" not in widget and "GetPic" not in widget
    catalog = Catalog(out, readonly=True)
    assert catalog.count() == 36
    assert {r["body_source"] for r in catalog.iter_posts()} == {"share", "mirror"}


def test_gb18030_page_and_no_share_mode(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    result = run_cli("crawl", "--site", demo_mirror.url, "--output", out, "--no-share", server=demo_mirror)
    assert result.returncode == 0, result.stderr
    assert _share_hits(demo_mirror) == []            # --no-share never contacts the share host
    posts = _posts(out)
    assert len(posts) == 36
    gb = demo_mirror.posts[1]
    assert gb.encoding == "gb18030"
    meta, body = split_front_matter(posts[f"{gb.date:%Y-%m-%d}-{gb.info_code}.md"])
    assert meta["title"] == gb.title and "€与𠮷字" in meta["title"]
    assert gb.paragraphs[0] in body
    # the mirror's rendered body turned back into the compact form
    first = demo_mirror.posts[5]
    _, body = split_front_matter(posts[f"{first.date:%Y-%m-%d}-{first.info_code}.md"])
    assert body.startswith("".join(f"<p>{p}</p>" for p in first.paragraphs) + "\n\n<http")


def test_second_crawl_downloads_no_post_and_writes_nothing(small_mirror, tmp_path):
    out = tmp_path / "archive"
    assert run_cli("crawl", "--site", small_mirror.url, "--output", out, server=small_mirror).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "_posts").iterdir()}
    small_mirror.hits.clear()
    stats_file = tmp_path / "stats2.json"
    result = run_cli("crawl", "--site", small_mirror.url, "--output", out, "--stats-file", stats_file, server=small_mirror)
    assert result.returncode == 0
    assert _post_hits(small_mirror) == [] and _share_hits(small_mirror) == []
    stats = json.loads(stats_file.read_text())
    assert stats.get("newsarchive/posts/written", 0) == 0 and stats["newsarchive/posts/skipped_known"] >= 12
    assert {p.name: p.stat().st_mtime_ns for p in (out / "_posts").iterdir()} == before
    # --refresh downloads again and rewrites only what changed
    src = small_mirror.posts[0]
    record = small_mirror.folder / "upstream" / f"{src.info_code}.json"
    data = json.loads(record.read_text("utf-8"))
    data["text"] += "<p>更正：数据有误。</p>"
    record.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    result = run_cli("crawl", "--site", small_mirror.url, "--output", out, "--refresh", "--stats-file", stats_file,
                     server=small_mirror)
    stats = json.loads(stats_file.read_text())
    assert stats["newsarchive/posts/updated"] == 1 and stats["newsarchive/posts/unchanged"] == 11
    assert Catalog(out, readonly=True).get(src.info_code)["revisions"] == 1


def test_new_posts_arrive_incrementally(tmp_path):
    from newsarchive.demo.mirrorgen import build_site, synthetic_posts
    from newsarchive.demo.mockserver import MockServer

    posts = synthetic_posts(10, seed=5, media=["南方日报", "中国银行"])
    folder = build_site(posts[:6], tmp_path / "m")
    out = tmp_path / "archive"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
        assert len(_posts(out)) == 6
        build_site(posts, folder)
        server.hits.clear()
        result = run_cli("crawl", "--site", server.url, "--output", out, server=server)
        assert "new 4" in result.stdout
        assert len(_post_hits(server)) == 4
    assert len(_posts(out)) == 10


def test_category_filter_and_two_routes_to_one_article(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    cat = demo_mirror.posts[0].category
    result = run_cli("crawl", "--site", demo_mirror.url, "--output", out, "--category", cat, server=demo_mirror)
    assert result.returncode == 0
    expected = [p for p in demo_mirror.posts if p.category == cat]
    assert len(_posts(out)) == len(expected)
    # the same article by its mirror URL and by its share URL: one post, one duplicate
    src = demo_mirror.posts[6]
    out2 = tmp_path / "archive2"
    result = run_cli("fetch", demo_mirror.url.rstrip("/") + src.path, src.share_url, "--output", out2,
                     "-s", "CONCURRENT_REQUESTS=1", server=demo_mirror)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_posts(out2)) == 1
    assert "duplicate" in result.stdout


def test_fetch_a_listing_url(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    cat = demo_mirror.posts[4].category
    listing = demo_mirror.url + "category/" + cat.replace(" ", "%20") + ".html"
    result = run_cli("fetch", listing, "--output", out, server=demo_mirror)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_posts(out)) == len([p for p in demo_mirror.posts if p.category == cat])


def test_scrapy_crawl_mirror_works_too(small_mirror, tmp_path):
    out = tmp_path / "archive"
    env = dict(os.environ.items())
    env.update(http_proxy=small_mirror.url, no_proxy="127.0.0.1")
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "scrapy", "crawl", "mirror", "-a", f"site={small_mirror.url}",
                             "-s", f"NEWSARCHIVE_OUTPUT={out}", "-s", "AUTOTHROTTLE_ENABLED=0", "-s", "DOWNLOAD_DELAY=0"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_posts(out)) == 12
    assert "'newsarchive/posts/written': 12" in result.stderr


def test_every_front_matter_loads(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    run_cli("crawl", "--site", demo_mirror.url, "--output", out, server=demo_mirror)
    for text in _posts(out).values():
        meta = yaml.safe_load(text.split("---\n")[1])
        assert set(meta) == {"layout", "title", "date", "categories", "tags"}
    assert not list((out / "_posts").glob(".tmp-*"))


def test_unreachable_site_exits_1(tmp_path):
    result = run_cli("crawl", "--site", "http://127.0.0.1:9/", "--output", tmp_path / "a",
                     "-s", "RETRY_TIMES=0", "-s", "DOWNLOAD_TIMEOUT=3")
    assert result.returncode == 1 and "could be read" in result.stderr


def test_demo_command(tmp_path):
    result = run_cli("demo", "--output", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert len(_posts(tmp_path / "demo")) == 36


def test_jobs_shard_categories_over_processes_into_one_archive(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    stats_file = tmp_path / "stats.json"
    result = run_cli("crawl", "--site", demo_mirror.url, "--output", out, "--jobs", "2", "--stats-file", stats_file,
                     server=demo_mirror)
    assert result.returncode == 0, result.stderr
    assert "(2 jobs)" in result.stdout and "posts found 36, new 36" in result.stdout    # (each post found once)
    assert len(_posts(out)) == 36 == Catalog(out, readonly=True).count()
    stats = json.loads(stats_file.read_text())
    assert stats["newsarchive/posts/written"] == 36 and stats.get("newsarchive/posts/duplicate", 0) == 0
    again = run_cli("crawl", "--site", demo_mirror.url, "--output", out, "--jobs", "2", server=demo_mirror)
    assert "new 0" in again.stdout


def test_writer_in_process_gives_the_same_archive(demo_mirror, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli("crawl", "--site", demo_mirror.url, "--output", one, server=demo_mirror).returncode == 0
    assert run_cli("crawl", "--site", demo_mirror.url, "--output", two, "-s", "NEWSARCHIVE_WRITER_PROCESS=0",
                   server=demo_mirror).returncode == 0
    assert _posts(one) == _posts(two)


def test_pages_read_by_the_writer_process_fail_drop_and_rest_like_pages_read_in_the_crawl(tmp_path):
    """Post pages go unread to the writer process: a page with a share link but no article is a
    permanent failure there (counted, reported, rested), a page whose share link hides in a comment
    keeps the mirror's body, and a second page of an article already written is a duplicate."""
    from newsarchive.demo.mirrorgen import build_site, synthetic_posts
    from newsarchive.demo.mockserver import MockServer

    posts = synthetic_posts(6, seed=8, media=["南方日报"])
    folder = build_site(posts, tmp_path / "m")
    site = folder / "site"
    broken, hidden = (site / p.path.lstrip("/") for p in posts[:2])
    text = broken.read_text("utf-8")
    cut = text.rindex('<div class="wrapper">')
    broken.write_text(text[:cut] + f'<div class="wrapper"><section><p><a href="{posts[0].share_url}">x</a>'
                      "</p></section></div></body></html>", "utf-8")
    other = posts[5].share_url
    text = hidden.read_text("utf-8")
    h1 = text.rindex("<h1")
    hidden.write_text(text[:h1] + f'<!-- <a href="{other}"> -->' + text[h1:], "utf-8")
    # posts[2] copied to a second path with a slug that names no infoCode: the page names it
    copy = site / posts[2].path.lstrip("/").replace(f"{posts[2].slug}.html", "copy.html")
    copy.write_bytes((site / posts[2].path.lstrip("/")).read_bytes())
    listing = site / "category" / f"{posts[2].category}.html"
    listing.write_text(listing.read_text("utf-8").replace("</section>", f'<a href="/{copy.relative_to(site)}">c</a></section>', 1), "utf-8")
    out, stats_file = tmp_path / "archive", tmp_path / "s.json"
    with MockServer(folder) as server:
        result = run_cli("crawl", "--site", server.url, "--output", out, "--stats-file", stats_file, server=server)
        assert result.returncode == 1, result.stderr[-2000:]             # one post failed, and it says so
        assert result.stderr.strip().splitlines()[-1] == ("newsarchive crawl: 1 post(s) could not be archived "
                                                          "(newsarchive stats lists them)")
        stats = json.loads(stats_file.read_text())
        again = run_cli("crawl", "--site", server.url, "--output", out, "--stats-file", tmp_path / "s2.json",
                        server=server)
    files = _posts(out)
    assert len(files) == 5 and not any(posts[0].info_code in name for name in files)
    assert stats["newsarchive/posts/failed"] == 1 and stats["newsarchive/drop/not_a_post"] == 1
    assert stats["newsarchive/posts/duplicate"] == 1 and stats["newsarchive/posts/written"] == 5
    assert stats["newsarchive/share/used"] == 7                          # no share request filtered
    row = Catalog(out, readonly=True).get(posts[1].info_code)           # the mirror's body, not another's
    assert (row["title"], row["body_source"]) == (posts[1].title, "mirror")
    assert posts[5].title not in files[Path(row["path"]).name]
    assert stats["newsarchive/normalize/share_mismatch"] == 1
    failures = json.loads(run_cli("stats", "--output", out, "--json").stdout)["failures"]
    assert [(f["url"].endswith(posts[0].path), f["permanent"]) for f in failures] == [(True, True)]
    assert "failed 0" in again.stdout and json.loads((tmp_path / "s2.json").read_text())[
        "newsarchive/posts/skipped_failed"] == 1
    # the captures replay to the same posts (the hidden share link's article is not applied there either)
    rebuilt = tmp_path / "rebuilt"
    assert run_cli("rebuild", "--source", out, "--output", rebuilt).returncode == 0
    assert _posts(rebuilt) == files


def test_both_http_clients_give_the_same_archive(demo_mirror, tmp_path):
    """Scrapy's aiohttp handler (the default) and its Twisted one: the same posts, and WARC records
    of the same responses (the share answers through the proxy too)."""
    from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler
    from scrapy.utils.misc import load_object
    from warcio.archiveiterator import ArchiveIterator

    from newsarchive.crawl.download import HANDLER
    from newsarchive.store.warc import warc_files

    cls = load_object(HANDLER)
    assert issubclass(cls, AiohttpDownloadHandler) and cls.lazy and not cls.experimental

    def captured(out: Path) -> set[tuple[str, str, str]]:
        found = set()
        for path in warc_files(out / "warc"):
            with open(path, "rb") as fh:
                for r in ArchiveIterator(fh):
                    if r.rec_type in ("response", "revisit"):
                        found.add((r.rec_headers.get_header("WARC-Target-URI"), r.http_headers.get_statuscode(),
                                   r.rec_headers.get_header("WARC-Payload-Digest")))
        return found

    one, two = tmp_path / "aiohttp", tmp_path / "twisted"
    assert run_cli("crawl", "--site", demo_mirror.url, "--output", one, server=demo_mirror).returncode == 0
    assert run_cli("crawl", "--site", demo_mirror.url, "--output", two, "-s", "NEWSARCHIVE_HTTP_CLIENT=twisted",
                   server=demo_mirror).returncode == 0
    assert len(_posts(one)) == 36 and _posts(one) == _posts(two)
    records = captured(one)
    assert len(records) >= 72 and records == captured(two)
    assert any("GetNewsText" in uri for uri, _, _ in records)
