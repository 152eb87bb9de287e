"""``newsarchive demo``: the bundled sample mirror, served on 127.0.0.1, crawled into the archive."""
from __future__ import annotations

import os
import tempfile

from newsarchive.commands.crawl import cmd_crawl


def add_parser(sub, parents) -> None:
    p = sub.add_parser("demo", parents=parents, help="crawl the bundled sample mirror, served on 127.0.0.1")
    p.add_argument("--stats-file", metavar="FILE", help="write the final stats as JSON")
    p.set_defaults(func=cmd_demo)


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
