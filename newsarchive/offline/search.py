"""``newsarchive search``: full-text search of the whole archive (``_posts/`` and ``old_post/``, and with
``--revisions`` the texts posts had before), on the FTS5 index the catalog keeps in step with every
write (``Catalog.index_post``; the tokens are ``core.textindex``'s)."""
from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path

from newsarchive.core.mdsafe import for_terminal
from newsarchive.core.post import PostFormatError, post_body
from newsarchive.core.textindex import parse_query, snippet, visible_text
from newsarchive.offline.common import row_filters
from newsarchive.store.catalog import Catalog
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


def outdated(folder: str | Path) -> bool:
    """The index holds an earlier version's tokens (made anew by ``reindex``)."""
    catalog = Catalog(folder, readonly=True)
    try:
        return catalog.db is not None and catalog.index_outdated()
    finally:
        catalog.close()


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


def reindex(folder: str | Path) -> tuple[int, int]:
    """The index made anew from the post files and the revisions: ``(posts, revisions)``."""
    catalog = Catalog(folder)
    try:
        return catalog.reindex()
    finally:
        catalog.close()
