"""Normalisation of article HTML: one test per rule, the widget post, XSS vectors, decoding."""
import json
from pathlib import Path

import pytest

from newsarchive.core.encoding import decode_html
from newsarchive.core.htmlclean import BodyError, normalize_body
from newsarchive.demo.mirrorgen import WIDGET_HTML

pytestmark = pytest.mark.pure

GOLDEN = Path(__file__).parent / "golden"


def test_seed_body_from_share_json_is_exact():
    record = json.loads((GOLDEN / "NW202112242225123833.json").read_text("utf-8"))
    assert "<p>\u3000\u3000" in record["text"]
    seed = (GOLDEN / "2021-12-24-NW202112242225123833.md").read_text("utf-8")
    expected = seed.split("---\n", 2)[2].split("\n\n")[0]
    assert normalize_body(record["text"]) == expected


def test_ideographic_indents_removed():
    assert normalize_body("<p>\u3000\u3000第一段</p><p>&nbsp;\u3000第二段</p>") == "<p>第一段</p><p>第二段</p>"
    assert normalize_body("<p>中\u3000间</p>") == "<p>中\u3000间</p>"   # only at paragraph starts


def test_entities_decoded_and_full_width_kept():
    assert normalize_body("<p>&ldquo;引号&rdquo;，（括号）：&#65306;</p>") == "<p>“引号”，（括号）：：</p>"


def test_no_white_space_between_block_tags():
    assert normalize_body("<p>一</p>\n\n  <p>二</p>\n<table>\n<tr>\n<td>三</td>\n</tr>\n</table>") == \
        "<p>一</p><p>二</p><table><tbody><tr><td>三</td></tr></tbody></table>"
    assert normalize_body("<p><b>粗</b> <i>斜</i></p>") == "<p><b>粗</b> <i>斜</i></p>"  # inline space kept


def test_plain_text_body_becomes_paragraphs():
    assert normalize_body("第一行\n\n第二行 &amp; 更多") == "<p>第一行</p><p>第二行 &amp; 更多</p>"


def test_eastmoney_widgets_unwrapped():
    out = normalize_body(WIDGET_HTML)
    assert out == "<p>据悉，蔚来旗下新能源汽车首发，业绩可期。</p>"


def test_real_widget_shapes():
    body = ('<p>为<span id="stock_106.NIO"><a href="http://quote.eastmoney.com/unify/r/106.NIO" class="keytip" '
            'data-code="106,NIO">蔚来</a></span><span id="quote_106.NIO"></span>的<span id="bk_90.BK0493">'
            '<a href="http://quote.eastmoney.com/unify/r/90.BK0493" class="keytip">新能源</a></span>'
            '<span id="bkquote_90.BK0493"></span>汽车</p><p style="display: none">隐藏</p>'
            '<!-- EM_StockImg_Start --><p><img src="https://x/GetPic.aspx?token=1"></p><!-- EM_StockImg_End -->')
    assert normalize_body(body) == "<p>为蔚来的新能源汽车</p>"


XSS = [
    ('<p>a<script>window.__pwned=1</script>b</p>', "<p>ab</p>"),
    ('<p onclick="window.__pwned=1">a</p>', "<p>a</p>"),
    # (top-level inline content is wrapped in a paragraph: kramdown then parses none of it as Markdown)
    ('<img src="x" onerror="window.__pwned=1">', '<p><img src="x"></p>'),
    ('<a href="javascript:window.__pwned=1">a</a>', "<p><a>a</a></p>"),
    ('<a href="JaVaScRiPt&colon;alert(1)">a</a>', "<p><a>a</a></p>"),
    ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "<p><img></p>"),
    ('<iframe src="https://evil"></iframe><p>x</p>', "<p>x</p>"),
    ('<style>body{display:none}</style><p>x</p>', "<p>x</p>"),
    ('<object data="x"></object><embed src="x"><p>x</p>', "<p>x</p>"),
    ('<form action="x"><input name="a"><p>in form</p></form><p>x</p>', "<p>x</p>"),
    ('<svg><script>alert(1)</script></svg><p>x</p>', "<p>x</p>"),
    ('<p style="background:url(javascript:alert(1));text-align:center">x</p>', '<p style="text-align:center">x</p>'),
    ('<math><mi xlink:href="javascript:alert(1)">x</mi></math><p>y</p>', "<p>y</p>"),
    ('<p>unclosed <b>bold', "<p>unclosed <b>bold</b></p>"),
]


@pytest.mark.parametrize("raw, clean", XSS)
def test_sanitised(raw, clean):
    assert normalize_body(raw) == clean


def test_kept_markup():
    body = ('<h2>小标题</h2><p class="em_media">来源</p><blockquote><p>引</p></blockquote><ul><li>一</li></ul>'
            '<center><img src="https://a/b.jpg" alt="图"></center><p><a href="https://a/">链接</a><br><strong>s</strong><em>e</em></p>')
    assert normalize_body(body) == body


@pytest.mark.parametrize("raw", [None, 12, {"a": 1}, "", "   ", "<script>x</script>"])
def test_unusable_bodies(raw):
    with pytest.raises(BodyError):
        normalize_body(raw)


def test_big_body_is_fine():
    body = "<p>" + "长文本" * 600_000 + "</p>"   # ~5 MB of UTF-8
    assert normalize_body(body) == body


PAGE = "<html><head>{meta}</head><body><p>中国银行发布€公告</p></body></html>"


def test_gb18030_with_declared_charset():
    data = PAGE.format(meta='<meta charset="gb2312">').encode("gb18030")
    text, enc = decode_html(data, "text/html")
    assert "中国银行发布€公告" in text and enc == "gb18030"


def test_gb18030_without_declared_charset():
    data = PAGE.format(meta="").encode("gb18030")
    text, _ = decode_html(data, None)
    assert "中国银行发布€公告" in text


def test_gb18030_with_wrong_declared_charset():
    data = PAGE.format(meta='<meta charset="utf-8">').encode("gb18030")
    text, enc = decode_html(data, "text/html; charset=utf-8")
    assert "中国银行发布€公告" in text and enc == "gb18030"


def test_utf8_bom_wins():
    text, enc = decode_html("\ufeff<p>中</p>".encode("utf-8"), "text/html; charset=gbk")
    assert text == "<p>中</p>" and enc == "utf-8"
