"""Export the archive: JSON Lines, CSV, a ready-to-build Jekyll site, or its WARC captures.

Everything streams: catalog rows come from a sqlite cursor and each post file is read when its row
comes up, so memory stays flat however big the archive. JSON Lines and CSV are written by Scrapy's
stdlib's json and csv writers.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import html
import io
import json
import os
import re
import sys
from pathlib import Path

from newsarchive.core.mdsafe import md_text
from newsarchive.core.post import yaml_double_quoted, yaml_scalar
from newsarchive.offline.common import (  # noqa: F401
    ExportError,
    NotInstalled,
    iso_date,
    records,
    row_filters,
    site_name,
    split_body,
)
from newsarchive.store.catalog import Catalog
from newsarchive.store.files import atomic_write

FIELDS = ["infoCode", "title", "date", "category", "tags", "body", "link_url", "share_url", "source_url",
          "body_source", "first_seen", "last_seen", "revisions"]


def _check_date(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ExportError(f"--{name} takes a date YYYY-MM-DD, got {value!r}") from None


def select(catalog: Catalog, since=None, until=None, categories=None):
    """Catalog rows matching the filters (Beijing dates, inclusive), streamed in date order."""
    since, until = _check_date(since, "since"), _check_date(until, "until")
    clauses, params = row_filters(since, until, categories)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    return catalog.iter_posts(where, tuple(params))


_KEYS = {k: json.dumps(k) + ": " for k in FIELDS}
_string = json.encoder.encode_basestring     # json.dumps(ensure_ascii=False) of a str, in C


def json_line(record: dict) -> str:
    """``json.dumps(record, ensure_ascii=False)`` and a newline, character for character (tested):
    the encoder's machinery costs more than escaping the fields."""
    return "{" + ", ".join([(_KEYS.get(k) or json.dumps(k) + ": ")
                            + (_string(v) if type(v) is str else str(v) if type(v) is int
                               else json.dumps(v, ensure_ascii=False))
                            for k, v in record.items()]) + "}\n"


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


STDOUT = Path("-")


