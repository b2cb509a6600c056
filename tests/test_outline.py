"""Outline headings: one case per numbering pattern met in the government work reports
and congress reports (excerpts written here, shortened where the rule allows), the
outline of a small multi-level document, and lines that must stay body text."""

import pytest

from retriever.text.outline import ENUMERATION_RANK, detect_heading
from retriever.text.segment import paragraphs

# 2018 report: the first sentence (45 characters) is the title, the rest is the body.
LONG_RUN_IN = (
    "（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理区间、实现稳中向好。这些年，世界经济复苏乏力。"
)

PATTERNS = [
    # 一、 on a line of its own; digits in the title.
    ("一、过去五年工作回顾", 1, "一、过去五年工作回顾"),
    ("一、１９５５年国家决算", 1, "一、１９５５年国家决算"),
    # （一） on a line of its own, written as a sentence with clauses (reports since 2005).
    ("（一）着力稳定宏观经济大盘，保持经济运行在合理区间。", 2, "（一）着力稳定宏观经济大盘，保持经济运行在合理区间"),
    # Long run-in headings: a structural number, a first sentence of 40-60 characters, a body.
    (LONG_RUN_IN, 2, "（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理区间、实现稳中向好"),
    (
        "二、适当控制非生产性建设投资的增长，使同样多的投资规模形成更多的生产能力和事业发展能力。除必要的旅游设施之外，楼堂馆所的建设要严加控制。",
        1,
        "二、适当控制非生产性建设投资的增长，使同样多的投资规模形成更多的生产能力和事业发展能力",
    ),
    # Short run-in heading after a structural number.
    (
        "（五）扩大国内有效需求，推进区域协调发展和新型城镇化。内需是经济发展的基本动力。",
        2,
        "（五）扩大国内有效需求，推进区域协调发展和新型城镇化",
    ),
    # An item of a numbered list that ends with ；.
    ("一、继续保持财政收支的平衡，增加财政和物资的后备力量；", 1, "一、继续保持财政收支的平衡，增加财政和物资的后备力量"),
    # A number alone on its line: 「一」 (1960 report) and 「（一）」 (1986 report).
    ("一", 1, "一"),
    ("（三）", 2, "（三）"),
    # 1． and (1) with full-width digits (1921 and 1958 reports), ①.
    ("2．成立工会", 3, "2．成立工会"),
    ("（６）继续发展群众办学。群众举办的学校，形式可以多种多样。", 4, "（６）继续发展群众办学"),
    ("①工会学校", 5, "①工会学校"),
    # Enumerations on a line of their own, sentences with clauses: the body follows in
    # the next paragraph (2017-2022 reports, 1999 report, 14th congress).
    (
        "一是保持宏观政策连续性针对性，推动经济运行保持在合理区间。",
        ENUMERATION_RANK,
        "一是保持宏观政策连续性针对性，推动经济运行保持在合理区间",
    ),
    ("第三，积极推进粮食流通体制改革，搞活农产品流通。", ENUMERATION_RANK, "第三，积极推进粮食流通体制改革，搞活农产品流通"),
    (
        "第二、改革领导机构和干部制度，实现干部队伍的革命化、年轻化。",
        ENUMERATION_RANK,
        "第二、改革领导机构和干部制度，实现干部队伍的革命化、年轻化",
    ),
    # Run-in enumeration, and one that announces a list with ：.
    (
        "第一，正确处理农业、轻工业、重工业的关系。处理好这个关系，是发展国民经济的关键。",
        ENUMERATION_RANK,
        "第一，正确处理农业、轻工业、重工业的关系",
    ),
    ("第二，关于农业的增产措施，我提出以下几点：", ENUMERATION_RANK, "第二，关于农业的增产措施，我提出以下几点"),
    # Discourse markers on a short line of their own.
    ("首先报告２００１年的工作", ENUMERATION_RANK, "首先报告２００１年的工作"),
    ("最后，着重讲一讲农业和农村工作问题", ENUMERATION_RANK, "最后，着重讲一讲农业和农村工作问题"),
    ("最後，著重講一講農業和農村工作問題", ENUMERATION_RANK, "最後，著重講一講農業和農村工作問題"),
    # 第X部分 and traditional-script 編/節 (not in the reports' numbering, but the same rule).
    ("第一部分 总体要求", 0, "第一部分 总体要求"),
    ("第一編 總則", 0, "第一編 總則"),
    ("第二節 工業", 1, "第二節 工業"),
]


@pytest.mark.parametrize("line,rank,title", PATTERNS)
def test_heading_patterns(line, rank, title):
    h = detect_heading(line)
    assert h is not None
    assert (h.rank, h.title) == (rank, title)


