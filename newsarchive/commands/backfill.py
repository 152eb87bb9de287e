"""``newsarchive import PATH…``: backfill the archive from the mirror's Jekyll source or its git history."""
from __future__ import annotations

import signal
import sys
import time

from newsarchive.commands.common import EX_FAILED, EX_OK, EX_USAGE, CommandError, check_archive, locked


def add_parser(sub, parents) -> None:
    p = sub.add_parser("import", parents=parents,
                       help="backfill from a Jekyll source tree, a folder of posts, post files or a git repository")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a Jekyll site (its _posts/ and old_post/), a folder of posts, post files, or a git repository")
    p.add_argument("--git", action="store_true", default=None,
                   help="read PATH's git history: every commit that added or changed a post is a version "
                        "(the default when PATH has a .git)")
    p.add_argument("--no-git", dest="git", action="store_false", help="read only the files as they are now")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="posts on or after this Beijing date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="posts on or before this Beijing date")
    p.add_argument("--category", action="extend", nargs="+", metavar="SLUG", help="only these categories")
    p.add_argument("--no-fsync", action="store_true", help="do not make each batch of posts durable with a sync (faster; after a power cut, import again)")
    p.set_defaults(func=cmd_import)


def cmd_import(args) -> int:
    from pathlib import Path

    from newsarchive.commands.export import check_dates
    from newsarchive.offline.importer import ImportError_, import_archive, tree_files

    check_dates(args)
    for path in args.paths:
        if not Path(path).exists():
            raise CommandError(f"{path} is neither a Jekyll site, a folder of posts, a post file nor a git repository",
                               EX_USAGE)
        if not (Path(path) / ".git").exists() or args.git is False:
            try:
                next(iter(tree_files([path])))
            except (ImportError_, StopIteration) as exc:
                raise CommandError(str(exc) or f"{path} holds no post", EX_USAGE) from None
    folder = args.output or "output"
    lock = locked(args, "import")
    stopping: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: stopping.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    tty = sys.stderr.isatty()

    def progress(counts) -> None:
        if tty:
            sys.stderr.write(f"\r\x1b[Kimport: {_summary(counts)}")
            sys.stderr.flush()

    try:
        check_archive(folder)
        started = time.monotonic()
        try:
            counts, notes = import_archive(folder, args.paths, args.git, args.since, args.until, args.category,
                                           fsync=not args.no_fsync, stop=lambda: bool(stopping), progress=progress)
        except ImportError_ as exc:
            raise CommandError(str(exc), EX_USAGE) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if lock:
            lock.release()
    if tty:
        sys.stderr.write("\r\x1b[K")
    for line in notes[:50]:
        print(line, file=sys.stderr)
    if len(notes) > 50:
        print(f"… and {len(notes) - 50} more", file=sys.stderr)
    state = "stopped" if counts.get("stopped") else "finished"
    print(f"import {state}: {_summary(counts)} ({time.monotonic() - started:.1f} s)")
    return EX_FAILED if counts.get("failed") else EX_OK


def _summary(counts) -> str:
    return (f"posts read {counts['read']}, new {counts['written']}, updated {counts['updated']}, "
            f"revisions {counts['revision']}, unchanged {counts['unchanged']}, failed {counts['failed']}"
            + (f", no infoCode {counts['no_infocode']}" if counts["no_infocode"] else "")
            + (f", outside the filters {counts['filtered']}" if counts["filtered"] else ""))
