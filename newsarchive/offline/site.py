"""``export --format site``: the archive as a static site a person opens and reads — from ``file://`` or
under any base path on any static host (every link relative) — with a stylesheet for Chinese text
(font stack, line length, light and dark), a home page (newest posts, categories with counts), a page
per category, per month and per post, and a search page: ``search.html?q=词`` (Pagefind, whose
extended build segments Chinese, indexes the post pages at export time; search needs no server).

Safe by construction: no template language runs, every title and name is HTML-escaped, a post's body
is the archive's sanitised HTML and its Markdown parts (digest, links) are rendered here from the
archive's own inert forms. Incremental: a second export into the same folder rewrites only the pages
whose content changed (``.newsarchive-site.json`` keeps each page's sha256) and removes the ones that
are gone.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from newsarchive.core.post import PostFormatError, split_front_matter
from newsarchive.offline.common import ExportError, records, site_name
from newsarchive.store.files import atomic_write

MANIFEST = ".newsarchive-site.json"
NEWEST = 50

STYLE = """:root { color-scheme: light dark; --fg: #1f2328; --bg: #fdfdfb; --muted: #667; --link: #0b57d0; --rule: #dde; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e3e3; --bg: #141517; --muted: #9aa; --link: #8ab4f8; --rule: #334; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 40em; padding: 1.2em 1em 4em; color: var(--fg); background: var(--bg);
  font: 18px/1.85 "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
  "Microsoft YaHei", sans-serif; text-align: justify; overflow-wrap: anywhere; }
h1 { font-size: 1.45em; line-height: 1.45; margin: .4em 0; text-align: left; }
h2 { font-size: 1.15em; } a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
nav, .meta, .source, small, .count { color: var(--muted); font-size: .85em; }
nav { display: flex; gap: 1.2em; border-bottom: 1px solid var(--rule); padding-bottom: .4em; margin-bottom: 1em; }
ul.posts { list-style: none; padding: 0; } ul.posts li { margin: .35em 0; }
ul.posts time { color: var(--muted); font-size: .8em; margin-right: .6em; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; } blockquote { margin: 1em 0; padding: 0 1em; border-left: 3px solid var(--rule); color: var(--muted); }
table { border-collapse: collapse; display: block; overflow-x: auto; } td, th { border: 1px solid var(--rule); padding: .2em .5em; }
"""

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} | {site}</title>
<link rel="stylesheet" href="{up}assets/style.css">
{head}</head>
<body>
<nav><a href="{up}index.html">首页</a><a href="{up}archive.html">按日期</a><a href="{up}search.html">搜索</a></nav>
{content}
</body>
</html>
"""

SEARCH = """<h1>搜索</h1>
<div id="search"></div>
<noscript>搜索需要 JavaScript。</noscript>
<script src="pagefind/pagefind-ui.js"></script>
<script>
  // the index holds the text one character a word (see site.py): a Chinese word is searched as the
  // exact phrase of its characters, and the excerpts are shown without those spaces
  var cjk = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/;
  function processTerm(term) {
    return term.split(/\\s+/).filter(Boolean).map(function (t) {
      return cjk.test(t) ? '"' + t.replace(/"/g, "").split("").join(" ").replace(/\\s+/g, " ") + '"' : t;
    }).join(" ");
  }
  function unspace(html) {      // (the spaces beside a Chinese character: the index's, not the text's)
    var wide = "[\\u3000-\\u9fff\\uf900-\\uffef]", marks = "((?:</?mark>)*) ((?:</?mark>)*)";
    var after = new RegExp("(" + wide + ")" + marks + "(?=[^\\\\s<])", "g");
    var before = new RegExp("([^\\\\s>])" + marks + "(?=" + wide + ")", "g");
    html = html || "";
    for (var i = 0; i < 2; i++) { html = html.replace(after, "$1$2$3").replace(before, "$1$2$3"); }
    return html;
  }
  window.addEventListener("DOMContentLoaded", function () {
    var ui = new PagefindUI({ element: "#search", showSubResults: false, showImages: false, processTerm: processTerm,
                              processResult: function (r) { r.excerpt = unspace(r.excerpt); return r; },
                              translations: { placeholder: "搜索归档", zero_results: "没有找到 [SEARCH_TERM]" } });
    var q = new URLSearchParams(window.location.search).get("q");
    if (q) { ui.triggerSearch(q); }
  });
</script>
"""


def esc(text: str) -> str:
    return html.escape(text or "", quote=True)


