"""The infoCode sets every worker shares, and the queue of posts for ``collect`` (no Scrapy)."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import asdict

from redis.exceptions import RedisError

from newsarchive.core.items import ArticleItem
from newsarchive.distributed.keys import connect, keys
from newsarchive.store.warc import WarcRecord


class RedisSets:
    """The two infoCode sets every worker shares: this run's ``seen`` and the ``archived``.

    A Redis that stops answering is told to ``on_lost`` (the crawl ends: ``redis_unreachable``) and
    the post in hand goes on as if Redis had no say: claimed (writing it twice is harmless: the
    catalog knows it), not known as archived (fetched)."""

    def __init__(self, url: str, spider_name: str = "mirror"):
        self.server = connect(url)
        self.keys = keys(spider_name)
        self.on_lost: Callable[[Exception], None] | None = None

    def _guarded(self, call, *args, default):
        """``call(*args)``, or ``default`` when Redis does not answer (told to ``on_lost``)."""
        try:
            return call(*args)
        except RedisError as exc:
            if self.on_lost is not None:
                self.on_lost(exc)
            return default

    def first_sight(self, code: str, worker: str) -> bool:
        return self._guarded(self._first_sight, code, worker, default=True)

    def _first_sight(self, code: str, worker: str) -> bool:
        """True for the first worker to handle ``code`` in this run — or for a worker taking over
        from one that died before the post was archived (its claim would otherwise lose it)."""
        if self.server.hsetnx(self.keys["seen"], code, worker):
            return True
        owner = (self.server.hget(self.keys["seen"], code) or b"").decode()
        if owner == worker or self.server.exists(f"{self.keys['workers']}:{owner}") or self.archived(code):
            return False
        self.server.hset(self.keys["seen"], code, worker)
        return True

    def archived(self, code: str) -> bool:
        return bool(self._guarded(self.server.sismember, self.keys["archived"], code, default=False))

    def mark_archived(self, code: str) -> None:
        self._guarded(self.server.sadd, self.keys["archived"], code, default=None)

    def own_archived(self, codes) -> None:
        """The archive's own codes as the whole set (a collector's: it holds the archive)."""
        self.server.delete(self.keys["archived"])
        self.seed_archived(codes)

    def collector_alive(self, seconds: float = 10.0) -> None:
        """Say that a collector holds the archive (its set is not made anew by the first worker)."""
        self.server.set(self.keys["collector"], "1", px=int(seconds * 1000))

    def seed_archived(self, codes) -> None:
        batch = []
        for code in codes:
            batch.append(code)
            if len(batch) >= 5000:
                self.server.sadd(self.keys["archived"], *batch)
                batch = []
        if batch:
            self.server.sadd(self.keys["archived"], *batch)

    def push(self, message: str) -> None:
        self.server.rpush(self.keys["items"], message)


# -- messages of ``--redis-items`` workers to ``collect`` (JSON: nothing in Redis is unpickled) -----
def _record_json(rec: WarcRecord) -> dict:
    out = asdict(rec)
    out["body"] = base64.b64encode(rec.body).decode("ascii")
    for name in ("request_headers", "response_headers"):
        out[name] = [[k.decode("latin-1"), [v.decode("latin-1") for v in vs]] for k, vs in getattr(rec, name)]
    return out


def _record_from(data: dict) -> WarcRecord:
    data = dict(data)
    data["body"] = base64.b64decode(data["body"])
    for name in ("request_headers", "response_headers"):
        data[name] = [(k.encode("latin-1"), [v.encode("latin-1") for v in vs]) for k, vs in data[name]]
    return WarcRecord(**data)


def encode_post(item: ArticleItem, records: list[WarcRecord]) -> str:
    fields = asdict(item)
    fields["raw_page"] = base64.b64encode(item.raw_page).decode("ascii")
    return json.dumps({"post": fields, "records": [_record_json(r) for r in records]}, ensure_ascii=False)


def encode_capture(record: WarcRecord) -> str:
    return json.dumps({"records": [_record_json(record)]}, ensure_ascii=False)


def decode(message: bytes | str) -> tuple[ArticleItem | None, list[WarcRecord]]:
    """``(item or None, records)`` of a pushed message."""
    data = json.loads(message)
    item = None
    if data.get("post") is not None:
        fields = data["post"]
        fields["raw_page"] = base64.b64decode(fields.get("raw_page") or "")
        item = ArticleItem(**fields)
    return item, [_record_from(r) for r in data.get("records", [])]
