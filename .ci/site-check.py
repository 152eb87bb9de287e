"""CI check on ../shared: the site export of the crawl of the real mirror build shows, for every post,
the text the real Jekyll build (../shared/mirror/site) shows: the article between the title and the
links, white space aside.

    python .ci/site-check.py SITE_EXPORT JEKYLL_SITE
"""
import re
import sys
from pathlib import Path

import lxml.html

ours, theirs = Path(sys.argv[1]), Path(sys.argv[2])


def text(el) -> str:
    return re.sub(r"\s+", "", el.text_content())


def jekyll_article(page: Path) -> str:
    section = lxml.html.fromstring(page.read_text("utf-8")).xpath('//div[@class="wrapper"]/section')[-1]
    parts = []
    for child in section:
        if not isinstance(child.tag, str) or child.tag in ("small", "h1"):
            continue
        links = child.xpath(".//a")
        if links and (all(a.text_content().strip().startswith("返回") for a in links)
                      or (len(links) == 1 and links[0].get("href", "").strip() == child.text_content().strip())):
            continue            # the back-links and the original's link: our page has them apart
        parts.append(text(child))
    return "".join(parts)


built = {}
for page in theirs.rglob("*.html"):
    m = re.search(r"([A-Z]{2}[0-9]{18}|[0-9]{18})\.html$", page.name)
    if m and "/category/" not in page.as_posix():
        built["NW" + m.group(1) if m.group(1).isdigit() else m.group(1)] = page
checked = equal = 0
for page in sorted((ours / "posts").rglob("*.html")):
    code = page.stem
    if code not in built:
        continue
    checked += 1
    body = lxml.html.fromstring(page.read_text("utf-8")).xpath('//div[@class="post-body"]')[0]
    if text(body) == jekyll_article(built[code]):
        equal += 1
    elif checked - equal <= 3:
        a, b = text(body), jekyll_article(built[code])
        i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
        print(f"differs: {code} at {i}: {a[max(0, i - 20):i + 30]!r} vs {b[max(0, i - 20):i + 30]!r}")
print(f"site check: {equal}/{checked} post pages show the real build's text")
sys.exit(0 if checked and equal == checked else 1)
