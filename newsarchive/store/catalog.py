"""The archive's catalog: ``archive.sqlite3`` beside ``_posts/`` (stdlib sqlite3).

One row per infoCode (path, sha256, fields, first/last seen, revisions), earlier texts of revised
posts, post pages that carry no infoCode (so re-crawls skip them), failures still outstanding, and
one row per crawl. WAL mode: one writer (the writer pipeline) and any number of readers.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from newsarchive.core.dates import BEIJING
from newsarchive.core.textindex import TOKENS

SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    info_code   TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    title       TEXT NOT NULL,
    date        TEXT NOT NULL,
    category    TEXT NOT NULL,
    tags        TEXT NOT NULL,
    source_url  TEXT NOT NULL,
    share_url   TEXT NOT NULL,
    body_source TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    revisions   INTEGER NOT NULL DEFAULT 0,
    location    TEXT NOT NULL DEFAULT '_posts'
);
CREATE INDEX IF NOT EXISTS posts_category ON posts (category, date);
CREATE TABLE IF NOT EXISTS revisions (
    info_code  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    replaced   TEXT NOT NULL,
    text       TEXT NOT NULL
);
-- (a post's revisions looked up by its code: a scan of every revision was 80 ms at 100,000 of them)
CREATE INDEX IF NOT EXISTS revisions_code ON revisions (info_code, sha256);
CREATE TABLE IF NOT EXISTS ignored_pages (
    page   TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    seen   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    url        TEXT PRIMARY KEY,
    info_code  TEXT,
    reason     TEXT NOT NULL,
    permanent  INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 1,
    last_seen  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS crawls (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    spider    TEXT NOT NULL,
    started   TEXT NOT NULL,
    finished  TEXT,
    new       INTEGER,
    updated   INTEGER,
    unchanged INTEGER,
    failed    INTEGER,
    reason    TEXT,
    found     INTEGER,
    scope     TEXT
);
CREATE TABLE IF NOT EXISTS search_docs (
    id        INTEGER PRIMARY KEY,
    info_code TEXT NOT NULL,
    kind      TEXT NOT NULL,
    sha256    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS search_docs_code ON search_docs (info_code, kind);
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(title, body, content='',
                                                          tokenize='unicode61 remove_diacritics 2');
-- ranked by bm25, a title's words weighing five times the body's (search calls bm25() with these weights)
INSERT INTO search_index (search_index, rank) SELECT 'rank', 'bm25(5.0, 1.0)'
    WHERE (SELECT COUNT(*) FROM search_index_config WHERE k = 'rank') = 0;
-- the tokens the index holds (core.textindex.TOKENS): set when the index is made, so an index
-- made with other tokens (a catalog of an earlier version, which held bigrams) is known and made anew
CREATE TABLE IF NOT EXISTS search_meta (
    key       TEXT PRIMARY KEY,
    value     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS warc_digests (
    url       TEXT NOT NULL,
    digest    TEXT NOT NULL,
    date      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (url, digest)
);
CREATE TABLE IF NOT EXISTS monitor_results (
    crawl_id  INTEGER NOT NULL,
    monitor   TEXT NOT NULL,
    passed    INTEGER NOT NULL,
    message   TEXT NOT NULL
);
"""

POST_FIELDS = ("info_code", "path", "sha256", "title", "date", "category", "tags", "source_url",
               "share_url", "body_source", "first_seen", "last_seen", "revisions", "location")


# a successful crawl: it finished and its listings yielded posts (a mirror's maintenance page answers
# 200 and yields none: that run kept nothing, and must not count as the last good crawl)
SUCCESSFUL_CRAWL = "reason = 'finished' AND (found IS NULL OR found > 0)"


