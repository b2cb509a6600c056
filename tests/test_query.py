"""What a question names in short, and the search that prefers the year asked."""

import numpy as np
import pytest
from conftest import write_corpus

from retriever import Retriever
from retriever.config import SearchConfig
from retriever.search import NO_WORDS, Hit, holds_a_share, judge, search
from retriever.text.metadata import Metadata, answers_years, passage_years
from retriever.text.query import title_years, understand, years_in
from retriever.text.segment import Passage


@pytest.mark.parametrize(
    "question, years",
    [
        ("2025年经济增长的预期目标是多少", {2025}),
        ("03年GDP增速定了多少", {2003}),
        ("二〇一九年的赤字率", {2019}),
        ("二零零八年奥运会", {2008}),
        ("九三年全国一共打了多少粮食", {1993}),
        ("2019年和2020年的就业目标", {2019, 2020}),
        ("80年代的价格闯关", set(range(1980, 1990))),
        ("五十年代中国跟以色列谈过建交吗", set(range(1950, 1960))),
        ("三年行动计划", set()),  # three years, not a year
        ("增长1.5年", set()),
        ("十年规划", set()),
        ("近10年GDP增长多少", set()),  # spans of years, not years
        ("新中国成立70年来的成就", set()),
        ("改革开放40年的经验", set()),
        ("过去五六年间", set()),
        ("20年内", set()),
        ("19年的政府工作报告", {2019}),
        ("2019—2021年的就业", {2019, 2020, 2021}),  # a range names the years between
        ("从2013年到2017年", {2013, 2014, 2015, 2016, 2017}),
        ("2019年和2021年", {2019, 2021}),
        ("1949-2019", {1949, 2019}),  # a span of history: the years it names, not seventy
        # Traditional script, as users in Taiwan and Hong Kong write.
        ("過去10年糧食產量增長多少", set()),
        ("建國70年來的成就", set()),
        ("改革開放40年間", set()),
        ("93年糧食產量是多少", {1993}),
    ],
)
def test_years_in_the_forms_people_write(question, years):
    assert years_in(question) == years


@pytest.mark.parametrize(
    ("question", "first", "ordinal"),
    [
        ("十三五计划高铁要修到多长", 2016, "第十三个五年"),
        ("“六五”时期电影厂一年要拍多少部故事片", 1981, "第六个五年"),
        ("一五計劃蘇聯援建了多少個項目", 1953, "第一个五年"),
        ("三五期间的投资", 1966, "第三个五年"),  # 1963-65 were no plan's
        ("十五计划的目标", 2001, "第十个五年"),
    ],
)
def test_a_five_year_plan_names_its_years_and_the_next(question, first, ordinal):
    understood = understand(question)
    assert understood.years == frozenset(range(first, first + 6))
    assert understood.text == f"{question} {ordinal}"


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("九大报告里说了什么", {1969}),
        ("十大召开时全党有多少人", {1973}),
        ("二十大时中国GDP在全球占几成", {2022}),
        ("十三届全国人大一次会议决议提了什么", {2018}),
        ("第十三届全国人民代表大会第二次会议", {2019}),
        ("二届人大三次会议怎么看世界局势", {1962}),  # the early terms skipped years
        ("四届人大上周总理说了什么", {1975}),  # a term that met once
        ("十三届全国人大", {2018, 2019, 2020, 2021, 2022}),  # a term: every year it met
        ("省十三届人大一次会议", set()),  # a province's congress
        ("三大攻坚战", set()),
        ("大学扩招后第一届毕业生", set()),
        ("二十五大", set()),  # not met yet
    ],
)
def test_a_congress_or_session_names_the_year_it_met(question, years):
    assert understand(question).years == frozenset(years)


def test_fifteen_is_no_plan_without_a_plan_word():
    assert understand("十五年来的变化").years == frozenset()
    assert understand("二十五期间").years == frozenset()  # no 25th plan yet
    assert years_in("“十三五”规划纲要") == set()  # a title's years are its own: plans are read in questions


@pytest.mark.parametrize(
    ("question", "answered_in"),
    [
        # How a year turned out: its results are reported the year after.
        ("一九八四年粮食收了多少吨", {1984, 1985}),
        ("疫情那年2020年GDP到底增长了多少", {2020, 2021}),
        ("九八年農民收入實際漲了幾個點", {1998, 1999}),
        ("91年CPI最后是多少", {1991, 1992}),
        # What was planned for it: that year's own documents.
        ("03年GDP增速定了多少", {2003}),
        ("97年GDP打算长多快", {1997}),
        ("2017年钢铁产能还要砍多少", {2017}),
        ("2013年财政赤字规模", {2013}),  # neither: the year's own
        ("2016年规划了哪些项目", {2016}),
        ("2018年如何了解民意", {2018}),  # 了解 is no 了, 为了 neither
        ("2020年为了稳就业出台什么政策", {2020}),
        ("2020年主要经济指标最后完成得怎么样", {2020, 2021}),  # 主要 is no 要
        # Only one year, as written: not two years, a decade, a congress or a plan.
        ("2019年和2020年就业到底增加了多少", {2019, 2020}),
        ("十九大以后经济到底增长了多少", {2017}),
        ("2017年十九大以后经济到底增长了多少", {2017}),
        ("一五計劃蘇聯一共援建了多少個項目", set(range(1953, 1959))),
    ],
)
def test_how_a_year_turned_out_is_answered_by_the_year_after_too(question, answered_in):
    assert understand(question).answered_in == answered_in


