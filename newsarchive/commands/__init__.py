"""The ``newsarchive`` command: one module per subcommand, shared options as parent parsers.

Each command runs Scrapy in this process (one crawl per process: Twisted's reactor cannot
restart) with the project's settings, the command's options applied on top, and ``-s NAME=VALUE``
last, as ``scrapy crawl`` takes it. A failure a person should act on is one line on stderr and a
documented exit status (``common.EX_*``); a traceback only with ``--debug``.
"""
from __future__ import annotations

import argparse
import errno
import sys
import traceback
from typing import NoReturn

from newsarchive import __version__
from newsarchive.commands import backfill, collect, crawl, demo, export, fetch, rebuild, schedule, search, stats, verify
from newsarchive.commands.common import (
    EX_IOERR,
    EX_SOFTWARE,
    EX_USAGE,
    CommandError,
    archive_options,
    crawl_selection,
    scrapy_options,
)
from newsarchive.core.mdsafe import SURROGATES, one_line, strip_controls

COMMANDS = (fetch, crawl, collect, demo, schedule, backfill, export, search, rebuild, stats, verify)


class Parser(argparse.ArgumentParser):
    """argparse's, with a usage error in one line (the usage itself is ``--help``'s)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EX_USAGE, f"{self.prog}: {strip_controls(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(prog="newsarchive", description="Archive a mirrored Chinese news feed.")
    ap.add_argument("--version", action="version", version=f"newsarchive {__version__}")
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    archive, scrapy_opts = archive_options(), scrapy_options()
    parents = {fetch: [archive, scrapy_opts], crawl: [archive, scrapy_opts, crawl_selection()],
               demo: [archive, scrapy_opts], schedule: [archive, scrapy_opts], collect: [archive],
               backfill: [archive], export: [archive], search: [archive], rebuild: [archive], stats: [archive],
               verify: [archive]}
    for command in COMMANDS:
        command.add_parser(sub, parents[command])
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for arg in argv:        # (bytes that are no UTF-8 arrive as lone surrogates: no query, name or path holds them)
        if SURROGATES.search(arg):
            print(f"newsarchive: the argument {arg!a} is not UTF-8 text: give it in UTF-8", file=sys.stderr)
            return EX_USAGE
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
        sys.stdout.flush()          # (here, so that a full disk under it is an error of this command)
        return status
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"newsarchive {args.command}: {strip_controls(str(exc))}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:         # `newsarchive stats | head`: the reader is gone, nothing to say
        sys.stderr.close()
        return 0
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            return _internal(args, exc)
        if args.debug:
            traceback.print_exc()
        _discard_stdout()
        print(f"newsarchive {args.command}: cannot write: {exc.strerror}", file=sys.stderr)
        return EX_IOERR
    except Exception as exc:  # noqa: BLE001 - a person gets one line, not a traceback
        return _internal(args, exc)


def _internal(args, exc: BaseException) -> int:
    if args.debug:
        traceback.print_exc()
    print(f"newsarchive {args.command}: internal error: {type(exc).__name__}: {one_line(exc)} "
          "(run again with --debug for the traceback, and report it)", file=sys.stderr)
    return EX_SOFTWARE


def _discard_stdout() -> None:
    """What is still buffered for a standard output that cannot take it is dropped (not tried again
    at exit, with a second message)."""
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, sys.stdout.fileno())
        finally:
            os.close(null)
    except (OSError, ValueError):
        pass
