"""``newsarchive rebuild``: every post re-created from the WARC captures, offline."""
from __future__ import annotations

import sys
from pathlib import Path

from newsarchive.commands.common import EX_FAILED, EX_OK, CommandError, locked


def add_parser(sub, parents) -> None:
    p = sub.add_parser("rebuild", parents=parents, help="re-create every post from the WARC captures, offline")
    p.add_argument("--source", metavar="DIR", help="the archive whose warc/ folder is read (default: output)")
    p.add_argument("--warc", metavar="DIR", help="a folder of .warc.gz files to read instead")
    p.set_defaults(func=cmd_rebuild)


def cmd_rebuild(args) -> int:
    from newsarchive.offline.rebuild import rebuild
    from newsarchive.store.warc import WARC_DIR

    source = Path(args.warc or Path(args.source or "output") / WARC_DIR)
    if not source.is_dir():
        raise CommandError(f"no WARC folder {source}")
    lock = locked(args, "rebuild")          # the archive it writes is its alone meanwhile
    problems: list[str] = []
    try:
        counts = rebuild(source, args.output or "output", problems=problems)
    finally:
        if lock:
            lock.release()
    print("rebuilt: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    for line in problems[:20]:
        print(f"newsarchive rebuild: {line}", file=sys.stderr)
    if len(problems) > 20:
        print(f"newsarchive rebuild: … and {len(problems) - 20} more unreadable records", file=sys.stderr)
    return EX_FAILED if problems else EX_OK
