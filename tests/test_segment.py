from pathlib import Path

import pytest

from retriever.config import SegmentConfig
from retriever.text.clean import clean
from retriever.text.outline import ENUMERATION_RANK, detect_heading, is_toc_marker
from retriever.text.segment import Sentence, cap_sentence, find_title, paragraphs, segment, split_sentences, unglue_title

CORPUS = Path(__file__).resolve().parent.parent / "corpus"

HEADINGS = [
    ("第一章 总则", 0, "第一章 总则"),
    ("一、铸牢政治之魂,把准前行方向", 1, "一、铸牢政治之魂,把准前行方向"),
    ("(一)党建引领是必然要求", 2, "(一)党建引领是必然要求"),
    ("（二）完善治理机制", 2, "（二）完善治理机制"),
    ("1.强化党组织领导核心地位。明确农村基层党组织的领导地位,健全工作机制。", 3, "1.强化党组织领导核心地位"),
    ("2、加强班子建设", 3, "2、加强班子建设"),
    ("(3)建立台账", 4, "(3)建立台账"),
    ("①摸清底数", 5, "①摸清底数"),
    ("一是思想认识的深度有待提升。部分同志对乡村振兴战略认识还不够。", ENUMERATION_RANK, "一是思想认识的深度有待提升"),
    ("第二,乡村产业发展动能更加强劲。大家紧紧扭住产业振兴这个牛鼻子。", ENUMERATION_RANK, "第二,乡村产业发展动能更加强劲"),
    ("第三,和美乡村建设步伐更加坚实。", ENUMERATION_RANK, "第三,和美乡村建设步伐更加坚实"),
    ("首先,加强组织领导", ENUMERATION_RANK, "首先,加强组织领导"),
    ("## 工作要求", 1, "工作要求"),
]


@pytest.mark.parametrize("line,rank,title", HEADINGS)
def test_headings(line, rank, title):
    h = detect_heading(line)
    assert (h.rank, h.title) == (rank, title)


@pytest.mark.parametrize(
    "line",
    [
        "1.5亿元资金已经到位。",
        "首先要明确,乡镇是治理的最前沿,这一点大家都要认识到位,不能有丝毫含糊。",
        "最后,预祝大家工作顺利,身体健康,阖家幸福!",
        "(一)正确政绩观是镇工作的行动航标,正确的政绩观是马克思主义世界观、人生观、价值观在镇工作中的具体呈现,需要长期坚持。",
        "同志们:",
        "农村社会和谐稳定是农村发展的前提和基础。",
        # A numbered sentence too long for a heading (a short one on its own line is a
        # heading: see test_outline.py).
        "一是思想认识有待提升,部分同志对乡村振兴战略的系统性、长期性和艰巨性认识还不够深刻,依然存在惯性思维的现象。",
    ],
)
def test_not_headings(line):
    assert detect_heading(line) is None


def test_run_in_heading_ends_after_its_sentence():
    line = "(一)正确政绩观是行动航标。正确的政绩观是世界观的具体呈现。"
    assert detect_heading(line).end == line.index("正确的")


def test_toc_marker():
    assert is_toc_marker("目录/提纲:……")
    assert is_toc_marker("目 录")
    assert is_toc_marker("目錄")
    assert not is_toc_marker("目录编制工作要规范。")


def test_sentences_keep_closing_quotes_and_offsets():
    text = "他说:“要实干。”然后走了!真的吗?是的;好……结束"
    got = split_sentences(text, offset=10)
    assert [s.text for s in got] == ["他说:“要实干。”", "然后走了!", "真的吗?", "是的;", "好……", "结束"]
    assert all(text[s.start - 10 : s.end - 10] == s.text for s in got)


def test_ascii_quotes_close_only_what_they_opened():
    got = split_sentences('强调,"要把好方向。"党建+产业"模式很好。')
    assert [s.text for s in got] == ['强调,"要把好方向。"', '党建+产业"模式很好。']


def test_placeholder_dots_do_not_split():
    assert [s.text for s in split_sentences("在〔...〕镇召开会议。")] == ["在〔...〕镇召开会议。"]


DOC = "\n".join(
    [
        "目录",
        "一、总体要求",
        "二、主要任务",
        "关于加强基层治理的讲话",
        "同志们:",
        "今天开会。" * 4,
        "一、总体要求",
        "(一)坚持党建引领",
        "要把党的领导贯穿基层治理全过程。" * 3,
        "(二)坚持以人为本",
        "要把群众满意作为根本标准。" * 3,
        "二、主要任务",
        "完善矛盾纠纷化解机制。" * 3,
    ]
)


def test_title_skips_toc():
    assert find_title(DOC, "fallback") == "关于加强基层治理的讲话"
    assert find_title("这是一个很长的句子,不是标题。", "fallback") == "fallback"


def test_passages_paths_offsets_and_toc():
    text = clean(DOC)
    got = segment(text, "d", "t", SegmentConfig(min_chars=20, target_chars=40, max_chars=80))
    assert [p.heading_path for p in got] == [
        (),
        ("一、总体要求", "(一)坚持党建引领"),
        ("一、总体要求", "(二)坚持以人为本"),
        ("二、主要任务",),
    ]
    assert all(text[p.start : p.end] == p.text for p in got)
    # The TOC, the title line and the bare salutation are not passages.
    assert got[0].text == "今天开会。" * 4
    assert got[1].text.startswith("一、总体要求\n(一)坚持党建引领\n")
    assert got[3].text.startswith("二、主要任务\n")


