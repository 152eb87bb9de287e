"""Full-text search: every query's result set equals the posts whose visible text (as the mirror shows
it) contains all its terms; the index follows every write (new, updated, retired, rebuilt, repaired)."""
from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import lxml.html
import pytest

from newsarchive.core.dates import BEIJING
from newsarchive.core.textindex import index_text, parse_query, visible_text
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer

from helpers import run_cli

START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING)
QUERIES = ["央行", "降准", "国债", "海关", "央行 降准", "半导体 海外", '"新一轮降准措施"', '"引发投资者广泛关注"',
           "券商 分红", "王晓明", "3.6亿元", "0.3", "APP", "PEVC", "增长", "深交所 上交所 央行", "涨", "数字人民币",
           '"专精特新企业扶持方案" 财政部', "不存在的词语"]


@pytest.mark.pure
@pytest.mark.parametrize("text, query, hit", [
    ("国债市场", "国债", True), ("国债市场", "债市", True), ("国债市场", "国市", False), ("国债市场", "场", True),
    ("国债市场", "国", True), ("LPR下调10个基点", "LPR", True), ("LPR下调10个基点", "lpr 下调", True),
    ("利率2.4576%", "2.4576%", True), ("央行降准", '"央行降准"', True), ("央行 宣布 降准", '"央行降准"', False),
    ("央行，降准", '"央行 降准"', True), ("央行降准", '"央行 降准"', False), ("央行 降准", '"央行，降准"', True),
    ("二〇〇八年", "〇八", True), ("A股市场", "A股", True), ("LPR下调", "LPR下调", True), ("3.6亿元", "3.6亿元", True),
])
def test_the_index_matches_substrings(text, query, hit):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, content='', tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t (rowid, body) VALUES (1, ?)", (index_text(text),))
    expr, _ = parse_query(query)
    assert bool(db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()) is hit


@pytest.mark.pure
def test_a_chinese_term_matches_exactly_the_texts_that_contain_it():
    """On random text of CJK from every range, punctuation, Latin, digits, NUL, white space, combining
    marks, emoji, private-use characters (the gap token's own among them), Hangul and kana: every
    Chinese term of one to five characters matches exactly the texts that hold it as a substring (never
    across what stands between two runs), and every piece of a text that begins and ends with a Chinese
    character, whatever it holds between, finds the text it was cut from."""
    import random

    from newsarchive.core.textindex import _CJK_RUN, GAP

    cjk = ["国", "债", "市", "場", "〇", "\u3400", "\u4dbf", "\uf900", "\ufaff", "\U00020000", "\U0002b81f",
           "\U0002f800"]
    alphabet = cjk * 3 + ["，", "。", " ", "\n", "a", "Z", "9", ".", "%", "_", "\x00", "é", "\u0301", "²", "ー", "가",
                          "🤔", "\U0002b820", "\u19b0", GAP, "\ue001", '"']
    rng = random.Random(5)
    texts = ["", "国", "国债", "国，债", "国 债", "国a债", "国\x00债", f"国{GAP}债", "国🤔债", "二〇〇八年",
             "LPR 2.4576% 国债市场，央行降准。"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 50))) for _ in range(400)]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, content='', tokenize='unicode61 remove_diacritics 2')")
    db.executemany("INSERT INTO t (rowid, body) VALUES (?, ?)", ((i, index_text(t)) for i, t in enumerate(texts)))

    def found(term):
        return {r for (r,) in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (parse_query(f'"{term}"' if '"' not in term else term)[0],))}

    terms = {"".join(rng.choice(cjk) for _ in range(rng.randint(1, 4))) for _ in range(150)} | {"〇八", "二〇"}
    for text in rng.sample(texts, 200):        # and pieces of the texts themselves
        for run in _CJK_RUN.findall(text):
            at = rng.randrange(len(run))
            terms.add(run[at:at + rng.randint(1, 5)])
    assert len(terms) > 250
    for term in sorted(terms):
        assert found(term) == {i for i, t in enumerate(texts) if term in t}, term
    pieces = 0
    for i, text in enumerate(texts):
        ends = [m.start() for m in re.finditer(f"[{''.join(cjk)}]", text)]
        if len(ends) >= 2 and '"' not in text:
            a, b = sorted(rng.sample(ends, 2))
            assert i in found(text[a:b + 1]), text[a:b + 1]
            pieces += 1
    assert pieces > 100