_MD_UNESCAPE = re.compile(r"\\([\\`*_\[\]{}()#+\-.!|~^$:=>])")
_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\(([^)]*)\)")
_AUTOLINK = re.compile(r"^<(https?://[^>\s]+)>$")


def _md_inline(text: str) -> str:
    """An inert Markdown text of the archive (``core.mdsafe.md_text``: HTML-escaped, backslash-escaped)
    as HTML: the escapes undone, the entities kept."""
    return _MD_UNESCAPE.sub(r"\1", text)


# Markdown links and nothing else, one line or one a line as older posts have them (a target may hold
# balanced parentheses: …(xianggang).html)
# (one run of white space before a link, and the bar's: two white-space runs side by side backtracked in
# time squared on a long run of spaces)
_BACKLINKS = re.compile(r"(?:\s*(?:[｜|]\s*)?\[(?:\\.|[^\]\\\n])*\]\((?:[^()\n]|\([^()\n]*\))*\))+\s*")


def render_body(body: str, up: str, category_page: str) -> tuple[str, str]:
    """``(article HTML, source HTML)`` of a post body: HTML blocks as they are, the digest as a
    blockquote, the original's autolink as "原文", the back-links into this site. Only the body's last
    parts are read as links and only its first as the digest (the layout ``render_post`` writes);
    the article between is kept as it is, blank lines and all."""
    parts = body.split("\n\n")
    source: list[str] = []
    while parts:
        part = parts[-1]
        if m := _AUTOLINK.match(part):
            url = m.group(1)
            source.insert(0, f'<p class="source">原文：<a href="{esc(url)}" rel="noreferrer noopener">{esc(url)}</a></p>')
        elif "返回" in part and _BACKLINKS.fullmatch(part):
            texts = [_md_inline(t) for t, _ in _LINK.findall(part)]
            links = [f'<a href="{category_page}">{texts[0]}</a>'] + [f'<a href="{up}index.html">{t}</a>' for t in texts[1:]]
            source.insert(0, '<p class="back">' + "｜".join(links) + "</p>")
        else:
            break
        parts.pop()
    digest = []
    while parts and (parts[0].startswith("> ") or parts[0] == ">"):
        lines = [ln[2:] if ln.startswith("> ") else ln.lstrip(">") for ln in parts.pop(0).split("\n")]
        paras = [p for p in "\n".join(lines).split("\n\n") if p.strip()] or [""]
        digest.append("<blockquote>" + "".join(f"<p>{_md_inline(p)}</p>" for p in paras) + "</blockquote>")
    return "\n".join([*digest, "\n\n".join(parts)] if parts else digest), "\n".join(source)


_CJK_CHAR = re.compile("([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_TAGS = re.compile(r"<[^>]*>")


def _text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAGS.sub(" ", fragment))).strip()


def spaced(text: str) -> str:
    """The text for Pagefind's index, one CJK character a word: its Chinese segmenter splits words
    differently in a query and in the text (半导体 found 4 of 24 posts in a test); characters and an
    exact-phrase query (search.html's processTerm) find every post that holds the word."""
    return esc(re.sub(r"\s+", " ", _CJK_CHAR.sub(r" \1 ", text)).strip())


def _page(title: str, content: str, up: str, site: str, head: str = "") -> str:
    return PAGE.format(title=esc(title), site=esc(site), up=up, content=content, head=head)


def _post_list(items: list[dict], up: str) -> str:
    return '<ul class="posts">\n' + "\n".join(
        f'<li><time>{esc(i["date"][:16])}</time><a href="{up}{i["url"]}">{esc(i["title"]) or esc(i["code"])}</a></li>'
        for i in items) + "\n</ul>"


class Writer:
    """Pages written only when their content changed; pages of an earlier export that are gone removed."""

    def __init__(self, target: Path):
        self.target = target
        manifest = target / MANIFEST
        try:
            self.before: dict[str, str] = json.loads(manifest.read_text("utf-8"))
        except (OSError, ValueError):
            self.before = {}
        self.now: dict[str, str] = {}
        self.written = 0

    def write(self, rel: str, content: str) -> None:
        data = content.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        self.now[rel] = digest
        path = self.target / rel
        if self.before.get(rel) == digest and path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data, fsync=False)
        self.written += 1

    def finish(self) -> int:
        removed = 0
        for rel in set(self.before) - set(self.now):
            path = self.target / rel
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed += 1
        atomic_write(self.target / MANIFEST, json.dumps(self.now, indent=0, sort_keys=True).encode("utf-8"), fsync=False)
        return removed