def catalog_problem(folder: str | Path) -> str | None:
    """Why the catalog of ``folder`` cannot be used as it is, in one line that says what to do, or
    None. A catalog that is missing or empty while the archive holds posts is a lost catalog, not a
    new one: a crawl never silently starts another (history and first-seen dates would be lost)."""
    folder = Path(folder)
    path = folder / Catalog.FILENAME
    posts = folder / "_posts"
    has_posts = posts.is_dir() and any(posts.glob("*.md"))
    fix = "run `newsarchive verify --repair` (it keeps the damaged file aside)"
    if not path.exists() or path.stat().st_size == 0:
        if has_posts:
            state = "missing" if not path.exists() else "empty"
            return f"{path} is {state} but the archive holds posts: {fix}"
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            check = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            db.execute("SELECT 1 FROM posts LIMIT 1").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"{path} is not a readable database ({' '.join(str(exc).split())}): {fix}"
    if check != "ok":
        return f"{path} is damaged ({' '.join(str(check).split())}): {fix}"
    return None


def shown(row: dict) -> str:
    """What a post's page shows beside its title and body: its date (Beijing time) and its tags."""
    return f"{(row.get('date') or '')[:19]} tags: {row.get('tags') or ''}"


def now_text() -> str:
    return dt.datetime.now(BEIJING).isoformat(timespec="seconds")


OPEN_WAIT = 600.0      # seconds a writer opening the catalog waits for another's transaction (a reindex)