@pytest.mark.pure
def test_no_query_breaks_the_match():
    """Any query string — FTS5's own syntax, quotes, NUL, lone surrogates (a command line's bytes that were
    no UTF-8), the gap character — is a match expression FTS5 runs, or "nothing to search"."""
    import random

    from newsarchive.core.textindex import GAP

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, content='', tokenize='unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t (rowid, title, body) VALUES (1, ?, ?)", (index_text("国债 LPR"), index_text("央行，降准 2.4576%")))
    alphabet = [*'国债央行 "\'*^:()-+{}[]\\\x00\t\n，。%.a1Z', "NEAR", "AND", "OR", "NOT", "title", GAP, "🤔",
                "\U00020000", "\u0301", "\ud800", "\udcff"]
    rng = random.Random(7)
    ran = 0
    for _ in range(3000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        try:
            expr, _ = parse_query(query)
        except ValueError:
            continue
        db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expr,)).fetchall()
        ran += 1
    assert ran > 2000
    assert db.execute("SELECT rowid FROM t WHERE t MATCH ?", (parse_query("央\udcff行 国债")[0],)).fetchall() == []


@pytest.mark.pure
def test_every_han_character_the_index_spaces_is_one_token_of_sqlite():
    """Each character of ``core.textindex``'s CJK ranges stays one token in this SQLite's unicode61 (a
    character it dropped would join its neighbours into a phrase the text does not hold)."""
    from newsarchive.core.textindex import _CJK

    ranges = re.findall(r"(.)-(.)", _CJK)
    chars = [chr(c) for lo, hi in ranges for c in range(ord(lo), ord(hi) + 1)]
    assert len(chars) > 75_000
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(b, content='', tokenize='unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    db.execute("INSERT INTO t (rowid, b) VALUES (1, ?)", (index_text("".join(chars)),))
    assert db.execute("SELECT COUNT(*), MAX(length(term)) FROM v").fetchone() == (len(chars), 1)


@pytest.mark.pure
def test_visible_text_of_a_post_body():
    body = ('> 摘要\\*一\n\n<p>正文&amp;<b>粗</b></p><p>二</p>\n\n<http://finews.zning.xyz/x?infoCode=NW1>\n\n'
            '[返回南方日报新闻](//finews.withounder.com/category/nanfangribao.html)｜[返回首页](//finews.withounder.com/)')
    assert visible_text(body) == ("摘要*一 正文&粗 二 http://finews.zning.xyz/x?infoCode=NW1 返回南方日报新闻｜返回首页")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    posts = synthetic_posts(60, seed=17, media=["南方日报", "21世纪经济报道 21财经APP", "Career In 投行PEVC"],
                            start=START)
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    out = tmp_path_factory.mktemp("archive") / "a"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
        yield {"posts": posts, "folder": folder, "out": out, "server": server}


def _contains(text: str, term: str) -> bool:
    """Chinese as a substring; a Latin word or a number as a word."""
    if re.fullmatch(r"[\x00-\x7f]+", term):
        return re.search(r"(?<![a-z0-9])" + re.escape(term.lower()) + r"(?![a-z0-9])", text) is not None
    return term.lower() in text


def _truth(folder, posts, terms: list[str]) -> set[str]:
    """The posts whose page on the mirror shows every term (its article section's text)."""
    found = set()
    for p in posts:
        section = lxml.html.fromstring((folder / "site" / p.path.lstrip("/")).read_text("utf-8")).xpath(
            '//div[@class="wrapper"]/section')[-1]
        text = re.sub(r"\s+", " ", section.text_content()).lower()
        if all(_contains(text, t) for t in terms):
            found.add(p.info_code)
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("query", QUERIES)
def test_search_finds_exactly_the_posts_that_contain_the_terms(crawled, query):
    result = run_cli("search", *query.split(), "--output", crawled["out"], "--json", "--limit", "1000")
    got = {json.loads(line)["info_code"] for line in result.stdout.splitlines()}
    _, terms = parse_query(query)
    want = _truth(crawled["folder"], crawled["posts"], terms)
    assert got == want, (query, sorted(got ^ want)[:5])
    assert result.returncode == (0 if want else 1)


@pytest.mark.e2e
def test_results_are_ranked_and_carry_title_date_category_path_and_a_snippet(crawled):
    result = run_cli("search", "央行", "--output", crawled["out"], "--json", "--limit", "5")
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(hits) == 5 and all(set(h) >= {"title", "date", "category", "path", "snippet", "rank"} for h in hits)
    assert [h["rank"] for h in hits] == sorted(h["rank"] for h in hits)
    assert all((crawled["out"] / h["path"]).is_file() for h in hits)
    text = run_cli("search", "降准", "--output", crawled["out"], "--limit", "3")
    assert "«降准»" in text.stdout and "3 result(s)" in text.stderr
    filtered = run_cli("search", "央行", "--output", crawled["out"], "--json", "--category", "nanfangribao",
                       "--since", "2026-09-01", "--until", "2026-09-02", "--limit", "1000")
    assert all(json.loads(line)["category"] == "nanfangribao" for line in filtered.stdout.splitlines())


@pytest.mark.e2e
def test_the_index_follows_updates_retirement_and_reindex(crawled, tmp_path):
    import shutil

    out = tmp_path / "a"
    shutil.copytree(crawled["out"], out)
    posts, folder, server = crawled["posts"], crawled["folder"], crawled["server"]
    target = posts[0]
    page = folder / "site" / target.path.lstrip("/")
    original = page.read_text("utf-8")
    record = (folder / "upstream" / f"{target.info_code}.json")
    share = record.read_text("utf-8")
    try:
        record.write_text(share.replace(target.paragraphs[0][:6], "独一无二的更正文字"), "utf-8")
        assert run_cli("crawl", "--site", server.url, "--output", out, "--refresh", server=server).returncode == 0
    finally:
        record.write_text(share, "utf-8")
        page.write_text(original, "utf-8")
    new = run_cli("search", "独一无二的更正文字", "--output", out, "--json")
    assert [json.loads(x)["info_code"] for x in new.stdout.splitlines()] == [target.info_code]
    old_words = target.paragraphs[0][:6]
    plain = {json.loads(x)["info_code"] for x in run_cli("search", f'"{old_words}"', "--output", out, "--json",
                                                         "--limit", "100").stdout.splitlines()}
    with_revisions = [json.loads(x) for x in run_cli("search", f'"{old_words}"', "--output", out, "--json",
                                                     "--revisions", "--limit", "100").stdout.splitlines()]
    assert target.info_code not in plain
    assert any(h["info_code"] == target.info_code and h["kind"] == "revision" for h in with_revisions)
    # retired posts are still found, at their new place; --reindex gives the same answers
    assert run_cli("schedule", "--every", "1s", "--runs", "1", "--keep-days", "1", "--site", server.url,
                   "--output", out, server=server).returncode == 0
    before = run_cli("search", "央行", "--output", out, "--json", "--limit", "1000").stdout.splitlines()
    assert before and all(json.loads(x)["path"].startswith("old_post/") for x in before)
    assert run_cli("search", "--reindex", "--output", out).returncode == 0
    assert run_cli("search", "央行", "--output", out, "--json", "--limit", "1000").stdout.splitlines() == before


@pytest.mark.e2e
def test_a_query_with_nothing_to_search_is_a_usage_error(crawled):
    result = run_cli("search", "，。", "--output", crawled["out"])
    assert result.returncode == 2 and "nothing to search" in result.stderr


@pytest.mark.e2e
def test_a_crawl_with_the_index_off_writes_posts_unindexed_and_reindex_catches_up(crawled, tmp_path):
    out = tmp_path / "a"
    assert run_cli("crawl", "--site", crawled["server"].url, "--output", out, "-s", "NEWSARCHIVE_SEARCH_INDEX=0",
                   server=crawled["server"]).returncode == 0
    with sqlite3.connect(out / "archive.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM search_docs").fetchone()[0] == 0
        posts = db.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
    before = run_cli("search", "央行", "--output", out, "--json", "--limit", "1000")
    assert f"{posts} post(s) are not in the index yet" in before.stderr
    assert run_cli("search", "--reindex", "--output", out).returncode == 0
    after = run_cli("search", "央行", "--output", out, "--json", "--limit", "1000").stdout.splitlines()
    want = run_cli("search", "央行", "--output", crawled["out"], "--json", "--limit", "1000").stdout.splitlines()
    assert after and [json.loads(x)["info_code"] for x in after] == [json.loads(x)["info_code"] for x in want]
    with sqlite3.connect(out / "archive.sqlite3") as db:      # the reindex's merge setting set back
        assert db.execute("SELECT v FROM search_index_config WHERE k = 'automerge'").fetchone() == (4,)


@pytest.mark.e2e
def test_a_reindex_that_fails_midway_leaves_the_index_as_it_was(crawled, tmp_path, monkeypatch):
    """Nothing of a failed reindex is committed: not the cleared, half-made index, nor its build
    settings (no segment merging, a 16 MB token hash)."""
    import shutil

    from newsarchive.offline import search as offline

    out = tmp_path / "a"
    shutil.copytree(crawled["out"], out)
    before = offline.search(out, "央行", limit=1000)
    from newsarchive.store.catalog import Catalog

    real = Catalog.index_post
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 10:
            raise OSError("disk gone")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "index_post", failing)
    with pytest.raises(OSError):
        offline.reindex(out)
    assert before and offline.search(out, "央行", limit=1000) == before
    with sqlite3.connect(out / "archive.sqlite3") as db:
        config = dict(db.execute("SELECT k, v FROM search_index_config"))
    assert config.get("automerge", 4) == 4 and config.get("hashsize", 1 << 20) == 1 << 20


