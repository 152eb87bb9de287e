"""Search figures: index build, index size, query latency on a generated archive, and the tokens
chosen (each CJK character, a word a phrase of them) against overlapping character bigrams (the
earlier version's) and FTS5's trigram tokeniser.

    python bench/search.py [--posts 100000] [--queries 20] [--runs 5]

The archive is generated directly (bench/genarchive.py, cached under bench/work/), the index made with
`newsarchive search --reindex`'s own function; queries run in this process (start-up excluded; the
start-up of the `newsarchive search` command is measured on its own). Writes bench/SEARCH.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

QUERIES = ["央行", "降准", "国债", "海关", "央行 降准", "半导体 海外", '"新一轮降准措施"', '"引发投资者广泛关注"',
           "券商 分红", "王晓明", "3.6亿元", "0.3", "APP", "财政部 证监会", "增长", "深交所 上交所 央行", "涨",
           "数字人民币", '"专精特新企业扶持方案" 财政部', "不存在的词语"]


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def trigram_compare(archive: Path, queries: list[str]) -> dict:
    """FTS5's trigram tokeniser on the same visible text: index size, query time, and what it cannot
    do (terms under three characters need a LIKE scan of the whole text)."""
    from newsarchive.core.post import split_front_matter
    from newsarchive.core.textindex import parse_query, visible_text

    db_path = archive.parent / "trigram.sqlite3"
    db_path.unlink(missing_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='trigram')")
    text_bytes = 0
    started = time.perf_counter()
    for i, p in enumerate(sorted((archive / "_posts").glob("*.md"))):
        text = visible_text(split_front_matter(p.read_text("utf-8"))[1])
        text_bytes += len(text.encode())
        db.execute("INSERT INTO t (rowid, body) VALUES (?, ?)", (i, text))
    db.commit()
    build = time.perf_counter() - started
    times, scans = [], 0
    for q in queries:
        _, terms = parse_query(q)
        clauses, params = [], []
        for t in terms:
            if len(t) >= 3:
                clauses.append("t MATCH ?")
                params.append('"' + t.replace('"', '""') + '"')
            else:                                  # trigram cannot index it: a LIKE over every row
                clauses.append("body LIKE ?")
                params.append(f"%{t}%")
                scans += 1
        started = time.perf_counter()
        db.execute("SELECT rowid FROM t WHERE " + " AND ".join(clauses) + " LIMIT 20", params).fetchall()
        times.append(time.perf_counter() - started)
    db.close()
    return {"index_bytes": size_of(db_path), "text_bytes": text_bytes, "build_s": round(build, 2),
            "query_median_ms": round(statistics.median(times) * 1e3, 2),
            "query_p95_ms": round(sorted(times)[int(len(times) * 0.95) - 1] * 1e3, 2),
            "queries_needing_a_scan": scans}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-trigram", action="store_true")
    args = ap.parse_args(argv)
    from genarchive import generated

    work = HERE / "work" / "search-run"
    report = measure(generated(HERE / "work" / f"search-zipf-{args.posts}", args.posts, text="zipf"), work, args.runs)
    if not args.no_trigram:
        report["trigram"] = trigram_compare(work, QUERIES)
        report["bigrams"] = bigram_compare(HERE / "work" / f"search-zipf-{args.posts}", work, args.runs)
    # the same on the bench mirror's text, where every searched word is in a quarter to two thirds of the posts
    report["templates"] = measure(generated(HERE / "work" / f"search-{args.posts}", args.posts), work, args.runs)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    (HERE / "SEARCH.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")


def bigram_compare(base: Path, work: Path, runs: int) -> dict:
    """The same measure with the earlier version's tokens: every CJK run's overlapping bigrams and its
    last character alone (国债市场 → 国债 债市 市场 场), a word a phrase of bigrams, one character a prefix."""
    import re
    from operator import add

    from newsarchive.core import textindex

    def index_text(text: str) -> str:
        parts = textindex._CJK_SPLIT.split(text)
        for i in range(1, len(parts), 2):
            run = parts[i]
            parts[i] = f" {' '.join(map(add, run, run[1:]))} {run[-1]} " if len(run) > 1 else f" {run} "
        return "".join(parts)

    def phrase(term: str) -> str | None:
        chunks = re.findall(f"[{textindex._CJK}]+|[^{textindex._CJK}]+", term)
        parts: list[str] = []
        prefix = False
        for i, chunk in enumerate(chunks):
            if textindex._CJK_RUN.fullmatch(chunk):
                words = [w for c in chunks[i + 1:] for w in textindex._FTS_WORD.findall(c)]
                parts.extend(chunk[j:j + 2] for j in range(len(chunk) - 1))
                if words or len(chunk) == 1:
                    parts.append(chunk[-1])
                prefix = not words and len(chunk) == 1
            else:
                parts.extend(w.lower() for w in textindex._FTS_WORD.findall(chunk))
                prefix = False
        return ('"' + " ".join(parts) + '"' + ("*" if prefix else "")) if parts else None

    saved = textindex.index_text, textindex._phrase
    textindex.index_text, textindex._phrase = index_text, phrase
    try:
        report = measure(base, work, runs)
    finally:
        textindex.index_text, textindex._phrase = saved
    return {k: report[k] for k in ("index_build_s", "index_posts_per_s", "index_bytes", "text_bytes", "index_to_text",
                                   "query_median_ms", "query_p95_ms")}


def measure(base: Path, work: Path, runs: int) -> dict:
    """Index a copy (``work``) of the generated archive ``base`` and time the queries on it."""
    from newsarchive.core.post import split_front_matter
    from newsarchive.core.textindex import visible_text
    from newsarchive.offline.search import reindex, search

    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    db = work / "archive.sqlite3"
    sqlite3.connect(db).execute("VACUUM").connection.close()
    before = size_of(db)
    started = time.perf_counter()
    posts, _ = reindex(work)
    build = time.perf_counter() - started
    sqlite3.connect(db).execute("VACUUM").connection.close()
    index_bytes = size_of(db) - before
    text_bytes = 0          # the text it indexes: the visible text of every post (titles too)
    for p in (work / "_posts").glob("*.md"):
        meta, body = split_front_matter(p.read_text("utf-8"))
        text_bytes += len((str(meta.get("title") or "") + visible_text(body)).encode())
    times = []
    for _ in range(runs):
        for q in QUERIES:
            started = time.perf_counter()
            search(work, q, limit=20)
            times.append(time.perf_counter() - started)
    times.sort()
    startups = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "newsarchive", "search", "不存在的词语", "--output", str(work)],
                       capture_output=True, env=dict(os.environ))
        startups.append(time.perf_counter() - started)
    return {
        "posts": posts, "index_build_s": round(build, 2), "index_posts_per_s": round(posts / build),
        "index_bytes": index_bytes, "text_bytes": text_bytes, "index_to_text": round(index_bytes / text_bytes, 2),
        "query_median_ms": round(statistics.median(times) * 1e3, 2),
        "query_p95_ms": round(times[int(len(times) * 0.95) - 1] * 1e3, 2), "queries": len(QUERIES) * runs,
        "command_start_up_s": round(statistics.median(startups), 2),
        "posts_matched_percent": _shares(db, posts),
    }


def _shares(db: Path, posts: int) -> dict:
    """In how many of the posts each query's terms are (the rows it ranks): min, median, max, in %."""
    from newsarchive.core.textindex import parse_query

    conn = sqlite3.connect(db)
    shares = sorted(conn.execute("SELECT COUNT(*) FROM search_index WHERE search_index MATCH ?",
                                 (parse_query(q)[0],)).fetchone()[0] * 100 / posts for q in QUERIES)
    conn.close()
    return {"min": round(shares[0], 1), "median": round(statistics.median(shares), 1), "max": round(shares[-1], 1)}


if __name__ == "__main__":
    main()
