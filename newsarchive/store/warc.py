"""Raw capture in WARC (warcio): every response that produced or fed a post, with its request.

Files roll under ``<archive>/warc/`` as ``newsarchive-<UTC stamp>-<n>.warc.gz``; a file being
written is named ``….warc.gz.open`` and renamed when closed, so a killed run never leaves a file
that looks finished (the next run salvages the whole records of an ``.open`` file). Each response
record carries newsarchive's own fields — role (home, feed, listing, post, share, share_direct),
infoCode, site, and the post a share answer was for — that ``rebuild`` and ``export --format warc``
read back.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import iso_date_to_timestamp
from warcio.warcwriter import GzippingWrapper, WARCWriter

from newsarchive import __version__
from newsarchive.store.files import HOST, writer_alive
from newsarchive.store.paths import own_dir

_DEFLATE: Any = zlib
_LEVEL = 6
try:                        # ISA-L's deflate (python-isal, a dependency; zlib where it has no wheel)
    from isal import isal_zlib as _DEFLATE
    _LEVEL = 1
except ImportError:         # pragma: no cover - a platform python-isal is not built for
    pass

logger = logging.getLogger(__name__)

WARC_DIR = "warc"
OPEN_SUFFIX = ".open"
H_ROLE, H_KEY, H_SITE, H_POST, H_ORIGIN = (
    "WARC-Newsarchive-Role", "WARC-Newsarchive-InfoCode", "WARC-Newsarchive-Site",
    "WARC-Newsarchive-Post", "WARC-Newsarchive-Origin")


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
    ip: str = ""                # WARC-IP-Address (Scrapy's response.ip_address)
    date: str = ""              # WARC-Date of the capture, with microseconds
    protocol: str = "HTTP/1.1"
    method: str = "GET"
    via_proxy: bool = False     # sent through a proxy: the request line was absolute-form

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


REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
INDEX_NAME = "index.cdxj"


def warc_date(when: dt.datetime | None = None) -> str:
    """WARC 1.1's date: UTC, with microseconds."""
    when = (when or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_digest(body: bytes) -> str:
    """The digest warcio writes in WARC-Payload-Digest: ``sha1:`` and base32."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


class Digests(Protocol):
    """Where a capture's payload digest is remembered across runs (the catalog)."""

    def digest_seen(self, url: str, digest: str) -> tuple[str, str] | None: ...
    def record_digest(self, url: str, digest: str, date: str, record_id: str) -> None: ...


class WarcArchive:
    """Rolling gzipped WARC/1.1 files in ``folder``; one writer per process. Each file starts with a
    warcinfo record (software, Scrapy, robots policy, the crawl's settings that matter) that every
    record names (``WARC-Warcinfo-ID``). A response whose payload was captured before for the same URL
    (``digests``) is written as an identical-payload-digest revisit record, as Heritrix does. Each
    record's CDXJ line is made as it is written and merged into ``index.cdxj``, sorted, as its file
    closes (a salvaged file is indexed by cdxj-indexer), for replay tools."""

    def __init__(self, folder: str | Path, max_bytes: int = 100 * 1024 * 1024, digests: Digests | None = None,
                 info: dict[str, str] | None = None, index: bool = True):
        self.folder = own_dir(Path(folder))
        self.max_bytes = max_bytes
        self.digests = digests
        self.info = info or {}
        self.index = index
        self.fh: Any = None
        self.path: Path | None = None
        self.lines: list[str] = []      # the open file's CDXJ lines, made as its records are written
        self.writer: Any = None
        self.warcinfo_id = ""
        self.serial = 0
        self.records = 0
        self.revisits = 0

    def _open(self) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S%f")
        self.serial += 1
        self.path = self.folder / f"newsarchive-{stamp}-{HOST}-{os.getpid()}-{self.serial:05d}.warc.gz"
        fd = os.open(str(self.path) + OPEN_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        self.fh = os.fdopen(fd, "wb")   # kept open across writes; close() closes it
        self.writer = Writer(self.fh, gzip=True, warc_version="WARC/1.1")
        info = self.writer.create_warcinfo_record(self.path.name, {
            "software": f"newsarchive/{__version__} (warcio)", "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            **self.info})
        self.warcinfo_id = info.rec_headers.get_header("WARC-Record-ID")
        self.writer.write_record(info)

    def write_record(self, rec: WarcRecord) -> None:
        """A response (or revisit) record and its request record, as the crawl sent and received them."""
        if self.fh is None:
            self._open()
        assert self.path is not None
        url = target_uri(rec.url)
        if url != rec.url:          # one form of the URL for the record, its index line and its digest key
            rec = dataclasses.replace(rec, url=url)
        date = rec.date or warc_date()
        response_headers = header_pairs(rec.response_headers)
        names = {k.lower() for k, _ in response_headers}
        if "transfer-encoding" in names or "content-length" not in names:
            # a body that came de-chunked from Scrapy, or delimited by the connection's end, is stored
            # as one piece with its length (as received otherwise: Content-Encoding and all)
            response_headers = [(k, v) for k, v in response_headers
                                if k.lower() not in ("transfer-encoding", "content-length")]
            response_headers.append(("Content-Length", str(len(rec.body))))
        http = http_head(f"{rec.protocol or 'HTTP/1.1'} {rec.status}", response_headers)
        ours = [(k, v) for k, v in rec.fields().items() if v]
        common = [("WARC-Date", date), ("WARC-Warcinfo-ID", self.warcinfo_id)] + \
            ([("WARC-IP-Address", rec.ip)] if rec.ip else [])
        digest = payload_digest(rec.body)
        seen = self.digests.digest_seen(rec.url, digest) if self.digests is not None else None
        response_id = record_id()
        if seen is not None:     # (a revisit's block is the HTTP head alone: the payload is the earlier one's)
            refers_date, refers_id = seen
            response = warc_record("revisit", response_id, rec.url, [
                *common, ("WARC-Profile", REVISIT_PROFILE), ("WARC-Refers-To-Target-URI", rec.url),
                ("WARC-Refers-To-Date", refers_date), *([("WARC-Refers-To", refers_id)] if refers_id else []),
                ("WARC-Payload-Digest", digest), *ours], "application/http; msgtype=response", http)
            self.revisits += 1
        else:
            response = warc_record("response", response_id, rec.url, [*common, ("WARC-Payload-Digest", digest), *ours],
                                   "application/http; msgtype=response", http + rec.body)
        offset = self.fh.tell()
        self.fh.write(gzip_member(response))
        if self.index:
            self.lines.append(cdxj_line(rec.url, date, "warc/revisit" if seen is not None else _mime(response_headers),
                                        rec.status, digest, self.fh.tell() - offset, offset, self.path.name))
        if seen is None:    # (a revisit's request is the one of the capture it refers to: not written again)
            request = warc_record("request", record_id(), rec.url,
                                  [*common, ("WARC-Concurrent-To", response_id), ("WARC-Payload-Digest", EMPTY_DIGEST)],
                                  "application/http; msgtype=request", request_head(rec))
            self.fh.write(gzip_member(request))
        self.fh.flush()
        if seen is None and self.digests is not None:
            self.digests.record_digest(rec.url, digest, date, response_id)
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
            lines, self.lines = self.lines, []
            if self.index:
                merge_index(self.folder, lines)


def request_head(rec: WarcRecord) -> bytes:
    """The request as sent: absolute-form through a proxy, origin-form to the server, Host present."""
    parts = urlsplit(rec.url)
    target = rec.url if rec.via_proxy else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = header_pairs(rec.request_headers)
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    return http_head(f"{rec.method or 'GET'} {target} HTTP/1.1", headers)


# -- the records, serialised -------------------------------------------------------------------
# Response, revisit and request records are serialised here rather than through warcio's writer, which
# costs ~0.4 ms more a post (it re-parses and re-orders its header objects and buffers each payload to
# digest it); tests hold what this writes equal to what warcio writes of the same capture, and
# warcio reads, checks and indexes every file. The warcinfo record is still warcio's.
EMPTY_DIGEST = "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"      # of no bytes (a request's payload)


def http_head(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP message's head as warcio stores it: ASCII, or else its non-ASCII values %-encoded
    (warcio's own rule, applied by warcio)."""
    headers = [(k, _UNSAFE_FIELD.sub(" ", v)) for k, v in headers]     # no line break makes a field
    text = first_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        protocol, _, rest = first_line.partition(" ")
        head = StatusAndHeaders(rest, list(headers), protocol=protocol)
        head.compute_headers_buffer()
        return bytes(head.headers_buff)


def record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


_UNSAFE_FIELD = re.compile(r"[\r\n]")


def warc_record(kind: str, rid: str, url: str, fields: list[tuple[str, str]], content_type: str, block: bytes) -> bytes:
    """One WARC/1.1 record: its named fields (no line breaks can get into one), the block's digest
    and length, the block."""
    head = [("WARC-Type", kind), ("WARC-Record-ID", rid), ("WARC-Target-URI", url), *fields,
            ("WARC-Block-Digest", payload_digest(block)), ("Content-Type", content_type),
            ("Content-Length", str(len(block)))]
    text = "WARC/1.1\r\n" + "".join(f"{k}: {_UNSAFE_FIELD.sub(' ', v)}\r\n" for k, v in head) + "\r\n"
    return text.encode("utf-8") + block + b"\r\n\r\n"


def gzip_member(data: bytes) -> bytes:
    """A record as its own gzip member, so that each can be read at its offset: made by ISA-L at its
    level 1 where python-isal is installed (a third of zlib's level-6 time, for ~5% more bytes), else
    by zlib at level 6. Either is plain gzip, which every reader reads."""
    compressor = _DEFLATE.compressobj(_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return compressor.compress(data) + compressor.flush()


_MIME_END = re.compile(r"[;\s]")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_surt: Any = None
_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?Z")    # warc_date's form


def target_uri(url: str) -> str:
    """The URL as a WARC field holds it: white space and control characters %-encoded (a reader
    would strip or re-encode them, and the index line must name what it reads)."""
    return _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url)


def _mime(headers: list[tuple[str, str]]) -> str | None:
    """The media type of a response as cdxj-indexer reads it from the stored head."""
    value = next((v for k, v in headers if k.lower() == "content-type"), None)
    if value is None:
        return None
    value = _UNSAFE_FIELD.sub(" ", value).strip()
    if not value.isascii():         # as the head stores it (warcio's %-encoding)
        head = StatusAndHeaders("", [("Content-Type", value)])
        head.percent_encode_non_ascii_headers()
        value = head.get_header("Content-Type") or ""
    return _MIME_END.split(value, 1)[0].strip() if value else value


# A URL of the plain form a mirror's own pages, listings and share texts have (ASCII host, path and
# query, no %-escape, no dot segment, nothing surt would take for a session id): its SURT made here, in
# ~2 µs instead of surt's ~13 to ~40 (it parses and re-encodes every URL); any other URL goes to surt.
# A test holds the two equal on every form this reads.
_PLAIN_URL = re.compile(r"(https?)://((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z][a-z0-9-]*[a-z0-9]|"
                        r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                        r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]))"
                        r"(?::([1-9][0-9]{0,4}))?(/[a-z0-9._~/-]*)?(?:\?([a-z0-9._~=&-]*))?")
_NOT_PLAIN = re.compile(r"sid|session|cfid|cftoken|//|/\.\.?(?:[/?]|$)")
_WWW = re.compile(r"www[0-9]*\.")
_DEFAULT_PORT = {"http": "80", "https": "443"}


def surt_key(url: str) -> str:
    """The SURT cdxj-indexer keys ``url`` with (surt's own, canonicalised as the Internet Archive's)."""
    low = url.lower()       # (of ASCII alone: "\u212a".lower() is "k")
    m = _PLAIN_URL.fullmatch(low) if url.isascii() else None
    if m is None or _NOT_PLAIN.search(low, len(m.group(1)) + 3) or int(m.group(3) or 0) > 65535:
        return _library_surt(url)
    scheme, host, port, path, query = m.groups()
    www = _WWW.match(host)
    if www and "." in host[www.end():]:
        host = host[www.end():]
    elif www:
        return _library_surt(url)
    key = ",".join(reversed(host.split(".")))
    if port and port != _DEFAULT_PORT[scheme]:
        key += ":" + port
    path = path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    key += ")" + path
    if query:
        args = sorted(tuple(arg.split("=", 1)) for arg in query.split("&"))
        key += "?" + "&".join("=".join(arg) for arg in args)
    return key


def _library_surt(url: str) -> str:
    global _surt
    if _surt is None:
        from surt import surt as _surt  # (its import takes ~0.1 s: only when a record is written)
    try:
        return _surt(url)
    except Exception:  # noqa: BLE001 - as cdxj-indexer: a URL surt cannot read is its own key
        return url


def cdxj_line(url: str, date: str, mime: str | None, status: str, digest: str, length: int, offset: int,
              filename: str) -> str:
    """The line cdxj-indexer writes for a response or revisit record (its default fields, in its
    order), made as the record is written — the file is not read again to index it. A test holds it
    equal to cdxj-indexer's own output."""
    key = surt_key(url)
    fields: dict[str, str] = {"url": url}
    if mime is not None:
        fields["mime"] = mime
    fields["status"] = status.split(" ", 1)[0]
    fields.update(digest=digest, length=str(length), offset=str(offset), filename=filename)
    m = _STAMP.fullmatch(date)
    stamp = "".join(m.groups()) if m else iso_date_to_timestamp(date)
    return f"{key} {stamp} {json.dumps(fields)}"


def merge_index(folder: Path, new_lines: list[str], keep: Callable[[str], bool] | None = None) -> None:
    """Merge CDXJ lines into ``folder/index.cdxj``, sorted (temp file, then ``os.replace``), one
    process at a time (several writers share a folder: ``--jobs``, Redis workers, a salvage);
    ``keep``: which of the lines there stay (all)."""
    import fcntl

    new = {line for line in new_lines if line.strip()}
    if not new and keep is None:
        return
    index = folder / INDEX_NAME
    fd = os.open(folder / ".index.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        lines = set(index.read_text("utf-8", errors="replace").splitlines()) if index.is_file() and not index.is_symlink() else set()
        if keep is not None:
            lines = {line for line in lines if keep(line)}
        tmp = index.with_name(f".{index.name}.{HOST}-{os.getpid()}.part")
        tmp.write_text("".join(f"{line}\n" for line in sorted(lines | new)), "utf-8")   # (none: an empty file)
        os.replace(tmp, index)
    finally:
        os.close(fd)


def update_index(folder: Path, new_files: list[Path]) -> None:
    """Index whole files (cdxj-indexer) into ``folder/index.cdxj``: the files salvaged from a killed
    run, whose lines were never made."""
    try:
        from cdxj_indexer import CDXJIndexer
    except ImportError:         # (an install without the indexer keeps its WARC files all the same)
        return
    out = io.StringIO()
    CDXJIndexer(out, [str(p) for p in new_files]).process_all()
    merge_index(folder, out.getvalue().splitlines())


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
        # the records that read whole (a truncated tail is expected after kill -9): warcio reads a cut
        # last gzip member as a short record, and that record would be kept
        records, _ = readable_records(stale)
        good_end = max((offset + length for offset, length in records.items()), default=0)
        saved += len(records)
        if good_end:
            with open(stale, "rb") as src, open(str(final) + ".salvage", "wb") as dst:
                dst.write(src.read(good_end))
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(str(final) + ".salvage", final)
            update_index(folder, [final])
        stale.unlink()
    return saved


def readable_records(path: Path) -> tuple[dict[int, int], str]:
    """``({offset: length} of the records that read whole, what stopped the reading or "")``: every
    gzip member of a capture file decompressed with its checksum checked (zlib; warcio reads past a
    bad checksum), each a WARC record whose block has the length its header gives. A file cut short or
    written over stops there."""
    records: dict[int, int] = {}
    start = fed = size = 0          # the member being read: where it starts, bytes given, bytes out
    head = b""
    d = zlib.decompressobj(zlib.MAX_WBITS + 16)
    with open(path, "rb") as fh:
        pending = b""
        while chunk := pending or fh.read(1 << 20):
            pending = b""
            try:
                out = d.decompress(chunk)
            except zlib.error as exc:
                return records, f"unreadable after byte {start} ({exc})"
            fed += len(chunk)
            if len(head) < 4096:
                head = (head + out)[:4096]
            size += len(out)
            if d.eof:
                used = fed - len(d.unused_data)
                problem = _record_problem(head, size)
                if problem:
                    return records, f"{problem} in the record at byte {start}"
                records[start] = used
                start += used
                pending, d = d.unused_data, zlib.decompressobj(zlib.MAX_WBITS + 16)
                fed = size = 0
                head = b""
    if fed:
        return records, f"cut short in the record at byte {start}"
    return records, ""


_CONTENT_LENGTH = re.compile(rb"\r\nContent-Length:[ \t]*([0-9]+)", re.I)


def _record_problem(head: bytes, size: int) -> str:
    """What is wrong with a decompressed record of ``size`` bytes that begins with ``head`` ("")."""
    end = head.find(b"\r\n\r\n")
    length = _CONTENT_LENGTH.search(head, 0, end) if end > 0 else None
    if not head.startswith(b"WARC/") or length is None:
        return "not a WARC record"
    if size != end + 4 + int(length.group(1)) + 4:
        return "a block of the wrong length"
    return ""


def index_entry(line: str) -> tuple[str, int, int] | None:
    """``(file, offset, length)`` of a line of ``index.cdxj``; None for a line that is not one."""
    try:
        fields = json.loads(line.split(" ", 2)[2])
        return str(fields["filename"]), int(fields["offset"]), int(fields["length"])
    except (IndexError, ValueError, KeyError, TypeError, AttributeError):
        return None


def index_entries(folder: Path) -> tuple[dict[str, dict[int, int]], int]:
    """``index.cdxj`` read back: ``({file: {offset: length}}, lines that are not index lines)``."""
    entries: dict[str, dict[int, int]] = {}
    bad = 0
    index = folder / INDEX_NAME
    if not index.is_file() or index.is_symlink():
        return entries, 0
    with open(index, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            entry = index_entry(line)
            if entry is None:
                bad += 1
            else:
                entries.setdefault(entry[0], {})[entry[1]] = entry[2]
    return entries, bad


def response_digests(paths: Iterable[Path]) -> Iterator[tuple[str, str, str, str]]:
    """``(url, payload digest, WARC-Date, record id)`` of every response record of ``paths``, in the
    files' order: what revisit records may refer to (the catalog's ``warc_digests`` made anew)."""
    for path in paths:
        try:
            with open(path, "rb") as fh:
                for rec in ArchiveIterator(fh):
                    if rec.rec_type != "response":
                        continue
                    h = rec.rec_headers
                    url, digest = h.get_header("WARC-Target-URI"), h.get_header("WARC-Payload-Digest")
                    date, rid = h.get_header("WARC-Date"), h.get_header("WARC-Record-ID")
                    if url and digest and date and rid:
                        yield url, digest, date, rid
        except Exception:  # noqa: BLE001 - a damaged file's later records are not there to refer to
            continue


def warc_files(folder: str | Path) -> list[Path]:
    """The finished capture files of a folder (links are not followed: they are not ours)."""
    return sorted(p for p in Path(folder).glob("*.warc.gz") if not p.is_symlink())


def holds_captures(folder: Path) -> bool:
    """Whether a WARC folder holds any capture file: finished, or open (a writer — this run's other
    ``--jobs``, a Redis worker — or one a killed run left to salvage)."""
    return folder.is_dir() and bool(warc_files(folder) or any(folder.glob(f"*.warc.gz{OPEN_SUFFIX}")))


class BadRecord(ValueError):
    """A record that cannot be replayed; the message says which and why, in one line."""


MAX_RECORD = 16 * 1024 * 1024     # as DOWNLOAD_MAXSIZE: no capture was ever larger


def _capture(record, max_bytes: int, body: bytes | None = None) -> Capture | None:
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
    if body is None:                # the payload as the server sent it, decoded (gzip, deflate, br)
        body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        raise BadRecord(f"{url[:80]}: payload over {max_bytes} bytes")
    return Capture(url=url, role=role, key=h.get_header(H_KEY) or "", site=h.get_header(H_SITE) or "",
                   post_url=h.get_header(H_POST) or "", origin=h.get_header(H_ORIGIN) or "", date=date,
                   status=status, content_type=record.http_headers.get_header("Content-Type") or "", body=body)


def _payload_at(path: Path, offset: int, max_bytes: int) -> bytes:
    """The decoded payload of the record at ``offset`` of ``path`` (a revisit's original)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        for record in ArchiveIterator(fh):
            return record.content_stream().read(max_bytes + 1)
    return b""


def iter_captures(paths, max_bytes: int = MAX_RECORD, problems: list[str] | None = None) -> Iterator[Capture]:
    """Response records with newsarchive's fields, in file order then record order; a revisit record
    gives the payload of the capture it refers to (earlier in the same files). A record that cannot
    be read (no date, a bad status line, a non-http target, a payload past ``max_bytes``, a revisit
    of nothing here) is skipped, and so is the rest of a file that is not WARC past some point; each
    is one line in ``problems``. Nothing is ever inflated past ``max_bytes``."""
    originals: dict[tuple[str, str], tuple[Path, int]] = {}

    def problem(line: str) -> None:
        if problems is not None:
            problems.append(line)

    for path in paths:
        try:
            with open(path, "rb") as fh:
                it = ArchiveIterator(fh)
                for record in it:
                    if record.rec_type not in ("response", "revisit"):
                        continue
                    h = record.rec_headers
                    url, digest = h.get_header("WARC-Target-URI") or "", h.get_header("WARC-Payload-Digest") or ""
                    try:
                        if record.rec_type == "response":
                            cap = _capture(record, max_bytes)       # (read first: the offset reads to the end)
                            originals[(url, digest)] = (Path(path), it.get_record_offset())
                        else:
                            source = originals.get((h.get_header("WARC-Refers-To-Target-URI") or url, digest))
                            if source is None:
                                raise BadRecord(f"{url[:80]}: a revisit of a capture that is not in these files")
                            cap = _capture(record, max_bytes, _payload_at(*source, max_bytes))
                    except BadRecord as exc:
                        problem(f"{Path(path).name}: skipped a record: {exc}")
                        continue
                    if cap is not None:
                        yield cap
        except Exception as exc:  # noqa: BLE001 - warcio raises many kinds on a file that is not WARC
            shown = "".join(c if c.isascii() and c.isprintable() else "?" for c in str(exc)[:120])   # (its bytes)
            problem(f"{Path(path).name}: unreadable from some point on ({type(exc).__name__}: "
                    f"{shown}); the records before it were read")
