"""Raw capture in WARC (warcio): every response that produced or fed a post, with its request.

Files roll under ``<archive>/warc/`` as ``newsarchive-<UTC stamp>-<n>.warc.gz``; a file being
written is named ``….warc.gz.open`` and renamed when closed, so a killed run never leaves a file
that looks finished (the next run salvages the whole records of an ``.open`` file). Each response
record carries newsarchive's own fields — role (home, feed, listing, post, share, share_direct),
infoCode, site, and the post a share answer was for — that ``rebuild`` and ``export --format warc``
read back.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import GzippingWrapper, WARCWriter

from newsarchive import __version__
from newsarchive.store.files import HOST, writer_alive
from newsarchive.store.paths import own_dir

logger = logging.getLogger(__name__)

WARC_DIR = "warc"
OPEN_SUFFIX = ".open"
H_ROLE, H_KEY, H_SITE, H_POST, H_ORIGIN = (
    "WARC-Newsarchive-Role", "WARC-Newsarchive-InfoCode", "WARC-Newsarchive-Site",
    "WARC-Newsarchive-Post", "WARC-Newsarchive-Origin")
_DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


@dataclass
class WarcRecord:
    """One response and its request, as the crawl saw them, with newsarchive's own fields.
    Headers are Scrapy's ``(bytes name, [bytes value…])`` items; ``body_is_page`` says the body was
    left out on the way because the post item it travels with carries the same bytes."""

    url: str
    request_headers: list
    status: str
    response_headers: list
    body: bytes
    role: str
    key: str = ""
    site: str = ""
    post_url: str = ""
    origin: str = ""
    body_is_page: bool = False

    def fields(self) -> dict[str, str]:
        return {H_ROLE: self.role, H_KEY: self.key, H_SITE: self.site, H_POST: self.post_url, H_ORIGIN: self.origin}


@dataclass
class Capture:
    url: str
    role: str
    key: str
    site: str
    post_url: str
    origin: str
    date: dt.datetime
    status: int
    content_type: str
    body: bytes


class _Gzip6(GzippingWrapper):
    """A gzip member per record, as warcio writes it, at zlib's default level 6: warcio's level 9
    costs ~2.5× the CPU for ~1% smaller files of HTML and JSON."""

    def __init__(self, out):        # (not GzippingWrapper's: it would build a level-9 compressor first)
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        self.out = out


class Writer(WARCWriter):
    """warcio's WARCWriter, its gzip members at level 6."""

    gzip: bool

    def _write_warc_record(self, out, record):
        if not self.gzip:
            return super()._write_warc_record(out, record)
        self.gzip = False
        try:
            return super()._write_warc_record(_Gzip6(out), record)
        finally:
            self.gzip = True


def header_pairs(headers: list) -> list[tuple[str, str]]:
    """``[(name, value)]`` text pairs from Scrapy's ``(bytes, [bytes…])`` header items."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, values in headers for value in values]


class WarcArchive:
    """Rolling gzipped WARC files in ``folder``; one writer per process."""

    def __init__(self, folder: str | Path, max_bytes: int = 100 * 1024 * 1024):
        self.folder = own_dir(Path(folder))
        self.max_bytes = max_bytes
        self.fh: Any = None
        self.path: Path | None = None
        self.writer: Any = None
        self.serial = 0
        self.records = 0

    def _open(self) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S%f")
        self.serial += 1
        self.path = self.folder / f"newsarchive-{stamp}-{HOST}-{os.getpid()}-{self.serial:05d}.warc.gz"
        fd = os.open(str(self.path) + OPEN_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        self.fh = os.fdopen(fd, "wb")   # kept open across writes; close() closes it
        self.writer = Writer(self.fh, gzip=True)
        info = self.writer.create_warcinfo_record(self.path.name, {
            "software": f"newsarchive/{__version__} (warcio)", "format": "WARC File Format 1.1"})
        self.writer.write_record(info)

    def write_record(self, rec: WarcRecord) -> None:
        self.write(rec.url, rec.request_headers, rec.status, rec.response_headers, rec.body, rec.fields())

    def write(self, url: str, request_headers: list, status: str, response_headers: list, body: bytes,
              fields: dict[str, str]) -> None:
        """Headers as Scrapy gives them, ``(name, [values])`` in bytes."""
        if self.fh is None:
            self._open()
        request_headers, response_headers = header_pairs(request_headers), header_pairs(response_headers)
        headers = [(k, v) for k, v in response_headers if k.lower() not in _DROP_HEADERS]
        headers.append(("Content-Length", str(len(body))))
        http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
        warc_headers = {k: v for k, v in fields.items() if v}
        response = self.writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                  http_headers=http, warc_headers_dict=warc_headers)
        target = url.split("://", 1)[-1]
        path = "/" + target.split("/", 1)[1] if "/" in target else "/"
        req_http = StatusAndHeaders(f"GET {path} HTTP/1.1", request_headers, is_http_request=True)
        request = self.writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=req_http)
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID"))
        self.writer.write_record(response)
        self.writer.write_record(request)
        self.fh.flush()
        self.records += 1
        if self.fh.tell() >= self.max_bytes:
            self.close()

    def close(self) -> None:
        if self.fh is not None and self.path is not None:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            os.replace(str(self.path) + OPEN_SUFFIX, self.path)
            self.fh = None


def _writer_alive(name: str) -> bool:
    """Whether the process writing ``name`` (``…-<host>-<pid>-<n>.warc.gz.open``) still runs:
    several writers share a folder (``--jobs``, Redis workers); only a dead one's file is stale."""
    m = re.search(r"-([A-Za-z0-9]+)-([0-9]+)-[0-9]+\.warc\.gz", name)
    return m is not None and writer_alive(m.group(1), int(m.group(2)))


