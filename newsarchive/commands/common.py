"""What the commands share: Scrapy settings from the command line, the archive lock, running a spider,
the parent parsers of the shared options, and the one-line error a person sees."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from urllib.parse import urlsplit

from newsarchive.core.infocode import split_url
from newsarchive.core.mdsafe import one_line

# exit statuses (documented in the README): a scheduler can tell them apart
EX_OK = 0
EX_FAILED = 1        # some posts or URLs failed; what could be done was done
EX_USAGE = 2         # a bad command line, setting or path
EX_UNAVAILABLE = 69  # a service the command needs (Redis, the mirror) cannot be reached
EX_SOFTWARE = 70     # an error of ours: a bug (rerun with --debug, and report it)
EX_DATAERR = 65      # the archive itself is damaged: run `newsarchive verify --repair`
EX_CANTCREAT = 73    # the archive cannot be written (disk full, read-only, not a folder)
EX_TEMPFAIL = 75     # the archive is locked by another run: try again later
EX_IOERR = 74        # the command's output could not be written (a full disk under its standard output)
EX_CONFIG = 78       # something this command needs is not installed or not configured

# what "full speed" means on loopback, where politeness protects nobody
LOOPBACK = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS": 32,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
}


class CommandError(Exception):
    """A failure to tell a person in one line, with the exit status to leave with."""

    def __init__(self, message: str, status: int = EX_FAILED):
        super().__init__(message)
        self.status = status


def is_loopback(url: str) -> bool:
    host = split_url(url if "://" in url else "http://" + url).hostname or ""   # (unreadable: no host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def scrapy_settings(args, **own):
    """The project's settings, the command's own on top, then ``-s NAME=VALUE`` as ``scrapy crawl`` takes it."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "newsarchive.settings")
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    site = own.pop("site", None)
    if site and is_loopback(site):
        settings.setdict(LOOPBACK, priority="project")
    own.setdefault("LOG_LEVEL", "DEBUG" if args.verbose else "WARNING" if not args.log else "INFO")
    for name, value in own.items():
        if value is not None:
            settings.set(name, value, priority="cmdline")
    for pair in args.set or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"-s takes NAME=VALUE, got {pair!r}", EX_USAGE)
        settings.set(name.strip(), value, priority="cmdline")
    return settings


def locked(args, what: str):
    """The archive lock for this command, or an exit with status 75 if another process has it."""
    from newsarchive.store.lock import ArchiveLock, ArchiveLocked
    from newsarchive.store.paths import UnsafeArchive

    lock = ArchiveLock(args.output or "output", what)
    try:
        if lock.inherited():
            return None
        lock.acquire()
    except ArchiveLocked as exc:
        raise CommandError(str(exc), EX_TEMPFAIL) from None
    except UnsafeArchive as exc:
        raise CommandError(str(exc), EX_CANTCREAT) from None
    except OSError as exc:
        raise CommandError(f"cannot use the archive folder {args.output or 'output'}: {exc.strerror or exc}",
                           EX_CANTCREAT) from None
    if lock.took_over:
        print(f"newsarchive {what}: took over the lock left by pid {lock.took_over.get('pid')} "
              f"({lock.took_over.get('what')}), which is no longer running", file=sys.stderr)
    return lock


def _loggers_at_handler_level(settings) -> None:
    """Scrapy sets its loggers to DEBUG and filters at the root handler, so every "Crawled" and
    "Scraped from" line is built (a LogRecord, a stack walk) and then thrown away: ~2% of a crawl.
    The command owns its process's logging: its loggers start at the level it prints."""
    level = logging.getLevelName(str(settings.get("LOG_LEVEL")).upper()) \
        if settings.getbool("LOG_ENABLED") else logging.CRITICAL + 1
    if isinstance(level, int) and level > logging.DEBUG:
        for name in ("scrapy", "newsarchive"):
            logging.getLogger(name).setLevel(level)
    if isinstance(level, int) and level > logging.INFO:     # not --log / -v: no traceback reaches a person
        _records_without_tracebacks()
        # and a page that could not be read is said once, by the crawl ("failed URL: cause"), not
        # also by the retry and robots.txt middlewares (``--log`` shows theirs)
        for name in ("scrapy.downloadermiddlewares.retry", "scrapy.downloadermiddlewares.robotstxt"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _records_without_tracebacks() -> None:
    """Scrapy's errors keep their one line (a dead mirror's robots.txt, a refused connection) and lose
    the traceback, which a person did not ask for (``--log`` or ``-v`` shows it). Done where records
    are made: Scrapy re-installs its log handler for each crawler."""
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        if record.exc_info and record.levelno < logging.CRITICAL:
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)


