"""Reading every supported format and encoding: HTML, .docx, .pdf, GB18030/GBK/Big5/UTF-16,
malformed files, finding files with globs and symlinks, standard input.

All files are made by the tests in tmp_path: .docx with python-docx, PDFs with reportlab
(a dev dependency) and its built-in Chinese CID font STSong-Light.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import Path

import opencc
import pytest

from retriever.errors import InputError
from retriever.reading.encoding import decode, guess_encoding, language_score
from retriever.reading.html import read_html
from retriever.reading.load import find_files, load_document, load_stream

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

SIMPLIFIED = "一、总体要求\n要把群众满意作为根本标准，切实解决群众急难愁盼问题。\n"
TRADITIONAL = "第一章　總則\n為了規範臺灣地區的資訊服務，保障民眾權益，特制定本辦法。\n"


def _error(fn, *args) -> InputError:
    """The InputError that fn(*args) raises, checked to be one line."""
    with pytest.raises(InputError) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return info.value


# --- encodings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "gb18030", "gbk", "gb2312"]
)
def test_simplified_in_every_encoding(encoding):
    assert decode(SIMPLIFIED.encode(encoding), "f.txt") == SIMPLIFIED


@pytest.mark.parametrize("encoding", ["big5", "cp950", "utf-8", "utf-16", "utf-16-le", "gb18030"])
def test_traditional_is_kept_as_written(encoding):
    assert decode(TRADITIONAL.encode(encoding), "f.txt") == TRADITIONAL


def test_big5_supersets():
    # cp950 (Windows) adds €, HKSCS adds Hong Kong characters; plain Big5 has neither.
    assert decode("歐元€符號與碁盤。".encode("cp950"), "f.txt") == "歐元€符號與碁盤。"
    assert decode("香港的𨋢好多人搭。".encode("big5hkscs"), "f.txt") == "香港的𨋢好多人搭。"


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[。！？])", text) if len(s.strip()) >= 6]


def test_gb18030_and_big5_told_apart_on_seed_documents():
    """The scorer on the seed documents, short (one sentence, 8 characters) and long,
    simplified in GB18030/GBK and traditional (OpenCC s2twp) in Big5, both ways."""
    to_traditional = opencc.OpenCC("s2twp")
    sentences = [s for p in sorted(CORPUS.glob("*.txt")) for s in _sentences(p.read_text(encoding="utf-8"))]
    samples = sentences[::4] + [s[:8] for s in sentences[1::6]] + ["".join(sentences[i : i + 6]) for i in range(0, 60, 6)]
    checked = 0
    for simplified in samples:
        traditional = to_traditional.convert(simplified)
        for text, encoding in ((simplified, "gb18030"), (simplified, "gbk"), (traditional, "big5")):
            try:
                data = text.encode(encoding)
            except UnicodeEncodeError:
                continue  # a character Big5 lacks
            assert decode(data, "f.txt") == text, (encoding, text)
            checked += 1
    assert checked > 300


def test_seed_documents_reencoded_whole():
    to_traditional = opencc.OpenCC("s2twp")
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        assert decode(text.encode("gb18030"), path) == text
        traditional = to_traditional.convert(text)
        if all(c.encode("big5", errors="ignore") or c.isascii() for c in traditional):
            assert decode(traditional.encode("big5"), path) == traditional


def test_short_ambiguous_bytes():
    # Both decodings are valid, and both are ideographs (「經濟發展」 in Big5 reads
    # 「竒蕾祇甶」 in GB18030): only the words tell.
    for text, encoding in (
        ("經濟發展", "big5"),
        ("電腦網路", "big5"),
        ("经济发展", "gb18030"),
        ("电脑网络", "gb18030"),
    ):
        data = text.encode(encoding)
        assert set(_candidate_names(data)) == {"gb18030", "big5"}
        assert guess_encoding(data) == (encoding, text)


def _candidate_names(data: bytes) -> list[str]:
    from retriever.reading.encoding import _candidates

    return list(_candidates(data))


def test_language_score_prefers_words():
    assert language_score("群众满意") > language_score("鑴傞叾鎴") + 5
    assert language_score("abc") == 0.0  # ASCII decodes alike in every candidate: not scored


def test_bomless_utf16_needs_an_ascii_character():
    # A newline is enough: its NUL byte rules out every legacy Chinese encoding.
    assert decode("我们的国家\n".encode("utf-16-le"), "f.txt") == "我们的国家\n"
    assert decode("hello\n".encode("utf-16-be"), "f.txt") == "hello\n"


def test_binary_and_undecodable():
    assert _error(decode, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "f.png").cause == ("binary file (contains NUL bytes), not text")
    assert _error(decode, codecs.BOM_UTF8 + b"ok\xff", "f.txt").cause == "invalid UTF-8 at byte 5"


def test_a_file_cut_inside_its_last_character_is_read_without_it(tmp_path):
    text = "要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。"
    for data, kept, cut in (
        (text.encode()[:-1], text[:-1], 2),  # 。 is three bytes: two are left
        (codecs.BOM_UTF8 + text.encode()[:-2], text[:-1], 1),
        (codecs.BOM_UTF16_LE + text.encode("utf-16-le")[:-1], text[:-1], 1),
    ):
        notes: list[str] = []
        assert decode(data, "f.txt", notes=notes) == kept
        assert notes == [f"the file ends inside a character (cut short?): its last {cut} byte{'s' * (cut > 1)} were left out"]
    # Damage anywhere else is still an error; a whole file has no note.
    assert _error(decode, codecs.BOM_UTF8 + b"\xe7ok", "f.txt").cause == "invalid UTF-8 at byte 3"
    notes = []
    assert decode(text.encode(), "f.txt", notes=notes) == text and notes == []
    (tmp_path / "cut.txt").write_bytes(("标题\n" + text).encode()[:-1])
    doc = load_document(tmp_path / "cut.txt")
    assert doc.text.endswith("加强人民调解组织建设") and doc.notes == (
        "the file ends inside a character (cut short?): its last 2 bytes were left out",
    )


# --- HTML --------------------------------------------------------------------------

GOV_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>我县召开2024年安全生产工作会议_某某县人民政府</title>
<script type="text/javascript">var _hmt = _hmt || []; document.write("统计代码");</script>
<style>.nav li{float:left}</style>
</head>
<body>
<div class="top-bar"><span>无障碍浏览</span> | <a href="#">长者模式</a> | <a href="#">登录</a></div>
<div class="header">
  <div class="logo"><h1>某某县人民政府</h1></div>
  <div class="search"><form action="/search"><input type="text" value="请输入关键词"><button>搜索</button></form></div>
</div>
<div class="nav"><ul>
  <li><a href="/">首页</a></li><li><a href="/zwgk">政务公开</a></li><li><a href="/zwfw">政务服务</a></li>
  <li><a href="/hdjl">互动交流</a></li>
</ul></div>
<div class="main w1200">
  <div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk">政务公开</a> &gt; <a href="/gzdt">工作动态</a></div>
  <div class="article">
    <h2 class="art-title">我县召开2024年安全生产工作会议</h2>
    <div class="art-info">
      <span>发布时间：2024-03-12 10:20</span> <span>来源：县应急管理局</span>
      <span>浏览次数：<script>document.write(123)</script></span>
      <span class="fontsize">字号：<a href="#">大</a> <a href="#">中</a> <a href="#">小</a></span>
    </div>
    <div id="zoom" class="TRS_Editor">
      <p style="text-indent:2em">3月12日上午，我县召开2024年安全生产工作会议，总结2023年全县安全生产工作，
      分析当前面临的形势，安排部署今年重点工作。县委副书记、县长<strong>张某某</strong>出席会议并讲话。</p>
      <p style="text-indent:2em"><strong>一、提高政治站位，压实安全责任</strong></p>
      <p style="text-indent:2em">各乡镇、各部门要严格落实“党政同责、一岗双责、齐抓共管、失职追责”要求，
      把安全生产责任落实到每一个岗位、每一名员工。</p>
      <p style="text-indent:2em"><strong>二、聚焦重点领域，深化专项整治</strong></p>
      <p style="text-indent:2em">要紧盯道路交通、建筑施工、危险化学品、消防等重点行业领域，深入开展安全生产治本攻坚三年行动。</p>
      <p><img src="/pic/1.jpg" alt="会议现场"></p>
    </div>
    <div class="share">分享到：<a href="#">微信</a> <a href="#">微博</a> <a href="#">QQ空间</a></div>
    <div class="print-close">【<a href="javascript:window.print()">打印本页</a>】【<a href="javascript:window.close()">关闭窗口</a>】</div>
    <div class="prev-next">
      <p>上一篇：<a href="/1.html">我县开展春季植树活动</a></p>
      <p>下一篇：<a href="/3.html">县政府召开常务会议</a></p>
    </div>
  </div>
  <div class="related"><h3>相关文章</h3><ul>
    <li><a href="/a.html">全市安全生产工作会议召开</a><span>2024-03-01</span></li>
    <li><a href="/b.html">县应急管理局开展消防演练</a><span>2024-02-20</span></li>
    <li><a href="/c.html">我县部署节后复工复产安全工作</a><span>2024-02-18</span></li>
  </ul></div>
</div>
<div class="footer">
  <p><a href="#">网站地图</a> | <a href="#">联系我们</a> | <a href="#">隐私声明</a></p>
  <p>主办：某某县人民政府办公室　承办：某某县大数据中心</p>
  <p>网站标识码：3607000001　<a href="https://beian.miit.gov.cn">赣ICP备12345678号</a></p>
</div>
<script>console.log("end")</script>
</body>
</html>
"""

