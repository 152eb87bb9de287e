"""WARC captures to archival standard: WARC/1.1 records of the responses as they came off the wire (a
gzip answer stays gzip, its digest the raw bytes'), requests as sent, warcinfo, revisit records for
what was captured before, a CDXJ index, a WACZ export — and rebuild still byte-identical."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from newsarchive.core.dates import BEIJING
from newsarchive.demo.mirrorgen import build_site, synthetic_posts
from newsarchive.demo.mockserver import MockServer
from newsarchive.store.warc import payload_digest, warc_files

from helpers import run_cli

pytestmark = pytest.mark.e2e
START = dt.datetime(2026, 9, 1, 8, 0, tzinfo=BEIJING)


def _records(folder: Path):
    """``(file, record, its whole block: HTTP head and payload as stored)``."""
    for path in warc_files(folder):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                yield path, record, _block(path, record)


def _block(path: Path, record) -> bytes:
    head = record.http_headers.to_bytes() if record.http_headers else b""
    return head + record.raw_stream.read()


def _posts(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (out / "_posts").glob("*.md")}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Pages of the real mirror's sizes (10–30 KB), crawled, then --refresh of the unchanged mirror."""
    posts = synthetic_posts(30, seed=28, media=["南方日报"], start=START, paragraphs=(8, 16), sentences=(4, 7))
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    out = tmp_path_factory.mktemp("archive") / "a"
    with MockServer(folder) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
        first = {p.name: p.stat().st_size for p in warc_files(out / "warc")}
        assert run_cli("crawl", "--site", server.url, "--output", out, "--refresh", server=server).returncode == 0
    second = {p.name: p.stat().st_size for p in warc_files(out / "warc") if p.name not in first}
    return {"out": out, "first": first, "second": second}


@pytest.fixture(scope="module")
def gzipped(tmp_path_factory):
    """A mirror that answers gzip (as nginx's gzip on does), crawled twice: then --refresh, unchanged."""
    posts = synthetic_posts(30, seed=27, media=["南方日报", "上海证券报"], start=START)
    folder = build_site(posts, tmp_path_factory.mktemp("mirror"))
    out = tmp_path_factory.mktemp("archive") / "a"
    with MockServer(folder, gzip=True) as server:
        assert run_cli("crawl", "--site", server.url, "--output", out, server=server).returncode == 0
        first = {p.name: p.stat().st_size for p in warc_files(out / "warc")}
        snapshot = out.parent / "after-first"
        shutil.copytree(out, snapshot)
        refresh = run_cli("crawl", "--site", server.url, "--output", out, "--refresh", server=server)
        assert refresh.returncode == 0, refresh.stderr
    second = {p.name: p.stat().st_size for p in warc_files(out / "warc") if p.name not in first}
    return {"out": out, "first": first, "second": second, "snapshot": snapshot, "posts": posts}


def test_records_are_warc_1_1_with_warcinfo_ip_and_microseconds(gzipped):
    seen = set()
    for _, record, _ in _records(gzipped["out"] / "warc"):
        h = record.rec_headers
        assert h.protocol == "WARC/1.1"
        seen.add(h.get_header("WARC-Type"))
        if h.get_header("WARC-Type") == "warcinfo":
            continue
        assert h.get_header("WARC-Warcinfo-ID", "").startswith("<urn:uuid:")
        assert len(h.get_header("WARC-Date")) == len("2026-12-01T10:00:00.123456Z")
        assert h.get_header("WARC-IP-Address") == "127.0.0.1"
    assert seen == {"warcinfo", "response", "request", "revisit"}
    text = next(raw for _, r, raw in _records(gzipped["out"] / "warc") if r.rec_type == "warcinfo").decode()
    assert "software: newsarchive/" in text and "software-scrapy: Scrapy/" in text and "robots: obey" in text


