"""``newsarchive export``: the archive as JSON Lines, CSV, a Jekyll site or WARC."""
from __future__ import annotations

from pathlib import Path

from newsarchive.commands.common import EX_OK, CommandError


def add_parser(sub, parents) -> None:
    p = sub.add_parser("export", parents=parents, help="export the archive as jsonl, csv, a Jekyll site or WARC")
    p.add_argument("--format", required=True, choices=["jsonl", "csv", "jekyll", "warc"], help="what to write")
    p.add_argument("--to", required=True, type=Path, metavar="PATH", help="the file (or folder, for jekyll) to write")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="posts on or after this Beijing date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="posts on or before this Beijing date")
    p.add_argument("--category", action="append", metavar="SLUG", help="only this category (repeatable)")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from newsarchive.offline.export import ExportError, export

    try:
        n = export(args.output or "output", args.format, args.to, args.since, args.until, args.category)
    except (ExportError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"exported {n} {'records' if args.format == 'warc' else 'posts'} as {args.format} to {args.to}")
    return EX_OK
