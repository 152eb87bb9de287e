"""``newsarchive stats``: what the archive holds, from its catalog and WARC folder (read-only)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from newsarchive.core.dates import parse_duration
from newsarchive.store.catalog import SUCCESSFUL_CRAWL, Catalog
from newsarchive.store.warc import WARC_DIR, warc_files


def archive_stats(folder: str | Path, last: int = 5, retention: str = "3d") -> dict:
    from newsarchive.store.catalog import catalog_problem

    folder = Path(folder)
    problem = catalog_problem(folder)
    if problem:
        raise ValueError(problem)
    catalog = Catalog(folder, readonly=True)
    if catalog.db is None:
        raise FileNotFoundError(f"no archive in {folder} (no {Catalog.FILENAME})")
    db = catalog.db
    try:
        total, first, latest, revisions = db.execute(
            "SELECT COUNT(*), MIN(date), MAX(date), COALESCE(SUM(revisions), 0) FROM posts").fetchone()
        per_category = [{"category": c, "posts": n, "first": f, "last": la} for c, n, f, la in db.execute(
            "SELECT category, COUNT(*), MIN(date), MAX(date) FROM posts GROUP BY category ORDER BY COUNT(*) DESC, category")]
        crawls = [dict(zip(("id", "spider", "started", "finished", "new", "updated", "unchanged", "failed", "reason"), r))
                  for r in db.execute("SELECT id, spider, started, finished, new, updated, unchanged, failed, reason "
                                      "FROM crawls ORDER BY id DESC LIMIT ?", (last,))]
        failures = [dict(zip(("url", "info_code", "reason", "permanent", "attempts", "last_seen"), r))
                    for r in db.execute("SELECT url, info_code, reason, permanent, attempts, last_seen FROM failures "
                                        "ORDER BY last_seen DESC")]
        sources = dict(db.execute("SELECT body_source, COUNT(*) FROM posts GROUP BY body_source").fetchall())
        for c in crawls:
            c["monitors_failed"] = [{"monitor": m, "message": msg} for m, msg in db.execute(
                "SELECT monitor, message FROM monitor_results WHERE crawl_id = ? AND passed = 0", (c["id"],))] \
                if _has_table(db, "monitor_results") else []
            c["monitors_run"] = db.execute("SELECT COUNT(*) FROM monitor_results WHERE crawl_id = ?",
                                           (c["id"],)).fetchone()[0] if _has_table(db, "monitor_results") else 0
        good = db.execute(f"SELECT MAX(finished) FROM crawls WHERE {SUCCESSFUL_CRAWL}").fetchone()[0]
    finally:
        catalog.close()
    window = parse_duration(retention)
    age = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(good)).total_seconds() if good else None
    margin = {"window_hours": window / 3600, "last_success": good,
              "hours_since": None if age is None else round(age / 3600, 1),
              "hours_left": None if age is None else round((window - age) / 3600, 1),
              "alarm": age is None or age >= window / 2}
    files = warc_files(folder / WARC_DIR)
    return {
        "posts": total, "first_date": first, "last_date": latest, "revisions": revisions,
        "body_sources": sources, "categories": per_category,
        "captures": {"files": len(files), "bytes": sum(f.stat().st_size for f in files)},
        "crawls": crawls, "failures": failures, "retention": margin,
    }


def _has_table(db, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def render_table(s: dict) -> str:
    out = [f"posts: {s['posts']}  ({s['first_date'] or '-'} … {s['last_date'] or '-'})",
           f"revisions: {s['revisions']}   bodies: " + ", ".join(f"{k} {v}" for k, v in sorted(s["body_sources"].items())),
           f"captures: {s['captures']['files']} WARC file(s), {s['captures']['bytes'] / 1e6:.1f} MB", "",
           f"{'category':<40} {'posts':>7}  last"]
    for c in s["categories"]:
        out.append(f"{c['category']:<40} {c['posts']:>7}  {(c['last'] or '')[:16]}")
    out += ["", "last crawls:", f"  {'started':<26} {'new':>5} {'upd':>5} {'same':>6} {'fail':>5}  end"]
    for c in s["crawls"]:
        monitors = (f"  monitors: {len(c['monitors_failed'])} of {c['monitors_run']} failed" if c["monitors_failed"]
                    else f"  monitors: {c['monitors_run']} passed" if c["monitors_run"] else "")
        out.append(f"  {c['started']:<26} {c['new'] or 0:>5} {c['updated'] or 0:>5} {c['unchanged'] or 0:>6} "
                   f"{c['failed'] or 0:>5}  {c['reason'] or 'running/killed'}{monitors}")
        for m in c["monitors_failed"]:
            out.append(f"      {m['monitor']}: {m['message']}")
    r = s["retention"]
    if r["last_success"] is None:
        out.append(f"retention: no successful crawl yet (the mirror keeps {r['window_hours']:.0f} h)")
    else:
        out.append(f"retention: last successful crawl {r['hours_since']} h ago; the mirror keeps "
                   f"{r['window_hours']:.0f} h: {r['hours_left']} h left" + ("  ** ALARM: past half the window **"
                                                                           if r["alarm"] else ""))
    out += ["", f"failures outstanding: {len(s['failures'])}"]
    for f in s["failures"][:20]:
        out.append(f"  {'permanent' if f['permanent'] else 'transient':<9} {f['reason']:<24} {f['url']}")
    return "\n".join(out)


def to_json(s: dict) -> str:
    return json.dumps(s, ensure_ascii=False, indent=2)