GOV_TEXT = """## 我县召开2024年安全生产工作会议
3月12日上午，我县召开2024年安全生产工作会议，总结2023年全县安全生产工作，分析当前面临的形势，安排部署今年重点工作。县委副书记、县长张某某出席会议并讲话。
一、提高政治站位，压实安全责任
各乡镇、各部门要严格落实“党政同责、一岗双责、齐抓共管、失职追责”要求，把安全生产责任落实到每一个岗位、每一名员工。
二、聚焦重点领域，深化专项整治
要紧盯道路交通、建筑施工、危险化学品、消防等重点行业领域，深入开展安全生产治本攻坚三年行动。"""

NEWS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<title>多地推出便民举措 让群众办事更省心 - 新华网</title>
</head>
<body>
<header class="site-header"><a class="logo" href="/">新华网</a>
<nav><a href="/">首页</a><a href="/politics">时政</a><a href="/local">地方</a><a href="/world">国际</a></nav></header>
<div class="breadcrumb"><a href="/">首页</a> &gt; <a href="/local">地方</a> &gt; 正文</div>
<div class="container">
<article class="main-article">
  <header><h1>多地推出便民举措 让群众办事更省心</h1>
  <p class="byline"><span class="date">2024-05-01 09:30:12</span> <span class="source">来源：新华网</span></p></header>
  <p>新华社北京5月1日电（记者 王某）今年以来，各地聚焦群众办事的难点堵点，推出一批便民举措。</p>
  <h2>“一件事一次办”</h2>
  <p>在浙江，出生、入学、就业等“一件事”实现一次告知、一表申请，群众办事跑动次数<em>减少</em>了80%以上。</p>
  <h2>延时服务覆盖更多窗口</h2>
  <p>在江苏，不少政务服务中心推出午间不打烊、周末延时服务，方便上班族办事。</p>
  <div class="share-bar"><span>分享到：</span><a href="#">微信</a><a href="#">微博</a><a href="#">复制链接</a></div>
  <div class="editor">【责任编辑：张三】</div>
  <div class="article-tags">标签：<a href="#">政务服务</a><a href="#">便民</a><a href="#">营商环境</a></div>
</article>
<aside class="sidebar"><div class="hot-news"><h3>热点新闻</h3><ol>
  <li><a href="#">第一条热点新闻</a></li><li><a href="#">第二条热点新闻</a></li><li><a href="#">第三条热点新闻</a></li>
