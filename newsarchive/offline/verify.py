"""``newsarchive verify [--repair]``: the catalog, the post files and the WARC captures checked against
each other, and put right from what the archive itself still holds.

Checks: the catalog's integrity (SQLite ``quick_check``); every catalogued post has its file, with the
sha256 the catalog recorded and a front matter that parses; every post file has its row; no
unfinished WARC file of a writer that is gone.

Repairs (``--repair``): a damaged or lost catalog is moved aside (never deleted) and re-created from
``_posts/`` and ``old_post/`` — fields from each post's front matter, history (first/last seen, the
page and share URLs) from the WARC captures where they have it; missing, changed or unparsable posts
are restored from the captures through the one path (``Archivist.ingest`` at the capture's time,
so byte for byte as the crawl wrote them; a changed file's text is kept as a revision); files
without a row are catalogued; unfinished WARC files are salvaged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsarchive.core.dates import BEIJING, format_date, parse_date
from newsarchive.core.infocode import CODE_RE
from newsarchive.core.post import PostFormatError, split_front_matter
from newsarchive.store.catalog import Catalog, catalog_problem
from newsarchive.store.files import OLD_POSTS_DIR, POSTS_DIR, read_own, sha256_text
from newsarchive.store.warc import (
    INDEX_NAME,
    OPEN_SUFFIX,
    WARC_DIR,
    holds_captures,
    index_entries,
    index_entry,
    iter_captures,
    merge_index,
    readable_records,
    response_digests,
    salvage,
    update_index,
    warc_files,
)

_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-([A-Z]{2}\d{18})\.md$")


@dataclass
class Finding:
    kind: str           # catalog, missing, changed, unparsable, extra, unfinished_warc, unindexed_warc,
    #                     damaged_warc, missing_warc, bad_index, outdated_search_index
    path: str
    detail: str = ""
    info_code: str = ""

    def __str__(self) -> str:
        return f"{self.kind:<15} {self.path}" + (f"  ({self.detail})" if self.detail else "")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepaired: list[Finding] = field(default_factory=list)
    moved_aside: str = ""


def _post_files(folder: Path) -> Iterator[tuple[str, Path]]:
    for location in (POSTS_DIR, OLD_POSTS_DIR):
        d = folder / location
        if d.is_dir() and not d.is_symlink():
            for p in sorted(d.glob("*.md")):
                yield location, p


def verify(folder: str | Path, holding: bool = False) -> list[Finding]:
    """What is wrong with the archive in ``folder`` (``holding``: the caller holds its lock — no crawl
    writes meanwhile)."""
    folder = Path(folder)
    findings: list[Finding] = []
    problem = catalog_problem(folder)
    rows: dict[tuple[str, str], dict] = {}
    digests = 0         # the captures the catalog names for revisits to refer to
    if problem:
        findings.append(Finding("catalog", str(folder / Catalog.FILENAME), problem))
    elif (folder / Catalog.FILENAME).exists():
        catalog = Catalog(folder, readonly=True)
        try:
            rows = {(r["location"], r["path"]): r for r in catalog.iter_posts()}
            digests = catalog.digest_count()
            if catalog.index_outdated():
                findings.append(Finding("outdated_search_index", str(folder / Catalog.FILENAME),
                                        "the search index holds an earlier version's tokens (its queries miss posts)"))
        finally:
            catalog.close()
    for (location, name), row in rows.items():
        path = folder / location / name
        text = read_own(path)
        if text is None:
            findings.append(Finding("missing", str(path), "catalogued, no file", row["info_code"]))
            continue
        if sha256_text(text) != row["sha256"]:
            findings.append(Finding("changed", str(path), "not the text the catalog recorded", row["info_code"]))
            continue
        try:
            split_front_matter(text)
        except PostFormatError as exc:
            findings.append(Finding("unparsable", str(path), str(exc), row["info_code"]))
    if not problem:
        # a crawl writing now holds its batch's files a moment before their rows: a file that young is
        # its, not an extra one (verify takes no lock: a long-lived `schedule` holds it between runs)
        from newsarchive.store.lock import LOCK_NAME, WRITE_LOCK_NAME, ArchiveLock

        busy = not holding and any(ArchiveLock(folder, name=n).busy() for n in (LOCK_NAME, WRITE_LOCK_NAME))
        young = time.time() - 60
        for location, path in _post_files(folder):
            if busy and _mtime(path) > young:
                continue
            if (location, path.name) not in rows:
                m = _NAME.match(path.name)
                findings.append(Finding("extra", str(path), "a post file the catalog does not know",
                                        m.group(2) if m else ""))
    warc_dir = folder / WARC_DIR
    if warc_dir.is_dir():
        from newsarchive.store.warc import _writer_alive

        for stale in sorted(warc_dir.glob(f"*.warc.gz{OPEN_SUFFIX}")):
            if not _writer_alive(stale.name):
                findings.append(Finding("unfinished_warc", str(stale), "left by a writer that stopped"))
        indexed, bad_lines = index_entries(warc_dir)
        wrong = bad_lines
        for path in warc_files(warc_dir):
            # every record read whole (decompressed to its end): a file cut short or written over
            records, damage = readable_records(path)
            lines = indexed.get(path.name, {})
            if damage:
                lost = sum(1 for offset in lines if offset not in records)
                findings.append(Finding("damaged_warc", str(path), f"{damage}; {len(records)} record(s) read, "
                                        f"{lost} indexed capture(s) lost"))
            elif path.name not in indexed:
                findings.append(Finding("unindexed_warc", str(path), f"not in {WARC_DIR}/{INDEX_NAME}"))
            wrong += sum(1 for offset, length in lines.items() if records.get(offset) != length)
        present = {p.name for p in warc_files(warc_dir)}
        for name, lines in sorted(indexed.items()):
            if name not in present:
                findings.append(Finding("missing_warc", str(warc_dir / name),
                                        f"indexed, no file: {len(lines)} capture(s) lost"))
        if wrong:
            findings.append(Finding("bad_index", str(warc_dir / INDEX_NAME),
                                    f"{wrong} line(s) that name no readable record"))
    if digests and not any(f.kind == "missing_warc" for f in findings) and not holds_captures(warc_dir):
        # (the whole folder gone, index and all: the catalog still names its captures)
        findings.append(Finding("missing_warc", str(warc_dir),
                                f"no WARC file, and the catalog names {digests} capture(s) for revisits to refer to"))
    return findings


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _history(folder: Path) -> dict[str, dict]:
    """What the captures say of each infoCode: first and last capture, page and share URLs."""
    out: dict[str, dict] = {}
    warc_dir = folder / WARC_DIR
    if not warc_dir.is_dir():
        return out
    for cap in iter_captures(warc_files(warc_dir)):
        if not cap.key or cap.role not in ("post", "share", "share_direct"):
            continue
        h = out.setdefault(cap.key, {"first": cap.date, "last": cap.date, "source_url": "", "share": False})
        h["first"], h["last"] = min(h["first"], cap.date), max(h["last"], cap.date)
        if cap.role == "post":
            h["source_url"] = cap.url
        else:
            h["share"] = True
    return out


def _digests(folder: Path, catalog: Catalog) -> int:
    """The payload digests of the captures there are, made anew (revisit records refer to them)."""
    warc_dir = folder / WARC_DIR
    return catalog.reset_digests(response_digests(warc_files(warc_dir) if warc_dir.is_dir() else []))


def _row_from_file(location: str, path: Path, text: str, history: dict) -> dict | None:
    m = _NAME.match(path.name)
    if not m or not CODE_RE.fullmatch(m.group(2)):
        return None
    try:
        meta, body = split_front_matter(text)
    except PostFormatError:
        return None             # not a post: not catalogued (verify goes on naming it)
    code = m.group(2)
    date = meta.get("date")
    when = parse_date(str(date)) if date is not None else None
    tags = meta.get("tags") or ""
    share = re.search(r"^<(https?://[^>\s]+/html_News/NewsShare\.html\?infoCode=[^>\s]+)>$", body, re.M)
    h = history.get(code, {})
    seen = lambda key: (h[key].astimezone(BEIJING).isoformat(timespec="seconds") if key in h
                        else dt.datetime.fromtimestamp(path.stat().st_mtime, BEIJING).isoformat(timespec="seconds"))
    return {"info_code": code, "path": path.name, "sha256": sha256_text(text), "title": str(meta.get("title") or ""),
            "date": format_date(when) if when else f"{m.group(1)} 00:00:00 +0800",
            "category": str(meta.get("categories") or ""), "tags": " ".join(tags) if isinstance(tags, list) else str(tags),
            "source_url": h.get("source_url", ""), "share_url": share.group(1) if share else "",
            "body_source": ("share" if h.get("share") else "mirror") if h else "", "first_seen": seen("first"),
            "last_seen": seen("last"), "revisions": 0, "location": location}


def _insert(catalog: Catalog, row: dict) -> None:
    from newsarchive.store.catalog import POST_FIELDS

    catalog.conn.execute(f"INSERT OR REPLACE INTO posts ({', '.join(POST_FIELDS)}) "
                         f"VALUES ({', '.join('?' * len(POST_FIELDS))})", tuple(row[f] for f in POST_FIELDS))


def repair(folder: str | Path, findings: list[Finding]) -> Report:
    """Put right what ``verify`` found; returns what was done and what could not be."""
    folder = Path(folder)
    report = Report(findings=list(findings))
    history: dict[str, dict] | None = None
    recreated = any(f.kind == "catalog" for f in findings)
    if recreated:
        stamp = dt.datetime.now(BEIJING).strftime("%Y%m%d-%H%M%S")
        path = folder / Catalog.FILENAME
        if path.exists():
            aside = path.with_name(f"{path.name}.damaged-{stamp}")
            os.replace(path, aside)
            for suffix in ("-wal", "-shm", "-journal"):
                extra = path.with_name(path.name + suffix)
                if extra.exists():
                    os.replace(extra, aside.with_name(aside.name + suffix))
            report.moved_aside = str(aside)
            report.repaired.append(f"moved the damaged catalog aside to {aside.name}")
        history = _history(folder)
        catalog = Catalog(folder)
        try:
            digests = _digests(folder, catalog)
            n = 0
            for location, p in _post_files(folder):
                text = read_own(p)
                row = _row_from_file(location, p, text, history) if text is not None else None
                if row:
                    _insert(catalog, row)
                    n += 1
            catalog.conn.commit()
        finally:
            catalog.close()
        report.repaired.append(f"re-created the catalog from {n} post files" +
                               (f" and the history of {len(history)} captured posts" if history else "") +
                               (f", and the digests of {digests} captures (revisits)" if digests else ""))
        # the new catalog is the files as they are: what else is wrong is found against it, and a
        # captured post that has no file any more is missing
        findings = [f for f in verify(folder, holding=True) if f.kind != "catalog"]
        catalog = Catalog(folder, readonly=True)
        try:
            known = catalog.known_codes()
        finally:
            catalog.close()
        findings += [Finding("missing", code, "captured, no file", code) for code in sorted(set(history) - known)]
        report.findings += findings
    restore = {f.info_code: f for f in findings if f.kind in ("missing", "changed", "unparsable") and f.info_code}
    if restore:
        restored = _restore_from_captures(folder, set(restore))
        for code, f in restore.items():
            if code in restored:
                report.repaired.append(f"restored {f.path} from the WARC captures ({restored[code]})")
            else:
                report.unrepaired.append(Finding(f.kind, f.path, "no capture of it to restore from", code))
    extras = [f for f in findings if f.kind == "extra"]
    if extras:
        history = history if history is not None else _history(folder)
        catalog = Catalog(folder)
        try:
            for f in extras:
                p = Path(f.path)
                text = read_own(p)
                row = _row_from_file(p.parent.name, p, text, history) if text is not None else None
                if row and not catalog.get(row["info_code"]):
                    _insert(catalog, row)
                    report.repaired.append(f"catalogued {p}")
                else:
                    report.unrepaired.append(Finding("extra", f.path, "not a post file of this archive (left as it is)"))
            catalog.conn.commit()
        finally:
            catalog.close()
    from newsarchive.offline.search import outdated, reindex

    earlier = any(f.kind == "outdated_search_index" for f in findings)
    if recreated or any(r.startswith("catalogued ") for r in report.repaired) or (earlier and outdated(folder)):
        posts, _ = reindex(folder)          # the new rows' posts searchable again
        report.repaired.append(f"made the search index anew ({posts} posts)")
    elif earlier:       # (a restore above, through the one path, made the earlier version's index anew)
        report.repaired.append("made the search index anew in this version's tokens")
    if any(f.kind == "unfinished_warc" for f in findings):
        saved = salvage(folder / WARC_DIR)
        report.repaired.append(f"salvaged {saved} record(s) of unfinished WARC files")
    if any(f.kind == "bad_index" for f in findings):
        readable = {p.name: readable_records(p)[0] for p in warc_files(folder / WARC_DIR)}

        def names_a_record(line: str) -> bool:
            entry = index_entry(line)
            return entry is not None and readable.get(entry[0], {}).get(entry[1]) == entry[2]

        merge_index(folder / WARC_DIR, [], keep=names_a_record)
        report.repaired.append(f"took the lines that name no readable record out of {WARC_DIR}/{INDEX_NAME}")
    missing = [f for f in findings if f.kind == "missing_warc"]
    if missing:
        # the captures of a removed file are lost (a backup may have them); what still names them goes,
        # so that no later capture is a revisit of a record no file holds (rebuild could not follow it)
        warc_dir = folder / WARC_DIR
        present = {p.name for p in warc_files(warc_dir)} if warc_dir.is_dir() else set()
        if warc_dir.is_dir():
            merge_index(warc_dir, [], keep=lambda line: (e := index_entry(line)) is None or e[0] in present)
        catalog = Catalog(folder)
        try:
            kept = _digests(folder, catalog)
        finally:
            catalog.close()
        report.repaired.append(f"took the captures of {len(missing)} missing WARC file(s) out of the index and the "
                               f"revisit digests ({kept} capture(s) left to refer to)")
        for f in missing:
            report.unrepaired.append(Finding(f.kind, f.path, f"{f.detail} (restore it from a backup)"))
    for f in findings:
        if f.kind == "damaged_warc":     # what cannot be read is not there to restore: the file is kept
            report.unrepaired.append(Finding(f.kind, f.path, f"{f.detail} (kept as it is: restore it from a backup)"))
    unindexed = [Path(f.path) for f in findings if f.kind == "unindexed_warc"]
    if unindexed:
        update_index(folder / WARC_DIR, unindexed)
        report.repaired.append(f"indexed {len(unindexed)} WARC file(s) into {WARC_DIR}/{INDEX_NAME}")
    return report


def _restore_from_captures(folder: Path, codes: set[str]) -> dict[str, str]:
    """The posts of ``codes`` re-made from their latest captures through the one path."""
    from newsarchive.offline.rebuild import items_from_captures
    from newsarchive.store.ingest import Archivist

    latest = {}
    warc_dir = folder / WARC_DIR
    if not warc_dir.is_dir():
        return {}
    for item, when in items_from_captures(iter_captures(warc_files(warc_dir))):
        if item.info_code and item.info_code.upper() in codes:
            latest[item.info_code.upper()] = (item, when)
    done = {}
    archivist = Archivist(folder, warc=False)
    try:
        for code, (item, when) in latest.items():
            row = archivist.catalog.get(code)
            damaged = folder / row["location"] / row["path"] if row else None
            text = read_own(damaged) if damaged is not None else None
            if damaged is not None and text is not None:     # its text is kept, as a revision
                archivist.catalog.conn.execute("INSERT INTO revisions VALUES (?, ?, ?, ?)",
                                               (code, sha256_text(text), dt.datetime.now(BEIJING).isoformat(
                                                   timespec="seconds"), text))
                archivist.catalog.conn.commit()
                damaged.unlink()
            outcome = archivist.ingest(item, now=when)
            if not outcome.dropped:
                done[code] = outcome.status
    finally:
        archivist.close()
    return done


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


__all__ = ["Finding", "Report", "repair", "sqlite3", "verify"]
