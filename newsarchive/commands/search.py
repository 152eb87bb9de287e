"""``newsarchive search QUERY``: full-text search of the archive (Chinese words, phrases, AND, Latin and
numbers), ranked; ``--reindex`` makes the index anew."""
from __future__ import annotations

import json
import sys

from newsarchive.commands.common import EX_FAILED, EX_OK, EX_USAGE, CommandError, check_catalog, locked


def add_parser(sub, parents) -> None:
    p = sub.add_parser("search", parents=parents, help="full-text search of the archive (FTS5, Chinese by character)")
    p.add_argument("query", nargs="*", metavar="QUERY",
                   help='words that must all occur (国债 央行 LPR 2.4576%%); "quoted words" are one phrase')
    p.add_argument("--since", metavar="YYYY-MM-DD", help="posts on or after this Beijing date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="posts on or before this Beijing date")
    p.add_argument("--category", action="extend", nargs="+", metavar="SLUG", help="only these categories")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="at most N results (default 20)")
    p.add_argument("--revisions", action="store_true", help="search the earlier texts of revised posts too")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--reindex", action="store_true", help="make the search index anew from the posts and revisions")
    p.set_defaults(func=cmd_search)


def cmd_search(args) -> int:
    from newsarchive.commands.export import check_dates
    from newsarchive.core.textindex import parse_query
    from newsarchive.offline.search import SearchError, outdated, reindex, search, unindexed

    folder = args.output or "output"
    check_catalog(folder)
    check_dates(args)
    if args.limit < 1:
        raise CommandError("--limit takes a number, 1 or more", EX_USAGE)
    if not args.query and not args.reindex:
        raise CommandError("search takes a QUERY (or --reindex)", EX_USAGE)
    query = " ".join(args.query)
    if args.query:
        try:
            parse_query(query)
        except ValueError as exc:
            raise CommandError(str(exc), EX_USAGE) from None
    earlier = not args.reindex and outdated(folder)
    if args.reindex or earlier:
        try:
            lock = locked(args, "search --reindex")
        except CommandError as exc:
            if not earlier:
                raise
            raise CommandError(f"the search index holds an earlier version's tokens, to be made anew first: {exc}",
                               exc.status) from None
        try:
            if args.reindex or outdated(folder):      # (another search may have made it meanwhile)
                if earlier:
                    print("newsarchive search: the index holds an earlier version's tokens: making it anew (once)",
                          file=sys.stderr)
                posts, revisions = reindex(folder)
                print(f"indexed {posts} posts and {revisions} revisions", file=sys.stderr)
        finally:
            if lock:
                lock.release()
        if not args.query:
            return EX_OK
    stale = unindexed(folder)
    if stale:
        print(f"newsarchive search: {stale} post(s) are not in the index yet: run `newsarchive search --reindex`",
              file=sys.stderr)
    tty = sys.stdout.isatty() and not args.json
    try:
        hits = search(folder, query, args.since, args.until, args.category, args.limit, args.revisions,
                      mark=("\x1b[1m", "\x1b[0m") if tty else ("«", "»"))
    except SearchError as exc:
        raise CommandError(str(exc), EX_USAGE) from None
    for hit in hits:
        if args.json:
            print(json.dumps(hit.as_dict(), ensure_ascii=False))
        else:
            tag = " (earlier text)" if hit.kind == "revision" else ""
            print(f"{hit.date[:16]}  {hit.category}  {hit.title}{tag}\n  {hit.path}\n  {hit.snippet}\n")
    if not args.json:
        shown = query if len(query) <= 200 else query[:200] + "…"
        print(f"{len(hits)} result(s) for {shown!r}" + (f" (--limit {args.limit})" if len(hits) == args.limit else ""),
              file=sys.stderr)
    return EX_OK if hits else EX_FAILED
