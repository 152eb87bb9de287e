"""``newsarchive fetch URL…``: one-off share URLs, mirror post URLs and category listing URLs."""
from __future__ import annotations

import sys
from urllib.parse import urlsplit

from newsarchive.commands.common import (
    EX_FAILED,
    EX_OK,
    EX_USAGE,
    CommandError,
    check_archive,
    locked,
    run_spider,
    scrapy_settings,
)
from newsarchive.core.mdsafe import one_line


def add_parser(sub, parents) -> None:
    p = sub.add_parser("fetch", parents=parents, help="archive share URLs, mirror post URLs or category listing URLs")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--stdout", action="store_true", help="print the posts instead of writing them")
    p.add_argument("--site", help="the mirror the post/listing URLs belong to (default: their own host)")
    p.add_argument("--no-share", action="store_true", help="never contact the share host")
    p.set_defaults(func=cmd_fetch)


def _valid(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port              # noqa: B018 - a bad port raises here, not later in the crawl
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def cmd_fetch(args) -> int:
    bad = [u for u in args.urls if not _valid(u)]
    for url in bad:
        print(f"failed {url}: not an http(s) URL", file=sys.stderr)
    urls = [u for u in args.urls if u not in bad]
    if not urls:            # nothing to fetch: the command line was wrong (some bad among good: exit 1)
        return EX_USAGE
    site = args.site or site_of(urls)
    settings = scrapy_settings(args, site=site, NEWSARCHIVE_OUTPUT=args.output, NEWSARCHIVE_CLI_REPORT=True,
                               NEWSARCHIVE_STDOUT=args.stdout or None,
                               NEWSARCHIVE_SHARE=False if args.no_share else None)   # (a bad -s: before the lock)
    lock = None if args.stdout else locked(args, "fetch")
    if lock is not None:
        try:
            check_archive(args.output or "output")
        except CommandError:
            lock.release()
            raise
    try:
        crawler = run_spider(settings, "fetch", urls=urls, site=site)
    finally:
        if lock:
            lock.release()
    report = crawler.spider.report
    out = sys.stderr if args.stdout else sys.stdout
    ok = not bad
    for url in urls:
        outcomes, errors, paths = report.outcomes.get(url), report.errors.get(url, []), report.paths.get(url, [])
        if not outcomes:
            print(f"failed {url}: no answer (see the log with --log)", file=out)
            ok = False
            continue
        if errors:
            ok = False
            for reason in dict.fromkeys(errors):
                print(f"failed {url}: {one_line(reason)}", file=out)
        done = {k: v for k, v in outcomes.items() if k != "failed"}
        if len(paths) == 1 and sum(done.values()) == 1:
            print(f"{next(iter(done))} {paths[0]}  <- {url}", file=out)
        elif done:
            print(", ".join(f"{v} {k}" for k, v in sorted(done.items())) + f"  <- {url}", file=out)
    return EX_OK if ok else EX_FAILED


def site_of(urls: list[str]) -> str:
    """Mirror pages are fetched from the host they are on."""
    for url in urls:
        if "/html_News/" not in url and "/NewsData/" not in url:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}/"
    return "https://finews.withounder.com/"