def test_long_run_in_heading_ends_after_its_first_sentence():
    h = detect_heading("\u3000\u3000" + LONG_RUN_IN)
    assert h.end == len("\u3000\u3000" + LONG_RUN_IN) - len("这些年，世界经济复苏乏力。")


NOT_HEADINGS = [
    # A numbered paragraph of one long sentence is an item of a list (1955, 1986 reports).
    "一、我国人民已经推翻了帝国主义者在中国的统治，帝国主义者已经不可能象过去那样掠夺我国人民的大量财富，这样就提供了我国建设的一个重要积累来源。",
    # A first sentence past 60 characters, even with a body after it.
    "四、在私营工厂做工的工人，现在虽然仍旧要拿出一部分劳动成果作为资本家的利润，但是现在资本家只能得到法令所规定的适当的一部分利润。资本主义企业利润中相当大的一部分缴纳所得税。",
    # A first sentence that lists items (；) is not a title.
    "（一）在普遍增产粮食的基础上抓好两头，一头是抓好商品粮基地；一头是抓好缺粮地区。八年内使它们提供的商品粮比现在增加两、三倍。",
    # After 1. (1) ① a sentence with clauses is a numbered sentence, and long first
    # sentences are body text.
    "（９）在国家的辅导下，积极开展群众性的文化活动、体育活动。",
    "（３）中等专业学校主要是培养有文化有技术的工人和农民，学生在毕业以后一律参加工业和农业的生产。今后国家所需要的技术干部应当从工人和农民中提拔。",
    # Enumerations: a long run-in sentence, a long sentence on its own.
    "第三，商品供应状况显著改善，物价稳定，财政收支平衡，货币信用提高，对外贸易有较大发展。今年市场上的商品比去年更加丰富。",
    "第一，在工商业方面，我们基本上用生产资料的全民所有制代替了生产资料的资产阶级所有制，同时付给资本家以定息。",
    # Years and numbers that open a sentence.
    "一九五八年，将积极发展燃料、电力和原材料的生产。",
    "１９５５年国家决算的收支总数如下：１９５５年本年收入共为２７２亿元。",
    # A number that is the subject of a sentence (meeting transcript).
    "第二部分是在备考期间这个时间分配以及学生状态。",
    "第一章的内容大家已经学过了。",
]


@pytest.mark.parametrize("line", NOT_HEADINGS)
def test_not_headings(line):
    assert detect_heading(line) is None


DOC = "\n".join(
    [
        "政府工作报告",
        "各位代表：",
        "现在，我代表国务院，向大会报告政府工作。",
        "一、过去五年工作回顾",
        "五年来，我们着力做好以下工作。",
        LONG_RUN_IN,
        "（二）坚持以供给侧结构性改革为主线，着力培育壮大新动能，经济结构加快优化升级。我们把处理“僵尸企业”作为重要抓手。",
        "二、2021年工作回顾",
        "一是围绕市场主体的急需制定和实施宏观政策，稳住了经济基本盘。",
        "面对历史罕见的冲击，我们明确提出“六保”任务。",
        "三、政府工作任务",
        "（一）着力稳定宏观经济大盘，保持经济运行在合理区间。",
        "继续做好“六稳”、“六保”工作。",
        "1.积极的财政政策要提升效能。今年赤字率拟按2.8%左右安排。",
        "（1）加大减税降费力度。实施新的组合式税费支持政策。",
        "①留抵退税。对小微企业的存量留抵税额一次性全部退还。",
        "（二）",
        "着力稳市场主体保就业，加大宏观政策实施力度。",
    ]
)


def test_multi_level_outline():
    outline = [(p.heading.rank, p.heading.title) for p in paragraphs(DOC) if p.heading]
    assert outline == [
        (1, "一、过去五年工作回顾"),
        (2, "（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理区间、实现稳中向好"),
        (2, "（二）坚持以供给侧结构性改革为主线，着力培育壮大新动能，经济结构加快优化升级"),
        (1, "二、2021年工作回顾"),
        (ENUMERATION_RANK, "一是围绕市场主体的急需制定和实施宏观政策，稳住了经济基本盘"),
        (1, "三、政府工作任务"),
        (2, "（一）着力稳定宏观经济大盘，保持经济运行在合理区间"),
        (3, "1.积极的财政政策要提升效能"),
        (4, "（1）加大减税降费力度"),
        (5, "①留抵退税"),
        (2, "（二）"),
    ]


def test_body_after_a_long_run_in_heading_has_its_path():
    paras = paragraphs(DOC)
    second = next(p for p in paras if p.heading and p.heading.title.startswith("（二）坚持"))
    assert second.path == ("一、过去五年工作回顾", second.heading.title)
    last = paras[-1]
    assert last.heading is None
    assert last.path == ("三、政府工作任务", "（二）")
