"""``newsarchive export``: the archive as JSON Lines, CSV, a static site, a Jekyll site, WARC or WACZ."""
from __future__ import annotations

import sys
from pathlib import Path

from newsarchive.commands.common import EX_CONFIG, EX_OK, EX_USAGE, CommandError, check_catalog


def add_parser(sub, parents) -> None:
    p = sub.add_parser("export", parents=parents, help="export the archive as jsonl, csv, a static site, a Jekyll site, WARC or WACZ")
    p.add_argument("--format", required=True, choices=["jsonl", "csv", "jekyll", "warc", "wacz", "site"],
                   help="what to write (site: a static site with search, for reading)")
    p.add_argument("--to", required=True, type=Path, metavar="PATH",
                   help="the file to write (- for standard output), or the folder for jekyll and site")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="posts on or after this Beijing date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="posts on or before this Beijing date")
    p.add_argument("--category", action="extend", nargs="+", metavar="SLUG", help="only these categories")
    p.set_defaults(func=cmd_export)


def check_dates(args) -> None:
    """``--since`` / ``--until``: dates, in order (usage errors)."""
    import datetime as dt

    dates = {}
    for name in ("since", "until"):
        value = getattr(args, name, None)
        if value is not None:
            try:
                dates[name] = dt.date.fromisoformat(value)
            except ValueError:
                raise CommandError(f"--{name} takes a date YYYY-MM-DD, got {value!r}", EX_USAGE) from None
    if len(dates) == 2 and dates["since"] > dates["until"]:
        raise CommandError(f"--since {args.since} is after --until {args.until}", EX_USAGE)


def cmd_export(args) -> int:
    from newsarchive.offline.common import NotInstalled
    from newsarchive.offline.export import ExportError, export

    check_dates(args)
    check_catalog(args.output or "output")
    try:
        n = export(args.output or "output", args.format, args.to, args.since, args.until, args.category)
    except NotInstalled as exc:
        raise CommandError(str(exc), EX_CONFIG) from None
    except (ExportError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"exported {n} {'captures (with their requests)' if args.format in ('warc', 'wacz') else 'posts'} as {args.format} to "
          f"{'standard output' if str(args.to) == '-' else args.to}", file=sys.stderr if str(args.to) == "-" else sys.stdout)
    return EX_OK