def test_a_gzip_answer_is_stored_as_it_was_sent(gzipped):
    checked = 0
    for _, record, raw in _records(gzipped["out"] / "warc"):
        if record.rec_type != "response":
            continue
        http = record.http_headers
        assert http.get_header("Content-Encoding") == "gzip"
        payload = raw[raw.index(b"\r\n\r\n") + 4:]
        assert payload[:2] == b"\x1f\x8b" and int(http.get_header("Content-Length")) == len(payload)
        assert record.rec_headers.get_header("WARC-Payload-Digest") == payload_digest(payload)
        assert gzip.decompress(payload)                                # it inflates: the real bytes
        checked += 1
    assert checked >= 60


def test_the_request_record_is_the_request_as_sent(gzipped):
    for _, record, raw in _records(gzipped["out"] / "warc"):
        if record.rec_type != "request":
            continue
        line = raw.split(b"\r\n", 1)[0].decode()
        url = record.rec_headers.get_header("WARC-Target-URI")
        parts = urlsplit(url)
        through_proxy = "zning.xyz" in url                            # the share host, through the proxy
        origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        assert line == f"GET {url if through_proxy else origin_form} HTTP/1.1"
        assert record.http_headers.get_header("Host") == url.split("/")[2]
        assert "gzip" in (record.http_headers.get_header("Accept-Encoding") or "")


def test_warcio_check_passes_on_every_file(gzipped):
    files = [str(p) for p in warc_files(gzipped["out"] / "warc")]
    result = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_refresh_of_an_unchanged_mirror_writes_revisits(plain, gzipped):
    first, second = sum(plain["first"].values()), sum(plain["second"].values())
    assert 0 < second <= 0.25 * first, (first, second)
    revisits = [r for path, r, _ in _records(gzipped["out"] / "warc") if path.name in gzipped["second"]
                and r.rec_type == "revisit"]
    responses = [r for path, r, _ in _records(gzipped["out"] / "warc") if path.name in gzipped["second"]
                 and r.rec_type == "response"]
    assert revisits and not responses
    for r in revisits:
        h = r.rec_headers
        assert h.get_header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        assert h.get_header("WARC-Refers-To-Target-URI") == h.get_header("WARC-Target-URI")
        assert h.get_header("WARC-Refers-To-Date") and h.get_header("WARC-Refers-To", "").startswith("<urn:uuid:")


def test_rebuild_follows_the_revisits_byte_for_byte(gzipped, tmp_path):
    out = tmp_path / "rebuilt"
    result = run_cli("rebuild", "--source", gzipped["out"], "--output", out)
    assert result.returncode == 0, result.stderr
    assert _posts(out) == _posts(gzipped["out"]) and len(_posts(out)) == 30
    only_second = tmp_path / "warc-second"
    only_second.mkdir()
    for name in gzipped["second"]:               # revisits without their originals: said, not crashed
        shutil.copy(gzipped["out"] / "warc" / name, only_second)
    lonely = run_cli("rebuild", "--warc", only_second, "--output", tmp_path / "lonely")
    assert lonely.returncode == 1 and "revisit of a capture that is not in these files" in lonely.stderr


def test_the_cdxj_index_lists_every_capture_sorted(gzipped):
    index = (gzipped["out"] / "warc" / "index.cdxj").read_text("utf-8").splitlines()
    assert index == sorted(index)
    captures = sum(1 for _, r, _ in _records(gzipped["out"] / "warc") if r.rec_type in ("response", "revisit"))
    assert len([line for line in index if '"mime": "warc/revisit"' in line or '"status": "200"' in line]) == captures


def test_the_cdxj_index_made_while_writing_is_what_cdxj_indexer_reads_from_the_files(gzipped):
    import io

    from cdxj_indexer import CDXJIndexer

    out = io.StringIO()
    CDXJIndexer(out, [str(p) for p in sorted((gzipped["out"] / "warc").glob("*.warc.gz"))]).process_all()
    read = sorted(line for line in out.getvalue().splitlines() if line.strip())
    assert (gzipped["out"] / "warc" / "index.cdxj").read_text("utf-8").splitlines() == read