def salvage(folder: str | Path) -> int:
    """Turn ``.open`` files left by a killed run into finished files holding their whole records."""
    folder = Path(folder)
    saved = 0
    for stale in sorted(folder.glob(f"*.warc.gz{OPEN_SUFFIX}")):
        if _writer_alive(stale.name) or stale.is_symlink():
            continue
        final = stale.with_name(stale.name[: -len(OPEN_SUFFIX)])
        good_end = 0
        with open(stale, "rb") as fh:
            try:
                it = ArchiveIterator(fh)
                for record in it:
                    it.read_to_end(record)
                    good_end = it.get_record_offset() + it.get_record_length()
                    saved += 1
            except Exception:  # noqa: BLE001 - a truncated tail is expected after kill -9
                pass
        if good_end:
            with open(stale, "rb") as src, open(str(final) + ".salvage", "wb") as dst:
                dst.write(src.read(good_end))
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(str(final) + ".salvage", final)
        stale.unlink()
    return saved


def warc_files(folder: str | Path) -> list[Path]:
    """The finished capture files of a folder (links are not followed: they are not ours)."""
    return sorted(p for p in Path(folder).glob("*.warc.gz") if not p.is_symlink())


class BadRecord(ValueError):
    """A record that cannot be replayed; the message says which and why, in one line."""


MAX_RECORD = 16 * 1024 * 1024     # as DOWNLOAD_MAXSIZE: no capture was ever larger


def _capture(record, max_bytes: int) -> Capture | None:
    h = record.rec_headers
    role = h.get_header(H_ROLE)
    if not role:
        return None
    url = h.get_header("WARC-Target-URI") or ""
    if not url.startswith(("http://", "https://")):
        raise BadRecord(f"target {url[:80]!r} is not an http(s) URL")
    try:
        date = dt.datetime.fromisoformat((h.get_header("WARC-Date") or "").replace("Z", "+00:00"))
        status = int(record.http_headers.get_statuscode() or 0) if record.http_headers else 0
    except ValueError as exc:
        raise BadRecord(f"{url[:80]}: unreadable date or status line ({exc})") from None
    if date.tzinfo is None:
        date = date.replace(tzinfo=dt.timezone.utc)
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        raise BadRecord(f"{url[:80]}: payload over {max_bytes} bytes")
    return Capture(url=url, role=role, key=h.get_header(H_KEY) or "", site=h.get_header(H_SITE) or "",
                   post_url=h.get_header(H_POST) or "", origin=h.get_header(H_ORIGIN) or "", date=date,
                   status=status, content_type=record.http_headers.get_header("Content-Type") or "", body=body)


def iter_captures(paths, max_bytes: int = MAX_RECORD, problems: list[str] | None = None) -> Iterator[Capture]:
    """Response records with newsarchive's fields, in file order then record order. A record that
    cannot be read (no date, a bad status line, a non-http target, a payload past ``max_bytes``) is
    skipped, and so is the rest of a file that is not WARC past some point; each is one line in
    ``problems``. Nothing is ever inflated past ``max_bytes``."""
    for path in paths:
        try:
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh):
                    if record.rec_type != "response":
                        continue
                    try:
                        cap = _capture(record, max_bytes)
                    except BadRecord as exc:
                        if problems is not None:
                            problems.append(f"{Path(path).name}: skipped a record: {exc}")
                        continue
                    if cap is not None:
                        yield cap
        except Exception as exc:  # noqa: BLE001 - warcio raises many kinds on a file that is not WARC
            if problems is not None:
                problems.append(f"{Path(path).name}: unreadable from some point on ({type(exc).__name__}: "
                                f"{str(exc)[:120]}); the records before it were read")
