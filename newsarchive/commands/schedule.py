"""``newsarchive schedule``: an incremental crawl now and then every interval (or on a cron
expression), each in a fresh process — Scrapy's reactor cannot restart in one process.

The scheduler holds the archive lock for its whole life; its crawls run under it. A run still going
when the next is due makes that one skip (logged): runs never overlap. SIGTERM/SIGINT are passed to
the running crawl, which finishes the post in hand and closes the catalog and WARC cleanly; then the
scheduler exits 0.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from newsarchive.core.dates import BEIJING
from newsarchive.store.catalog import catalog_problem
from newsarchive.store.lock import PARENT_ENV

_EVERY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|sec|m|min|h|d)?\s*$", re.I)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 1}


def parse_every(text: str) -> float:
    """``30s``, ``5m``, ``2h``, ``1d`` (a bare number is seconds) → seconds."""
    m = _EVERY.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"--every takes a duration like 30s, 5m, 2h, 1d; got {text!r}")
    return float(m.group(1)) * _UNITS[(m.group(2) or "").lower() or None]


class Timetable:
    """When runs are due: a fixed interval from the start, or a cron expression (croniter)."""

    def __init__(self, every: float | None = None, cron: str | None = None):
        if (every is None) == (cron is None):
            raise ValueError("give one of --every or --cron")
        self.every = every
        if cron is not None:
            from croniter import croniter

            if not croniter.is_valid(cron):
                raise ValueError(f"not a cron expression: {cron!r}")
            self.cron = croniter(cron, dt.datetime.now().astimezone())  # the machine's time, as cron
        else:
            self.cron = None

    def first(self, now: float) -> float:
        return now if self.cron is None else self.next(now)

    def next(self, after: float) -> float:
        if self.cron is None:
            assert self.every is not None
            return after + self.every
        return self.cron.get_next(float, start_time=after)


GITIGNORE = """.newsarchive.lock
.newsarchive.write.lock
.newsarchive.reserve-*
archive.sqlite3
archive.sqlite3-*
archive.sqlite3.damaged-*
warc/
.tmp-*
monitor-report.json
"""


def git_commit(folder: Path, new: int, updated: int, moved: int = 0) -> str | None:
    """Commit the changed posts in the archive folder's git repository (made if missing)."""
    if not (new or updated or moved):
        return None
    git = ["git", "-C", str(folder), "-c", "user.name=newsarchive", "-c", "user.email=newsarchive@localhost"]
    if not (folder / ".git").exists():
        subprocess.run([*git, "init", "-q"], check=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():     # the posts are the history; the lock, the catalog and the captures are not
        ignore.write_text(GITIGNORE, "utf-8")
    paths = [p for p in ("_posts", "old_post", ".gitignore") if (folder / p).exists()]
    subprocess.run([*git, "add", "-A", "--", *paths], check=True)
    if subprocess.run([*git, "diff", "--cached", "--quiet"]).returncode == 0:
        return None
    stamp = dt.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M +0800")
    message = f"archive {stamp}: {new} new, {updated} updated" + (f", {moved} moved to old_post" if moved else "")
    subprocess.run([*git, "commit", "-q", "-m", message], check=True)
    return message


class Scheduler:
    def __init__(self, crawl_args: list[str], output: Path, timetable: Timetable, runs: int | None = None,
                 commit: bool = False, keep_days: int | None = None, log=print):
        self.crawl_args = crawl_args
        self.output = output
        self.timetable = timetable
        self.runs = runs
        self.commit = commit
        self.keep_days = keep_days
        self.log = log
        self.child: subprocess.Popen | None = None
        self.stopping = False
        self.last = 0
        # an interval is timed on the monotonic clock (a wall clock set forward an hour ran three crawls
        # back to back); cron's times are the wall clock's, as cron's are
        self.clock = time.monotonic if timetable.cron is None else time.time

    def _signal(self, signum, frame):
        self.stopping = True
        if self.child and self.child.poll() is None:
            self.log(f"{_now()} stopping: passing {signal.Signals(signum).name} to the running crawl")
            self.child.send_signal(signal.SIGTERM)
        else:
            self.log(f"{_now()} stopping")

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        done = 0
        due = self.timetable.first(self.clock())
        while not self.stopping and (self.runs is None or done < self.runs):
            wait = due - self.clock()
            if wait > 0:
                time.sleep(min(wait, 0.2))
                continue
            done += 1
            due = self._one_run(done, due)
        # with --runs N, the last run's exit status (a scheduler sees a failed one); a service stopped by
        # SIGTERM/SIGINT: 0
        return 0 if self.runs is None else self.last

    def _one_run(self, number: int, due: float) -> float:
        fd, stats_path = tempfile.mkstemp(prefix="newsarchive-run-", suffix=".json")
        os.close(fd)
        started = time.time()
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        cmd = [sys.executable, "-m", "newsarchive", "crawl", *self.crawl_args, "--output", str(self.output),
               "--stats-file", stats_path, "-s", "NEWSARCHIVE_PROGRESS=off"]
        # (a session of its own: a Ctrl-C on the terminal or a signal to the process group reaches the
        # crawl once, passed on by us — twice would force it to stop without finishing)
        # (its messages go to a file, not a pipe: a crawl that says more than a pipe holds would wait on
        # it for ever, as nothing reads a pipe while the crawl runs)
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
            self.child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
            nxt = self.timetable.next(due)
            while self.child.poll() is None:
                if self.clock() >= nxt:
                    self.log(f"{_now()} run skipped (due {_clock(time.time() + nxt - self.clock())}): "
                             f"run {number} is still going")
                    nxt = self.timetable.next(nxt)
                time.sleep(0.1)
            err.seek(0)
            stderr = err.read()
        code = self.last = self.child.returncode
        self.child = None
        try:
            stats = json.loads(Path(stats_path).read_text("utf-8") or "{}")
        except (OSError, ValueError):
            stats = {}
        finally:
            Path(stats_path).unlink(missing_ok=True)
        get = lambda k: stats.get(f"newsarchive/posts/{k}", 0)
        new, updated = get("written"), get("updated")
        line = (f"{_now()} run {number}: start {_clock(started)}, new {new}, updated {updated}, "
                f"unchanged {get('unchanged')}, skipped known {get('skipped_known')}, failed {get('failed')}, "
                f"duration {time.time() - started:.1f}s, exit {code}")
        if code and stderr.strip():
            cause = stderr.strip().splitlines()[-1]
            # a long path may not cut the advice at the end of the line (`run newsarchive verify --repair`)
            line += f" ({cause if len(cause) <= 600 else cause[:300] + ' … ' + cause[-250:]})"
        self.log(line)
        moved = 0
        # retired only after a run that used the archive (0, or 1: some pages failed), and never into a
        # catalog that is lost or damaged: opening one would make a new, empty catalog in its place
        if self.keep_days is not None and code in (0, 1) and not catalog_problem(self.output):
            from newsarchive.store.files import ArchiveWriter

            writer = ArchiveWriter(self.output)
            try:
                moved = writer.retire(self.keep_days)
            finally:
                writer.close()
            if moved:
                self.log(f"{_now()} moved {moved} post(s) older than {self.keep_days} days to old_post/")
        if self.commit:
            try:
                message = git_commit(self.output, new, updated, moved)
                if message:
                    self.log(f"{_now()} committed: {message}")
            except (subprocess.CalledProcessError, OSError) as exc:
                self.log(f"{_now()} git commit failed: {exc}")
        return nxt


def _now() -> str:
    return dt.datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, BEIJING).strftime("%H:%M:%S")


