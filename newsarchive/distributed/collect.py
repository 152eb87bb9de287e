"""``newsarchive collect``: the one writer for Redis workers that do not share the archive's disk.

Workers started with ``--redis-items`` push each article they found (the page's bytes, the share
answer, its WARC records) to ``newsarchive:mirror:items``; this process pops them and ingests them
through the one path (``Archivist.ingest``: read, normalise, write, catalogue, capture), marking each
infoCode archived for every worker to skip. It exits once the list has been empty and no worker
has been alive for ``idle`` seconds (``--follow``: never).
"""
from __future__ import annotations

import collections
import time

from newsarchive.distributed.sets import RedisSets, decode
from newsarchive.store.ingest import Archivist
from newsarchive.store.lock import ArchiveLock


def collect(url: str, output, follow: bool = False, idle: float = 10.0, log=print) -> collections.Counter:
    shared = RedisSets(url)
    lock = ArchiveLock(output, "collect").acquire(timeout=0)
    archivist = Archivist(output)
    counts: collections.Counter = collections.Counter()
    try:
        # the collector holds the archive: the set of what it holds is its own, made anew, and kept so
        # while it runs (the first worker of a run makes it anew only when no collector is there)
        shared.collector_alive()
        shared.own_archived(r["info_code"] for r in archivist.catalog.iter_posts())
        quiet_since = None
        while True:
            shared.collector_alive()
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
            item, records = decode(popped[1])
            if item is None:
                for record in records:
                    archivist.capture(record)
                continue
            outcome = archivist.ingest(item, records)
            if outcome.dropped:
                counts[f"dropped ({outcome.reason})"] += 1
                continue
            shared.mark_archived(outcome.info_code)
            counts[outcome.status] += 1
    finally:
        archivist.close()
        lock.release()
    return counts