def test_long_sentences_are_cut_at_commas():
    text = "甲" * 50 + "," + "乙" * 50 + "," + "丙" * 50 + "。"
    got = segment(text, "d", "t", SegmentConfig(min_chars=10, target_chars=60, max_chars=80))
    assert [len(p.text) for p in got] == [51, 51, 51]
    assert "".join(p.text for p in got) == text


def test_soft_caps_cut_only_at_commas():
    sentence = Sentence("甲" * 10 + "，" + "乙" * 30 + "，" + "丙" * 5 + "。", 7, 55)
    # The first comma is in the second half of 20 characters; then there is none within
    # 20 characters, so the next cut is at the first comma after them.
    assert [(p.text, p.start) for p in cap_sentence(sentence, 20, hard=False)] == [
        ("甲" * 10 + "，", 7),
        ("乙" * 30 + "，", 18),
        ("丙" * 5 + "。", 49),
    ]
    assert [p.text for p in cap_sentence(sentence, 20)][:2] == ["甲" * 10 + "，", "乙" * 20]  # a hard cut
    # No comma left to cut at, or only one that ends the text: the sentence stays whole.
    for text in ("甲" * 30 + "。", "甲" * 30 + "，"):
        assert cap_sentence(Sentence(text, 0, 31), 20, hard=False) == [Sentence(text, 0, 31)]


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.txt")), ids=lambda p: p.name)
def test_seed_passages_are_exact_and_bounded(path):
    text = clean(path.read_text(encoding="utf-8"))
    config = SegmentConfig()
    passages = segment(text, path.name, "t", config)
    assert passages
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert len(p.text) <= config.max_chars
    # Packing never crosses a top-level heading: each passage holds at most one, at its start.
    for p in passages:
        top = [line for line in p.text.split("\n")[1:] if (h := detect_heading(line)) and h.rank <= 1]
        assert top == []


def test_a_title_only_document_is_one_passage():
    [p] = segment("关于加强基层治理的通知", "d", "关于加强基层治理的通知")
    assert (p.text, p.start, p.end, p.heading_path) == ("关于加强基层治理的通知", 0, 11, ())


BODY = "各地要认真贯彻落实会议精神，" * 20  # a text without line breaks


@pytest.mark.parametrize(
    "text,title",
    [
        # A saved page's title glued to its first sentence: the genre word ends the title.
        ("乡镇干部学习习近平讲话体会精选在新时代新征程的背景下，" + BODY, "乡镇干部学习习近平讲话体会精选"),
        ("关于进一步加强基层治理的意见各乡镇各部门要认真执行，" + BODY, "关于进一步加强基层治理的意见"),
        # A genre word inside a sentence is not a title.
        ("总书记在七一讲话中强调坚持以人民为中心的发展思想，" + BODY, "stem"),
        ("省政府办公厅关于做好防汛工作的通知要求各地抓紧落实，" + BODY, "stem"),
        ("复合式装甲是由数种化学特性极为不同的材料所组成的装甲，" + BODY, "stem"),
        # Only in a text run together: a short first line is a sentence, not a glued title.
        ("乡镇干部学习习近平讲话体会精选在新时代新征程的背景下，要做好工作。\n" + BODY, "stem"),
    ],
)
def test_a_title_glued_to_the_first_sentence(text, title):
    # It goes on a line of its own, where a title is found in any text.
    unglued = unglue_title(text)
    assert unglued == (text if title == "stem" else f"{title}\n{text[len(title) :]}")
    assert find_title(unglued, "stem") == title


def test_an_official_documents_masthead_and_number_are_not_its_title():
    text = "青州市人民政府文件\n青政发〔2024〕8号\n青州市人民政府关于优化营商环境的通知\n各乡镇人民政府：\n现将有关事项通知如下。"
    assert find_title(text, fallback="f") == "青州市人民政府关于优化营商环境的通知"


def test_a_title_set_on_two_lines_is_one():
    # The issuing body, then what it says: 红头 documents set their titles so.
    text = "青州市人民政府\n关于优化营商环境的通知\n现将有关事项通知如下。"
    assert find_title(text, fallback="f") == "青州市人民政府关于优化营商环境的通知"
    assert [p.sentences[0].text for p in paragraphs(text)] == ["现将有关事项通知如下。"]
    # Two titles of 关于 one after the other are not one.
    assert find_title("关于优化营商环境的通知\n关于进一步加强管理的意见\n正文。", fallback="f") == "关于优化营商环境的通知"


def test_a_short_point_between_long_ones_is_an_item_of_their_list():
    # Points of a list, each a line: the short one in the middle reads as a heading alone,
    # but its siblings are numbered alike (too long to head anything) and nothing follows
    # it to head. A real heading (「二、主要任务」) stays one.
    points = (
        "一、合理调整农村粮食购销价格和棉花收购价格并实行合同定购，把其余农副产品的价格逐步放开，实行市场调节；\n"
        "二、适当提高铁路短途运价，以利于调整运输结构，充分发挥公路和水运的作用；\n"
        "三、适当拉开质量差价和地区差价，减少和淘汰质次价高、不适合市场需要的产品，促进优质名牌产品的迅速增长；\n"
    )
    text = "关于价格体系的改革\n今年的价格改革包括以下内容。\n" + points + "二、主要任务\n要坚决控制货币的发行量。"
    assert [p.outline_heading.title for p in paragraphs(text) if p.outline_heading] == ["二、主要任务"]