def export_site(folder: Path, rows, target: Path, site_title: str = "金融消息归档", pagefind: bool = True) -> int:
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).exists():
        raise ExportError(f"{target} exists, is not empty and is no newsarchive site export")
    target.mkdir(parents=True, exist_ok=True)
    out = Writer(target)
    posts: list[dict] = []
    for _, row, text in records(folder, rows):
        try:
            meta, body = split_front_matter(text)
        except PostFormatError:
            continue
        day = row["date"][:10]
        url = f"posts/{day[:4]}/{day[5:7]}/{day[8:10]}/{row['info_code']}.html"
        name = site_name(row["category"])
        up = "../../../../"
        article, source = render_body(body, up, f"{up}category/{name}.html")
        tags = meta.get("tags")
        tag_text = " ".join(tags) if isinstance(tags, list) else str(tags or "")
        content = (f'<article data-pagefind-body>\n<small class="meta" data-pagefind-ignore>(GMT+8, Asia/Shanghai, CST) '
                   f'{esc(row["date"][:19])} · <a href="{up}category/{name}.html" data-pagefind-filter="分类">'
                   f'{esc(tag_text or row["category"])}</a></small>\n'
                   f'<h1 data-pagefind-meta="title">{esc(row["title"])}</h1>\n'
                   f'<div class="post-body" data-pagefind-ignore>\n{article}\n</div>\n'
                   f'<div class="search-text" hidden aria-hidden="true">{spaced(row["title"] + " " + _text_of(article))}</div>\n'
                   f"</article>\n{source}\n")
        out.write(url, _page(row["title"] or row["info_code"], content, up, site_title))
        posts.append({"code": row["info_code"], "title": row["title"], "date": row["date"], "url": url,
                      "category": row["category"], "name": name, "label": tag_text or row["category"]})
    posts.sort(key=lambda p: (p["date"], p["code"]), reverse=True)
    by_category: dict[str, list[dict]] = defaultdict(list)
    by_month: dict[str, list[dict]] = defaultdict(list)
    for p in posts:
        by_category[p["name"]].append(p)
        by_month[p["date"][:7]].append(p)
    for name, items in by_category.items():
        label = items[0]["label"]
        out.write(f"category/{name}.html", _page(label, f"<h1>{esc(label)}</h1>\n<p class=\"count\">{len(items)} 篇</p>\n"
                                                 + _post_list(items, "../"), "../", site_title))
    for month, items in by_month.items():
        out.write(f"dates/{month}.html", _page(month, f"<h1>{esc(month)}</h1>\n<p class=\"count\">{len(items)} 篇</p>\n"
                                               + _post_list(items, "../"), "../", site_title))
    categories = sorted(by_category.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    home = (f"<h1>{esc(site_title)}</h1>\n<h2>最新</h2>\n" + _post_list(posts[:NEWEST], "") +
            "\n<h2>分类</h2>\n<ul class=\"posts\">\n" + "\n".join(
                f'<li><a href="category/{name}.html">{esc(items[0]["label"])}</a> <span class="count">{len(items)}</span></li>'
                for name, items in categories) + "\n</ul>\n")
    out.write("index.html", _page("首页", home, "", site_title))
    months = "\n".join(f'<li><a href="dates/{m}.html">{m}</a> <span class="count">{len(items)}</span></li>'
                       for m, items in sorted(by_month.items(), reverse=True))
    out.write("archive.html", _page("按日期", f"<h1>按日期</h1>\n<ul class=\"posts\">\n{months}\n</ul>\n", "", site_title))
    out.write("search.html", _page("搜索", SEARCH, "", site_title, '<link rel="stylesheet" href="pagefind/pagefind-ui.css">\n'))
    out.write("assets/style.css", STYLE)
    removed = out.finish()
    if pagefind and (out.written or removed or not (target / "pagefind").is_dir()):
        run_pagefind(target)
    return len(posts)


def run_pagefind(target: Path) -> None:
    """Pagefind's index of the post pages (``data-pagefind-body``), in ``target/pagefind/``."""
    if shutil.which("pagefind_extended") is None:
        try:
            import pagefind_bin_extended  # noqa: F401
        except ImportError:
            raise ExportError("the site's search needs Pagefind: pip install 'pagefind[extended]'") from None
    result = subprocess.run([sys.executable, "-m", "pagefind", "--site", str(target), "--quiet"],
                            capture_output=True, text=True, env={**os.environ, "PAGEFIND_SOURCE": str(target)})
    if result.returncode != 0:
        raise ExportError("Pagefind could not index the site: " + (result.stderr or result.stdout).strip()[-300:])