def _as_an_earlier_version(out):
    """The catalog as an earlier version left it: an index in other tokens (bigrams), no token marker."""
    with sqlite3.connect(out / "archive.sqlite3") as db:
        rows = db.execute("SELECT rowid FROM search_docs").fetchall()
        db.execute("INSERT INTO search_index (search_index) VALUES ('delete-all')")
        for (rowid,) in rows:
            db.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, '', ?)", (rowid, "央行 行降 降准"))
        db.execute("DROP TABLE search_meta")


@pytest.mark.e2e
def test_an_index_of_an_earlier_version_is_made_anew_by_search_a_crawl_and_verify(crawled, tmp_path):
    """The tokens changed (bigrams → characters): an index in the old ones would miss posts, so whichever
    comes first — a search, a crawl, ``verify --repair`` — makes it anew, once, and says so."""
    import shutil

    want = run_cli("search", "央行", "--output", crawled["out"], "--json", "--limit", "1000").stdout.splitlines()
    assert want
    runs = {}
    for how in ("search", "crawl", "verify"):
        out = tmp_path / how
        shutil.copytree(crawled["out"], out)
        _as_an_earlier_version(out)
        if how == "crawl":
            runs[how] = run_cli("crawl", "--site", crawled["server"].url, "--output", out, "--refresh",
                                server=crawled["server"])
            assert "made it anew (60 posts)" in runs[how].stderr
        elif how == "verify":
            found = run_cli("verify", "--output", out)
            assert found.returncode != 0 and "earlier version's tokens" in found.stdout + found.stderr
            runs[how] = run_cli("verify", "--repair", "--output", out)
        else:
            for refused in ([], ["，。"]):     # (a usage error first: nothing is made anew for it)
                usage = run_cli("search", *refused, "--output", out)
                assert usage.returncode == 2 and "making it anew" not in usage.stderr
        result = run_cli("search", "央行", "--output", out, "--json", "--limit", "1000")
        if how == "search":
            assert "making it anew" in result.stderr
        else:
            assert runs[how].returncode == 0, runs[how].stderr[-2000:]
            assert "making it anew" not in result.stderr
        assert result.stdout.splitlines() == want, how
        assert run_cli("verify", "--output", out).returncode == 0


@pytest.mark.e2e
def test_a_writer_opening_the_catalog_waits_for_another_s_long_transaction(tmp_path):
    """An earlier version's index is made anew in one transaction, as long as the archive is big: a
    second writer opening the catalog meanwhile waits for it (SQLite's default wait, 5 s, was an
    error: ``database is locked``)."""
    import sqlite3
    import threading
    import time

    from newsarchive.store.catalog import Catalog

    Catalog(tmp_path).close()
    held = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(tmp_path / Catalog.FILENAME)
        db.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(6)
        db.rollback()
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    started = time.monotonic()
    Catalog(tmp_path).close()
    assert time.monotonic() - started > 5
    holder.join()
