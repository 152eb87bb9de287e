"""The archive lock: one process writes an archive folder at a time (``fcntl.flock``).

A second ``crawl``, ``fetch`` or ``schedule`` on the same ``--output`` exits at once with status 75
(EX_TEMPFAIL) and says who holds the lock. The kernel releases a flock when its process dies, so a
lock file left by a killed process is no lock: the next run takes it over (and says so). Children of
``schedule`` run under their parent's lock (``NEWSARCHIVE_LOCK_PARENT``).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from pathlib import Path

EX_TEMPFAIL = 75
LOCK_NAME = ".newsarchive.lock"
WRITE_LOCK_NAME = ".newsarchive.write.lock"   # one post write at a time, among several writers
PARENT_ENV = "NEWSARCHIVE_LOCK_PARENT"


class ArchiveLocked(RuntimeError):
    """Another live process holds the archive."""


class ArchiveLock:
    def __init__(self, folder: str | Path, what: str = "newsarchive", name: str = LOCK_NAME):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what
        self.fd: int | None = None
        self.took_over: dict | None = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text("utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def busy(self) -> bool:
        """Whether a live process holds this lock now (read-only: a read-only copy can be asked too)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def inherited(self) -> bool:
        """True in a child of the process that holds the lock (``schedule``'s crawls)."""
        parent = os.environ.get(PARENT_ENV)
        return bool(parent) and parent == str(os.getppid()) and self.holder().get("pid") == os.getppid()

    def acquire(self, timeout: float = 0.0) -> ArchiveLock:
        """Take the lock; wait up to ``timeout`` seconds (0: fail at once) or raise ArchiveLocked."""
        from newsarchive.store.paths import UnsafeArchive, check_folder

        check_folder(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise UnsafeArchive(f"{self.path} is a symbolic link: newsarchive writes nothing through links") from None
            raise UnsafeArchive(f"cannot take the archive lock {self.path}: {exc.strerror}") from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    h = self.holder()
                    raise ArchiveLocked(
                        f"{self.folder} is in use by pid {h.get('pid', '?')} ({h.get('what', '?')}, "
                        f"since {h.get('since', '?')}); try again when it has finished") from None
                time.sleep(0.05)
        previous = self.holder()
        if previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = previous  # its process is gone, or it would still hold the flock
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "what": self.what,
                                  "since": dt.datetime.now().astimezone().isoformat(timespec="seconds")}).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            finally:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