class Catalog:
    FILENAME = "archive.sqlite3"

    def __init__(self, folder: str | Path, readonly: bool = False):
        self.folder = Path(folder)
        self.path = self.folder / self.FILENAME
        self.readonly = readonly
        self.deferred = False      # a batch (import): rows committed at each checkpoint, after the files are durable
        self.search = True              # the writer keeps the search index in step (NEWSARCHIVE_SEARCH_INDEX)
        self.db: sqlite3.Connection | None = None
        if readonly:
            self._connect_readonly()
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # (the schema's statements take the write lock even when they write nothing: a writer that opens
        # the archive while another makes the search index anew waits for it, as long as that takes)
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=OPEN_WAIT)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO search_meta (key, value) SELECT 'tokens', ? "
                        "WHERE NOT EXISTS (SELECT 1 FROM search_docs)", (TOKENS,))    # (an index begun now)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(crawls)")}
        for column in ("found", "scope"):   # a catalog made before crawls recorded these
            if column not in columns:
                self.db.execute(f"ALTER TABLE crawls ADD COLUMN {column} {'INTEGER' if column == 'found' else 'TEXT'}")
        self.db.commit()
        self.db.execute("PRAGMA busy_timeout=10000")

    def _connect_readonly(self) -> None:
        if self.path.exists():
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=10000")

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (the writer's is open from the start)."""
        if self.db is None:
            raise sqlite3.ProgrammingError(f"the catalog {self.path} is not open")
        return self.db

    def _reader(self):
        """The connection, opened late for a reader whose catalog did not exist yet."""
        if self.db is None and self.readonly:
            self._connect_readonly()
        return self.db

    def _read(self, sql: str, params: tuple = (), one: bool = False):
        """Rows of a read (or the first row, ``one``): [] or None while the catalog or its tables
        do not exist yet — also while another process is still creating them."""
        if self._reader() is None:
            return None if one else []
        try:
            cur = self.conn.execute(sql, params)
            return cur.fetchone() if one else cur.fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None if one else []
            raise

    # -- reading --------------------------------------------------------------------------------
    def get(self, info_code: str) -> dict | None:
        row = self._read(f"SELECT {', '.join(POST_FIELDS)} FROM posts WHERE info_code = ?", (info_code,), one=True)
        return dict(zip(POST_FIELDS, row)) if row else None

    def known(self, info_code: str) -> bool:
        return self._read("SELECT 1 FROM posts WHERE info_code = ?", (info_code,), one=True) is not None

    def known_codes(self) -> set[str]:
        """Every archived infoCode (one read, for a crawl's lookups: ~10 MB for 100,000)."""
        return {row[0] for row in self._read("SELECT info_code FROM posts")}

    def ignored_pages(self) -> set[str]:
        return {row[0] for row in self._read("SELECT page FROM ignored_pages")}

    def permanent_failures(self) -> dict[str, str]:
        """URL → when it last failed for good."""
        return dict(self._read("SELECT url, last_seen FROM failures WHERE permanent = 1"))

    def count(self) -> int:
        row = self._read("SELECT COUNT(*) FROM posts", one=True)
        return row[0] if row else 0

    def iter_posts(self, where: str = "", params: tuple = ()):
        """Rows as dicts, in date order, streamed from the cursor."""
        if self._reader() is None:
            return
        cur = self.conn.execute(f"SELECT {', '.join(POST_FIELDS)} FROM posts {where} ORDER BY date, info_code", params)
        for row in cur:
            yield dict(zip(POST_FIELDS, row))

    # -- writing (the writer pipeline only) -------------------------------------------------
    def record_post(self, row: dict, previous: dict | None, old_text: str | None = None,
                    text: str | None = None, stamp: str | None = None) -> None:
        """A post written: its row (first/last seen at ``stamp``, default now), the text it replaced
        kept as a revision, the search index in step."""
        stamp = stamp or now_text()
        if previous is None:
            self.conn.execute(
                f"INSERT OR REPLACE INTO posts ({', '.join(POST_FIELDS)}) VALUES ({', '.join('?' * len(POST_FIELDS))})",
                tuple({"location": "_posts", **row, "first_seen": stamp, "last_seen": stamp, "revisions": 0}[f]
                      for f in POST_FIELDS),
            )
        else:
            revised = previous["sha256"] != row["sha256"]
            if revised and old_text is not None:
                self.conn.execute("INSERT INTO revisions VALUES (?, ?, ?, ?)",
                                (row["info_code"], previous["sha256"], stamp, old_text))
            values = {**previous, **row, "last_seen": stamp, "first_seen": previous["first_seen"],
                      "revisions": previous["revisions"] + (1 if revised else 0)}
            self.conn.execute(
                f"UPDATE posts SET {', '.join(f'{f} = ?' for f in POST_FIELDS[1:])} WHERE info_code = ?",
                (*tuple(values[f] for f in POST_FIELDS[1:]), row["info_code"]),
            )
        if self.search:
            self.index_post(row["info_code"], row["sha256"], row.get("title") or "", text, shown(row))
        self.conn.execute("DELETE FROM failures WHERE info_code = ?", (row["info_code"],))
        self._commit()

    # -- the search index (FTS5, contentless: the text itself is the post files') ----------------
    def index_post(self, info_code: str, sha256: str, title: str, text: str | None, extra: str = "") -> None:
        """Keep the index in step with a post just written: its new text indexed; the text it
        replaced, already in the index, now stands for the revision (``search --revisions``)."""
        from newsarchive.core.post import PostFormatError, post_body
        from newsarchive.core.textindex import visible_text

        if text is None:
            return
        current = self.conn.execute("SELECT id, sha256 FROM search_docs WHERE info_code = ? AND kind = 'post'",
                                    (info_code,)).fetchone()
        if current and current[1] == sha256:
            return
        if current:
            self.conn.execute("UPDATE search_docs SET kind = 'revision' WHERE id = ?", (current[0],))
        try:
            body = post_body(text)
        except PostFormatError:
            body = text
        self._index_doc(info_code, "post", sha256, title, f"{visible_text(body)} {extra}")

    def index_revision(self, info_code: str, sha256: str, text: str) -> None:
        """An earlier text of a post in the index (``search --revisions``): its title, its visible text,
        its date and tags, as for a post."""
        from newsarchive.core.post import PostFormatError, split_front_matter
        from newsarchive.core.textindex import visible_text

        try:
            meta, body = split_front_matter(text)
            extra = f"{str(meta.get('date') or '')[:19]} tags: {meta.get('tags') or ''}"
        except PostFormatError:
            meta, body, extra = {}, text, ""
        self._index_doc(info_code, "revision", sha256, str(meta.get("title") or ""), f"{visible_text(body)} {extra}")

    def _index_doc(self, info_code: str, kind: str, sha256: str, title: str, visible: str) -> None:
        """One text in the index: its document row and its tokens."""
        from newsarchive.core.textindex import index_text

        cur = self.conn.execute("INSERT INTO search_docs (info_code, kind, sha256) VALUES (?, ?, ?)",
                                (info_code, kind, sha256))
        self.conn.execute("INSERT INTO search_index (rowid, title, body) VALUES (?, ?, ?)",
                          (cur.lastrowid, index_text(title), index_text(visible)))

    def clear_index(self) -> None:
        self.conn.execute("DELETE FROM search_docs")
        self.conn.execute("INSERT INTO search_index (search_index) VALUES ('delete-all')")
        self.conn.execute("INSERT OR REPLACE INTO search_meta (key, value) VALUES ('tokens', ?)", (TOKENS,))

    def index_outdated(self) -> bool:
        """The index holds texts in other tokens than this version's (a catalog of an earlier version):
        its queries would not find them, so it is to be made anew (``reindex``)."""
        if not self._read("SELECT 1 FROM search_docs LIMIT 1", one=True):
            return False        # (nothing indexed: the index is this version's from its first text)
        row = self._read("SELECT value FROM search_meta WHERE key = 'tokens'", one=True)
        return row is None or row[0] != TOKENS

    def reindex(self) -> tuple[int, int]:
        """The index made anew from the post files and the revisions, in one transaction: ``(posts,
        revisions)``. On an exception, rolled back (not the index cleared and half made)."""
        from newsarchive.store.paths import read_own

        db = self.conn
        try:
            self.clear_index()
            # no merging of the index's segments while it is made (one 'optimize' merges them at the end),
            # and 16 MB of pending tokens before a segment is written instead of 1 MB (so far fewer, larger
            # segments): ~30% faster together. The settings are in the same transaction as the index, and
            # set back before commit (a crawl's small transactions gain nothing from a larger hash).
            db.execute("INSERT INTO search_index (search_index, rank) VALUES ('automerge', 0)")
            db.execute(f"INSERT INTO search_index (search_index, rank) VALUES ('hashsize', {16 << 20})")
            posts = 0
            for row in list(self.iter_posts()):     # (the rows first, each file read as it is indexed)
                text = read_own(self.folder / row["location"] / row["path"])
                if text is not None:
                    self.index_post(row["info_code"], row["sha256"], row["title"], text, shown(row))
                    posts += 1
            revisions = 0
            for code, sha, text in db.execute("SELECT info_code, sha256, text FROM revisions").fetchall():
                self.index_revision(code, sha, text)
                revisions += 1
            db.execute("INSERT INTO search_index (search_index, rank) VALUES ('automerge', 4)")   # FTS5's default
            db.execute(f"INSERT INTO search_index (search_index, rank) VALUES ('hashsize', {1 << 20})")   # its default
            db.commit()
            db.execute("INSERT INTO search_index (search_index) VALUES ('optimize')")
            db.commit()
        except BaseException:
            db.rollback()
            raise
        return posts, revisions

    def keep_revision(self, info_code: str, sha256: str, text: str, stamp: str | None = None) -> None:
        """The text an update is about to replace, kept and committed before the file is replaced
        (``record_post`` then counts and indexes it). Kept once: a re-run after a crash adds nothing."""
        self._revision_row(info_code, sha256, text, stamp or now_text())
        self.conn.commit()

    def has_revision(self, info_code: str, sha256: str) -> bool:
        """Whether the catalog keeps that text of the post as an earlier one."""
        return self.conn.execute("SELECT 1 FROM revisions WHERE info_code = ? AND sha256 = ?",
                                 (info_code, sha256)).fetchone() is not None

    def _revision_row(self, info_code: str, sha256: str, text: str, stamp: str) -> bool:
        """A revision's row, unless the catalog has that text of the post already; whether it was new."""
        if self.has_revision(info_code, sha256):
            return False
        self.conn.execute("INSERT INTO revisions VALUES (?, ?, ?, ?)", (info_code, sha256, stamp, text))
        return True

    def add_revision(self, info_code: str, sha256: str, text: str, stamp: str) -> bool:
        """An earlier text of a post, kept (and searchable with --revisions) unless it is already."""
        if not self._revision_row(info_code, sha256, text, stamp):
            return False
        self.conn.execute("UPDATE posts SET revisions = revisions + 1 WHERE info_code = ?", (info_code,))
        if self.search:
            self.index_revision(info_code, sha256, text)
        self._commit()
        return True

    def touch(self, info_code: str) -> None:
        self.conn.execute("UPDATE posts SET last_seen = ? WHERE info_code = ?", (now_text(), info_code))
        self.conn.execute("DELETE FROM failures WHERE info_code = ?", (info_code,))
        self._commit()

    def record_ignored(self, page: str, reason: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO ignored_pages VALUES (?, ?, ?)", (page, reason, now_text()))
        self._commit()

    def record_failure(self, url: str, info_code: str | None, reason: str, permanent: bool) -> None:
        self.conn.execute(
            "INSERT INTO failures (url, info_code, reason, permanent, attempts, last_seen) VALUES (?, ?, ?, ?, 1, ?) "
            "ON CONFLICT(url) DO UPDATE SET reason = excluded.reason, permanent = excluded.permanent, "
            "attempts = attempts + 1, last_seen = excluded.last_seen, info_code = COALESCE(excluded.info_code, info_code)",
            (url, info_code, reason, int(permanent), now_text()),
        )
        self._commit()

    def start_crawl(self, spider: str, started: str, scope: str = "full") -> int:
        """A crawl's row, made when it starts: a crawl killed on the way is there too, unfinished.
        ``scope``: ``full`` for a crawl of the whole mirror, ``partial`` for some categories, one shard
        of ``--jobs``, one Redis worker's part, or URLs a person gave."""
        cur = self.conn.execute("INSERT INTO crawls (spider, started, scope) VALUES (?, ?, ?)", (spider, started, scope))
        self.conn.commit()
        crawl_id = int(cur.lastrowid or 0)
        self._reserve()
        return crawl_id

    RESERVE_BYTES = 256 * 1024    # room for the crawl's last row: 60 WAL frames, where one is needed
    RESERVE_PREFIX = ".newsarchive.reserve-"

    def _reserve_path(self) -> Path:
        from newsarchive.store.paths import HOST

        return self.folder / f"{self.RESERVE_PREFIX}{HOST}-{os.getpid()}"

    def _reserve(self) -> None:
        """Hold a little disk space for the end of this crawl: a crawl that fills the disk releases it
        just before it writes its last row, so the row (and its reason) is written also then. Best
        effort: a disk already full records the start and leaves the end to luck. The file is named
        by host and process; one left by a process of this host that is gone (killed) is removed."""
        from newsarchive.store.paths import writer_alive

        try:
            for old in self.folder.glob(self.RESERVE_PREFIX + "*"):
                host, _, pid = old.name[len(self.RESERVE_PREFIX):].rpartition("-")
                try:
                    if pid.isdigit() and len(pid) < 10 and not writer_alive(host, int(pid)) and not old.is_dir():
                        old.unlink(missing_ok=True)
                except OSError:
                    pass
            path = self._reserve_path()
            path.unlink(missing_ok=True)      # never through what was planted there (a link, a FIFO)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except (OSError, ValueError):
            return
        try:
            with open(fd, "wb", buffering=0) as f:
                f.write(bytes(self.RESERVE_BYTES))      # real blocks, not a sparse file
                os.fsync(f.fileno())
        except OSError:
            self._release()

    def _release(self) -> None:
        try:
            self._reserve_path().unlink(missing_ok=True)
        except OSError:
            pass

    def finish_crawl(self, crawl_id: int | None, spider: str, started: str, new: int, updated: int,
                     unchanged: int, failed: int, reason: str, found: int = 0) -> None:
        """The end of a crawl, with its reason (``finished``, ``archive_unwritable``, …). Updating the row
        made at the start is one page of the WAL, written into the room the start reserved: so it is
        written even when the crawl filled the disk."""
        self._release()
        values = (now_text(), new, updated, unchanged, failed, reason, found)
        if crawl_id and self.conn.execute("UPDATE crawls SET finished = ?, new = ?, updated = ?, unchanged = ?, "
                                          "failed = ?, reason = ?, found = ? WHERE id = ?",
                                          (*values, crawl_id)).rowcount:
            self.conn.commit()
            return
        self.conn.execute("INSERT INTO crawls (spider, started, finished, new, updated, unchanged, failed, reason, "
                          "found) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (spider, started, *values))
        self.conn.commit()

    # -- the payload digests of the WARC captures (revisit records) ----------------------------------
    def digest_seen(self, url: str, digest: str) -> tuple[str, str] | None:
        """``(WARC-Date, WARC-Record-ID)`` of the first capture of ``url`` with this payload digest."""
        row = self.conn.execute("SELECT date, record_id FROM warc_digests WHERE url = ? AND digest = ?",
                                (url, digest)).fetchone()
        return (row[0], row[1]) if row else None

    def digest_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM warc_digests").fetchone()[0]

    def reset_digests(self, rows: Iterable[tuple[str, str, str, str]]) -> int:
        """The payload digests made anew from ``rows`` (the captures there are: ``warc.response_digests``),
        the first capture of each URL and digest kept; how many there are now."""
        self.conn.execute("DELETE FROM warc_digests")
        self.conn.executemany("INSERT OR IGNORE INTO warc_digests VALUES (?, ?, ?, ?)", rows)
        self.conn.commit()
        return self.digest_count()

    def record_digest(self, url: str, digest: str, date: str, record_id: str) -> None:
        """(Committed with the next post, or at close: a lost row only costs a full record later.)"""
        self.conn.execute("INSERT OR IGNORE INTO warc_digests VALUES (?, ?, ?, ?)", (url, digest, date, record_id))

    def record_monitors(self, crawl_id: int, passed: list[str], failed: list[dict]) -> None:
        """The monitors' verdicts on a crawl (``crawl.monitors.SaveResults``)."""
        rows = [(crawl_id, name, 1, "") for name in passed] + \
               [(crawl_id, f["monitor"], 0, f["message"]) for f in failed]
        self.conn.executemany("INSERT INTO monitor_results VALUES (?, ?, ?, ?)", rows)
        self.conn.commit()

    def move(self, info_code: str, location: str) -> None:
        self.conn.execute("UPDATE posts SET location = ? WHERE info_code = ?", (location, info_code))
        self._commit()

    def _commit(self) -> None:
        if not self.deferred:
            self.conn.commit()

    def checkpoint(self) -> None:
        """Commit what a batch (``deferred``) holds. A commit that fails is rolled back at once, so
        that nothing the caller was told failed is committed later."""
        if self.db is not None and self.db.in_transaction:
            try:
                self.db.commit()
            except sqlite3.Error:
                try:
                    self.db.rollback()
                except sqlite3.Error:
                    pass
                raise

    def close(self) -> None:
        if self.db is not None:
            if not self.readonly and self.db.in_transaction:
                try:
                    self.db.commit()
                except sqlite3.Error:
                    pass            # (a full disk: the digests written since the last post are lost)
            self.db.close()
            self.db = None
