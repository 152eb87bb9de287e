"""Files of the archive: atomic writes, nothing partial, nothing lost (no Scrapy import)."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

POSTS_DIR = "_posts"
TEMP_PREFIX = ".tmp-"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then ``os.replace``: readers and crashes
    see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temps(folder: Path) -> int:
    """Temp files left by a killed process (they were never renamed, so never a post)."""
    removed = 0
    if folder.is_dir():
        for tmp in folder.glob(TEMP_PREFIX + "*.part"):
            try:
                tmp.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any name that would leave the folder."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"unsafe file name: {name!r}")
    target = (folder / name).resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"unsafe file name: {name!r}")
    return target
