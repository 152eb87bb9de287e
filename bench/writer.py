"""The writer process's work alone, without the crawl: how long the one path (``Archivist.ingest``)
takes per post, measured in one process on one core, free of the crawl's and the server's noise.

    python bench/writer.py record [--posts 2000]     # crawl the bench mirror once, keep what the writer was sent
    python bench/writer.py [--runs 3] [-s KEY=VALUE …] # replay it into a fresh archive, report ms/post

(`python bench/run.py` makes the mirror first.) The replay runs the writer process's own loop
(``writerproc._serve``) on a pipe fed by another process, so group commit and all are as in a crawl;
the CPU is this process's (the loop's, and a thread that drains the answers).
"""
from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
TAPE = HERE / "work" / "writer-tape.pickle"


def record(posts: int) -> None:
    """Crawl the bench mirror with the writer process's messages copied to a tape."""
    import run as R

    from newsarchive.crawl import writerproc

    tape: list = []
    real_put = writerproc.queue.SimpleQueue.put

    class Tap(writerproc.queue.SimpleQueue):
        def put(self, msg, *a, **k):
            if msg is not None and not isinstance(msg, writerproc.Close) and len(tape) < posts * 4:
                tape.append(msg)
            return real_put(self, msg, *a, **k)

    writerproc.queue.SimpleQueue = Tap      # the outbox of WriterProcess
    server = R.Server(R.WORK / "mirror-10000")
    out = Path(tempfile.mkdtemp(prefix="bench-writer-rec-"))
    try:
        os.environ.update(R.proxy_env(server))
        from newsarchive.commands import main

        main(["crawl", "--site", server.url, "--output", str(out / "a"), *R.settings_args({"NEWSARCHIVE_PROGRESS": "off"})])
    finally:
        server.stop()
        shutil.rmtree(out, ignore_errors=True)
    ingests = [m for m in tape if isinstance(m, writerproc.Ingest)][:posts]
    last = tape.index(ingests[-1]) + 1
    TAPE.write_bytes(pickle.dumps(tape[:last]))
    print(f"recorded {len(ingests)} posts, {last} messages → {TAPE}")


def replay(runs: int, settings: dict[str, str]) -> None:
    import multiprocessing

    from newsarchive.crawl import writerproc

    tape = pickle.loads(TAPE.read_bytes())
    posts = sum(isinstance(m, writerproc.Ingest) for m in tape)
    times, cpus = [], []
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="bench-writer-"))
        config = writerproc.WriterConfig(folder=str(folder / "a"), fsync=settings.get("fsync", "1") == "1",
                                         site_base="https://finews.withounder.com", warc=settings.get("warc", "1") == "1",
                                         warc_max=100 * 1024 * 1024, lock_each_write=False,
                                         search=settings.get("search", "1") == "1")
        ours, theirs = multiprocessing.Pipe()
        answers: list = []
        reader = threading.Thread(target=_drain, args=(ours, answers, posts + 2))
        feeder = multiprocessing.get_context("fork").Process(target=_feed, args=(ours, tape))   # (not a thread: no GIL shared)
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        reader.start()
        feeder.start()
        writerproc._serve(theirs, config)       # (in the main thread: it sets signal handlers)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        feeder.join()
        ours.close()
        reader.join(timeout=5)
        times.append(wall * 1000 / posts)
        cpus.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000 / posts)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{posts} posts: {statistics.median(times):.3f} ms/post wall, {statistics.median(cpus):.3f} ms/post CPU "
          f"(runs: {', '.join(f'{t:.3f}' for t in times)})")


def _feed(conn, tape: list) -> None:
    from newsarchive.crawl import writerproc

    for msg in tape:
        conn.send(msg)
    conn.send(writerproc.Close(0))


def _drain(conn, answers: list, expected: int) -> None:
    while len(answers) < expected:
        try:
            answers.append(conn.recv())
        except (EOFError, OSError):
            return


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="replay", choices=["record", "replay"])
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("-s", action="append", default=[], help="fsync=0, warc=0, search=0")
    args = ap.parse_args()
    if args.what == "record":
        record(args.posts)
    else:
        replay(args.runs, dict(s.split("=", 1) for s in args.s))


if __name__ == "__main__":
    main()
