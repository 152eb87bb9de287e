"""The ``newsarchive`` command: fetch, crawl, demo, schedule, collect, export, rebuild, stats.

Each command runs Scrapy in this process (one crawl per process: Twisted's reactor cannot
restart) with the project's settings, the command's options applied on top, and ``-s NAME=VALUE``
last, as ``scrapy crawl`` takes it.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from newsarchive import __version__

# what "full speed" means on loopback, where politeness protects nobody
LOOPBACK = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
}


def _is_loopback(url: str) -> bool:
    host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(args, **own):
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "newsarchive.settings")
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    site = own.pop("site", None)
    if site and _is_loopback(site):
        settings.setdict(LOOPBACK, priority="project")
    own.setdefault("LOG_LEVEL", "DEBUG" if args.verbose else "WARNING" if not args.log else "INFO")
    for name, value in own.items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    for pair in args.set or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"newsarchive: -s takes NAME=VALUE, got {pair!r}")
        settings.set(name.strip(), value, priority="cmdline")
    return settings


def _locked(args, what: str):
    """The archive lock for this command, or an exit with status 75 if another process has it."""
    from newsarchive.store.lock import EX_TEMPFAIL, ArchiveLock, ArchiveLocked

    lock = ArchiveLock(args.output or "output", what)
    if lock.inherited():
        return None
    try:
        lock.acquire()
    except ArchiveLocked as exc:
        print(f"newsarchive {what}: {exc}", file=sys.stderr)
        raise SystemExit(EX_TEMPFAIL) from None
    if lock.took_over:
        print(f"newsarchive {what}: took over the lock left by pid {lock.took_over.get('pid')} "
              f"({lock.took_over.get('what')}), which is no longer running", file=sys.stderr)
    return lock


def _loggers_at_handler_level(settings) -> None:
    """Scrapy sets its loggers to DEBUG and filters at the root handler, so every "Crawled" and
    "Scraped from" line is built (a LogRecord, a stack walk) and then thrown away: ~2% of a crawl.
    The command owns its process's logging: its loggers start at the level it prints."""
    import logging

    level = logging.getLevelName(str(settings.get("LOG_LEVEL")).upper()) \
        if settings.getbool("LOG_ENABLED") else logging.CRITICAL + 1
    if isinstance(level, int) and level > logging.DEBUG:
        for name in ("scrapy", "newsarchive"):
            logging.getLogger(name).setLevel(level)


def _run(settings, spider_name: str, **kwargs):
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(settings)
    _loggers_at_handler_level(settings)
    crawler = process.create_crawler(spider_name)
    process.crawl(crawler, **kwargs)
    process.start()
    return crawler


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default=None, help="the archive folder (default: output)")
    p.add_argument("-s", "--set", action="append", metavar="NAME=VALUE", help="a Scrapy setting")
    p.add_argument("--log", action="store_true", help="show Scrapy's INFO log")
    p.add_argument("-v", "--verbose", action="store_true", help="show Scrapy's DEBUG log")


def cmd_fetch(args) -> int:
    bad = [u for u in args.urls if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).netloc]
    for url in bad:
        print(f"failed {url}: not an http(s) URL", file=sys.stderr)
    urls = [u for u in args.urls if u not in bad]
    if not urls:
        return 1
    site = args.site or _site_of(urls)
    lock = None if args.stdout else _locked(args, "fetch")
    settings = _settings(args, site=site, NEWSARCHIVE_OUTPUT=args.output, NEWSARCHIVE_STDOUT=args.stdout or None,
                         NEWSARCHIVE_SHARE=False if args.no_share else None)
    try:
        crawler = _run(settings, "fetch", urls=urls, site=site)
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
                print(f"failed {url}: {reason}", file=out)
        done = {k: v for k, v in outcomes.items() if k != "failed"}
        if len(paths) == 1 and sum(done.values()) == 1:
            print(f"{next(iter(done))} {paths[0]}  <- {url}", file=out)
        elif done:
            print(", ".join(f"{v} {k}" for k, v in sorted(done.items())) + f"  <- {url}", file=out)
    return 0 if ok else 1


def _site_of(urls: list[str]) -> str:
    """For fetch: mirror pages are fetched from the host they are on."""
    for url in urls:
        if "/html_News/" not in url and "/NewsData/" not in url:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}/"
    return "https://finews.withounder.com/"