</ol></div></aside>
</div>
<section id="comments"><h3>网友评论</h3><div class="comment"><p>说得好，点赞！</p></div>
<form><textarea></textarea><button>发表评论</button></form></section>
<footer><p>Copyright © 2000-2024 XINHUANET.com All Rights Reserved.</p></footer>
</body></html>
"""

NEWS_TEXT = """# 多地推出便民举措 让群众办事更省心
新华社北京5月1日电（记者 王某）今年以来，各地聚焦群众办事的难点堵点，推出一批便民举措。
## “一件事一次办”
在浙江，出生、入学、就业等“一件事”实现一次告知、一表申请，群众办事跑动次数减少了80%以上。
## 延时服务覆盖更多窗口
在江苏，不少政务服务中心推出午间不打烊、周末延时服务，方便上班族办事。"""

# An old table layout, the whole page inside an ASP.NET <form>, declared GBK.
TABLE_PAGE = """<html>
<head><meta http-equiv="Content-Type" content="text/html; charset=gbk"><title>关于做好春季农业生产工作的通知</title></head>
<body>
<form id="form1" runat="server">
<table width="1000"><tr><td><img src="banner.jpg"></td></tr>
<tr><td class="daohang"><a href="/">网站首页</a> | <a href="/">机构概况</a> | <a href="/">政策法规</a> | <a href="/">通知公告</a></td></tr></table>
<table width="1000"><tr>
<td width="240" class="left"><table><tr><td><a href="#">通知公告</a></td></tr><tr><td><a href="#">工作动态</a></td></tr>
<tr><td><a href="#">政策法规</a></td></tr></table></td>
<td width="760">
<table width="100%"><tr><td align="center"><b>关于做好春季农业生产工作的通知</b></td></tr>
<tr><td align="center">发布日期：2024-02-26　　点击数：<span id="hits">356</span></td></tr>
<tr><td class="zw">各乡镇人民政府，县直有关单位：<br>
　　为切实做好今年春季农业生产工作，确保粮食生产稳定发展，现就有关事项通知如下：<br>
　　一、抓好粮食播种面积落实<br>
　　各乡镇要将粮食播种面积任务分解到村、落实到户，严防耕地撂荒。<br>
<p align="right">某某县农业农村局<br>2024年2月26日</p></td></tr></table>
</td></tr></table>
<table width="1000"><tr><td align="center" class="bottom">版权所有：某某县农业农村局 技术支持：某某网络公司</td></tr></table>
</form>
</body></html>
"""

TABLE_TEXT = """关于做好春季农业生产工作的通知
各乡镇人民政府，县直有关单位：
为切实做好今年春季农业生产工作，确保粮食生产稳定发展，现就有关事项通知如下：
一、抓好粮食播种面积落实
各乡镇要将粮食播种面积任务分解到村、落实到户，严防耕地撂荒。
某某县农业农村局
2024年2月26日"""

# A saved WeChat article: text in <section>/<span>, credits, QR code, recommendations.
WECHAT_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>基层治理｜这个村的“积分超市”火了</title>
<meta property="og:title" content="基层治理｜这个村的“积分超市”火了"></head>
<body id="activity-detail" class="zh_CN">
<div class="rich_media_wrp"><div id="page-content" class="rich_media_area_primary">
<h1 class="rich_media_title" id="activity-name">
  这个村的“积分超市”火了
</h1>
<div id="meta_content" class="rich_media_meta_list"><span class="rich_media_meta">原创</span>
<span class="rich_media_meta rich_media_meta_nickname"><a href="javascript:void(0);">某某县融媒体中心</a></span>
<em id="publish_time" class="rich_media_meta">2024-04-08 18:30</em></div>
<div class="rich_media_content" id="js_content">
<section><span>“用积分换了一袋米、一桶油，心里美滋滋的！”</span><span>近日，在某某村的“积分超市”里，村民王大姐高兴地说。</span></section>
<section><br></section>
<section><strong><span>小积分撬动大治理</span></strong></section>
<section><span>去年以来，某某村探索推行“积分制”管理，将环境卫生、移风易俗、志愿服务等内容纳入积分范围。</span></section>
<section><img data-src="https://mmbiz.qpic.cn/x.png"></section>
<section><span>编辑：李四</span></section>
<section><span>审核：王五</span></section>
</div>
<div class="rich_media_tool" id="js_toobar3"><a id="js_view_source" href="##">阅读原文</a><div>在看</div></div>
<div class="qr_code_pc"><img src="qr.jpg"><p>微信扫一扫<br>关注该公众号</p></div>
</div></div>
<div class="rich_media_extra"><strong>喜欢此内容的人还喜欢</strong>
<ul><li><a href="#">我县召开乡村振兴推进会</a></li><li><a href="#">春耕正当时</a></li><li><a href="#">网格员在行动</a></li></ul></div>
</body></html>
"""

WECHAT_TEXT = """# 这个村的“积分超市”火了
“用积分换了一袋米、一桶油，心里美滋滋的！”近日，在某某村的“积分超市”里，村民王大姐高兴地说。
小积分撬动大治理
去年以来，某某村探索推行“积分制”管理，将环境卫生、移风易俗、志愿服务等内容纳入积分范围。"""


@pytest.mark.parametrize(
    "page, encoding, text, title",
    [
        (GOV_PAGE, "gb18030", GOV_TEXT, "我县召开2024年安全生产工作会议"),  # <title> without the site name
        (NEWS_PAGE, "utf-8", NEWS_TEXT, "多地推出便民举措 让群众办事更省心"),  # the article's <h1>
        (TABLE_PAGE, "gbk", TABLE_TEXT, "关于做好春季农业生产工作的通知"),
        (WECHAT_PAGE, "utf-8", WECHAT_TEXT, "这个村的“积分超市”火了"),
    ],
    ids=["government", "news", "table-layout", "wechat"],
)
def test_html_main_text(tmp_path, page, encoding, text, title):
    path = tmp_path / "page.html"
    path.write_bytes(page.encode(encoding))
    doc = load_document(path)
    assert (doc.text, doc.title) == (text, title)


@pytest.mark.parametrize(
    "title, named",
    [
        ("我市召开2024年安全生产工作会议-今日要闻-青州市人民政府门户网站", "我市召开2024年安全生产工作会议"),
        ("中国—东盟博览会开幕—新华网", "中国—东盟博览会开幕"),
        ("中国-东盟博览会", "中国-东盟博览会"),  # a dash of the title's own
        ("2021-2025年发展规划", "2021-2025年发展规划"),
    ],
)
def test_a_page_title_without_the_site_it_names_after_bare_dashes(tmp_path, title, named):
    path = tmp_path / "page.html"
    path.write_text(
        f"<html><head><title>{title}</title></head><body><p>会议强调，要压实安全生产责任。</p></body></html>", "utf-8"
    )
    assert load_document(path).title == named


def test_html_declared_big5(tmp_path):
    page = '<html><head><meta charset="big5"><title>公告</title></head><body><p>臺灣資訊服務公告。</p></body></html>'
    path = tmp_path / "big5.htm"
    path.write_bytes(page.encode("big5"))
    assert load_document(path).text == "臺灣資訊服務公告。"


def test_html_lines():
    page = (
        "<html><body><main><h3>第一章 总则</h3><p>甲<b>乙</b><a href='#'>丙</a><span>丁</span>。</p>"
        "<div>第一行<br>第二行</div><ul><li>一项</li><li>二项</li></ul>"
        "<table><tr><th>指标</th><th>完成</th></tr><tr><td>粮食</td><td>12500吨</td></tr></table>"
        "<pre>代码 a\n代码 b</pre><p hidden>隐藏</p><p style='display: none'>不显示</p>"
        "<p>中文在源码里\n   换行，English\nwords stay apart.</p></main></body></html>"
    ).encode()
    assert read_html(page, "x.html").text.split("\n") == [
        "### 第一章 总则",  # h1-h6 marked as Markdown marks them
        "甲乙丙丁。",
        "第一行",
        "第二行",
        "- 一项",  # list items and a data table's rows as Markdown writes them
        "- 二项",
        "| 指标 | 完成 |",
        "| 粮食 | 12500吨 |",
        "代码 a",
        "代码 b",
        "中文在源码里换行，English words stay apart.",
    ]


