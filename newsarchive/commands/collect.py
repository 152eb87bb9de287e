"""``newsarchive collect``: the one writer for Redis workers without the archive's disk."""
from __future__ import annotations

from newsarchive.commands.common import EX_OK, check_redis


def add_parser(sub, parents) -> None:
    p = sub.add_parser("collect", parents=parents,
                       help="write the posts Redis workers pushed (--redis-items) into the archive")
    p.add_argument("--redis", required=True, metavar="URL", help="the workers' Redis: redis://HOST:PORT/DB")
    p.add_argument("--follow", action="store_true", help="keep waiting for posts")
    p.add_argument("--idle", type=float, default=10.0, metavar="SECONDS",
                   help="exit after this many seconds with no posts and no workers (default 10)")
    p.set_defaults(func=cmd_collect)


def cmd_collect(args) -> int:
    check_redis(args.redis)
    from newsarchive.distributed.collect import collect

    counts = collect(args.redis, args.output or "output", follow=args.follow, idle=args.idle,
                     log=lambda line: print(line, flush=True))
    print("collected: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    return EX_OK