def cmd_crawl(args) -> int:
    from newsarchive.crawl.extensions import summary

    if getattr(args, "jobs", 1) and args.jobs > 1:
        return crawl_jobs(args)

    site = args.site
    settings = _settings(args, site=site, NEWSARCHIVE_OUTPUT=args.output, NEWSARCHIVE_SITE=site,
                         NEWSARCHIVE_SHARE=False if args.no_share else None,
                         NEWSARCHIVE_REFRESH=True if args.refresh else None,
                         NEWSARCHIVE_STATS_FILE=args.stats_file)
    kwargs = {"site": settings.get("NEWSARCHIVE_SITE")}
    if args.category:
        kwargs["category"] = args.category
    if getattr(args, "redis", None):     # the Redis add-on does the rest (newsarchive.distributed.addon)
        settings.setdict({"NEWSARCHIVE_REDIS_URL": args.redis, "NEWSARCHIVE_REDIS_FOLLOW": args.follow,
                          "NEWSARCHIVE_REDIS_ITEMS": args.redis_items}, priority="cmdline")
    redis_url = settings.get("NEWSARCHIVE_REDIS_URL")
    # on Redis, workers share the folder: each post write takes the lock, not the whole crawl
    lock = None if redis_url else _locked(args, "crawl")
    try:
        crawler = _run(settings, "mirror", **kwargs)
    finally:
        if lock:
            lock.release()
    stats = crawler.stats.get_stats()
    print(f"crawl {stats.get('finish_reason', '?')}: {summary(stats)}")
    if stats.get("finish_reason") == "shutdown":
        return 0  # stopped by SIGTERM/SIGINT: what was in hand is written, the rest waits
    pages_ok = sum(stats.get(f"newsarchive/pages/{k}", 0) for k in ("home", "feed", "listings", "posts"))
    if not pages_ok and stats.get("newsarchive/pages/failed", 0):
        # (a Redis worker whose peers took every page has read nothing either, and that is fine)
        print(f"newsarchive: no page of {kwargs['site']} could be read", file=sys.stderr)
        return 1
    return 0


def crawl_options(args) -> list[str]:
    """The crawl options of a parsed command line, as arguments for a child ``crawl``."""
    out = ["--site", args.site] if args.site else []
    for slug in args.category or []:
        out += ["--category", slug]
    if args.no_share:
        out.append("--no-share")
    if getattr(args, "refresh", False):
        out.append("--refresh")
    for pair in args.set or []:
        out += ["-s", pair]
    return out


def crawl_jobs(args) -> int:
    """``crawl --jobs N``: N crawl processes, each taking the categories whose crc32 falls to it,
    writing into one archive (one post write at a time), under this process's archive lock."""
    import json
    import subprocess

    from newsarchive.crawl.extensions import summary
    from newsarchive.store.lock import PARENT_ENV

    lock = _locked(args, "crawl")
    base = [sys.executable, "-m", "newsarchive", "crawl", "--output", args.output or "output", *crawl_options(args)]
    tmp = tempfile.mkdtemp(prefix="newsarchive-jobs-")
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    try:
        procs = [subprocess.Popen([*base, "-s", f"NEWSARCHIVE_SHARD={i}/{args.jobs}", "-s", "NEWSARCHIVE_PROGRESS=off", "--stats-file", os.path.join(tmp, f"{i}.json")],
                                  env=env, stdout=subprocess.DEVNULL)
                 for i in range(args.jobs)]
        codes = [p.wait() for p in procs]
    finally:
        if lock:
            lock.release()
    total: dict = {}
    for i in range(args.jobs):
        try:
            with open(os.path.join(tmp, f"{i}.json"), encoding="utf-8") as fh:
                part = json.load(fh)
        except (OSError, ValueError):
            continue
        for key, value in part.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    for key in ("newsarchive/pages/home", "newsarchive/pages/feed"):
        if key in total:
            total[key] = min(total[key], 1)
    total["finish_reason"] = "finished" if not any(codes) else "failed"
    total["newsarchive/jobs"] = args.jobs
    if args.stats_file:
        from newsarchive.store.files import atomic_write

        atomic_write(Path(args.stats_file), json.dumps(total, indent=2, sort_keys=True).encode("utf-8"))
    print(f"crawl {total['finish_reason']} ({args.jobs} jobs): {summary(total)}")
    return max(codes)


def cmd_demo(args) -> int:
    from newsarchive.demo.mirrorgen import build_site, demo_posts
    from newsarchive.demo.mockserver import MockServer

    with tempfile.TemporaryDirectory(prefix="newsarchive-demo-") as tmp:
        build_site(demo_posts(), tmp, page_size=8)   # listings of 8 posts: pagination is followed
        with MockServer(tmp) as server:
            print(f"demo mirror serving on {server.url} (share host through it as a proxy)")
            os.environ["http_proxy"] = server.url
            os.environ["no_proxy"] = "127.0.0.1,localhost"
            args.site, args.category, args.refresh, args.jobs = server.url, None, False, 1
            args.no_share = False
            return cmd_crawl(args)


def cmd_schedule(args) -> int:
    from newsarchive.commands.schedule import Scheduler, Timetable, parse_every

    try:
        timetable = Timetable(parse_every(args.every) if args.every else None, args.cron)
    except ValueError as exc:
        print(f"newsarchive schedule: {exc}", file=sys.stderr)
        return 2
    crawl_args = crawl_options(args)
    output = Path(args.output or "output")
    lock = _locked(args, "schedule")
    try:
        return Scheduler(crawl_args, output, timetable, runs=args.runs, commit=args.git_commit,
                         keep_days=args.keep_days, log=lambda line: print(line, flush=True)).run()
    finally:
        if lock:
            lock.release()


