"""Generate an archive directly (posts + catalog), without crawling: for the export, import, scale and
search runs.

    python bench/genarchive.py OUT N [--text templates|zipf]

Two kinds of text. ``templates`` is the bench mirror's (``demo.mirrorgen.synthetic_posts``): every
sentence made from a few dozen phrases, so any of its words is in a quarter to two thirds of all posts.
``zipf`` is for search: the same template sentences, about one a post, among sentences of words drawn
from a 40,000-word vocabulary with Zipf's law (word *k* about 1/*k* as often as the first), so that the
searched words are in as few posts as real news has them (the real corpus: 0–17%, most under 3%;
``bench/search.py`` reports both).
"""
from __future__ import annotations

import argparse
import bisect
import itertools
import random
import sqlite3
import time
from pathlib import Path

from newsarchive.core.dates import format_date
from newsarchive.core.post import Post, render_post
from newsarchive.demo.mirrorgen import OBJECTS, SUBJECTS, VERBS, sentence, synthetic_posts
from newsarchive.store.catalog import POST_FIELDS, Catalog, now_text
from newsarchive.store.files import POSTS_DIR, sha256_text

# the 3,000 characters the vocabulary is made of (CJK Unified Ideographs spread over the block), the
# first ones in more words than the last (Zipf's law too)
_CHARS = [chr(0x4E00 + (i * 8363) % 20902) for i in range(3000)]
_CHAR_CUM = list(itertools.accumulate(1 / (k + 1) for k in range(len(_CHARS))))
_VOCABULARY = 40_000
_PUNCT = ["，", "，", "，", "。", "；", "、"]


class ZipfText:
    """Chinese-looking text with a realistic spread of words (see the module's docstring)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        vocab_rng = random.Random(4242)          # one vocabulary for every chunk
        self.words = ["".join(vocab_rng.choices(_CHARS, cum_weights=_CHAR_CUM, k=vocab_rng.choice((2, 2, 2, 3, 4))))
                      for _ in range(_VOCABULARY)]
        self.cum = list(itertools.accumulate(1 / (k + 1) for k in range(_VOCABULARY)))

    def word(self) -> str:
        return self.words[bisect.bisect(self.cum, self.rng.random() * self.cum[-1])]

    def clause(self) -> str:
        return "".join(self.word() for _ in range(self.rng.randint(3, 7)))

    def sentence(self) -> str:
        return "".join(self.clause() + self.rng.choice(_PUNCT) for _ in range(self.rng.randint(1, 3)))[:-1] + "。"

    def title(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice(SUBJECTS) + self.rng.choice(VERBS) + self.rng.choice(OBJECTS)
        return self.clause()

    def paragraphs(self) -> list[str]:
        """2–4 paragraphs of 2–4 sentences; each template sentence (with the searched words) is put in
        at a rate of one for every ten sentences."""
        return ["".join(sentence(self.rng) if self.rng.random() < 0.1 else self.sentence()
                        for _ in range(self.rng.randint(2, 4))) for _ in range(self.rng.randint(2, 4))]


def generate(out: Path, n: int, chunk: int = 5000, text: str = "templates") -> None:
    posts_dir = out / POSTS_DIR
    posts_dir.mkdir(parents=True, exist_ok=True)
    Catalog(out).close()                       # the schema
    db = sqlite3.connect(out / Catalog.FILENAME)
    stamp = now_text()
    for start in range(0, n, chunk):
        rows = []
        zipf = ZipfText(1000 + start // chunk) if text == "zipf" else None
        for i, src in enumerate(synthetic_posts(min(chunk, n - start), seed=1000 + start // chunk,
                                                paragraphs=(2, 4), sentences=(2, 4))):
            code = f"NW{src.date:%Y%m%d}{start + i:010d}"
            if zipf:
                src.title, src.paragraphs = zipf.title(), zipf.paragraphs()
            post = Post(info_code=code, title=src.title, date=src.date, category=src.category, tags=[src.tag],
                        body="".join(f"<p>{p}</p>" for p in src.paragraphs), link_url=src.share_url.replace(src.info_code, code),
                        share_url=src.share_url.replace(src.info_code, code))
            rendered = render_post(post)
            (posts_dir / post.filename).write_text(rendered, "utf-8")
            rows.append((code, post.filename, sha256_text(rendered), post.title, format_date(post.date), post.category,
                         src.tag, "", post.share_url, "share", stamp, stamp, 0, "_posts"))
        db.executemany(f"INSERT INTO posts ({', '.join(POST_FIELDS)}) VALUES ({', '.join('?' * len(POST_FIELDS))})", rows)
        db.commit()
    db.close()


def generated(out: Path, n: int, text: str = "templates") -> Path:
    """``out``, an ``n``-post archive generated once and kept (bench/work/ is the benches' cache)."""
    if not (out / Catalog.FILENAME).exists() or not (out / POSTS_DIR).is_dir():
        generate(out, n, text=text)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("--text", choices=["templates", "zipf"], default="templates")
    args = ap.parse_args()
    t = time.time()
    generate(args.out, args.n, text=args.text)
    print(f"generated {args.n} posts in {time.time() - t:.1f} s")
