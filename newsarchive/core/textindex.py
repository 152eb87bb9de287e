"""Full-text search of Chinese posts: the visible text of a post, and the tokens an FTS5 index keeps
of it (pure).

Chinese has no spaces, so the index keeps **every CJK character as a token, with its position**
(国债市场 → 国 债 市 场), and a word is an exact phrase of its characters: any substring of the text
matches, of any length, and nothing that spans punctuation. Latin words and numbers are left to FTS5's
unicode61 tokenizer (LPR, 2.4576 → 2 4576), which both the index and the query go through, so what
matches is what the text contains. (Measured in ``bench/search.py`` against overlapping bigrams, FTS5's
trigram tokenizer and jieba: characters give the same 100% recall as bigrams with an index ~25%
smaller and faster to build, at ~40% more time for a two-character word; trigram cannot index
two-character words, and a segmenter splits a word differently in the query and the text.)
"""
from __future__ import annotations

import html
import re

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_TAG = re.compile(r"<[^>]*>")
_MD_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\([^)]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]{}()#+\-.!|~^$:=>])")
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|tr|blockquote|center|table)>|<br\s*/?>", re.I)
_SPACE = re.compile(r"\s+")


def visible_text(body: str) -> str:
    """The text a reader sees of a post's body (HTML blocks, digest lines, the original's link, the
    back-links): tags out, entities and Markdown escapes decoded, white space collapsed."""
    text = _AUTOLINK.sub(r"\1", body)
    text = _MD_LINK.sub(lambda m: m.group(1), text)
    text = _BLOCK_END.sub(" ", text)
    text = _TAG.sub("", text)
    text = re.sub(r"^>\s?", "", text, flags=re.M)
    text = _MD_ESCAPE.sub(r"\1", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


_CJK_SPLIT = re.compile(f"([{_CJK}]+)")
_WORDY = re.compile(r"[^\W_]")     # a letter or a digit: the text between two runs makes a token of its own
TOKENS = "characters"     # what the catalog notes its index holds (a change of tokens is a reindex)
GAP = "\ue000"      # the token between two runs that nothing else separates (a private-use character)


def index_text(text: str) -> str:
    """``text`` as the index sees it: every CJK character a token, the rest as it is.

    (国债，市场 → `国 债 \ue000 市 场`.) A word of several characters is then a phrase of its characters
    in order. Where only punctuation or white space separates two runs, a ``GAP`` token takes its place,
    so that a phrase never spans it (债市 is not in 国债，市场); a word or a number between two runs is a
    token that separates them already (and a mixed term, 3.6亿元 or A股, stays one phrase). Every run's
    characters are spaced at once, in C: one ``str.join`` over all runs, split again at their NULs."""
    parts = _CJK_SPLIT.split(text)          # text, run, text, run, …, text
    if len(parts) == 1:
        return text
    parts[1::2] = " ".join("\x00".join(parts[1::2])).split(" \x00 ")
    for i in range(2, len(parts) - 1, 2):       # the text between two runs
        if not _WORDY.search(parts[i]):
            parts[i] = GAP
    return " ".join(parts)


_TERM = re.compile(r'"([^"]*)"|(\S+)')
_FTS_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _phrase(term: str) -> str | None:
    """One query term as an FTS5 phrase of the tokens the index holds for that text, in order: each CJK
    character, and the words and numbers around them (3.6亿元 → "3 6 亿 元")."""
    parts: list[str] = []
    for chunk in re.findall(f"[{_CJK}]+|[^{_CJK}]+", term):
        if _CJK_RUN.fullmatch(chunk):
            parts.extend(chunk)
        else:
            parts.extend(w.lower() for w in _FTS_WORD.findall(chunk))
    if not parts:
        return None
    quoted = " ".join(q.replace('"', '""') for q in parts)
    return f'"{quoted}"'


def parse_query(query: str) -> tuple[str, list[str]]:
    """``(FTS5 MATCH expression, the terms)``: every term must occur (AND); a quoted phrase is one
    term. ValueError for a query with nothing to search."""
    terms = [(m.group(1) if m.group(1) is not None else m.group(2)).strip() for m in _TERM.finditer(query)]
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