def cmd_collect(args) -> int:
    from newsarchive.distributed.collect import collect

    counts = collect(args.redis, args.output or "output", follow=args.follow, idle=args.idle,
                     log=lambda line: print(line, flush=True))
    print("collected: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    return 0


def cmd_export(args) -> int:
    from newsarchive.offline.export import ExportError, export

    try:
        n = export(args.output or "output", args.format, args.to, args.since, args.until, args.category)
    except (ExportError, OSError) as exc:
        print(f"newsarchive export: {exc}", file=sys.stderr)
        return 1
    print(f"exported {n} {'records' if args.format == 'warc' else 'posts'} as {args.format} to {args.to}")
    return 0


def cmd_rebuild(args) -> int:
    from newsarchive.offline.rebuild import rebuild
    from newsarchive.store.warc import WARC_DIR

    source = Path(args.warc or Path(args.source or "output") / WARC_DIR)
    if not source.is_dir():
        print(f"newsarchive rebuild: no WARC folder {source}", file=sys.stderr)
        return 1
    counts = rebuild(source, args.output or "output")
    print("rebuilt: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    return 0


def cmd_stats(args) -> int:
    from newsarchive.offline.stats import archive_stats, render_table, to_json

    try:
        s = archive_stats(args.output or "output")
    except FileNotFoundError as exc:
        print(f"newsarchive stats: {exc}", file=sys.stderr)
        return 1
    print(to_json(s) if args.json else render_table(s))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="newsarchive", description="Archive a mirrored Chinese news feed.")
    ap.add_argument("--version", action="version", version=f"newsarchive {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="archive share URLs, mirror post URLs or category listing URLs")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--stdout", action="store_true", help="print the posts instead of writing them")
    p.add_argument("--site", help="the mirror the post/listing URLs belong to (default: their own host)")
    p.add_argument("--no-share", action="store_true", help="never contact the share host")
    _common(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("crawl", help="crawl a mirror: home page, feed, category listings, posts, share URLs")
    p.add_argument("--site", default=None, help="the mirror (default: https://finews.withounder.com/)")
    p.add_argument("--category", action="append", metavar="SLUG", help="only these category listings")
    p.add_argument("--no-share", action="store_true", help="never contact the share host")
    p.add_argument("--refresh", action="store_true", help="download archived posts again, rewrite what changed")
    p.add_argument("--stats-file", metavar="FILE", help="write the final stats as JSON")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="N crawl processes sharing the categories, one archive (use the cores of one machine)")
    p.add_argument("--redis", metavar="URL", help="distributed crawl: redis://HOST:PORT/DB (scrapy-redis)")
    p.add_argument("--follow", action="store_true", help="with --redis: keep waiting for new work")
    p.add_argument("--redis-items", action="store_true",
                   help="with --redis: push posts to Redis for `newsarchive collect` (no shared disk)")
    _common(p)
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("collect", help="write the posts Redis workers pushed (--redis-items) into the archive")
    p.add_argument("--redis", required=True, metavar="URL")
    p.add_argument("--output", help="the archive folder (default: output)")
    p.add_argument("--follow", action="store_true", help="keep waiting for posts")
    p.add_argument("--idle", type=float, default=10.0, help="exit after this many seconds with no posts and no workers")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("demo", help="crawl the bundled sample mirror, served on 127.0.0.1")
    p.add_argument("--stats-file", metavar="FILE", help="write the final stats as JSON")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("schedule", help="incremental crawls now and then every interval, never overlapping")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", metavar="DURATION", help="30s, 5m, 2h, 1d")
    when.add_argument("--cron", metavar="EXPR", help='a cron expression, e.g. "1-59/5 * * * *" (local time)')
    p.add_argument("--runs", type=int, help="stop after this many runs (default: run until stopped)")
    p.add_argument("--git-commit", action="store_true", help="commit changed posts in the archive's git repository")
    p.add_argument("--keep-days", type=int, metavar="N", help="move posts older than N days to old_post/")
    p.add_argument("--site", default=None)
    p.add_argument("--category", action="append", metavar="SLUG")
    p.add_argument("--no-share", action="store_true")
    _common(p)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("export", help="export the archive as jsonl, csv, a Jekyll site or WARC")
    p.add_argument("--format", required=True, choices=["jsonl", "csv", "jekyll", "warc"])
    p.add_argument("--to", required=True, type=Path, metavar="PATH")
    p.add_argument("--output", help="the archive folder (default: output)")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="posts on or after this Beijing date")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="posts on or before this Beijing date")
    p.add_argument("--category", action="append", metavar="SLUG")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("rebuild", help="re-create every post from the WARC captures, offline")
    p.add_argument("--output", help="the archive folder to write (default: output)")
    p.add_argument("--source", help="the archive whose warc/ folder is read (default: output)")
    p.add_argument("--warc", help="a folder of .warc.gz files to read instead")
    p.set_defaults(func=cmd_rebuild)

    p = sub.add_parser("stats", help="posts per category, date range, revisions, captures, crawls, failures")
    p.add_argument("--output", help="the archive folder (default: output)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