def test_understand_adds_full_forms():
    assert understand("03年GDP增速").text == "03年GDP增速 2003年"
    assert understand("2025年目标").text == "2025年目标"  # already written in full
    assert understand("十九大报告说了什么").text == "十九大报告说了什么 第十九次全国代表大会"
    assert understand("二十大提出的中国式现代化").text.endswith(" 第二十次全国代表大会")
    assert understand("三大攻坚战").text == "三大攻坚战"  # not a congress
    assert understand("十四届全国人大三次会议").text.endswith(" 人民代表大会")
    assert understand("80年代的价格").text == "80年代的价格"  # a decade adds no words
    assert title_years("2019年国务院政府工作报告") == {2019}


# Near-identical reports of three years among other documents (the minmax rescaling
# of each side runs over all candidates, as in a real index).
REPORTS = {
    "2019.txt": "2019年政府工作报告\n今年要稳定就业,城镇新增就业目标是1100万人以上,调查失业率5.5%左右。",
    "2020.txt": "2020年政府工作报告\n今年要稳定就业,城镇新增就业目标是900万人以上,调查失业率6%左右。",
    "2021.txt": "2021年政府工作报告\n今年要稳定就业,城镇新增就业目标是1100万人以上,调查失业率5.5%左右。",
    "a.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
    "b.txt": "基层治理讲话\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。",
    "c.txt": "产业发展报告\n要因地制宜发展特色产业,带动群众增收致富。",
    "d.txt": "防汛工作会议\n要压实防汛责任,加强隐患排查,确保安全度汛。",
}


def test_the_year_asked_decides_among_near_identical_reports(in_tmp, fake_embedder):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    for year in ("2019", "2020", "2021", "20年", "二〇二一年"):
        question = f"{year}新增就业目标是多少"
        full = {"20年": "2020", "二〇二一年": "2021"}.get(year, year)
        assert r.ask(question, k=1).results[0].passage.doc_id == f"corpus/{full}.txt", question
    # In the blend, the year's report gets year_weight more than its words alone give it; the others not.
    assert_year_bonus(r, fake_embedder, "20年新增就业目标是多少", {"corpus/2020.txt"})


def assert_year_bonus(r: Retriever, fake_embedder, question: str, of_year: set[str]) -> None:
    """In the blend, the documents `of_year` (all among the results) score year_weight more
    than without the bonus, and the others the same."""
    vector = fake_embedder.encode([question])[0]
    scores = {
        weight: {
            h.passage.doc_id: h.score for h in search(r.index, question, vector, 10, "blend", SearchConfig(year_weight=weight))
        }
        for weight in (0.0, SearchConfig().year_weight)
    }
    assert of_year <= set(scores[0.0])
    for doc_id, score in scores[0.0].items():
        boost = SearchConfig().year_weight if doc_id in of_year else 0.0
        assert scores[SearchConfig().year_weight][doc_id] == pytest.approx(score + boost), doc_id


def test_how_a_year_turned_out_prefers_its_report_and_the_next(in_tmp, fake_embedder):
    # The report of 2021 gives 2020's results: a question on them prefers both years' reports.
    results = "2021年政府工作报告\n去年城镇新增就业1186万人,超额完成全年目标。今年城镇新增就业目标是1100万人以上。"
    write_corpus(in_tmp, {**REPORTS, "2021.txt": results})
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    assert_year_bonus(r, fake_embedder, "2020年新增就业到底完成了多少", {"corpus/2020.txt", "corpus/2021.txt"})
    assert_year_bonus(r, fake_embedder, "2020年新增就业目标定了多少", {"corpus/2020.txt"})


def test_a_document_dated_otherwise_than_by_its_title_is_of_its_year(in_tmp, fake_embedder):
    # A resolution names its congress session, not its year; the text of a speech ends with its date.
    documents = {
        **REPORTS,
        "resolution.txt": "第十三届全国人民代表大会第三次会议关于政府工作报告的决议\n会议同意报告提出的新增就业目标。",
        "speech.txt": "在就业工作会议上的讲话\n要稳定新增就业目标。\n某某市人民政府\n2020年5月6日",
    }
    write_corpus(in_tmp, documents)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    of_2020 = {"corpus/2020.txt", "corpus/resolution.txt", "corpus/speech.txt"}
    assert_year_bonus(r, fake_embedder, "2020年新增就业目标是多少", of_2020)