def test_html_without_main_text_or_binary(tmp_path):
    (tmp_path / "menu.html").write_text(
        "<html><body><nav><a href='/'>首页</a><a href='/a'>新闻</a></nav><footer>版权所有</footer></body></html>",
        encoding="utf-8",
    )
    assert _error(load_document, tmp_path / "menu.html").cause == "no text left once site chrome and junk were removed"
    (tmp_path / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    error = _error(load_document, tmp_path / "image.html")
    assert (error.path, error.cause) == (str(tmp_path / "image.html"), "binary file (contains NUL bytes), not text")


def test_saved_page_with_unknown_suffix_is_html(tmp_path):
    (tmp_path / "t20240312_123.asp").write_bytes(NEWS_PAGE.encode())
    assert load_document(tmp_path / "t20240312_123.asp").text == NEWS_TEXT


# --- .docx -------------------------------------------------------------------------


def _docx(path: Path) -> Path:
    import docx
    from docx.oxml import OxmlElement

    document = docx.Document()
    document.add_paragraph("关于推进基层治理的实施方案", style="Title")
    document.add_heading("一、总体要求", level=1)
    p = document.add_paragraph("坚持以人民为中心，")
    p.add_run("推进治理现代化").bold = True
    p.add_run("，详见")
    link = OxmlElement("w:hyperlink")  # python-docx has no API to add one
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "政策原文"
    run.append(text)
    link.append(run)
    p._p.append(link)
    p.add_run("。")
    document.add_heading("二、工作安排", level=2)
    table = document.add_table(rows=3, cols=3)
    for i, row in enumerate([("任务", "责任单位", "时限"), ("排查矛盾纠纷", "各乡镇", "6月底"), ("", "", "")]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    document.add_paragraph("各乡镇要按时报送进展情况。")
    document.sections[0].header.paragraphs[0].text = "某某县人民政府"  # a running header: left out
    document.save(path)
    return path


def test_docx(tmp_path):
    doc = load_document(_docx(tmp_path / "plan.docx"))
    assert doc.title == "关于推进基层治理的实施方案"
    assert doc.text == (
        "关于推进基层治理的实施方案\n"
        "# 一、总体要求\n"  # Word's heading styles, written as Markdown writes them
        "坚持以人民为中心，推进治理现代化，详见政策原文。\n"
        "## 二、工作安排\n"
        "| 任务 | 责任单位 | 时限 |\n"
        "| 排查矛盾纠纷 | 各乡镇 | 6月底 |\n"
        "各乡镇要按时报送进展情况。"
    )


def test_malformed_docx(tmp_path):
    (tmp_path / "text.docx").write_text("这不是一个 Word 文档", encoding="utf-8")
    assert _error(load_document, tmp_path / "text.docx").cause == "not a .docx file (not a zip archive)"
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as z:
        z.writestr("hello.txt", "not a Word document")
    error = _error(load_document, tmp_path / "other.docx")
    assert error.path == str(tmp_path / "other.docx")
    assert error.cause.startswith("not a readable .docx file (")
    data = _docx(tmp_path / "whole.docx").read_bytes()
    (tmp_path / "cut.docx").write_bytes(data[: len(data) // 2])
    assert _error(load_document, tmp_path / "cut.docx").cause.startswith("not a readable .docx file (")
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    assert _error(load_document, tmp_path / "old.docx").cause.startswith("a legacy Office file (.doc/.xls/.ppt)")


def test_rtf_is_refused_by_its_content_whatever_its_name(tmp_path):
    rtf = b"{\\rtf1\\ansi\\ansicpg936\\deff0{\\fonttbl{\\f0 \\'cb\\'ce;}}\\f0 \\'b9\\'a4\\'d7\\'f7\\par}"
    for name in ("report.rtf", "report.txt", "report"):
        (tmp_path / name).write_bytes(rtf)
        assert (
            _error(load_document, tmp_path / name).cause == "an RTF file (its text is markup, not read): save it as .docx or .txt"
        )


# --- PDF ---------------------------------------------------------------------------

_CN = "一二三四五六七八九十"
_TOPICS = [
    "完善矛盾纠纷排查化解机制",
    "加强网格化服务管理",
    "推进村级议事协商",
    "提升便民服务水平",
    "健全应急管理体系",
    "强化基层队伍建设",
]


def _pdf_paragraphs() -> list[str]:
    out = [
        "关于进一步加强基层治理工作的通知",
        "各乡镇人民政府，县直各单位：",
        (
            "为深入贯彻落实党中央关于加强基层治理体系和治理能力现代化建设的决策部署，进一步夯实基层治理基础，"
            "提升基层治理效能，现就有关事项通知如下。"
        ),
        "一、主要任务",
    ]
    for i, topic in enumerate(_TOPICS):
        out.append(f"（{_CN[i]}）{topic}")
        out.append(
            f"各乡镇要把{topic}作为基层治理的重点工作来抓，建立健全工作机制，明确责任分工，细化工作措施，"
            "确保各项任务落到实处。县直有关部门要加强业务指导和督促检查，及时研究解决工作中遇到的困难和问题，"
            f"推动{topic}工作取得实效。"
        )
    out.append("二、保障措施")
    # No comma for three lines: only the layout tells that they are one paragraph.
    out.append(
        "各乡镇要建立健全村级组织运转经费保障机制和村干部报酬待遇动态调整机制并按时足额发放到位"
        "确保村级组织正常运转不得以任何理由截留挪用村级组织运转经费。"
    )
    return out


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))


def _pdf(path: Path, paragraphs: list[str]) -> Path:
    """An A4 PDF whose paragraphs reportlab wraps into lines, with a running header and
    a page number on every page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    _register_font()
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=12, leading=20, wordWrap="CJK", firstLineIndent=24)

    def running(canvas, doc):
        canvas.setFont("STSong-Light", 9)
        canvas.drawString(72, A4[1] - 40, "某某县人民政府办公室文件")
        canvas.drawCentredString(A4[0] / 2, 30, f"- {doc.page} -")

    story = [Paragraph(p, body) for p in paragraphs]
    SimpleDocTemplate(str(path), pagesize=A4).build(story, onFirstPage=running, onLaterPages=running)
    return path


def test_pdf(tmp_path):
    import pypdf

    path = _pdf(tmp_path / "notice.pdf", _pdf_paragraphs())
    pages = [page.extract_text() for page in pypdf.PdfReader(path).pages]
    # The layout broke lines mid-sentence, a paragraph runs over the page break, and
    # every page starts with the running header and its page number.
    assert len(pages) == 2 and all(p.startswith("某某县人民政府办公室文件\n- ") for p in pages)
    assert "决策部\n署" in pages[0]
    doc = load_document(path)
    assert doc.text == "\n".join(_pdf_paragraphs())
    assert doc.title == "关于进一步加强基层治理工作的通知"


def test_pdf_bookmarks_make_the_outline(tmp_path, fake_embedder):
    """Headings without numbers that only the PDF's bookmarks name (two levels, one
    title wrapped over two lines by the layout) are headings of the outline and of the
    heading paths; a bookmark whose title is not on its page marks nothing."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    from retriever.summary.documents import summarize_one
    from retriever.text.segment import paragraphs

    _register_font()
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=12, leading=20, wordWrap="CJK")
    narrow = ParagraphStyle("narrow", parent=body, rightIndent=370)  # wraps its heading over two lines
    # A paragraph's text → its bookmark's title and level; the last names what is not on its page.
    bookmarked = {
        "总体要求": ("总体要求", 0), "主要任务": ("主要任务", 0), "发展特色产业": ("发展特色产业", 1),
        "建设宜居宜业和美乡村": ("建设宜居宜业和美乡村", 1), "附件清单如下。": ("附件一览", 0),
    }  # fmt: skip

    class Template(SimpleDocTemplate):
        def afterFlowable(self, flowable):
            text = flowable.getPlainText() if isinstance(flowable, Paragraph) else ""
            if text in bookmarked:
                title, level = bookmarked[text]
                self.canv.bookmarkPage(title)
                self.canv.addOutlineEntry(title, title, level=level)

    content = [
        "坚持农业农村优先发展,扎实推进乡村全面振兴,让农民群众得到更多实惠。",
        "立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富。",
        "持续推进农村人居环境整治,村容村貌明显改善,群众满意度不断提高。",
    ]
    story = [
        Paragraph("乡村振兴工作方案", body), Paragraph("总体要求", body), Paragraph(content[0], body),
        Paragraph("主要任务", body), Paragraph("发展特色产业", body), Paragraph(content[1], body), PageBreak(),
        Paragraph("建设宜居宜业和美乡村", narrow), Paragraph(content[2], body), Paragraph("附件清单如下。", body),
    ]  # fmt: skip
    Template(str(tmp_path / "方案.pdf"), pagesize=A4).build(story)

    doc = load_document(tmp_path / "方案.pdf")
    record = summarize_one(doc, fake_embedder, max_chars=2000)
    assert [(h["level"], h["title"]) for h in record.outline] == [
        (1, "总体要求"), (1, "主要任务"), (2, "发展特色产业"), (2, "建设宜居宜业和美乡村"),
    ]  # fmt: skip
    placed = {(p.path, p.sentences[0].text) for p in paragraphs(doc.text) if not p.heading}
    assert (("主要任务", "建设宜居宜业和美乡村"), content[2]) in placed
    assert not {s.text for s in record.summary.sentences} & {h["title"] for h in record.outline}


