"""Generate an archive directly (posts + catalog), without crawling: for the export and scale runs.

    python bench/genarchive.py OUT N
"""
from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from newsarchive.core.dates import format_date
from newsarchive.core.post import Post, render_post
from newsarchive.demo.mirrorgen import synthetic_posts
from newsarchive.store.catalog import POST_FIELDS, Catalog, now_text
from newsarchive.store.files import POSTS_DIR, sha256_text


def generate(out: Path, n: int, chunk: int = 5000) -> None:
    posts_dir = out / POSTS_DIR
    posts_dir.mkdir(parents=True, exist_ok=True)
    Catalog(out).close()                       # the schema
    db = sqlite3.connect(out / Catalog.FILENAME)
    stamp = now_text()
    for start in range(0, n, chunk):
        rows = []
        for i, src in enumerate(synthetic_posts(min(chunk, n - start), seed=1000 + start // chunk,
                                                paragraphs=(2, 4), sentences=(2, 4))):
            code = f"NW{src.date:%Y%m%d}{start + i:010d}"
            post = Post(info_code=code, title=src.title, date=src.date, category=src.category, tags=[src.tag],
                        body="".join(f"<p>{p}</p>" for p in src.paragraphs), link_url=src.share_url.replace(src.info_code, code),
                        share_url=src.share_url.replace(src.info_code, code))
            text = render_post(post)
            (posts_dir / post.filename).write_text(text, "utf-8")
            rows.append((code, post.filename, sha256_text(text), post.title, format_date(post.date), post.category,
                         src.tag, "", post.share_url, "share", stamp, stamp, 0, "_posts"))
        db.executemany(f"INSERT INTO posts ({', '.join(POST_FIELDS)}) VALUES ({', '.join('?' * len(POST_FIELDS))})", rows)
        db.commit()
    db.close()


def generated(out: Path, n: int) -> Path:
    """``out``, an ``n``-post archive generated once and kept (bench/work/ is the benches' cache)."""
    if not (out / Catalog.FILENAME).exists() or not (out / POSTS_DIR).is_dir():
        generate(out, n)
    return out


if __name__ == "__main__":
    t = time.time()
    generate(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"generated {sys.argv[2]} posts in {time.time() - t:.1f} s")
