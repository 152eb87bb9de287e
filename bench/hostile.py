"""Peak memory of a crawl against a hostile mirror (the figures of the hostile-mirror issue):

    python bench/hostile.py

- an endless chain of listings, each with one new post (default limits: the chain stops at
  NEWSARCHIVE_MAX_LISTING_PAGES=200 pages, and the crawl ends by itself);
- the same chain with no posts at all;
- a listing of 200,000 post links (NEWSARCHIVE_MAX_LINKS_PER_PAGE=20,000 are taken; the crawl-wide
  CLOSESPIDER_PAGECOUNT budget is lowered to 2,000 responses so the run stays short);
- and, without a crawl, the seconds each reading step takes on input built to cost time squared.
Each is one `newsarchive crawl` process timed whole; peak RSS is the largest of the crawl and its
writer process (ru_maxrss of the waited-for children).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from newsarchive.demo.mirrorgen import build_site  # noqa: E402
from newsarchive.demo.mockserver import MockServer  # noqa: E402


def crawl(server, out: Path, *extra: str) -> dict:
    env = {**os.environ, "http_proxy": server.url, "no_proxy": "127.0.0.1,localhost"}
    stats = out.parent / f"{out.name}.json"
    cmd = [sys.executable, "-m", "newsarchive", "crawl", "--site", server.url, "--output", str(out),
           "--stats-file", str(stats), "--no-share", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    s = json.loads(stats.read_text())
    return {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "exit": os.waitstatus_to_exitcode(status), "finish_reason": s.get("finish_reason"),
            "listings": s.get("newsarchive/pages/listings", 0), "posts": s.get("newsarchive/posts/written", 0)}


def cpu_bombs() -> dict:
    """Seconds each pure step takes on input built to cost time squared (each took minutes to hours at
    the 16 MB download limit before it was bounded): the first figure is the whole refusal or reading."""
    from newsarchive.core.extract import ExtractError, parse_post_page, quick_share_link
    from newsarchive.core.htmlclean import BodyError, clean_title, normalize_body
    from newsarchive.offline.site import render_body

    share = b"http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112242225123833"
    attrs = "<p " + " ".join(f"a{i}=1" for i in range(50_000)) + ">x</p>"
    cases = {
        "quick_share_link, 300 KB of '<a ' before the link":
            lambda: quick_share_link(b'<div class="wrapper">' + b"<a " * 100_000 + b'<a href="' + share + b'">x</a>'),
        "normalize_body, 1 MB of '<b><div>'": lambda: normalize_body("<b><div>" * 128_000),
        "parse_post_page, a tag with 50,000 attributes":
            lambda: parse_post_page(f'<html><body><div class="wrapper"><section><h1>t</h1>{attrs}</section></div>'
                                    "</body></html>", "http://127.0.0.1/x/2021/12/24/NW202112242225123833.html"),
        "parse_post_page, a tag with 40,000 attributes without values":
            lambda: parse_post_page('<html><body><div class="wrapper"><section><h1>t</h1><p' + " a" * 40_000 +
                                    ">x</p></section></div></body></html>",
                                    "http://127.0.0.1/x/2021/12/24/NW202112242225123833.html"),
        "normalize_body, 40,000 elements left open": lambda: normalize_body("<div>" * 40_000 + "x"),
        "clean_title, 20,000 ideographic spaces": lambda: clean_title("\u3000" * 20_000 + "x"),
        "site render_body, 200,000 spaces between back-links":
            lambda: render_body("<p>x</p>\n\n[返回](a.html)" + " " * 200_000 + "｜[返回首页](b.html)", "../", "c.html"),
    }
    out = {}
    for name, run in cases.items():
        started = time.perf_counter()
        try:
            run()
        except (ExtractError, BodyError):
            pass
        out[name] = round(time.perf_counter() - started, 3)
    return out


def main() -> None:
    from test_hostile_resources import endless_listing

    tmp = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    folder = build_site([], tmp / "m")
    links = "".join(f'<a href="/huge/2021/12/24/NW2021122422{i:08d}.html">{i}</a>' for i in range(200_000))
    (folder / "site" / "category" / "huge.html").write_text(
        f'<html><body><div class="wrapper"><section>{links}</section></div></body></html>', "utf-8")
    report = {}
    with MockServer(folder) as server:
        server.httpd.dynamic = lambda path, query: endless_listing(path, query, True)
        report["endless chain, one post a page"] = crawl(server, tmp / "a", "--category", "endless")
        server.httpd.dynamic = lambda path, query: endless_listing(path, query, False)
        report["endless chain, no posts"] = crawl(server, tmp / "b", "--category", "endless")
        server.httpd.dynamic = None
        report["listing of 200,000 links"] = crawl(server, tmp / "c", "--category", "huge",
                                                   "-s", "CLOSESPIDER_PAGECOUNT=2000")
    report["CPU bombs: seconds of each step"] = cpu_bombs()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    (HERE / "HOSTILE.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
