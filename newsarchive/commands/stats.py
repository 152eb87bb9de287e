"""``newsarchive stats``: what the archive holds."""
from __future__ import annotations

from newsarchive.commands.common import EX_DATAERR, EX_OK, CommandError


def add_parser(sub, parents) -> None:
    p = sub.add_parser("stats", parents=parents, help="posts per category, date range, revisions, captures, crawls, failures")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    p.set_defaults(func=cmd_stats)


def cmd_stats(args) -> int:
    from newsarchive.offline.stats import archive_stats, render_table, to_json

    try:
        s = archive_stats(args.output or "output")
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:           # a damaged catalog: what to do is in the message
        raise CommandError(str(exc), EX_DATAERR) from None
    print(to_json(s) if args.json else render_table(s))
    return EX_OK
