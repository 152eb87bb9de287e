"""The archive folder is ours: the names newsarchive writes in it, and the refusal to write (or read)
through a symbolic link there (no Scrapy, no imports of the rest of the store)."""
from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path


class UnsafeArchive(OSError):
    """A part of the archive folder is not what newsarchive made it (a symbolic link, a file where
    a folder should be): nothing is written through it."""


# what newsarchive writes in an archive folder; none of it may be a symbolic link (a link would make
# posts, captures, the lock or the catalog land outside the archive, or truncate another file)
OWN_NAMES = ("_posts", "old_post", "warc", ".newsarchive.lock", ".newsarchive.write.lock", "archive.sqlite3",
             "archive.sqlite3-wal", "archive.sqlite3-shm", "archive.sqlite3-journal")


def check_folder(folder: str | Path) -> Path:
    """The archive folder, refusing one whose own parts are symbolic links or that is not a folder.
    (The folder itself may be a link: where the archive lives is the person's choice.)"""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UnsafeArchive(f"{folder} is not a folder")
    for name in OWN_NAMES:
        part = folder / name
        if part.is_symlink():
            raise UnsafeArchive(f"{part} is a symbolic link: newsarchive writes nothing through links in the "
                                "archive folder (move the link away; replace it with the real folder or file)")
    return folder


def own_dir(path: Path) -> Path:
    """A folder of the archive, made if missing, never through a link — and only in an archive folder
    that is there: one moved or removed mid-crawl is not made anew (half the posts went to a new folder
    with a new, empty catalog; FileNotFoundError stops the writing instead)."""
    try:
        mode = os.lstat(path).st_mode      # (one call for the common case: the folder is there)
    except FileNotFoundError:
        mode = 0
    if stat.S_ISLNK(mode):
        raise UnsafeArchive(f"{path} is a symbolic link: newsarchive writes nothing through links in the "
                            "archive folder")
    if not stat.S_ISDIR(mode):
        path.mkdir(exist_ok=True)
    return path


def read_own(path: Path) -> str | None:
    """The text of an archive file, or None when it is missing or a link (never read through one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read().decode("utf-8", errors="replace")


HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"     # names this machine's writers


def writer_alive(host: str, pid: int) -> bool:
    """Whether a writer named by host and pid may still be writing (other machines' writers, on a
    shared folder, are presumed alive)."""
    if host != HOST:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
