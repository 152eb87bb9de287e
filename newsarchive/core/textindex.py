"""Full-text search of Chinese posts: the visible text of a post, and the tokens an FTS5 index keeps
of it (pure).

Chinese has no spaces, so the index keeps **every CJK character as a token, with its position**
(国债市场 → 国 债 市 场), and a word is an exact phrase of its characters: any Chinese substring of the
text matches, of any length, and nothing that spans what stands between two runs. Latin words and numbers are left to FTS5's
unicode61 tokenizer (LPR, 2.4576 → 2 4576), which both the index and the query go through, so what
matches is what the text contains. (Measured in ``bench/search.py`` against overlapping bigrams, FTS5's
trigram tokenizer and jieba: characters give the same 100% recall as bigrams with an index a quarter
smaller (1.31× the text against 1.73×) and faster to build, queries as fast on real-like text and
slower where a word is in half the posts; trigram cannot index two-character words, and a segmenter
splits a word differently in the query and the text.)
"""
from __future__ import annotations

import html
import re
import sys
from array import array

from newsarchive.core.mdsafe import SURROGATES

# the Han characters, each a token of its own: 々〆〇, the unified ideographs (Extension A, the basic block,
# Extensions B–D) and the compatibility ones — every one a letter or number in SQLite's unicode61 (Unicode
# 6.1, which a test checks), so that each stays a token there. (Later extensions are unassigned in 6.1:
# unicode61 drops them, as it drops punctuation.)
_CJK = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002b81f\U0002f800-\U0002fa1f"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TAG = re.compile(r"<[^>]*>")
_MD_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]{}()#+\-.!|~^$:=>])")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|tr|blockquote|center|table)>|<br\s*/?>", re.I)
_QUOTE_MARK = re.compile(r"^>\s?", re.M)


def visible_text(body: str) -> str:
    """The text a reader sees of a post's body (HTML blocks, digest lines, the original's link, the
    back-links): tags out, entities and Markdown escapes decoded, white space collapsed."""
    text = _AUTOLINK.sub(r"\1", body)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _BLOCK_END.sub(" ", text)
    text = _TAG.sub("", text)
    text = _QUOTE_MARK.sub("", text)
    text = _MD_ESCAPE.sub(r"\1", text)
    return " ".join(html.unescape(text).split())       # (white space collapsed: str.split's is re's \s, 6× faster)


_CJK_SPLIT = re.compile(f"([{_CJK}]+)")
TOKENS = "characters"     # what the catalog notes its index holds (a change of tokens is a reindex)
GAP = "\ue000"      # the token at each edge of the text between two runs (a private-use character)
_GAPPED = f" {GAP} "
_WIDE = "I" if array("I").itemsize == 4 else "L"        # an array of 4-byte code points
_NATIVE = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
_SPACES = array(_WIDE, [32])


def index_text(text: str) -> str:
    """``text`` as the index sees it — and a query term as its phrase: every CJK character a token,
    and a ``GAP`` token (◊ here) at each edge between a run and other text (国债，市场 → `国 债 ◊ ， ◊ 市 场`).

    A word of several characters is then a phrase of its characters in order, and no phrase spans
    what stands between two runs (债市 is not in 国债，市场). The query goes through this function too,
    and both through FTS5's unicode61, so a term matches what it is in the text whatever unicode61 makes
    of the characters between the runs (a word, punctuation it drops, an emoji): 国债LPR → `国 债 ◊ LPR`,
    债，市 → `债 ◊ ◊ 市` in the query as in the text. Every run's characters are spaced at once, in C:
    the runs joined by NUL as an array of code points, which two slice assignments interleave with
    spaces, split again at the NULs (1.6× faster than ``str.join`` over the characters)."""
    parts = _CJK_SPLIT.split(text)          # text, run, text, run, …, text
    if len(parts) == 1:
        return text
    points = array(_WIDE, "\x00".join(parts[1::2]).encode(_NATIVE))
    n = len(points)
    spaced = array(_WIDE, bytes(8 * n))
    spaced[0::2] = points
    spaced[1::2] = _SPACES * n
    parts[1::2] = spaced.tobytes().decode(_NATIVE).split("\x00 ")
    out = _GAPPED.join(parts)
    if not parts[0]:        # (no gap where the text begins or ends with a run)
        out = out[len(_GAPPED):]
    if not parts[-1]:
        out = out[:-len(_GAPPED)]
    return out


_TERM = re.compile(r'"([^"]*)"|(\S+)')
_FTS_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _phrase(term: str) -> str | None:
    """One query term as an FTS5 phrase: its ``index_text``, which FTS5 splits as it split the text's
    (3.6亿元 → "3 6 ◊ 亿 元"); None for a term with no character or word to search."""
    if not (_CJK_RUN.search(term) or _FTS_WORD.search(term)):
        return None
    quoted = index_text(term).replace('"', '""').replace("\x00", " ")    # (FTS5's query parser ends at a NUL)
    return f'"{quoted}"'


def parse_query(query: str) -> tuple[str, list[str]]:
    """``(FTS5 MATCH expression, the terms)``: every term must occur (AND); a quoted phrase is one
    term. ValueError for a query with nothing to search. A lone surrogate (a byte of the command line
    that was no UTF-8) is U+FFFD, what the archive's text holds for such a byte."""
    terms = [(m.group(1) if m.group(1) is not None else m.group(2)).strip()
             for m in _TERM.finditer(SURROGATES.sub("\ufffd", query))]
    terms = [t for t in terms if t and t.upper() != "AND"]
    exprs = [e for e in (_phrase(t) for t in terms) if e]
    if not exprs:
        raise ValueError(f"nothing to search for in {query!r}")
    return " AND ".join(exprs), terms


def snippet(text: str, terms: list[str], width: int = 60, mark: tuple[str, str] = ("«", "»")) -> str:
    """A piece of ``text`` around the first term found, every term in it marked."""
    lowered = text.lower()
    found = [(lowered.find(t.lower()), t) for t in terms if t and lowered.find(t.lower()) >= 0]
    if not found:
        return text[:width * 2] + ("…" if len(text) > width * 2 else "")
    at = min(i for i, _ in found)
    start = max(0, at - width // 2)
    piece = text[start:start + width * 2]
    for term in sorted({t for _, t in found}, key=len, reverse=True):
        piece = re.sub(re.escape(term), lambda m: f"{mark[0]}{m.group()}{mark[1]}", piece, flags=re.I)
    return ("…" if start else "") + piece + ("…" if start + width * 2 < len(text) else "")
