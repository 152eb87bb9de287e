"""``newsarchive search``: full-text search of the whole archive (``_posts/`` and ``old_post/``, and with
``--revisions`` the texts posts had before), on the FTS5 index the catalog keeps in step with every
write (``Catalog.index_post``; the tokens are ``core.textindex``'s)."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from newsarchive.core.mdsafe import for_terminal
from newsarchive.core.post import PostFormatError, post_body
from newsarchive.core.textindex import parse_query, snippet, visible_text
from newsarchive.offline.common import row_filters
from newsarchive.store.catalog import Catalog, shown
from newsarchive.store.files import read_own


@dataclass
class Hit:
    info_code: str
    title: str
    date: str
    category: str
    path: str
    kind: str           # post, or revision (an earlier text of the post)
    rank: float
    snippet: str

    def as_dict(self) -> dict:
        return asdict(self)


TITLE_WEIGHT = 5.0      # a term in the title weighs as much as five in the body (bm25's column weight)


def _neg_date(date: str) -> str:
    """A key that sorts newer dates first."""
    return "".join(chr(0x10FFFF - ord(c)) for c in date)


class SearchError(ValueError):
    """A query or an index that cannot answer; one line."""


def _body(text: str) -> str:
    try:
        return post_body(text)
    except PostFormatError:
        return text


def search(folder: str | Path, query: str, since: str | None = None, until: str | None = None,
           categories: list[str] | None = None, limit: int = 20, revisions: bool = False,
           mark: tuple[str, str] = ("«", "»")) -> list[Hit]:
    """Posts matching every term of ``query``, best first (bm25, the title weighing 5× the body),
    newest first among equals."""
    try:
        expr, terms = parse_query(query)
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    folder = Path(folder)
    catalog = Catalog(folder, readonly=True)
    if catalog.db is None:
        raise SearchError(f"no archive in {folder} (no {Catalog.FILENAME})")
    filters, params = row_filters(since, until, categories, table="p")
    if not revisions:
        filters.append("d.kind = 'post'")
    where = (" AND " + " AND ".join(filters)) if filters else ""
    db = catalog.conn
    # FTS5 ranks alone first (ORDER BY … LIMIT n), the documents and filters after: a word in a third
    # of 100,000 posts is ranked in milliseconds, not joined and sorted in SQL first. bm25() is called
    # by name, not through the table's configured `rank`: the same order, ~40% less time (FTS5 runs
    # a configured rank as an SQL expression for every matching row)
    fetch = max(limit * 4, 64)
    while True:
        try:
            ranked = db.execute(f"SELECT rowid, bm25(search_index, {TITLE_WEIGHT}, 1.0) AS score FROM search_index "
                                "WHERE search_index MATCH ? ORDER BY score LIMIT ?", (expr, fetch)).fetchall()
        except sqlite3.OperationalError as exc:
            raise SearchError(f"the index cannot answer {query!r}: {exc}") from None
        rank_of = dict(ranked)
        rows = []
        for chunk in range(0, len(ranked), 500):
            ids = [r for r, _ in ranked[chunk:chunk + 500]]
            rows += db.execute(
                "SELECT d.id, d.info_code, d.kind, d.sha256, p.title, p.date, p.category, p.location, p.path "
                f"FROM search_docs d JOIN posts p ON p.info_code = d.info_code WHERE d.id IN ({', '.join('?' * len(ids))})"
                + where, (*ids, *params)).fetchall()
        if len(rows) >= limit or len(ranked) < fetch:
            break
        fetch *= 4
    rows.sort(key=lambda r: (round(rank_of[r[0]], 9), _neg_date(r[5])))
    rows = [(code, kind, sha, rank_of[i], title, date, category, location, path)
            for i, code, kind, sha, title, date, category, location, path in rows[:limit]]
    hits = []
    for code, kind, sha, rank, title, date, category, location, path in rows:
        if kind == "post":
            text = read_own(folder / location / path) or ""
        else:
            found = catalog.conn.execute("SELECT text FROM revisions WHERE info_code = ? AND sha256 = ? LIMIT 1",
                                         (code, sha)).fetchone()
            text = found[0] if found else ""
        hits.append(Hit(code, for_terminal(title), date, for_terminal(category), f"{location}/{path}", kind,
                        round(rank, 3), snippet(for_terminal(visible_text(_body(text))), terms, mark=mark)))
    catalog.close()
    return hits


def unindexed(folder: str | Path) -> int:
    """Posts the index does not hold as they are now (an archive older than the index: reindex)."""
    catalog = Catalog(folder, readonly=True)
    try:
        if catalog.db is None:
            return 0
        return catalog.conn.execute(
            "SELECT COUNT(*) FROM posts p LEFT JOIN search_docs d ON d.info_code = p.info_code AND d.kind = 'post' "
            "AND d.sha256 = p.sha256 WHERE d.id IS NULL").fetchone()[0]
    except sqlite3.OperationalError:
        return catalog.count()
    finally:
        catalog.close()


def _posts(catalog: Catalog, folder: Path) -> Iterator[tuple[str, str, str, str, str]]:
    for row in catalog.iter_posts():
        text = read_own(folder / row["location"] / row["path"])
        if text is not None:
            yield row["info_code"], row["sha256"], row["title"], text, shown(row)


def reindex(folder: str | Path) -> tuple[int, int]:
    """The index made anew from the post files and the revisions: ``(posts, revisions)``."""
    folder = Path(folder)
    catalog = Catalog(folder)
    try:
        db = catalog.conn
        catalog.clear_index()
        # no merging of the index's segments while it is made (one 'optimize' merges them at the end),
        # and 16 MB of pending tokens before a segment is written instead of 1 MB (so far fewer, larger
        # segments): ~30% faster together. The settings are in the same transaction as the index, and
        # set back before commit (a crawl's small transactions gain nothing from a larger hash).
        db.execute("INSERT INTO search_index (search_index, rank) VALUES ('automerge', 0)")
        db.execute(f"INSERT INTO search_index (search_index, rank) VALUES ('hashsize', {16 << 20})")
        posts = revisions = 0
        for code, sha, title, text, extra in list(_posts(catalog, folder)):
            catalog.index_post(code, sha, title, text, extra)
            posts += 1
        for code, sha, text in db.execute("SELECT info_code, sha256, text FROM revisions").fetchall():
            catalog.index_revision(code, sha, text)
            revisions += 1
        db.execute("INSERT INTO search_index (search_index, rank) VALUES ('automerge', 4)")   # FTS5's default
        db.execute(f"INSERT INTO search_index (search_index, rank) VALUES ('hashsize', {1 << 20})")   # its default
        db.commit()
        db.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
        db.commit()
    except BaseException:
        catalog.conn.rollback()     # (not the index cleared and half made, nor its build settings)
        raise
    finally:
        catalog.close()
    return posts, revisions
