"""``newsarchive crawl``: the main job — home page, feed, category listings, posts, share URLs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from newsarchive.commands.common import (
    EX_CANTCREAT,
    EX_FAILED,
    EX_OK,
    EX_UNAVAILABLE,
    EX_USAGE,
    CommandError,
    check_archive,
    check_redis,
    check_url,
    locked,
    run_spider,
    scrapy_settings,
)


def add_parser(sub, parents) -> None:
    p = sub.add_parser("crawl", parents=parents, help="crawl a mirror: home page, feed, category listings, posts, share URLs")
    p.add_argument("--refresh", action="store_true", help="download archived posts again, rewrite what changed")
    p.add_argument("--stats-file", metavar="FILE", help="write the final stats as JSON")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="N crawl processes sharing the categories, one archive (use the cores of one machine)")
    p.add_argument("--redis", metavar="URL", help="distributed crawl: redis://HOST:PORT/DB (scrapy-redis)")
    p.add_argument("--follow", action="store_true", help="with --redis: keep waiting for new work")
    p.add_argument("--redis-items", action="store_true",
                   help="with --redis: push posts to Redis for `newsarchive collect` (no shared disk)")
    p.set_defaults(func=cmd_crawl)


def check_crawl_options(args) -> None:
    """Usage errors, before anything starts."""
    if getattr(args, "jobs", 1) < 1:
        raise CommandError("--jobs takes a number of processes, 1 or more", EX_USAGE)
    if not getattr(args, "redis", None) and (getattr(args, "follow", False) or getattr(args, "redis_items", False)):
        raise CommandError("--follow and --redis-items go with --redis", EX_USAGE)
    if getattr(args, "redis", None) and getattr(args, "jobs", 1) > 1:
        raise CommandError("--jobs and --redis do not go together (start more workers instead)", EX_USAGE)
    if args.site:
        check_url(args.site, "--site")
    stats_file = getattr(args, "stats_file", None)
    if stats_file and (Path(stats_file).is_dir() or not Path(stats_file).parent.is_dir()):
        raise CommandError(f"--stats-file takes a file in an existing folder, got {stats_file!r}", EX_USAGE)


# a finish reason other than these means the crawl could not do its job
EXIT_FOR_REASON = {"finished": EX_OK, "shutdown": EX_OK, "archive_unwritable": EX_CANTCREAT,
                   "archive_unusable": EX_CANTCREAT, "redis_unreachable": EX_UNAVAILABLE}
REASON_TEXT = {"archive_unwritable": "the archive could not be written",
               "archive_unusable": "the archive folder cannot be used",
               "redis_unreachable": "Redis stopped answering mid-crawl (what was written is kept; the frontier is in "
                                    "Redis: run again once it answers)",
               "closespider_pagecount": "the crawl-wide budget of responses (CLOSESPIDER_PAGECOUNT) ran out"}


def crawl_status(stats: dict, site: str, redis: bool = False, categories: list[str] | None = None) -> tuple[int, str]:
    """The exit status of a finished crawl and, when it is not 0, the one line that says why."""
    unread = (f"no listing of {', '.join(categories)} could be read on {site} (is the slug right? the mirror's "
              "own are in its /category/ links)") if categories else f"no page of {site} could be read"
    reason = stats.get("newsarchive/crawl/result") or stats.get("finish_reason")
    if reason is None:      # no finish: a second SIGINT/SIGTERM forced the stop
        return EX_FAILED, ("the crawl was forced to stop before it could finish: what was written is kept, "
                           "the next run goes on from there")
    if reason == "mirror_unreachable":
        return EX_FAILED, unread
    if stats.get("newsarchive/redis/lost"):      # (also when it went at the crawl's very end)
        return EX_UNAVAILABLE, f"{REASON_TEXT['redis_unreachable']}: {stats['newsarchive/redis/lost']}"
    status = EXIT_FOR_REASON.get(reason, EX_FAILED)
    if status:
        why = stats.get("newsarchive/archive/unwritable") or stats.get("newsarchive/archive/unusable") or ""
        return status, f"{REASON_TEXT.get(reason, f'the crawl ended with {reason}')}{': ' + why if why else ''}"
    if reason == "shutdown":
        return EX_OK, ""        # stopped by SIGTERM/SIGINT: what was in hand is written, the rest waits
    pages_ok = sum(stats.get(f"newsarchive/pages/{k}", 0) for k in ("home", "feed", "listings", "posts"))
    if not pages_ok and stats.get("newsarchive/pages/failed", 0) and not redis:
        # (a Redis worker whose peers took every page has read nothing either, and that is fine)
        return EX_FAILED, unread
    failed = stats.get("newsarchive/posts/failed", 0)
    if failed:
        return EX_FAILED, f"{failed} post(s) could not be archived (newsarchive stats lists them)"
    if stats.get("newsarchive/monitors/failed"):
        return EX_FAILED, f"a monitor failed: {stats.get('newsarchive/monitors/failures')}"
    from newsarchive.crawl.extensions import unread_pages

    if unread := unread_pages(stats):  # (a listing failing every run loses its posts: never an exit 0)
        return EX_FAILED, unread
    return EX_OK, ""


def cmd_crawl(args) -> int:
    from newsarchive.crawl.extensions import summary

    check_crawl_options(args)
    if getattr(args, "jobs", 1) > 1:
        return crawl_jobs(args)
    site = args.site
    settings = scrapy_settings(args, site=site, NEWSARCHIVE_OUTPUT=args.output, NEWSARCHIVE_SITE=site,
                               NEWSARCHIVE_CLI_REPORT=True,
                               NEWSARCHIVE_SHARE=False if args.no_share else None,
                               NEWSARCHIVE_REFRESH=True if getattr(args, "refresh", False) else None,
                               NEWSARCHIVE_STATS_FILE=args.stats_file)
    kwargs = {"site": settings.get("NEWSARCHIVE_SITE")}
    if args.category:
        kwargs["category"] = args.category
    if getattr(args, "redis", None):     # the Redis add-on does the rest (newsarchive.distributed.addon)
        settings.setdict({"NEWSARCHIVE_REDIS_URL": args.redis, "NEWSARCHIVE_REDIS_FOLLOW": args.follow,
                          "NEWSARCHIVE_REDIS_ITEMS": args.redis_items}, priority="cmdline")
    redis_url = settings.get("NEWSARCHIVE_REDIS_URL")
    if redis_url:
        check_redis(redis_url)
    # on Redis, workers share the folder: each post write takes the lock, not the whole crawl
    lock = None if redis_url else locked(args, "crawl")
    try:
        if not settings.getbool("NEWSARCHIVE_REDIS_ITEMS"):
            check_archive(args.output or settings.get("NEWSARCHIVE_OUTPUT"))
        crawler = run_spider(settings, "mirror", **kwargs)
    finally:
        if lock:
            lock.release()
    stats = crawler.stats.get_stats()
    status, why = crawl_status(stats, kwargs["site"], bool(redis_url), args.category)
    reason = stats.get("newsarchive/crawl/result") or stats.get("finish_reason")
    state = "failed" if status else ("stopped (SIGTERM/SIGINT)" if reason == "shutdown" else "finished")
    print(f"crawl {state}: {summary(stats)}")
    if why:
        print(f"newsarchive crawl: {why}", file=sys.stderr)
    return status


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
    from newsarchive.crawl.extensions import summary
    from newsarchive.store.files import atomic_write
    from newsarchive.store.lock import PARENT_ENV

    lock = locked(args, "crawl")
    base = [sys.executable, "-m", "newsarchive", "crawl", "--output", args.output or "output", *crawl_options(args)]
    tmp = tempfile.mkdtemp(prefix="newsarchive-jobs-")
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    try:
        procs = [subprocess.Popen([*base, "-s", f"NEWSARCHIVE_SHARD={i}/{args.jobs}", "-s", "NEWSARCHIVE_PROGRESS=off",
                                   "--stats-file", os.path.join(tmp, f"{i}.json")], env=env, stdout=subprocess.DEVNULL)
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
        atomic_write(Path(args.stats_file), json.dumps(total, indent=2, sort_keys=True).encode("utf-8"))
    print(f"crawl {total['finish_reason']} ({args.jobs} jobs): {summary(total)}")
    return max(codes)