def run_spider(settings, spider_name: str, **kwargs):
    """Run one crawl in this process; a crawl that cannot even start (a bad setting, a component
    that refuses) is a CommandError, not a traceback."""
    from scrapy.crawler import AsyncCrawlerProcess, CrawlerProcess

    from newsarchive.crawl.download import ASYNCIO_REACTOR

    # the process Scrapy's own ``scrapy crawl`` picks (scrapy.cmdline): the asyncio one under the
    # asyncio reactor
    asyncio_reactor = settings.get("TWISTED_REACTOR") == ASYNCIO_REACTOR
    process = AsyncCrawlerProcess(settings) if asyncio_reactor and not settings.getbool("FORCE_CRAWLER_PROCESS") \
        else CrawlerProcess(settings)
    _loggers_at_handler_level(settings)
    try:
        crawler = process.create_crawler(spider_name)
    except (ValueError, TypeError, KeyError) as exc:
        raise CommandError(f"cannot set up the crawl: {_one_line(exc)}", EX_USAGE) from None
    failures: list = []
    if isinstance(process, AsyncCrawlerProcess):
        def failed(task) -> None:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                failures.append(error)

        process.crawl(crawler, **kwargs).add_done_callback(failed)
    else:
        process.crawl(crawler, **kwargs).addErrback(lambda failure: failures.append(failure.value))
    process.start()
    if failures:
        error = failures[0]
        status = EX_CONFIG if type(error).__name__ == "RedisUnavailable" else EX_USAGE \
            if isinstance(error, (ValueError, TypeError)) else EX_SOFTWARE
        raise CommandError(f"the crawl could not start: {_one_line(error)}", status)
    return crawler


def _one_line(exc: BaseException) -> str:
    return one_line(exc) or type(exc).__name__


def check_archive(folder: str) -> None:
    """Before a command writes ``folder``: a folder (not a file), no links in it, a usable catalog."""
    from newsarchive.store.paths import UnsafeArchive, check_folder

    try:
        check_folder(folder)
    except UnsafeArchive as exc:
        raise CommandError(str(exc), EX_CANTCREAT) from None
    check_catalog(folder)


def check_catalog(folder: str) -> None:
    """Before a command reads ``folder``'s catalog: a damaged or lost one is exit 65, with what to do."""
    from newsarchive.store.catalog import catalog_problem

    problem = catalog_problem(folder)
    if problem:
        raise CommandError(problem, EX_DATAERR)


def check_url(url: str, what: str) -> str:
    """An http(s) URL a person gave as ``what``, or a usage error."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        parts.port          # noqa: B018 - a bad port raises here
    except ValueError:
        raise CommandError(f"{what} takes an http(s) URL, got {url!r}", EX_USAGE) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"{what} takes an http(s) URL, got {url!r}", EX_USAGE)
    return url


def check_redis(url: str) -> None:
    """The Redis a distributed command needs: installed, a valid URL, answering."""
    try:
        import redis
        import scrapy_redis  # noqa: F401
    except ImportError:
        raise CommandError("--redis needs the redis extra: pip install 'newsarchive[redis]'", EX_CONFIG) from None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
    except ValueError as exc:
        raise CommandError(f"--redis takes redis://HOST:PORT/DB, got {url!r} ({_one_line(exc)})", EX_USAGE) from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise CommandError(f"Redis at {url} does not answer: {_one_line(exc)}", EX_UNAVAILABLE) from None


def folder_arg(value: str) -> str:
    """An argument that names a folder: not empty (``''`` would be the current folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("takes a folder, got an empty name")
    return value


def count_arg(least: int, most: int | None = None):
    """An argument that is a whole number of at least ``least`` (and at most ``most``)."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = least - 1
        if number < least or (most is not None and number > most):
            span = f"{least} to {most}" if most is not None else f"{least} or more"
            raise argparse.ArgumentTypeError(f"takes a whole number, {span}, got {value!r}")
        return number
    return parse


def archive_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--output", default=None, metavar="DIR", type=folder_arg, help="the archive folder (default: output)")
    return p


def scrapy_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-s", "--set", action="append", metavar="NAME=VALUE", help="a Scrapy setting (repeatable)")
    p.add_argument("--log", action="store_true", help="show Scrapy's INFO log")
    p.add_argument("-v", "--verbose", action="store_true", help="show Scrapy's DEBUG log")
    return p


def crawl_selection() -> argparse.ArgumentParser:
    """What a crawl takes from the mirror (crawl, schedule)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--site", default=None, metavar="URL", help="the mirror (default: https://finews.withounder.com/)")
    p.add_argument("--category", action="extend", nargs="+", metavar="SLUG", help="only these category listings")
    p.add_argument("--no-share", action="store_true", help="never contact the share host")
    return p