def test_pdf_without_text_layer(tmp_path):
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "scan.pdf"))
    c.rect(50, 50, 400, 600, fill=1)  # a scanned page is an image: no text
    c.showPage()
    c.save()
    assert _error(load_document, tmp_path / "scan.pdf").cause == "no text layer (a scanned PDF? run OCR first)"


def test_encrypted_pdf(tmp_path):
    import pypdf

    source = _pdf(tmp_path / "plain.pdf", _pdf_paragraphs())
    for name, user_password in (("locked.pdf", "secret"), ("restricted.pdf", "")):
        writer = pypdf.PdfWriter(clone_from=source)
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-256")
        writer.write(tmp_path / name)
    assert _error(load_document, tmp_path / "locked.pdf").cause == "encrypted PDF: it needs a password to open"
    # Encrypted against editing only (no password to open): readable.
    assert load_document(tmp_path / "restricted.pdf").text == "\n".join(_pdf_paragraphs())


def test_malformed_pdf(tmp_path, capfd):
    data = _pdf(tmp_path / "whole.pdf", _pdf_paragraphs()).read_bytes()
    cases = {
        "cut.pdf": data[: len(data) // 3],
        "garbage.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 8,
        "text.pdf": "这是一段文字，不是 PDF。".encode(),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        error = _error(load_document, tmp_path / name)
        assert error.path == str(tmp_path / name)
        assert re.fullmatch(r"not a readable PDF \(\w+(: .+)?\)", error.cause), error.cause
    assert capfd.readouterr().err == ""  # pypdf's repair notes stay quiet


# --- finding files -----------------------------------------------------------------


def _tree(root: Path) -> None:
    for name in ("a.txt", "b.PDF", "page.html", "drafts/c.txt", "drafts/old/d.md", "sub/e.docx", "sub/.hidden/f.txt",
                 ".g.txh", ".h.txt", "notes.xyz", "image.png"):  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")


def _names(root: Path, found: tuple[list[Path], list]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in found[0]]


def test_files_of_other_text_formats_in_a_folder_are_said_not_passed_over(tmp_path):
    from collections import Counter

    from retriever.reading.load import unread

    for name in ("a.txt", "b.doc", "C.DOC", "d.rtf", "e.jpg", ".f.doc"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    found = find_files([tmp_path])
    assert _names(tmp_path, found) == ["a.txt"] and found.other == Counter({".doc": 2, ".rtf": 1})
    assert unread(found.other) == "2 .doc files and 1 .rtf file, not read: save them as .docx, .txt or .pdf"
    assert find_files([tmp_path], include=["*.txt"]).other == Counter()  # what --include chose
    assert find_files([tmp_path], exclude=["*.doc"]).other == Counter({".rtf": 1})
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "g.doc").write_text("x", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"in this directory \(it holds 1 \.doc file, not read: save it as \.docx, \.txt or \.pdf\)$"
    ):
        find_files([tmp_path / "old"])


def test_find_files_with_globs(tmp_path):
    _tree(tmp_path)
    assert _names(tmp_path, find_files([tmp_path])) == [
        "a.txt", "b.PDF", "drafts/c.txt", "drafts/old/d.md", "page.html", "sub/e.docx"
    ]  # fmt: skip
    assert _names(tmp_path, find_files([tmp_path], include=["*.pdf"])) == ["b.PDF"]
    assert _names(tmp_path, find_files([tmp_path], include=["*.txt", "*.md"])) == [
        "a.txt", "drafts/c.txt", "drafts/old/d.md"
    ]  # fmt: skip
    assert _names(tmp_path, find_files([tmp_path], exclude=["drafts/*"])) == [
        "a.txt",
        "b.PDF",
        "page.html",
        "sub/e.docx",
    ]
    assert _names(tmp_path, find_files([tmp_path], exclude=["old"])) == [
        "a.txt", "b.PDF", "drafts/c.txt", "page.html", "sub/e.docx"
    ]  # fmt: skip
    assert _names(tmp_path, find_files([tmp_path], include=["sub/*"], exclude=["*.pdf"])) == ["sub/e.docx"]
    # A file named explicitly is taken whatever its suffix or the patterns.
    assert _names(tmp_path, find_files([tmp_path / "notes.xyz"], include=["*.pdf"])) == ["notes.xyz"]
    error = _error(find_files, [tmp_path / "sub"], ["*.pdf"])
    assert error.cause.endswith("matching the include/exclude patterns in this directory")


def test_find_files_symlinks(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "a.txt").write_text("x")
    (root / "sub" / "b.txt").write_text("x")
    (outside / "c.txt").write_text("x")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)  # back up the tree
    (root / "self").symlink_to(root / "self")  # a link to itself
    (root / "self.txt").symlink_to(root / "self.txt")
    (root / "linked").symlink_to(outside, target_is_directory=True)  # with --follow-links: followed once
    (root / "twice").symlink_to(outside, target_is_directory=True)
    (root / "alias").symlink_to(root / "sub", target_is_directory=True)  # walked as sub/
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    (root / "c-link.txt").symlink_to(outside / "c.txt")
    (root / "b-link.txt").symlink_to(root / "sub" / "b.txt")  # inside: the same file, read once
    # Dangling and looping links to documents are kept, to be reported when read. A
    # file reached twice is read once: by its own name if it has one here (sub/b.txt, not
    # b-link.txt), else by the first link (c-link.txt, not linked/c.txt).
    assert _names(root, find_files([root], follow_links=True)) == [
        "a.txt", "c-link.txt", "dangling.txt", "self.txt", "sub/b.txt"
    ]  # fmt: skip
    assert _error(load_document, root / "dangling.txt").cause == "broken symbolic link (or a loop of links)"
    # Links that lead out of the paths being read are not followed, and each is reported.
    files, refused, _ = find_files([root])
    assert _names(root, (files, [])) == ["a.txt", "dangling.txt", "self.txt", "sub/b.txt"]
    assert [str(e) for e in refused] == [
        f"{root / name}: a link to {target}, outside the paths being read: not followed (--follow-links follows it)"
        for name, target in (("linked", outside), ("twice", outside), ("c-link.txt", outside / "c.txt"))
    ]
    # ... unless they lead to another path being read (c-link.txt). Named twice
    # (directly and through a link): read once.
    files, refused, _ = find_files([root, outside / "c.txt", root / "sub" / "b.txt"])
    assert _names(tmp_path, (files, [])) == [
        "root/a.txt", "root/dangling.txt", "root/self.txt", "root/sub/b.txt", "outside/c.txt"
    ]  # fmt: skip
    assert [Path(e.path).name for e in refused] == ["linked", "twice"]
    assert _error(find_files, [root / "self.txt"]).cause == "broken symbolic link (or a loop of links)"


# --- standard input ----------------------------------------------------------------


def test_load_stream():
    doc = load_stream("基层治理讲话\n一、总体要求\n要把群众满意作为根本标准。".encode("gb18030"))
    assert (doc.doc_id, doc.path, doc.title) == ("-", "-", "基层治理讲话")
    assert doc.text == "基层治理讲话\n一、总体要求\n要把群众满意作为根本标准。"
    untitled = load_stream("要把群众满意作为根本标准，切实解决群众急难愁盼问题。".encode())
    assert (untitled.doc_id, untitled.title) == ("-", "stdin")
    # An upload is named: its suffix gives the format (as for a file) and its stem the fallback title.
    uploaded = load_stream("要把群众满意作为根本标准，切实解决群众急难愁盼问题。".encode(), name="讲话稿.md")
    assert (uploaded.doc_id, uploaded.title) == ("讲话稿.md", "讲话稿")
    assert load_stream(NEWS_PAGE.encode()).text == NEWS_TEXT  # told from the content
    assert load_stream(TRADITIONAL.encode("big5"), fmt="text").text == TRADITIONAL.strip()
    assert _error(load_stream, b"  \n").cause == "empty file"


def test_load_stream_pdf_and_docx(tmp_path):
    pdf = _pdf(tmp_path / "a.pdf", _pdf_paragraphs()).read_bytes()
    assert load_stream(pdf).text == "\n".join(_pdf_paragraphs())
    docx = _docx(tmp_path / "a.docx").read_bytes()
    assert load_stream(docx).title == "关于推进基层治理的实施方案"
    assert _error(load_stream, io.BytesIO(b"PK\x03\x04junk").getvalue()).cause.startswith("not a readable .docx file (")


def test_causes_never_show_memory_addresses():
    from retriever.reading.extracted import reason

    # What pypdf raised for a PDF whose object refers to itself: the id() of its reader.
    e = ValueError("Unexpected destination IndirectObject(5, 0, 140077810786320) at <Reader object at 0x7f6b2c0d1e50>")
    assert reason(e) == "ValueError: Unexpected destination IndirectObject(5, 0) at <Reader object>"
    assert reason(RuntimeError("x" * 1000)) == "RuntimeError: " + "x" * 300


def test_docx_headings_come_from_their_styles_and_outline_levels(tmp_path, fake_embedder):
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml.ns import qn
    from docx.oxml.shared import OxmlElement

    from retriever.summary.documents import summarize_one
    from retriever.text.segment import segment

    document = Document()
    document.add_paragraph("乡村振兴工作方案", style="Title")
    document.add_heading("总体要求", level=1)  # Word's own heading styles, no numbers in the text
    document.add_paragraph("坚持农业农村优先发展,扎实推进乡村全面振兴,让农民群众得到更多实惠。")
    document.add_heading("主要任务", level=1)
    document.add_heading("发展特色产业", level=2)
    document.add_paragraph("立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富。")
    localized = document.styles.add_style("标题 2", WD_STYLE_TYPE.PARAGRAPH)  # a localized name, no outline level
    document.add_paragraph("建设和美乡村", style=localized)
    traditional = document.styles.add_style("標題 2", WD_STYLE_TYPE.PARAGRAPH)  # as Word in Taiwan names it
    document.add_paragraph("健全鄉村治理", style=traditional)
    document.add_paragraph("持续推进农村人居环境整治,村容村貌明显改善,群众满意度不断提高。")
    marked = document.add_paragraph("保障措施")  # a plain style, but an outline level of its own
    level = OxmlElement("w:outlineLvl")
    level.set(qn("w:val"), "0")
    marked._p.get_or_add_pPr().append(level)
    document.add_paragraph("各部门要加强协调配合,确保各项任务按期完成,取得实效。")
    document.save(tmp_path / "方案.docx")

    doc = load_document(tmp_path / "方案.docx")
    assert doc.title == "乡村振兴工作方案"
    assert [line for line in doc.text.splitlines() if line.startswith("#")] == [
        "# 总体要求", "# 主要任务", "## 发展特色产业", "## 建设和美乡村", "## 健全鄉村治理", "# 保障措施",
    ]  # fmt: skip
    record = summarize_one(doc, fake_embedder, max_chars=2000)
    assert [(h["level"], h["title"]) for h in record.outline] == [
        (1, "总体要求"), (1, "主要任务"), (2, "发展特色产业"), (2, "建设和美乡村"), (2, "健全鄉村治理"), (1, "保障措施"),
    ]  # fmt: skip
    paths = {p.heading_path for p in segment(doc.text, doc.doc_id, doc.title)}
    assert ("主要任务", "发展特色产业") in paths and ("保障措施",) in paths
    headings = {"总体要求", "主要任务", "发展特色产业", "建设和美乡村", "健全鄉村治理", "保障措施"}
    assert not {s.text for s in record.summary.sentences} & headings


_NUMBERING = """<w:numbering xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:abstractNum w:abstractNumId="90">
  <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:pStyle w:val="Heading1"/><w:lvlText w:val="%1、"/></w:lvl>
  <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:pStyle w:val="Heading2"/><w:lvlText w:val="（%2）"/></w:lvl>
</w:abstractNum>
<w:abstractNum w:abstractNumId="91">
  <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="%1、"/></w:lvl>
</w:abstractNum>
<w:abstractNum w:abstractNumId="92">
  <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
  <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimalEnclosedCircle"/><w:lvlText w:val="%2"/><w:suff w:val="nothing"/></w:lvl>
</w:abstractNum>
<w:abstractNum w:abstractNumId="93">
  <w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="\uf0b7"/></w:lvl>
</w:abstractNum>
<w:num w:numId="90"><w:abstractNumId w:val="90"/></w:num>
<w:num w:numId="91"><w:abstractNumId w:val="91"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="3"/></w:lvlOverride></w:num>
<w:num w:numId="92"><w:abstractNumId w:val="92"/></w:num>
<w:num w:numId="93"><w:abstractNumId w:val="93"/></w:num>
</w:numbering>"""


def _numbered(paragraph, num_id: int, ilvl: int | None = None):
    """Number a python-docx paragraph (or style) from list `num_id`, as Word does."""
    from docx.oxml.ns import qn
    from docx.oxml.shared import OxmlElement

    num_pr = OxmlElement("w:numPr")
    if ilvl is not None:
        level = OxmlElement("w:ilvl")
        level.set(qn("w:val"), str(ilvl))
        num_pr.append(level)
    num = OxmlElement("w:numId")
    num.set(qn("w:val"), str(num_id))
    num_pr.append(num)
    element = paragraph._p if hasattr(paragraph, "_p") else paragraph.element
    element.get_or_add_pPr().append(num_pr)
    return paragraph


def test_docx_numbering_lists_and_tables_as_word_shows_them(tmp_path, fake_embedder):
    """Word's own numbering (in numbering.xml, not in the text) is drawn where Word
    draws it: heading styles linked to a list (一、 （一）), plain paragraphs numbered
    一、 (headings as in a text file), numbered and bulleted items; a table's rows and a
    framed box of text. No heading and no table row is quoted in the summary."""
    from docx import Document
    from lxml import etree

    from retriever.summary.documents import summarize_one
    from retriever.text.segment import segment

    document = Document()
    numbering = document.part.numbering_part.element
    for child in list(numbering):
        numbering.remove(child)
    for child in etree.fromstring(_NUMBERING.encode()):
        numbering.append(child)
    for style in ("Heading 1", "Heading 2"):
        _numbered(document.styles[style], 90)  # the level comes from the list's w:pStyle
    document.add_paragraph("乡村振兴工作方案", style="Title")
    document.add_heading("总体要求", level=1)
    document.add_paragraph("坚持农业农村优先发展,扎实推进乡村全面振兴,让农民群众得到更多实惠。")
    document.add_heading("主要任务", level=1)
    document.add_heading("发展特色产业", level=2)
    _numbered(document.add_paragraph("立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富"), 92, 0)
    _numbered(document.add_paragraph("培育新型农业经营主体,壮大村级集体经济,增强发展后劲"), 92, 0)
    _numbered(document.add_paragraph("做强龙头企业"), 92, 1)
    _numbered(document.add_paragraph("做优合作社"), 92, 1)
    document.add_heading("建设和美乡村", level=2)
    _numbered(document.add_paragraph("持续推进农村人居环境整治,村容村貌明显改善"), 93)
    _numbered(document.add_paragraph("完善农村基础设施,提升公共服务水平"), 93)
    table = document.add_table(rows=3, cols=3)
    for i, row in enumerate([("任务", "责任单位", "时限"), ("改厕", "农业农村局", "6月底"), ("", "", "")]):
        for j, value in enumerate(row):
            table.cell(i, j).text = value
    box = document.add_table(rows=1, cols=1).cell(0, 0)
    box.text = "各地要结合实际抓好落实,不搞一刀切。"
    box.add_paragraph("重大情况及时报告。")
    document.add_heading("保障措施", level=1)
    document.add_paragraph("各部门要加强协调配合,确保各项任务按期完成,取得实效。")
    document.save(tmp_path / "方案.docx")

    doc = load_document(tmp_path / "方案.docx")
    assert doc.text == (
        "乡村振兴工作方案\n"
        "# 一、总体要求\n"
        "坚持农业农村优先发展,扎实推进乡村全面振兴,让农民群众得到更多实惠。\n"
        "# 二、主要任务\n"
        "## （一）发展特色产业\n"
        "1. 立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富\n"
        "2. 培育新型农业经营主体,壮大村级集体经济,增强发展后劲\n"
        "①做强龙头企业\n"
        "②做优合作社\n"
        "## （二）建设和美乡村\n"
        "- 持续推进农村人居环境整治,村容村貌明显改善\n"
        "- 完善农村基础设施,提升公共服务水平\n"
        "| 任务 | 责任单位 | 时限 |\n"
        "| 改厕 | 农业农村局 | 6月底 |\n"
        "各地要结合实际抓好落实,不搞一刀切。\n"
        "重大情况及时报告。\n"
        "# 三、保障措施\n"
        "各部门要加强协调配合,确保各项任务按期完成,取得实效。"
    )
    record = summarize_one(doc, fake_embedder, max_chars=2000)
    # Headings from the styles; the numbered items are items of lists, not headings.
    assert [(h["level"], h["title"]) for h in record.outline] == [
        (1, "一、总体要求"), (1, "二、主要任务"), (2, "（一）发展特色产业"), (2, "（二）建设和美乡村"), (1, "三、保障措施"),
    ]  # fmt: skip
    paths = {p.heading_path for p in segment(doc.text, doc.doc_id, doc.title)}
    assert {("二、主要任务", "（一）发展特色产业"), ("二、主要任务", "（二）建设和美乡村"), ("三、保障措施",)} <= paths
    quoted = {s.text for s in record.summary.sentences}
    assert quoted and not quoted & {h["title"] for h in record.outline}
    assert not any(s.startswith(("|", "-", "任务", "改厕")) for s in quoted)

    # Without heading styles, paragraphs that Word numbers 一、 are headings, as typed ones are.
    plain = Document()
    plain.part.numbering_part.element.append(etree.fromstring(_NUMBERING.encode())[1])  # list 91's definition
    plain.part.numbering_part.element.append(etree.fromstring(_NUMBERING.encode())[5])  # list 91, from 三
    _numbered(plain.add_paragraph("保障措施"), 91)
    plain.add_paragraph("各部门要加强协调配合,确保各项任务按期完成,取得实效。")
    _numbered(plain.add_paragraph("工作要求"), 91)
    plain.add_paragraph("严格落实责任,按时报送进展。")
    plain.save(tmp_path / "要求.docx")
    doc = load_document(tmp_path / "要求.docx")
    assert doc.text.splitlines()[0::2] == ["三、保障措施", "四、工作要求"]
    assert [h["title"] for h in summarize_one(doc, fake_embedder, max_chars=2000).outline] == ["三、保障措施", "四、工作要求"]


def test_html_lists_and_tables_as_the_page_shows_them(fake_embedder):
    """h1-h4, a bulleted and a numbered list and a data table come out as Markdown
    writes them; a table that lays out the page (a cell of running text) is text. The
    heading paths follow the <h*>; no heading and no row is quoted in the summary."""
    from retriever.summary.documents import summarize_one
    from retriever.text.segment import paragraphs

    page = (
        "<html><head><title>乡村振兴工作方案_某某县人民政府</title></head><body><table><tr><td>"
        "<h1>乡村振兴工作方案</h1><h2>主要任务</h2><h3>发展特色产业</h3>"
        "<p>立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富。</p>"
        "<h4>重点项目</h4><ol start='3'><li>建设冷链物流中心,补齐农产品流通短板,让鲜活产品卖得出去</li><li>打造区域公用品牌</li></ol>"
        "<h3>建设和美乡村</h3><ul><li>持续推进农村人居环境整治,村容村貌明显改善</li><li>完善农村基础设施</li></ul>"
        "<table><tr><th>任务</th><th>责任单位</th><th>时限</th></tr><tr><td>改厕</td><td>农业农村局</td><td>6月底</td></tr></table>"
        "<h2>保障措施</h2><p>各部门要加强协调配合,确保各项任务按期完成,取得实效。</p>"
        "</td></tr></table></body></html>"
    ).encode()
    doc = load_stream(page, "方案.html")
    assert doc.text == (
        "# 乡村振兴工作方案\n"
        "## 主要任务\n"
        "### 发展特色产业\n"
        "立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富。\n"
        "#### 重点项目\n"
        "3. 建设冷链物流中心,补齐农产品流通短板,让鲜活产品卖得出去\n"
        "4. 打造区域公用品牌\n"
        "### 建设和美乡村\n"
        "- 持续推进农村人居环境整治,村容村貌明显改善\n"
        "- 完善农村基础设施\n"
        "| 任务 | 责任单位 | 时限 |\n"
        "| 改厕 | 农业农村局 | 6月底 |\n"
        "## 保障措施\n"
        "各部门要加强协调配合,确保各项任务按期完成,取得实效。"
    )
    record = summarize_one(doc, fake_embedder, max_chars=2000)
    assert [(h["level"], h["title"]) for h in record.outline] == [
        (1, "主要任务"), (2, "发展特色产业"), (3, "重点项目"), (2, "建设和美乡村"), (1, "保障措施"),
    ]  # fmt: skip
    placed = {(p.path, p.sentences[0].text) for p in paragraphs(doc.text) if not p.heading}
    assert (("主要任务", "发展特色产业", "重点项目"), "4. 打造区域公用品牌") in placed
    assert (("主要任务", "建设和美乡村"), "| 改厕 | 农业农村局 | 6月底 |") in placed
    quoted = {s.text for s in record.summary.sentences}
    assert quoted and not quoted & {h["title"] for h in record.outline}
    assert not any(s.startswith(("|", "任务", "改厕")) for s in quoted)


def test_html_headings_make_the_outline(fake_embedder):
    from retriever.reading.load import load_stream
    from retriever.summary.documents import summarize_one

    page = (
        "<html><head><title>乡村振兴工作方案_某某县人民政府</title></head><body><article>"
        "<h1>乡村振兴工作方案</h1><h2>总体要求</h2><p>坚持农业农村优先发展,扎实推进乡村全面振兴,让农民群众得到更多实惠。</p>"
        "<h2>主要任务</h2><h3>发展特色产业</h3><p>立足资源禀赋,积极探索一村一品发展模式,带动群众增收致富。</p>"
        "<h3>建设和美乡村</h3><p>持续推进农村人居环境整治,村容村貌明显改善,群众满意度不断提高。</p>"
        "<h2></h2><h2>保障措施</h2><p>各部门要加强协调配合,确保各项任务按期完成,取得实效。</p></article></body></html>"
    ).encode()
    record = summarize_one(load_stream(page, "方案.html"), fake_embedder, max_chars=2000)
    assert record.title == "乡村振兴工作方案"
    assert [(h["level"], h["title"]) for h in record.outline] == [
        (1, "总体要求"), (1, "主要任务"), (2, "发展特色产业"), (2, "建设和美乡村"), (1, "保障措施"),
    ]  # fmt: skip
    assert not {s.text for s in record.summary.sentences} & {h["title"] for h in record.outline}


# --- what the file's properties say ---------------------------------------------------


def test_file_properties_date_and_issue_documents(tmp_path):
    """A .docx's core properties, a page's <meta> and a PDF's information dictionary:
    the date where the text has no dated line and the title names no other year, the
    author where it names a body (a user name or a person is no issuer)."""
    import datetime

    import docx
    import pypdf

    document = docx.Document()
    document.add_paragraph("关于推进基层治理的实施方案")
    document.add_paragraph("各乡镇要按时报送进展情况。")
    document.core_properties.author = "某某县人民政府办公室"
    document.core_properties.created = datetime.datetime(2022, 4, 8, 9, 30)
    document.save(tmp_path / "plan.docx")
    meta = load_document(tmp_path / "plan.docx").meta
    assert (meta.date, meta.date_from, meta.issuer) == ("2022-04-08", "file", "某某县人民政府办公室")
    # A script's file, its library's template's date untouched, is of no date.
    scripted = docx.Document()
    scripted.add_paragraph("关于推进基层治理的实施方案")
    scripted.add_paragraph("各乡镇要按时报送进展情况。")
    scripted.save(tmp_path / "scripted.docx")
    assert load_document(tmp_path / "scripted.docx").meta.date is None

    page = (
        '<html><head><meta name="PubDate" content="2023-06-01 10:00"><meta name="ContentSource" content="某某市生态环境局">'
        "<title>关于开展环境整治的通知_某某市</title></head><body><article><h1>关于开展环境整治的通知</h1>"
        "<p>各区要认真开展人居环境整治工作，确保取得实效。</p></article></body></html>"
    )
    (tmp_path / "notice.html").write_text(page, encoding="utf-8")
    meta = load_document(tmp_path / "notice.html").meta
    assert (meta.date, meta.date_from, meta.issuer) == ("2023-06-01", "file", "某某市生态环境局")

    from reportlab.pdfgen import canvas

    _register_font()
    drawn = canvas.Canvas(str(tmp_path / "plain.pdf"))
    drawn.setFont("STSong-Light", 14)
    drawn.drawString(72, 760, "2019年工作总结")
    drawn.drawString(72, 730, "今年各项工作稳步推进，群众满意度持续提升。")
    drawn.save()
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(tmp_path / "plain.pdf"))
    writer.add_metadata({"/CreationDate": "D:20240105120000+08'00'", "/Author": "Administrator"})
    with open(tmp_path / "converted.pdf", "wb") as f:
        writer.write(f)
    meta = load_document(tmp_path / "converted.pdf").meta
    # Converted in 2024, of 2019 by its title: the title's year, and no issuer.
    assert (meta.date, meta.date_from, meta.issuer) == ("2019", "title", None)