def test_a_file_left_open_by_a_killed_run_is_salvaged_and_indexed(gzipped, tmp_path):
    from newsarchive.store.files import HOST
    from newsarchive.store.warc import OPEN_SUFFIX, salvage

    source = max(warc_files(gzipped["out"] / "warc"), key=lambda p: p.stat().st_size)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / "warc"
    folder.mkdir()
    stale = folder / f"newsarchive-20260901000000000000-{HOST}-{gone.stdout.strip()}-00001.warc.gz{OPEN_SUFFIX}"
    data = source.read_bytes()
    stale.write_bytes(data[: len(data) - 200])        # killed in the middle of its last record
    captures = sum(1 for path, r, _ in _records(source.parent) if path == source and r.rec_type in ("response", "revisit"))
    assert salvage(folder) > 0 and not list(folder.glob(f"*{OPEN_SUFFIX}"))
    index = (folder / "index.cdxj").read_text("utf-8").splitlines()
    assert captures - 1 <= len(index) <= captures           # every whole capture, the cut one not
    assert all(f'"filename": "{stale.name[: -len(OPEN_SUFFIX)]}"' in line for line in index)
    from newsarchive.store.warc import readable_records

    for cut in (len(data) - 200, len(data) * 2 // 3, len(data) // 3 + 7):     # the cut record is never kept
        for old in folder.iterdir():
            old.unlink()
        stale.write_bytes(data[:cut])
        assert salvage(folder) > 0
        assert readable_records(folder / stale.name[: -len(OPEN_SUFFIX)])[1] == "", cut


def test_verify_knows_revisits_and_the_digest_index_survives_a_repair(gzipped, tmp_path):
    out = tmp_path / "a"
    shutil.copytree(gzipped["out"], out)
    assert run_cli("verify", "--output", out).returncode == 0
    (out / "archive.sqlite3").write_bytes(b"")
    for extra in ("archive.sqlite3-wal", "archive.sqlite3-shm"):
        (out / extra).unlink(missing_ok=True)
    assert run_cli("verify", "--repair", "--output", out).returncode == 0
    import sqlite3

    digests = sqlite3.connect(out / "archive.sqlite3").execute("SELECT COUNT(*) FROM warc_digests").fetchone()[0]
    assert digests >= 60                                              # re-made from the captures


def test_verify_finds_capture_files_the_index_lacks_and_repair_indexes_them(gzipped, tmp_path):
    out = tmp_path / "a"
    shutil.copytree(gzipped["out"], out)
    index = out / "warc" / "index.cdxj"
    whole = index.read_text("utf-8")
    first = sorted(gzipped["first"])[0]
    index.write_text("".join(line + "\n" for line in whole.splitlines() if first not in line), "utf-8")
    found = run_cli("verify", "--output", out)
    assert found.returncode == 1 and "unindexed_warc" in found.stdout and first in found.stdout, found.stdout
    assert run_cli("verify", "--repair", "--output", out).returncode == 0
    assert index.read_text("utf-8") == whole and run_cli("verify", "--output", out).returncode == 0


@pytest.mark.parametrize("damage", ["cut in half", "written over in the middle", "random bytes"])
def test_verify_reads_every_capture_and_names_a_damaged_file(gzipped, tmp_path, damage):
    out = tmp_path / "a"
    shutil.copytree(gzipped["out"], out)
    target = sorted((out / "warc").glob("*.warc.gz"))[0]
    data = target.read_bytes()
    if damage == "random bytes":
        target = target.with_name("newsarchive-20990101000000000000-vm-1-00001.warc.gz")
        target.write_bytes(os.urandom(5000))
    elif damage == "cut in half":
        target.write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        target.write_bytes(data[:middle] + b"x" * 500 + data[middle + 500:])
    (out / "warc" / "index.cdxj").open("a").write("not an index line\n")
    found = run_cli("verify", "--output", out)
    assert found.returncode == 1 and f"damaged_warc    {target}" in found.stdout and "bad_index" in found.stdout, found.stdout
    repaired = run_cli("verify", "--repair", "--output", out)
    assert repaired.returncode == 1 and "Traceback" not in repaired.stderr, repaired.stdout + repaired.stderr
    assert "not repaired: damaged_warc" in repaired.stderr and target.exists()      # kept: never deleted
    after = run_cli("verify", "--output", out)
    assert "bad_index" not in after.stdout and "damaged_warc" in after.stdout      # the index names what reads
    rebuilt = run_cli("rebuild", "--warc", out / "warc", "--output", tmp_path / "r")
    assert rebuilt.returncode == 1 and target.name in rebuilt.stderr, rebuilt.stderr    # not a clean rebuild
    assert all(c.isprintable() for c in rebuilt.stderr.replace("\n", ""))


def test_wacz_export_validates(gzipped, tmp_path):
    if shutil.which("wacz", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("py-wacz is not installed (pip install wacz): the WACZ export was not checked")
    target = tmp_path / "archive.wacz"
    result = run_cli("export", "--output", gzipped["out"], "--format", "wacz", "--to", target)
    assert result.returncode == 0, result.stderr
    check = subprocess.run([str(Path(sys.executable).with_name("wacz")), "validate", "-f", str(target)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    filtered = run_cli("export", "--output", gzipped["out"], "--format", "wacz", "--to", tmp_path / "one.wacz",
                       "--category", gzipped["posts"][0].category)
    assert filtered.returncode == 0 and (tmp_path / "one.wacz").stat().st_size < target.stat().st_size


def _parsed(path: Path) -> list[tuple]:
    """Each record as a reader sees it: type, its fields but the ids, its HTTP head, its payload."""
    out = []
    with open(path, "rb") as fh:
        for r in ArchiveIterator(fh):
            if r.rec_type == "warcinfo":
                continue
            ids = ("WARC-Record-ID", "WARC-Concurrent-To", "WARC-Warcinfo-ID", "WARC-Refers-To")
            fields = sorted((k, v) for k, v in r.rec_headers.headers if k not in ids)
            out.append((r.rec_type, fields, r.http_headers.to_str() if r.http_headers else "", r.content_stream().read()))
    return out


def test_the_records_are_what_warcio_writes_of_the_same_capture(tmp_path):
    """The response, revisit and request records are serialised by newsarchive (warcio's writer costs
    ~0.4 ms more a post); a reader finds in them exactly what warcio's own writer puts there."""
    import io

    from warcio.statusandheaders import StatusAndHeaders

    from newsarchive.store.warc import REVISIT_PROFILE, WarcArchive, WarcRecord, Writer, header_pairs

    class Seen:
        def __init__(self):
            self.known = {}

        def digest_seen(self, url, digest):
            return self.known.get((url, digest))

        def record_digest(self, url, digest, date, record_id):
            self.known[(url, digest)] = (date, record_id)

    body = gzip.compress("<html><p>国债收益率</p></html>".encode())
    rec = WarcRecord("http://127.0.0.1:8/a/2026/09/01/1.html?x=1", [(b"Accept", [b"*/*"]), (b"Host", [b"127.0.0.1:8"])],
                     "200 OK", [(b"Content-Type", [b"text/html; charset=utf-8"]), (b"Content-Encoding", [b"gzip"]),
                                (b"Content-Length", [str(len(body)).encode()]), (b"X-Name", ["caf\xe9".encode("latin-1")])],
                     body, "post", key="NW202609010001", site="http://127.0.0.1:8/", ip="127.0.0.1",
                     date="2026-09-01T00:00:00.123456Z")
    archive = WarcArchive(tmp_path / "ours", digests=Seen(), index=False)
    archive.write_record(rec)
    archive.write_record(rec)           # the same payload again: a revisit
    archive.close()

    with open(tmp_path / "warcio.warc.gz", "wb") as fh:
        writer = Writer(fh, gzip=True, warc_version="WARC/1.1")
        http = StatusAndHeaders("200 OK", header_pairs(rec.response_headers), protocol="HTTP/1.1")
        fields = {**{k: v for k, v in rec.fields().items() if v}, "WARC-Date": rec.date, "WARC-Warcinfo-ID": "x",
                  "WARC-IP-Address": rec.ip}
        response = writer.create_warc_record(rec.url, "response", payload=io.BytesIO(body), http_headers=http,
                                             warc_headers_dict=dict(fields))
        writer.write_record(response)
        request = writer.create_warc_record(rec.url, "request", payload=io.BytesIO(b""), http_headers=StatusAndHeaders(
            "GET /a/2026/09/01/1.html?x=1 HTTP/1.1", header_pairs(rec.request_headers), is_http_request=True),
            warc_headers_dict={"WARC-Date": rec.date, "WARC-Warcinfo-ID": "x", "WARC-IP-Address": rec.ip})
        writer.write_record(request)
        http = StatusAndHeaders("200 OK", header_pairs(rec.response_headers), protocol="HTTP/1.1")
        revisit = writer.create_revisit_record(rec.url, payload_digest(body), rec.url, rec.date, http_headers=http,
                                               warc_headers_dict=dict(fields))
        revisit.rec_headers.replace_header("WARC-Profile", REVISIT_PROFILE)
        writer.write_record(revisit)
    ours = _parsed(next((tmp_path / "ours").glob("*.warc.gz")))
    assert [r[0] for r in ours] == ["response", "request", "revisit"]
    assert ours == _parsed(tmp_path / "warcio.warc.gz")
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check",
                            *map(str, (tmp_path / "ours").glob("*.warc.gz"))], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr



@pytest.mark.parametrize("url, content_type", [
    ("http://127.0.0.1:8/a b.html ", " text/html ; charset=utf-8"),
    ("http://127.0.0.1:8/x\r\nX-Injected: 1", "t\u00ebxt/html"),
    ("http://127.0.0.1:8/ok.html", None),
])
def test_odd_urls_and_headers_index_as_cdxj_indexer_reads_them(tmp_path, url, content_type):
    import io

    from cdxj_indexer import CDXJIndexer

    from newsarchive.store.warc import WarcArchive, WarcRecord

    headers = [(b"Content-Length", [b"4"])] + ([(b"Content-Type", [content_type.encode("utf-8")])] if content_type else [])
    archive = WarcArchive(tmp_path, index=True)
    archive.write_record(WarcRecord(url, [], "200 OK", headers, b"body", "post", date="2026-09-01T00:00:00.000001Z"))
    archive.close()
    out = io.StringIO()
    CDXJIndexer(out, [str(p) for p in tmp_path.glob("*.warc.gz")]).process_all()
    assert (tmp_path / "index.cdxj").read_text("utf-8").splitlines() == [line for line in out.getvalue().splitlines() if line]
    with open(next(tmp_path.glob("*.warc.gz")), "rb") as fh:
        records = list(ArchiveIterator(fh))
    assert not any(r.http_headers and r.http_headers.get_header("X-Injected") for r in records)
    assert all("\n" not in (r.rec_headers.get_header("WARC-Target-URI") or "") for r in records)


@pytest.mark.parametrize("removed", ["one file", "the folder"])
def test_removed_capture_files_are_named_and_no_revisit_refers_to_them(gzipped, tmp_path, removed):
    """WARC files removed: verify names them (it said "whole"), repair takes what names their captures
    out of the index and the revisit digests, and a later --refresh writes whole records — not revisits
    of records no file holds, after which rebuild recovered no post."""
    out = tmp_path / "a"
    shutil.copytree(gzipped["snapshot"], out)
    files = warc_files(out / "warc")
    if removed == "one file":
        files[0].unlink()
    else:
        shutil.rmtree(out / "warc")
    found = run_cli("verify", "--output", out)
    assert found.returncode == 1 and "missing_warc" in found.stdout, found.stdout
    if removed == "one file":
        fixed = run_cli("verify", "--repair", "--output", out)
        assert fixed.returncode == 1 and "restore it from a backup" in fixed.stdout + fixed.stderr, fixed.stdout
        assert run_cli("verify", "--output", out).returncode == 0
        assert files[0].name not in (out / "warc" / "index.cdxj").read_text("utf-8")
    folder = build_site(gzipped["posts"], tmp_path / "mirror")
    with MockServer(folder, gzip=True) as server:
        refresh = run_cli("crawl", "--site", server.url, "--output", out, "--refresh", server=server)
    assert refresh.returncode == 0, refresh.stderr
    rebuilt = tmp_path / "rebuilt"
    result = run_cli("rebuild", "--warc", out / "warc", "--output", rebuilt)
    assert result.returncode == 0, result.stderr
    assert _posts(rebuilt) == _posts(out) and len(_posts(rebuilt)) == 30