def add_parser(sub, parents) -> None:
    from newsarchive.commands.common import count_arg, crawl_selection

    p = sub.add_parser("schedule", parents=[*parents, crawl_selection()],
                       help="incremental crawls now and then every interval, never overlapping")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", metavar="DURATION", help="30s, 5m, 2h, 1d")
    when.add_argument("--cron", metavar="EXPR", help='a cron expression, e.g. "1-59/5 * * * *" (local time)')
    p.add_argument("--runs", type=count_arg(1), help="stop after this many runs (default: run until stopped)")
    p.add_argument("--git-commit", action="store_true", help="commit changed posts in the archive's git repository")
    p.add_argument("--keep-days", type=count_arg(0), metavar="N", help="move posts older than N days to old_post/")
    p.set_defaults(func=cmd_schedule)


def cmd_schedule(args) -> int:
    from newsarchive.commands.common import EX_USAGE, CommandError, locked
    from newsarchive.commands.crawl import crawl_options

    try:
        timetable = Timetable(parse_every(args.every) if args.every else None, args.cron)
    except ValueError as exc:
        raise CommandError(str(exc), EX_USAGE) from None
    lock = locked(args, "schedule")
    try:
        return Scheduler(crawl_options(args), Path(args.output or "output"), timetable, runs=args.runs,
                         commit=args.git_commit, keep_days=args.keep_days, log=lambda line: print(line, flush=True)).run()
    finally:
        if lock:
            lock.release()
