"""``newsarchive demo``: the bundled sample mirror, served on 127.0.0.1, crawled into the archive
(``--serve``: kept up, so a person can try ``crawl`` and ``fetch`` against it)."""
from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from newsarchive.commands.common import EX_USAGE, CommandError, count_arg
from newsarchive.commands.crawl import cmd_crawl


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo", parents=parents, help="crawl the bundled sample mirror, served on 127.0.0.1")
    p.add_argument("--stats-file", metavar="FILE", help="write the final stats as JSON")
    p.add_argument("--serve", action="store_true",
                   help="only serve the sample mirror (and its share host) until stopped, to try crawl and fetch on")
    p.add_argument("--port", type=count_arg(0, 65535), default=0, help="with --serve: the port (default: any free one)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from newsarchive.demo.mirrorgen import build_site, demo_posts
    from newsarchive.demo.mockserver import MockServer

    with tempfile.TemporaryDirectory(prefix="newsarchive-demo-") as tmp:
        build_site(demo_posts(), tmp, page_size=4)   # listings of 4 posts: pagination is followed
        try:
            mirror = MockServer(tmp, port=getattr(args, "port", 0))
        except OSError as exc:
            raise CommandError(f"cannot serve on 127.0.0.1:{args.port}: {exc.strerror or exc}", EX_USAGE) from None
        with mirror as server:
            if args.serve:
                return _serve(server)
            print(f"demo mirror serving on {server.url} (share host through it as a proxy)")
            os.environ["http_proxy"] = server.url
            os.environ["no_proxy"] = "127.0.0.1,localhost"
            args.site, args.category, args.refresh, args.jobs = server.url, None, False, 1
            args.no_share = False
            status = cmd_crawl(args)
            print(f"the archive is in {Path(args.output or 'output').resolve()} "
                  "(posts in _posts/, the catalog archive.sqlite3, captures in warc/)")
            return status


def _serve(server) -> int:
    print(f"demo mirror on {server.url} — its share host answers through it as a proxy. Try:\n"
          f"  export http_proxy={server.url} no_proxy=127.0.0.1,localhost\n"
          f"  newsarchive crawl --site {server.url} --output demo-archive\n"
          f"  newsarchive fetch {server.url}category/nanfangribao.html --output demo-archive\n"
          "stop with Ctrl-C", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    return 0
