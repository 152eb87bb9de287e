"""``newsarchive collect``: the one writer for Redis workers that do not share the archive's disk.

Workers started with ``--redis-items`` push each finished post (its text, file name and catalog
fields) to ``newsarchive:mirror:items``; this process pops them and writes them through the same
ArchiveWriter (atomic files, catalog), marking each infoCode archived for every worker to skip.
It exits once the list has been empty and no worker has been alive for ``idle`` seconds
(``--follow``: never).
"""
from __future__ import annotations

import collections
import json
import time

from newsarchive.store.files import ArchiveWriter
from newsarchive.distributed import RedisSets
from newsarchive.store.lock import ArchiveLock


def collect(url: str, output, follow: bool = False, idle: float = 10.0, log=print) -> collections.Counter:
    shared = RedisSets(url)
    lock = ArchiveLock(output, "collect").acquire(timeout=0)
    writer = ArchiveWriter(output)
    counts = collections.Counter()
    try:
        shared.seed_archived(r["info_code"] for r in writer.catalog.iter_posts())
        quiet_since = None
        while True:
            popped = shared.server.blpop([shared.keys["items"]], timeout=1)
            if popped is None:
                workers = list(shared.server.scan_iter(match=shared.keys["workers"] + ":*", count=100))
                if workers:
                    quiet_since = None
                    continue
                quiet_since = quiet_since or time.monotonic()
                if not follow and time.monotonic() - quiet_since >= idle:
                    break
                continue
            quiet_since = None
            payload = json.loads(popped[1])
            outcome, _ = writer.write(payload["info_code"], payload["filename"], payload["text"], payload["row"])
            shared.mark_archived(payload["info_code"])
            counts[outcome] += 1
    finally:
        writer.close()
        lock.release()
    return counts