def test_a_report_looking_back_on_another_year_is_not_of_its_year_there(in_tmp, fake_embedder):
    # The report of 2019 gives 2018's figures under 「一、2018年工作回顾」 and 2019's
    # targets under 「二、2019年主要任务」: only the targets are of 2019.
    review = "城镇新增就业1361万人,调查失业率稳定在5%左右,就业形势保持稳定。"
    targets = "城镇新增就业1100万人以上,调查失业率5.5%左右,就业优先政策全面发力。"
    documents = {**REPORTS, "2019.txt": f"2019年政府工作报告\n一、2018年工作回顾\n{review}\n二、2019年主要任务\n{targets}"}
    write_corpus(in_tmp, documents)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    question = "2019年城镇新增就业多少人"
    vector = fake_embedder.encode([question])[0]
    weight = SearchConfig().year_weight
    scores = {
        w: {h.passage.heading_path: h.score for h in search(r.index, question, vector, 20, "blend", SearchConfig(year_weight=w))}
        for w in (0.0, weight)
    }
    looking_back, of_the_year = ("一、2018年工作回顾",), ("二、2019年主要任务",)
    assert scores[weight][looking_back] == pytest.approx(scores[0.0][looking_back])
    assert scores[weight][of_the_year] == pytest.approx(scores[0.0][of_the_year] + weight)
    # How 2018 turned out is what the look back says, not the year after's targets.
    outcome = "2018年城镇新增就业到底完成了多少"
    vector = fake_embedder.encode([outcome])[0]
    scores = {
        w: {h.passage.heading_path: h.score for h in search(r.index, outcome, vector, 20, "blend", SearchConfig(year_weight=w))}
        for w in (0.0, weight)
    }
    assert scores[weight][looking_back] == pytest.approx(scores[0.0][looking_back] + weight)
    assert scores[weight][of_the_year] == pytest.approx(scores[0.0][of_the_year])
    # The summary answers from the year's targets, not from the year before's figures.
    assert r.ask(question).summary.sentences[0].text == targets


def test_the_years_of_a_passage():
    meta = Metadata()
    report = "2019年政府工作报告"
    assert passage_years(Passage("r", report, ("一、2018年工作回顾",), "", 0, 0), meta) == frozenset()
    assert passage_years(Passage("r", report, ("二、2019年主要任务", "（一）就业"), "", 0, 0), meta) == {2019}
    assert passage_years(Passage("r", report, ("一、2018年工作回顾和2019年工作的总体要求",), "", 0, 0), meta) == {2019}
    assert passage_years(Passage("r", report, ("二、九十年代的任务",), "", 0, 0), meta) == {2019}  # a decade
    assert passage_years(Passage("r", report, (), "", 0, 0), meta) == {2019}
    assert passage_years(Passage("r", "工作报告", (), "", 0, 0), Metadata(date="2019-03-05")) == {2019}
    # A question on how 2018 turned out is answered by the report of 2019's look back on
    # it, or by all of a report of 2019 that names no year in its headings; a question on
    # 2018's plans is not.
    review, targets, plain = (
        Passage("r", report, path, "", 0, 0) for path in (("一、2018年工作回顾",), ("二、2019年主要任务",), ())
    )
    outcome, plan = (frozenset({2018}), frozenset({2018, 2019})), (frozenset({2018}), frozenset({2018}))
    assert [answers_years(p, meta, *outcome) for p in (review, targets, plain)] == [True, False, True]
    assert [answers_years(p, meta, *plan) for p in (review, targets, plain)] == [False, False, False]


def test_nothing_answers_below_the_threshold(in_tmp, fake_embedder):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    question = "2020年新增就业目标有没有完成"  # 完成: a word no passage holds
    vector = fake_embedder.encode([question])[0]
    hits = search(r.index, question, vector, 3, "hybrid")
    best = max(h.dense for h in hits)
    yes = judge(r.index, question, hits, vector, threshold=best - 0.01)
    no = judge(r.index, question, hits, vector, threshold=best + 0.01)
    assert (yes.answered, no.answered) == (True, False)
    assert yes.confidence > 0.5 > no.confidence
    assert no.reason == (
        f"the closest passage scores {best:.2f} on the dense side, below {best + 0.01:.2f}, and the best one lacks "
        "some of the question's words"
    )
    assert judge(r.index, question, hits, vector, threshold=None).to_dict() == {"answered": None, "confidence": None}
    assert judge(r.index, question, [], vector, threshold=0.5).answered is False