@contextlib.contextmanager
def open_target(target: Path, binary: bool = False):
    """The file an export writes: standard output for ``-``; else a temp file beside the target,
    renamed over it only when the export is whole (and removed when it is not). Export replaces
    nothing but a regular file: a folder, a link, a device or a pipe at ``target`` is refused."""
    if target == STDOUT:
        if binary:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
            return
        text = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
        try:
            yield text
        finally:
            text.flush()
            text.detach()           # (sys.stdout keeps its buffer)
        return
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise ExportError(f"{target} is not a regular file: export writes only a file it makes or replaces "
                          "(use --to - for standard output)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    try:
        with open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _cell(value):
    """A CSV cell a spreadsheet shows as text: one that starts as a formula would (``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return: ``=HYPERLINK(…)`` in a title) gets a leading ``'`` (OWASP's rule)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_lines(folder: Path, rows, target: Path, fmt: str) -> int:
    """JSON Lines (UTF-8, unescaped) or CSV (UTF-8 with a BOM, so spreadsheet programs read the
    Chinese right), with the stdlib's json and csv writers: Scrapy's item exporters give the same
    bytes but spend ~100 µs an item serialising fields, a third of the whole export's time."""
    count = 0
    with open_target(target) as fh:
        if fmt == "jsonl":
            batch: list[str] = []
            for record, _, _ in records(folder, rows):
                batch.append(json_line(record))
                if len(batch) == 256:       # one write per 256 lines: ~10 µs a post less
                    fh.write("".join(batch))
                    batch.clear()
                count += 1
            fh.write("".join(batch))
        else:
            fh.write("\ufeff")
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            writer.writeheader()
            for record, _, _ in records(folder, rows):
                writer.writerow({k: _cell(v) for k, v in record.items()})
                count += 1
    return count


JEKYLL_CONFIG = """title: TITLE
description: newsarchive export
timezone: Asia/Shanghai
markdown: kramdown
exclude: [README.md]
# article text is data, not a template: "{{" or "{%" in a post, a title or a category never runs
# Liquid. Every page says so itself (render_with_liquid: false); the layouts are ours.
defaults:
  - scope:
      path: ""
    values:
      render_with_liquid: false
"""
# a stylesheet in the page (no link that breaks from file:// or under a base path): Chinese fonts,
# a readable line length, light and dark
STYLE = """<style>
:root { color-scheme: light dark; }
body { margin: 0 auto; max-width: 42em; padding: 1.5em 1em 3em;
  font: 17px/1.8 "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC",
  "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; color: #222; background: #fdfdfb; }
a { color: #1a5fb4; } h1 { font-size: 1.5em; line-height: 1.4; } img { max-width: 100%; height: auto; }
table { border-collapse: collapse; max-width: 100%; display: block; overflow-x: auto; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; } small { color: #666; }
@media (prefers-color-scheme: dark) { body { color: #ddd; background: #16181a; } a { color: #8ab4f8; } small { color: #999; } }
</style>"""
LAYOUT_DEFAULT = """<!DOCTYPE html>
<html lang="zh-CN">
  <head>
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{ page.title | escape }} | {{ site.title | escape }}</title>
    STYLE
  </head>
  <body>
    <div class="wrapper">
      <section>
      {{ content }}
      </section>
    </div>
  </body>
</html>
""".replace("STYLE", STYLE)
LAYOUT_POST = """---
layout: default
---
<p><a href="{{ page.home }}">首页</a></p>
<small>(GMT+8, Asia/Shanghai, CST) {{ page.date | date: "%Y-%m-%d %H:%M:%S" }}</small>
<h1>{{ page.title | escape }}</h1>

{{ content }}

{% if page.tags.size > 0 %}<small>tags: {% for tag in page.tags %}<em>{{ tag | escape }}</em>{% endfor %}</small>{% endif %}
"""


_BACKLINKS = re.compile(r"\n\n\[返回[^\n]*\Z")


def _attr(text: str) -> str:
    """Text safe in HTML and inert for Liquid, wherever Jekyll puts it."""
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def export_jekyll(folder: Path, rows, target: Path, site_title: str = "金融消息") -> int:
    """A Jekyll site at ``target`` that renders no Liquid from the archive: config, layouts, the posts
    (each with a ``permalink`` under its category's safe name, back-links pointing into the site),
    one page per category and an index, all links relative (it opens from file:// and under any
    base path)."""
    if target.exists() and any(target.iterdir()):
        raise ExportError(f"{target} exists and is not empty")
    (target / "_layouts").mkdir(parents=True, exist_ok=True)
    (target / "_posts").mkdir(exist_ok=True)
    (target / "category").mkdir(exist_ok=True)
    (target / "_config.yml").write_text(JEKYLL_CONFIG.replace("TITLE", yaml_scalar(site_title), 1), "utf-8")
    (target / "_layouts" / "default.html").write_text(LAYOUT_DEFAULT, "utf-8")
    (target / "_layouts" / "post.html").write_text(LAYOUT_POST, "utf-8")
    lists: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    count = 0
    for _, row, text in records(folder, rows):
        name = site_name(row["category"])
        day = row["date"][:10].replace("-", "/")
        stem = row["path"][:-3]
        permalink = f"/{name}/{day}/{stem[11:]}.html"
        up = "../" * 4                               # from /<category>/YYYY/MM/DD/ to the root
        back = f"\n\n[返回{md_text(row['tags'] or row['category'])}]({up}category/{name}.html)｜[返回首页]({up}index.html)"
        front_end = text.index("\n---\n", 3)
        body = _BACKLINKS.sub(back.replace("\\", "\\\\"), text[front_end + 5:], count=1)
        post = (text[:front_end] + f"\npermalink: {permalink}\nhome: {up}index.html\n---\n" + body)
        (target / "_posts" / row["path"]).write_text(post, "utf-8")
        lists.setdefault(name, []).append(f'<li><a href="..{permalink}">{_attr(row["title"]) or stem}</a> '
                                          f'<small>{row["date"][:16]}</small></li>')
        titles.setdefault(name, row["tags"] or row["category"])
        count += 1
    index = []
    for name, items in lists.items():
        front = f"---\nlayout: default\ntitle: {yaml_double_quoted(titles[name])}\nrender_with_liquid: false\n---\n"
        page = (f'<p><a href="../index.html">首页</a></p><h2>{_attr(titles[name])}</h2>\n'
                "<ul>\n" + "\n".join(reversed(items)) + "\n</ul>\n")
        atomic_write(target / "category" / f"{name}.html", (front + page).encode("utf-8"))
        index.append(f'<li><a href="category/{name}.html">{_attr(titles[name])}</a> ({len(items)})</li>')
    (target / "index.html").write_text("---\nlayout: default\ntitle: 首页\nrender_with_liquid: false\n---\n<ul>\n"
                                       + "\n".join(index) + "\n</ul>\n", "utf-8")
    return count


def export_warc(folder: Path, rows, target: Path) -> int:
    """The raw captures (post pages, share answers, with their requests) of the exported posts."""
    from warcio.archiveiterator import ArchiveIterator

    from newsarchive.store.warc import H_KEY, H_ROLE, WARC_DIR, Writer, warc_files

    wanted = {row["info_code"] for row in rows}
    count = 0
    with open_target(target, binary=True) as out:
        writer = Writer(out, gzip=True)
        for path in warc_files(folder / WARC_DIR):
            with open(path, "rb") as fh:
                keep_ids = set()
                for record in ArchiveIterator(fh):
                    h = record.rec_headers
                    if record.rec_type in ("response", "revisit") and h.get_header(H_ROLE) in ("post", "share", "share_direct"):
                        if h.get_header(H_KEY) in wanted:
                            keep_ids.add(h.get_header("WARC-Record-ID"))
                            writer.write_record(record)
                            count += 1
                    elif record.rec_type == "request" and h.get_header("WARC-Concurrent-To") in keep_ids:
                        writer.write_record(record)
    return count


def export_wacz(folder: Path, rows, target: Path) -> int:
    """A WACZ package (py-wacz) of the exported posts' captures: what ReplayWeb.page and the
    Webrecorder tools open directly."""
    import tempfile

    try:
        from wacz.main import main as wacz_main
    except ImportError:
        raise NotInstalled("the wacz format needs py-wacz: pip install 'newsarchive[wacz]'") from None
    if target == STDOUT or target.is_dir() or target.is_symlink():
        raise ExportError(f"{target}: a WACZ is a file (a zip): --to takes a file name")
    with tempfile.TemporaryDirectory(prefix="newsarchive-wacz-") as tmp:
        warc = Path(tmp) / "archive.warc.gz"
        count = export_warc(folder, rows, warc)
        package = Path(tmp) / "archive.wacz"
        with contextlib.redirect_stdout(io.StringIO()):
            status = wacz_main(["create", "-o", str(package), "--detect-pages", str(warc)])
        if status not in (0, None) or not package.is_file():
            raise ExportError("py-wacz could not make the package")
        with open_target(target, binary=True) as out:
            out.write(package.read_bytes())
    return count


def export(folder: str | Path, fmt: str, target: str | Path, since=None, until=None, categories=None) -> int:
    from newsarchive.store.catalog import catalog_problem

    folder, target = Path(folder), Path(target)
    if since and until and _check_date(since, "since") > _check_date(until, "until"):  # type: ignore[operator]
        raise ExportError(f"--since {since} is after --until {until}")
    problem = catalog_problem(folder)
    if problem:
        raise ExportError(problem)
    catalog = Catalog(folder, readonly=True)
    if catalog.db is None:
        raise ExportError(f"no archive in {folder} (no {Catalog.FILENAME})")
    rows = select(catalog, since, until, categories)
    try:
        if fmt in ("jsonl", "csv"):
            return export_lines(folder, rows, target, fmt)
        if fmt == "jekyll":
            if target == STDOUT:
                raise ExportError("a Jekyll site is a folder: --to takes one")
            return export_jekyll(folder, rows, target)
        if fmt == "warc":
            return export_warc(folder, list(rows), target)
        if fmt == "wacz":
            return export_wacz(folder, list(rows), target)
        if fmt == "site":
            from newsarchive.offline.site import export_site

            if target == STDOUT:
                raise ExportError("a site is a folder: --to takes one")
            return export_site(folder, rows, target)
        raise ExportError(f"unknown format {fmt!r}")
    finally:
        catalog.close()
