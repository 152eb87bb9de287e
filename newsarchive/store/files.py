"""Files of the archive: atomic writes, nothing partial, nothing lost (no Scrapy import)."""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

from newsarchive.store.paths import (  # noqa: F401
    HOST,
    OWN_NAMES,
    UnsafeArchive,
    check_folder,
    own_dir,
    read_own,
    writer_alive,
)

POSTS_DIR = "_posts"
OLD_POSTS_DIR = "old_post"   # where the mirror's own updater moved posts past their days
TEMP_PREFIX = ".tmp-"
_serial = 0


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write to a temp file in the same folder, fsync, then ``os.replace``: readers and crashes
    see the old file or the new one, never a part."""
    global _serial
    _serial += 1
    tmp = os.path.join(path.parent, f"{TEMP_PREFIX}{HOST}-{os.getpid()}-{_serial}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


_syncfs: Any = None


def sync_folder(folder: Path) -> None:
    """Flush the file system that holds ``folder`` (Linux's syncfs(2): that one only, not every
    mounted one as ``sync`` does); ``os.sync()`` where there is no syncfs."""
    global _syncfs
    if _syncfs is None:
        try:
            _syncfs = ctypes.CDLL(None, use_errno=True).syncfs
        except (OSError, AttributeError):
            _syncfs = False
    if not _syncfs:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)


def remove_stale_temps(folder: Path) -> int:
    """Temp files left by a killed process (they were never renamed, so never a post); those of
    writers still at work (``--jobs``, Redis workers on one folder) are theirs."""
    removed = 0
    if folder.is_dir():
        for tmp in folder.glob(TEMP_PREFIX + "*.part"):
            m = re.match(re.escape(TEMP_PREFIX) + r"([A-Za-z0-9]+)-([0-9]+)-[0-9]+\.part$", tmp.name)
            if m and writer_alive(m.group(1), int(m.group(2))):
                continue
            try:
                tmp.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that could leave the folder (separators, ``..``,
    NUL, leading dot). File names are built from checked infoCodes, so this is a second wall."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name or len(name) > 200:
        raise ValueError(f"unsafe file name: {name!r}")
    return folder / name


class ArchiveWriter:
    """The one writer of an archive folder: post files (atomic) and their catalog rows.

    ``write(code, filename, text, row)`` answers ``written``, ``unchanged`` or ``updated``; a revised
    post's old text goes into the catalog's ``revisions`` before the file is replaced.
    """

    def __init__(self, folder: str | Path, fsync: bool = True, lock_each_write: bool = False):
        from newsarchive.store.catalog import Catalog

        self.fsync = fsync
        self.durable_batches = False
        self.lock_each_write = lock_each_write   # several writers on one folder (Redis workers, --jobs)
        self.folder = check_folder(folder)
        self.folder.mkdir(parents=True, exist_ok=True)      # (the one place the archive folder is made)
        self.posts = own_dir(self.folder / POSTS_DIR)
        self.removed_temps = remove_stale_temps(self.posts)
        self.catalog = Catalog(self.folder)

    def write(self, code: str, filename: str, text: str, row: dict, stamp: str | None = None,
              location: str | None = None) -> tuple[str, Path]:
        if not self.lock_each_write:
            return self._write(code, filename, text, row, stamp, location)
        from newsarchive.store.lock import WRITE_LOCK_NAME, ArchiveLock

        lock = ArchiveLock(self.folder, "writer", WRITE_LOCK_NAME).acquire(timeout=120)
        if lock.took_over:  # the last writer died holding the lock: its temp file is garbage
            remove_stale_temps(self.posts)
        try:
            return self._write(code, filename, text, row, stamp, location)
        finally:
            lock.release()

    def write_post(self, post, text: str, source_url: str, stamp: str | None = None,
                   location: str | None = None) -> tuple[str, Path]:
        """Write a normalised ``post.Post`` whose rendered text is ``text`` (``stamp``: when it was seen,
        default now; ``location``: where a new post goes, default ``_posts``)."""
        from newsarchive.core.dates import format_date

        row = {"title": post.title, "date": format_date(post.date), "category": post.category,
               "tags": " ".join(post.tags), "source_url": source_url or "", "share_url": post.share_url or "",
               "body_source": post.body_source or ""}
        return self.write(post.info_code, post.filename, text, row, stamp, location)

    def _write(self, code: str, filename: str, text: str, row: dict, stamp: str | None = None,
               new_location: str | None = None) -> tuple[str, Path]:
        previous = self.catalog.get(code)
        location = previous["location"] if previous else (new_location or POSTS_DIR)
        target = inside(own_dir(self.folder / location), filename)
        digest = sha256_text(text)
        row = {**row, "info_code": code, "path": filename, "sha256": digest, "location": location}
        old_path = self.folder / location / previous["path"] if previous else None
        if old_path is None and target.exists():  # a file with no catalog row (catalog lost)
            old_path = target
            if sha256_text(read_own(target) or "") == digest:
                self.catalog.record_post(row, None, text=text, stamp=stamp)
                return "unchanged", target
        if previous and previous["sha256"] == digest and old_path is not None and old_path.exists() \
                and not old_path.is_symlink():
            self.catalog.touch(code)
            return "unchanged", target
        old_text = read_own(old_path) if old_path is not None else None
        if previous is None:
            atomic_write(target, text.encode("utf-8"), self.fsync)
            self.catalog.record_post(row, previous, old_text, text=text, stamp=stamp)
        else:
            # an update replaces what is archived, so each step is durable before the next, also in a
            # batch: what the batch holds so far; the old text, kept as a revision; the new file; its row.
            # A crash at any point leaves the old text in the catalog or in the file, never in neither.
            self.checkpoint()
            if old_text is not None:
                self.catalog.keep_revision(code, previous["sha256"], old_text, stamp)
            atomic_write(target, text.encode("utf-8"), self.fsync or self.durable_batches)
            self.catalog.record_post(row, previous, None, text=text, stamp=stamp)
            self.catalog.checkpoint()
        if old_path is not None and (old_path.exists() or old_path.is_symlink()) and old_path != target:
            old_path.unlink()  # the date (so the file name) changed; the old text is in revisions
        return ("updated" if (previous or old_text is not None) else "written"), target

    def move(self, info_code: str, location: str) -> None:
        """A post moved to ``_posts`` or ``old_post`` (its file and its row)."""
        row = self.catalog.get(info_code)
        if row is None or row["location"] == location:
            return
        self.checkpoint()               # (what a batch holds first: a no-op outside one)
        source = self.folder / row["location"] / row["path"]
        if source.exists() and not source.is_symlink():
            os.replace(source, inside(own_dir(self.folder / location), row["path"]))
        self.catalog.move(info_code, location)
        self.catalog.checkpoint()       # (a row that names where the file is now: not held in a batch)

    def retire(self, days: int, now=None) -> int:
        """Move posts dated more than ``days`` days ago to ``old_post/`` (still in the catalog)."""
        import datetime as dt

        from newsarchive.core.dates import BEIJING, format_date

        cutoff = format_date((now or dt.datetime.now(BEIJING)) - dt.timedelta(days=days))
        old = self.folder / OLD_POSTS_DIR
        if old.is_symlink():
            raise UnsafeArchive(f"{old} is a symbolic link: newsarchive writes nothing through links")
        moved = 0
        for row in list(self.catalog.iter_posts("WHERE location = ? AND date < ?", (POSTS_DIR, cutoff))):
            source = self.posts / row["path"]
            if source.exists():
                old.mkdir(exist_ok=True)
                os.replace(source, inside(old, row["path"]))
            self.catalog.move(row["info_code"], OLD_POSTS_DIR)
            moved += 1
        return moved

    def batch(self, durable: bool = True) -> None:
        """Write in batches from now on: files without an fsync each, catalog rows held until
        ``checkpoint`` makes the files durable (one ``syncfs``) and then commits them — a crash loses
        at most the batch's rows, never a row whose file is not on disk (import: a re-run redoes them)."""
        self.fsync = False
        self.durable_batches = durable
        self.catalog.deferred = True

    def checkpoint(self) -> None:
        if self.catalog.deferred and self.durable_batches and self.catalog.db is not None and self.catalog.db.in_transaction:
            sync_folder(self.folder)
        self.catalog.checkpoint()

    def close(self) -> None:
        if self.catalog.deferred:
            try:
                self.checkpoint()
            except (OSError, sqlite3.Error):
                pass            # (a full disk: the batch's rows are lost, its files stay; a re-run records them)
        self.catalog.close()
