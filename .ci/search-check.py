"""CI check on ../shared: 20 queries over the crawl of the real mirror build; each result set must equal
the posts whose page in the real Jekyll build (../shared/mirror/site) shows every term.

    python .ci/search-check.py ARCHIVE SITE_DIR
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import lxml.html

archive, site = Path(sys.argv[1]), Path(sys.argv[2])
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from newsarchive.core.textindex import parse_query  # noqa: E402

pages = {}
for page in site.rglob("*.html"):
    m = re.search(r"([A-Z]{2}[0-9]{18}|[0-9]{18})\.html$", page.name)
    if not m or "/category/" in page.as_posix():
        continue
    code = m.group(1) if m.group(1)[:2].isalpha() else "NW" + m.group(1)
    sections = lxml.html.fromstring(page.read_text("utf-8")).xpath('//div[@class="wrapper"]/section')
    pages[code] = re.sub(r"\s+", " ", sections[-1].text_content()).lower() if sections else ""
archived = {p.name.split("-", 3)[-1][:-3] for p in (archive / "_posts").glob("*.md")}
QUERIES = ["央行", "国债", "降准", "人民币", "美联储", "基金", "股份", "公告", "利率 央行", "银行 贷款", "A股",
           "LPR", "ETF", "2021", '"人民币汇率"', '"中国人民银行"', "证券 公司 投资", "疫情", "新能源 汽车", "不存在词"]


def contains(text: str, term: str) -> bool:
    """Chinese as a substring; a Latin word or a number as a word (2021 is the year, not NW2021…)."""
    if re.fullmatch(r"[\x00-\x7f]+", term):
        return re.search(r"(?<![a-z0-9])" + re.escape(term.lower()) + r"(?![a-z0-9])", text) is not None
    return term.lower() in text


failures = 0
for query in QUERIES:
    _, terms = parse_query(query)
    want = {c for c, text in pages.items() if c in archived and all(contains(text, t) for t in terms)}
    out = subprocess.run([sys.executable, "-m", "newsarchive", "search", *query.split(), "--output", str(archive),
                          "--json", "--limit", "100000"], capture_output=True, text=True)
    got = {json.loads(line)["info_code"] for line in out.stdout.splitlines()}
    ok = got == want
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {query!r}: {len(got)} found, {len(want)} expected"
          + ("" if ok else f" (missing {sorted(want - got)[:3]}, extra {sorted(got - want)[:3]})"))
print(f"search check: {len(QUERIES) - failures}/{len(QUERIES)} queries exact (precision and recall 100%)")
sys.exit(1 if failures else 0)
