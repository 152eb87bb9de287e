"""``newsarchive verify [--repair]``: catalog ↔ post files ↔ WARC captures, and their repair."""
from __future__ import annotations

import sys
from pathlib import Path

from newsarchive.commands.common import EX_CANTCREAT, EX_FAILED, EX_OK, CommandError, locked


def add_parser(sub, parents) -> None:
    p = sub.add_parser("verify", parents=parents,
                       help="check the catalog, the post files and the captures against each other (--repair: fix)")
    p.add_argument("--repair", action="store_true",
                   help="re-create a damaged catalog (kept aside), restore posts from the WARC captures")
    p.set_defaults(func=cmd_verify)


def cmd_verify(args) -> int:
    from newsarchive.offline.verify import repair, verify
    from newsarchive.store.paths import UnsafeArchive, check_folder

    folder = args.output or "output"
    try:
        check_folder(folder)
    except UnsafeArchive as exc:
        raise CommandError(str(exc), EX_CANTCREAT) from None
    if not Path(folder).is_dir() or not any((Path(folder) / part).exists()
                                            for part in ("archive.sqlite3", "_posts", "old_post", "warc")):
        raise CommandError(f"no archive in {folder}")        # (an empty folder is no archive to call whole)
    lock = locked(args, "verify") if args.repair else None
    try:
        findings = verify(folder, holding=lock is not None)
        for f in findings:
            print(f)
        if not args.repair:
            print(f"verify: {len(findings)} problem(s)" if findings else "verify: the archive is whole")
            if findings:
                print("newsarchive verify: run `newsarchive verify --repair` to put them right", file=sys.stderr)
            return EX_FAILED if findings else EX_OK
        if not findings:
            print("verify: the archive is whole, nothing to repair")
            return EX_OK
        report = repair(folder, findings)
    finally:
        if lock:
            lock.release()
    for line in report.repaired:
        print(f"repaired: {line}")
    for f in report.unrepaired:
        print(f"not repaired: {f}", file=sys.stderr)
    left = verify(folder, holding=True)
    print(f"verify --repair: {len(report.repaired)} repair(s), {len(left)} problem(s) left")
    return EX_FAILED if left or report.unrepaired else EX_OK