@pytest.mark.parametrize(
    ("question", "answered"),
    [("2020年新增就业目标有没有完成", True), ("家里猫咪不吃东西怎么办", False), ("就业 猫咪", True)],
)
def test_just_above_the_threshold_one_of_the_best_hits_holds_a_quarter_of_the_question(in_tmp, fake_embedder, question, answered):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    vector = fake_embedder.encode([question])[0]
    hits = search(r.index, question, vector, 5, "hybrid")
    best = max(h.dense for h in hits)
    verdict = judge(r.index, question, hits, vector, threshold=best - 0.01)
    assert verdict.answered is answered
    assert verdict.confidence >= 0.5 if answered else verdict.confidence < 0.5
    if not answered:
        assert verdict.reason == (
            f"the closest passage scores {best:.2f} on the dense side, within 0.03 of {best - 0.01:.2f}, and none "
            "of the best holds 25% of the question's words"
        )
    assert judge(r.index, question, hits, vector, threshold=best - 0.03).answered  # past the margin, by the score alone


@pytest.mark.parametrize(
    ("question", "held"),
    [
        ("北交所", True),  # 北京证券交易所: the characters of the full name, in order
        ("个税", True),  # 个人所得税
        ("税改", True),  # 税改革, word for word
        ("北所", False),  # 北京证券交易所 leaves out five between 北 and 所
        ("农机", False),  # 农业，机械: not across a clause
        ("猫咪", False),
    ],
)
def test_a_word_is_held_by_a_full_name_it_abbreviates(question, held):
    text = "设立北京证券交易所。全面实施个人所得税改革。发展农业，机械化水平提高。"
    hit = Hit(1, 1.0, 0, Passage("r", "报告", (), text, 0, len(text)), None, None, ())
    assert holds_a_share(question, [hit], 1.0) is held


@pytest.mark.parametrize(
    ("question", "answered"),
    [
        ("矛盾纠纷 排查", True),  # every word in one passage
        ("防汛 隐患排查", True),
        ("矛盾纠纷 防汛", False),  # each word in a passage, not both in one
        ("矛盾纠纷 小卖部", False),  # a word the index does not know
        ("稻香 歌词", False),
    ],
)
def test_a_query_held_word_for_word_is_answered_below_the_threshold(in_tmp, fake_embedder, question, answered):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    vector = fake_embedder.encode([question])[0]
    hits = search(r.index, question, vector, 3, "hybrid")
    verdict = judge(r.index, question, hits, vector, threshold=2.0)  # no cosine reaches it
    assert verdict.answered is answered
    assert verdict.confidence >= 0.5 if answered else verdict.confidence < 0.5
    assert verdict.reason is None if answered else verdict.reason_code == "below_threshold"


def test_an_unanswered_question_lists_the_nearest_passages_without_a_summary(in_tmp, fake_embedder, monkeypatch):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {r.index.model: 2.0})  # nothing reaches it
    answer = r.ask("明天北京天气怎么样").to_dict()
    assert answer["answered"] is False and answer["results"] and answer["summary"] == {"text": "", "sentences": []}
    assert answer["reason"].startswith("the closest passage scores ")
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {r.index.model: -1.0})
    answer = r.ask("2020年新增就业目标").to_dict()
    assert answer["answered"] is True and "reason" not in answer and answer["summary"]["sentences"]
    assert np.isclose(answer["confidence"], answer["confidence"])


@pytest.mark.parametrize("question", ["？？？", "...", "😀😀", "的的的"])
def test_a_question_without_words_answers_nothing(in_tmp, fake_embedder, monkeypatch, question):
    write_corpus(in_tmp, REPORTS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {r.index.model: -1.0})  # any passage would do
    answer = r.ask(question).to_dict()
    assert (answer["answered"], answer["confidence"], answer["reason"]) == (False, 0.0, NO_WORDS)
    assert answer["results"] and answer["summary"] == {"text": "", "sentences": []}
    assert r.ask("2020年新增就业目标").answered is True


def test_letters_no_passage_holds_answer_nothing_but_a_term_the_documents_use_does(in_tmp, fake_embedder, monkeypatch):
    write_corpus(in_tmp, {**REPORTS, "e.txt": "开放报告\n积极考虑加入CPTPP,扩大高水平对外开放。"})
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {r.index.model: -1.0})  # any passage would do
    for question in ("qwertyzxcv", "How to cook pasta al dente"):
        answer = r.ask(question).to_dict()
        assert (answer["answered"], answer["reason_code"]) == (False, "no_match"), question
        assert answer["reason"] == "no passage holds any word of the question, which has no Chinese"
    assert r.ask("CPTPP").answered is True
    assert r.ask("qwertyzxcv 就业").answered is True  # Chinese the model reads
