import numpy as np
import pytest
from conftest import sentence_lookup

from retriever import summarize_text
from retriever.config import SummaryConfig
from retriever.search import Hit
from retriever.summary.extract import Summary, SummarySentence, _coverage, centre, select, summarize_document, summarize_hits
from retriever.text.segment import Passage


def test_select_respects_budget_and_redundancy():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0.6, 0.8]], dtype=np.float32)
    relevance = np.array([1.0, 0.99, 0.5, 0.8])
    config = SummaryConfig(redundancy=0.7, max_similarity=0.92)
    # 1 repeats 0 exactly; after 0, sentence 3 scores 0.7*0.8-0.3*0.6=0.38 > sentence 2's 0.35.
    assert select(relevance, vectors, [10, 10, 10, 10], budget=30, config=config) == [0, 3, 2]
    # The budget: 3 is 25 long and no longer fits after 0.
    assert select(relevance, vectors, [10, 10, 10, 25], budget=30, config=config) == [0, 2]
    # The floor: only sentences within 90% of the best one's relevance (1 is a repeat).
    assert select(relevance, vectors, [10, 10, 10, 10], budget=100, config=config, floor=0.9) == [0]


def test_centre_moves_to_what_most_sentences_share():
    # Three sentences on one subject, four asides on two others: the mean leans to the
    # asides; after one round the centre is the subject itself.
    topic, aside1, aside2 = np.eye(3, dtype=np.float32)
    vectors = np.stack([topic] * 3 + [aside1] * 2 + [aside2] * 2)
    fixed = np.zeros(7)
    mean = centre(vectors, fixed, SummaryConfig(centre_rounds=0))
    assert np.allclose(mean, np.array([3, 2, 2]) / np.sqrt(17))
    assert np.allclose(centre(vectors, fixed, SummaryConfig(centre_rounds=1)), topic)
    # Sentences that all rate alike leave it where it was.
    assert np.allclose(centre(np.stack([topic, aside1]), np.zeros(2), SummaryConfig()), np.array([1, 1, 0]) / np.sqrt(2))


def test_document_summary_quotes_long_sentences_by_clause(fake_embedder):
    long = "我们要建立矛盾纠纷排查调处机制，要加强人民调解组织建设，还要发展特色产业增加农民收入。"
    summary = summarize_document(long + "\n谢谢大家。", "d", "t", fake_embedder, max_chars=40)
    # No quote takes more than half of 40 characters where a comma allows: the
    # 44-character sentence is offered as its three clauses, of which two fit.
    assert [s.text for s in summary.sentences] == ["我们要建立矛盾纠纷排查调处机制，", "还要发展特色产业增加农民收入。"]
    assert all(long[s.start : s.end] == s.text for s in summary.sentences)
    # The first piece is not continued by the second: its comma becomes an ellipsis; the
    # second begins inside its sentence, and says so with one more.
    assert summary.text == "我们要建立矛盾纠纷排查调处机制……还要发展特色产业增加农民收入。"
    assert [s.cut_start for s in summary.sentences] == [False, True]


def test_a_cut_piece_keeps_its_comma_only_when_the_next_quote_continues_it():
    def quote(text, doc_id, start):
        return SummarySentence(text, doc_id, "t", (), start, start + len(text), None)

    first, second = quote("要建立排查机制，", "a", 0), quote("及时化解矛盾。", "a", 8)
    assert Summary.of([first, second]).text == "要建立排查机制，及时化解矛盾。"
    assert Summary.of([first, quote("及时化解矛盾。", "a", 20)]).text == "要建立排查机制…及时化解矛盾。"
    assert Summary.of([first, quote("及时化解矛盾。", "b", 8)]).text == "要建立排查机制…及时化解矛盾。"
    assert Summary.of([second, first]).text == "及时化解矛盾。要建立排查机制…"


def _hit(rank, doc_id, text, start=0):
    return Hit(
        rank, 1.0 / rank, rank, Passage(doc_id, "标题" + doc_id, ("一、总则",), text, start, start + len(text)), None, None, ()
    )


@pytest.mark.parametrize(
    ("question", "source"),
    [("2020年城镇新增就业目标", "2013年"), ("2013年城镇新增就业目标", ""), ("城镇新增就业目标", "")],
)
def test_a_quote_not_of_the_year_asked_says_its_year(fake_embedder, question, source):
    # The index has no report of 2020: the 2013 report's target is no answer to the
    # question as asked, and says whose it is; of the year asked, or asked of no year, it
    # needs no label while it is the one document quoted.
    from retriever.text.metadata import Metadata

    text = "城镇新增就业目标900万人以上。"
    hit = Hit(1, 1.0, 1, Passage("r", "政府工作报告", (), text, 0, len(text)), None, None, (), Metadata("2013-03-05", "text"))
    summary = summarize_hits(question, [hit], fake_embedder.encode([question])[0], sentence_lookup(fake_embedder, [hit]), 60)
    assert [(s.text, s.source) for s in summary.sentences] == [(text, source)]
    assert summary.text == (f"〔{source}〕" if source else "") + text


def test_question_summary_cites_and_quotes(fake_embedder):
    hits = [
        _hit(1, "a", "一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制。加强人民调解组织建设。", start=5),
        _hit(2, "b", "要抓好人居环境整治。矛盾纠纷要及时化解在基层。"),
    ]
    q = "如何化解矛盾纠纷"
    summary = summarize_hits(q, hits, fake_embedder.encode([q])[0], sentence_lookup(fake_embedder, hits), max_chars=40)
    assert len(summary.text) <= 40
    # The best answer first (from the second hit); quoting two documents, the summary
    # says which each run of quotes comes from.
    assert summary.text == "〔标题b〕矛盾纠纷要及时化解在基层。〔标题a〕要建立矛盾纠纷排查调处机制。"
    assert [(s.cites, s.source) for s in summary.sentences] == [(2, "标题b"), (1, "标题a")]
    for s in summary.sentences:
        hit = hits[s.cites - 1]
        assert (s.doc_id, s.heading_path) == (hit.passage.doc_id, hit.passage.heading_path)
        # Offsets are in the document: shift by the passage start to read the passage.
        p = hit.passage
        assert p.text[s.start - p.start : s.end - p.start] == s.text
    assert "一、化解矛盾纠纷" not in summary.text  # a bare heading is never quoted


def test_empty_inputs(fake_embedder):
    assert summarize_hits("问题", [], None, sentence_lookup(fake_embedder, []), 100).text == ""
    assert summarize_document("", "d", "t", fake_embedder, 100).sentences == ()


def test_document_summary_is_in_document_order(fake_embedder):
    text = "\n".join(
        ["第一段讲乡村振兴的总体要求。第一段还讲了产业发展。", "第二段讲人居环境整治工作。", "第三段讲矛盾纠纷化解机制建设。"]
    )
    summary = summarize_document(text, "d", "t", fake_embedder, max_chars=30)
    starts = [s.start for s in summary.sentences]
    assert starts == sorted(starts)
    assert len(summary.text) <= 30
    assert all(text[s.start : s.end] == s.text for s in summary.sentences)


def test_outline_markers_are_left_out_of_quotes(fake_embedder):
    record = summarize_text("一是思想认识的深度有待提升,部分同志对乡村振兴战略认识不够。", max_chars=100, embedder=fake_embedder)
    assert record.summary.text == "思想认识的深度有待提升,部分同志对乡村振兴战略认识不够。"


def test_summarize_text_record(fake_embedder):
    text = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制。\n二、发展产业\n要因地制宜发展特色产业。\n上一篇:别的讲话"
    record = summarize_text(text, max_chars=200, embedder=fake_embedder).to_dict()
    assert record["title"] == "基层治理讲话"
    assert record["summary"] == "要建立矛盾纠纷排查调处机制。要因地制宜发展特色产业。"
    assert [o["title"] for o in record["outline"]] == ["一、化解矛盾纠纷", "二、发展产业"]
    assert record["chars"] == len(
        "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制。\n二、发展产业\n要因地制宜发展特色产业。"
    )
    assert record["keywords"] == ["纠纷", "化解矛盾", "特色产业", "排查", "基层", "讲话", "发展", "机制"]


def test_salience_prefers_sentences_with_the_documents_own_words():
    from retriever.summary.extract import salience

    sentences = ["乡村振兴要抓产业发展。", "产业发展是乡村振兴的基础。", "今天天气不错。"]
    scores = salience(sentences)
    # 乡村/振兴/产业/发展 recur and count twice; 今天天气/不错 are said once.
    assert scores[0] > 2 * scores[2] and scores[1] > 2 * scores[2]
    assert salience(["今天天气不错。"])[0] == pytest.approx(scores[2])  # the other sentences add nothing to it


def test_budget_by_ratio_and_cap():
    from retriever.summary.documents import budget

    assert budget(10_000, None, None) == SummaryConfig.doc_max_chars
    assert budget(10_000, 250, None) == 250
    assert budget(10_000, None, 0.05) == 500
    assert budget(10_000, 300, 0.05) == 300  # --max-chars caps --ratio
    assert budget(500, None, 0.05) == SummaryConfig.ratio_floor_chars  # never under the floor


def test_budget_ratio_out_of_range(fake_embedder):
    from retriever import UsageError
    from retriever.summary.documents import budget

    with pytest.raises(UsageError, match="^ratio must be a number above 0 and at most 1, not 1.5$"):
        summarize_text("要加强基层治理。", ratio=1.5, embedder=fake_embedder)
    # A ratio never asks for more than a summary may have.
    assert budget(10_000_000, None, 0.5) == 5_000


def test_query_focused_document_summary(fake_embedder):
    text = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制。\n二、发展产业\n要因地制宜发展特色产业。"
    record = summarize_text(text, max_chars=20, query="特色产业怎么发展", embedder=fake_embedder)
    assert record.summary.text == "要因地制宜发展特色产业。"
    assert record.to_dict()["query"] == "特色产业怎么发展"
    generic = summarize_text(text, max_chars=20, embedder=fake_embedder).to_dict()
    assert "query" not in generic


def test_leading_connectives_are_left_out_of_quotes(fake_embedder):
    text = "然后,我们要建立矛盾纠纷排查调处机制。对,要发展特色产业。对农村基层干部要加强培训。"
    record = summarize_text(text, max_chars=200, embedder=fake_embedder)
    assert [s.text for s in record.summary.sentences] == [
        "我们要建立矛盾纠纷排查调处机制。",
        "要发展特色产业。",
        "对农村基层干部要加强培训。",  # 「对」 opening a content phrase stays
    ]
    assert all(s.text == text[s.start : s.end] for s in record.summary.sentences)  # still verbatim spans
    # In traditional script too (the 1954 report's 「隨後，」).
    text = "隨後，大會通過了關於政府工作報告的決議。"
    assert [s.text for s in summarize_text(text, max_chars=200, embedder=fake_embedder).summary.sentences] == [
        "大會通過了關於政府工作報告的決議。"
    ]


def test_run_in_headings_are_not_quoted(fake_embedder):
    text = "(一)聚焦群众需求,践行宗旨使命。要把群众的急难愁盼问题放在心上,用心用情办实事。"
    record = summarize_text(text, max_chars=200, embedder=fake_embedder)
    assert record.summary.text == "要把群众的急难愁盼问题放在心上,用心用情办实事。"


def test_a_long_document_embeds_only_its_most_salient_sentences(counting):
    """Past SummaryConfig.max_embedded_chars, the sentences that carry the document's
    recurring words (or the question's) are shortlisted before the model runs."""
    from dataclasses import replace

    text = (
        "乡村振兴要抓产业发展。今天的天气确实很不错。产业发展是乡村振兴的基础。会议开到这里大家辛苦了。乡村振兴离不开产业发展。"
    )
    config = replace(SummaryConfig(), max_embedded_chars=40)  # of 59: three sentences fit
    summary = summarize_document(text, "d", "t", counting, max_chars=100, config=config)
    shortlisted = ["乡村振兴要抓产业发展。", "产业发展是乡村振兴的基础。", "乡村振兴离不开产业发展。"]
    assert counting.texts == shortlisted
    assert [s.text for s in summary.sentences] == shortlisted
    # A question's words come first.
    counting.texts.clear()
    summarize_document(text, "d", "t", counting, max_chars=100, config=config, query="天气怎么样")
    assert counting.texts == ["乡村振兴要抓产业发展。", "今天的天气确实很不错。", "乡村振兴离不开产业发展。", "天气怎么样"]


def test_a_text_too_short_to_summarize_says_so(fake_embedder):
    from retriever import summarize_text

    record = summarize_text("短。", embedder=fake_embedder)
    assert (record.summary.text, record.notes) == (
        "",
        ("nothing to summarize: no sentence of 8 characters or more in its 2 characters",),
    )
    assert record.to_dict()["notes"] == list(record.notes)
    # A budget too small for any sentence says so, not that the text has none.
    record = summarize_text(NOTICE, max_chars=5, embedder=fake_embedder)
    assert record.notes == ("nothing quoted: a budget of 5 characters holds no sentence (they have 8 or more)",)


# A notice as offices write them: addressees, numbered points that are whole sentences
# with nothing under them, a signature.
NOTICE = (
    "关于加强社区治理工作的通知\n\n各区县人民政府，市直各单位：\n"
    "为进一步加强社区治理，提升基层服务水平，现将有关事项通知如下。\n"
    "一、健全社区党组织领导的居民自治机制，推动社区居委会规范化建设。\n"
    "二、完善网格化管理，每个网格配备专职网格员，及时发现和化解矛盾纠纷。\n"
    "三、加强社区工作者队伍建设，提高薪酬待遇，畅通职业发展通道。\n\n"
    "市人民政府办公厅\n2022年3月5日"
)


def test_the_points_of_a_notice_are_quoted_not_its_addressees(fake_embedder):
    record = summarize_text(NOTICE, max_chars=1000, embedder=fake_embedder)
    assert record.outline == []  # the points head nothing: items of a list
    # Nor what announces them (「现将有关事项通知如下。」).
    assert [s.text for s in record.summary.sentences] == [
        "健全社区党组织领导的居民自治机制，推动社区居委会规范化建设。",
        "完善网格化管理，每个网格配备专职网格员，及时发现和化解矛盾纠纷。",
        "加强社区工作者队伍建设，提高薪酬待遇，畅通职业发展通道。",
    ]
    # As an answer too: the point that answers comes first.
    hits = [Hit(1, 1.0, 1, Passage("n", "通知", (), NOTICE, 0, len(NOTICE)), None, None, ())]
    q = "如何化解矛盾纠纷"
    summary = summarize_hits(q, hits, fake_embedder.encode([q])[0], sentence_lookup(fake_embedder, hits), 300)
    assert summary.sentences[0].text == "完善网格化管理，每个网格配备专职网格员，及时发现和化解矛盾纠纷。"
    assert not any(s.text.startswith("各区县") for s in summary.sentences)


def test_addressees_copies_and_minutes_headers_are_never_quoted(fake_embedder):
    for addressees in ("各县（市、区）：", "各中小学校、幼儿园：", "各医院、卫生院：", "各乡镇（街道）："):
        text = NOTICE.replace("各区县人民政府，市直各单位：", addressees) + "\n抄送：市委各部门，市人大常委会办公室。"
        quotes = [s.text for s in summarize_text(text, max_chars=1000, embedder=fake_embedder).summary.sentences]
        assert quotes[0].startswith("健全社区党组织") and not any(q.startswith(("各", "抄送")) for q in quotes)
    minutes = "县政府常务会议纪要\n时间：2024年3月12日上午9时\n列席：县财政局、县发改局主要负责同志\n会议同意该计划 总投资约1.8亿元\n会议要求县住建局牵头抓好落实"
    quotes = [s.text for s in summarize_text(minutes, max_chars=1000, embedder=fake_embedder).summary.sentences]
    assert quotes == ["会议同意该计划 总投资约1.8亿元", "会议要求县住建局牵头抓好落实"]


def test_points_one_after_the_other_in_a_paragraph_head_nothing(fake_embedder):
    text = "三、存在的问题\n一是数据质量参差不齐，部分部门数据更新不及时。二是共享机制不健全，部门之间壁垒较多。"
    record = summarize_text(text, max_chars=1000, embedder=fake_embedder)
    assert [o["title"] for o in record.outline] == ["三、存在的问题"]
    assert [(s.text, s.heading_path) for s in record.summary.sentences] == [
        ("数据质量参差不齐，部分部门数据更新不及时。", ("三、存在的问题",)),
        ("共享机制不健全，部门之间壁垒较多。", ("三、存在的问题",)),
    ]


def test_a_point_with_text_under_it_is_a_heading(fake_embedder):
    text = NOTICE.replace("二、完善", "要抓好落实。\n二、完善")
    outline = [o["title"] for o in summarize_text(text, embedder=fake_embedder).outline]
    assert outline == ["一、健全社区党组织领导的居民自治机制，推动社区居委会规范化建设"]


def test_lines_a_text_leaves_unpunctuated_are_its_sentences(fake_embedder):
    minutes = (
        "防汛工作会议纪要\n会议研究了防汛准备工作 明确各村防汛责任人和物资储备点\n"
        "要求各村在汛期前完成河道清理和排涝设施检修\n镇应急办负责统筹调度抢险队伍和物资"
    )
    record = summarize_text(minutes, max_chars=1000, embedder=fake_embedder)
    assert record.title == "防汛工作会议纪要"
    assert [s.text for s in record.summary.sentences] == minutes.split("\n")[1:]
    # In prose, a short line without a stop is a title, a heading or a signature: not quoted.
    prose = "防汛工作\n会议研究了防汛准备工作，明确了责任。\n各村要完成河道清理。\n镇应急办负责统筹调度。\n镇防汛指挥部办公室"
    assert [s.text for s in summarize_text(prose, embedder=fake_embedder).summary.sentences] == [
        "会议研究了防汛准备工作，明确了责任。", "各村要完成河道清理。", "镇应急办负责统筹调度。",
    ]  # fmt: skip


def _quote(text, doc_id="a", start=0, cut_start=False, source=""):
    return SummarySentence(text, doc_id, "t", (), start, start + len(text), None, source, cut_start)


def test_cuts_are_marked_at_both_ends_unless_the_next_quote_continues():
    # A piece that begins inside its sentence opens with an ellipsis, unless the quote
    # before ends where it begins; a semicolon or a colon ends a clause, not a sentence.
    first, second = _quote("要建立排查机制；", start=0), _quote("及时化解矛盾。", start=8, cut_start=True)
    assert Summary.of([first, second]).text == "要建立排查机制；及时化解矛盾。"
    assert Summary.of([second]).text == "…及时化解矛盾。"
    assert Summary.of([first]).text == "要建立排查机制…"
    assert Summary.of([_quote("主要预期目标是：")]).text == "主要预期目标是…"
    # A hard cut with no mark at all gets one added; closing quotes end a sentence.
    assert Summary.of([_quote("他说：“要及时化解矛盾。”"), _quote("没有标点的半句", start=40)]).text == (
        "他说：“要及时化解矛盾。”没有标点的半句…"
    )


def test_a_source_is_named_at_each_change_of_document():
    quotes = [_quote("甲说的第一句话。", "a", source="2024年"), _quote("甲说的第二句话。", "a", 20, source="2024年")]
    quotes.append(_quote("乙说的一句话。", "b", source="2023年"))
    assert Summary.of(quotes).text == "〔2024年〕甲说的第一句话。甲说的第二句话。〔2023年〕乙说的一句话。"


REPORT_2024 = "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人以上。要坚持稳中求进。"
REPORT_2023 = "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人左右。要坚持稳中求进工作总基调。"


def _editions(fake_embedder, question, first="2023"):
    texts = {"2024": REPORT_2024, "2023": REPORT_2023}
    second = "2024" if first == "2023" else "2023"
    hits = [
        Hit(
            1,
            1.0,
            1,
            Passage(f"gwr-{first}.txt", f"{first}年政府工作报告", (), texts[first], 0, len(texts[first])),
            None,
            None,
            (),
        ),
        Hit(
            2,
            0.9,
            2,
            Passage(f"gwr-{second}.txt", f"{second}年政府工作报告", (), texts[second], 0, len(texts[second])),
            None,
            None,
            (),
        ),
    ]
    return summarize_hits(question, hits, fake_embedder.encode([question])[0], sentence_lookup(fake_embedder, hits), 300)


def test_two_editions_figures_are_never_quoted_side_by_side(fake_embedder):
    # The question names 2024: of the two reports' figures on the same subjects, only
    # the 2024 one's are quoted, though the 2023 one ranks first.
    summary = _editions(fake_embedder, "2024年城镇新增就业目标是多少万人")
    # The answer first, then the rest of its document in document order.
    assert summary.text == "城镇新增就业1200万人以上。今年发展主要预期目标是：国内生产总值增长5%左右…"
    assert {s.doc_id for s in summary.sentences} == {"gwr-2024.txt"}
    # No year named: the best-ranked report's figures.
    summary = _editions(fake_embedder, "城镇新增就业目标是多少万人", first="2023")
    assert summary.text == "城镇新增就业1200万人左右。今年发展主要预期目标是：国内生产总值增长5%左右…"
    assert {s.doc_id for s in summary.sentences} == {"gwr-2023.txt"}


def test_of_two_editions_figures_the_better_answer_stays_whichever_hit_it_is(fake_embedder):
    # No year named, and the second hit's figure is the one the question asks for: it
    # stays, and the first hit's figure on the same subject goes.
    first = "新型农村社会养老保险试点工作稳步推进，覆盖面扩大到全国百分之二十三的县。要加快建立覆盖城乡居民的社会保障体系。"
    second = "新型农村社会养老保险试点工作稳步推进，试点开始时在全国320个县开展。要加快建立覆盖城乡居民的社会保障体系。"
    hits = [
        Hit(
            rank,
            1.0 - rank / 10,
            rank,
            Passage(f"gwr-{year}.txt", f"{year}年政府工作报告", (), text, 0, len(text)),
            None,
            None,
            (),
        )
        for rank, year, text in ((1, 2010, first), (2, 2009, second))
    ]
    question = "农村养老保险试点开始时在几个县"
    # The fake embedder's cosine of the two figures' sentences is 0.59.
    config = SummaryConfig(rival_similarity=0.5)
    summary = summarize_hits(
        question, hits, fake_embedder.encode([question])[0], sentence_lookup(fake_embedder, hits), 300, config
    )
    assert summary.text == "新型农村社会养老保险试点工作稳步推进，试点开始时在全国320个县开展。"


def test_headings_glued_or_long_are_never_quoted(fake_embedder):
    text = (
        "高举中国特色社会主义伟大旗帜\n"
        "——在中国共产党第二十次全国代表大会上的报告\n"
        "三、新时代新征程中国共产党的使命任务\n"
        "从现在起，中国共产党的中心任务就是团结带领全国各族人民全面建成社会主义现代化强国。\n"
        "（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理区间、实现稳中向好。"
        "这些年，世界经济复苏乏力，国际金融市场跌宕起伏。\n"
        "一要加快发展服务消费。二要扩大有效投资规模。\n"
        "关于经济增长目标。今年经济增长预期目标为7.5%左右。"
    )
    record = summarize_text(text, max_chars=400, embedder=fake_embedder)
    assert [s.text for s in record.summary.sentences] == [
        "从现在起，中国共产党的中心任务就是团结带领全国各族人民全面建成社会主义现代化强国。",
        "这些年，世界经济复苏乏力，国际金融市场跌宕起伏。",
        "加快发展服务消费。",
        "扩大有效投资规模。",
        "今年经济增长预期目标为7.5%左右。",
    ]
    assert [o["title"] for o in record.outline] == [
        "三、新时代新征程中国共产党的使命任务",
        "（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理区间、实现稳中向好",
    ]


def test_a_bare_topic_is_no_sentence_in_either_script():
    from retriever.summary.extract import _no_sentence

    assert _no_sentence("关于经济增长目标。") and _no_sentence("關於經濟增長目標。")
    assert not _no_sentence("关于经济增长目标，今年定为7.5%左右。")


def test_a_word_broken_across_a_blank_line_is_quoted_whole(fake_embedder):
    text = "要全面深化各领域改\n\n革，加快推进基础性、关键性改革，增强内生发展动力。"
    record = summarize_text(text, max_chars=400, embedder=fake_embedder)
    assert record.summary.text == "要全面深化各领域改革，加快推进基础性、关键性改革，增强内生发展动力。"


def test_key_figures_rate_higher_in_a_document_summary(fake_embedder):
    from dataclasses import replace

    from retriever.text.numerals import FIGURE, KEY_FIGURE

    text = "加强国家安全保障能力建设。加强金融对实体经济的有效支持。国内生产总值增长5%左右。"
    # In a document this small centrality decides between its extremes; a weight that
    # outweighs it shows what the (gentler) default does among a report's many sentences.
    pick = {
        w: summarize_document(text, "d", "t", fake_embedder, 16, replace(SummaryConfig(), figure_weight=w)).text for w in (0, 1)
    }
    assert pick == {0: "加强金融对实体经济的有效支持。", 1: "国内生产总值增长5%左右。"}
    # Key figures: shares and large amounts (in either script), not a count of years or items.
    amounts = ("增长5%", "1200万人", "赤字率3%", "百分之五", "四万亿元", "登記選民三億二千萬", "產量5萬噸")
    assert [bool(KEY_FIGURE.search(t)) for t in amounts] == [True] * len(amounts)
    assert [bool(KEY_FIGURE.search(t)) for t in ("3年", "两个", "第5项", "兩個")] == [False] * 4
    # Any figure, a count too: 「141個」 as 「141个」.
    assert [bool(FIGURE.search(t)) for t in ("141个项目", "141個項目", "3年", "两个")] == [True, True, True, False]


def test_a_question_of_one_year_is_answered_from_that_years_document(fake_embedder):
    t23 = "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人左右。粮食产量保持在1.3万亿斤以上。"
    hits = [
        Hit(1, 1.0, 1, Passage("gwr-2023.txt", "2023年政府工作报告", (), t23, 0, len(t23)), None, None, ()),
        Hit(2, 0.9, 2, Passage("gwr-2024.txt", "2024年政府工作报告", (), REPORT_2024, 0, len(REPORT_2024)), None, None, ()),
    ]

    def answer(q: str) -> str:
        return summarize_hits(q, hits, fake_embedder.encode([q])[0], sentence_lookup(fake_embedder, hits), 300).text

    # 2024 named: the 2024 report alone, though the 2023 one ranks first and alone says
    # something of grain.
    assert (
        answer("2024年城镇新增就业和粮食产量目标是多少")
        == "城镇新增就业1200万人以上。今年发展主要预期目标是：国内生产总值增长5%左右…"
    )
    # No year: the better-ranked report's figures, on both subjects.
    assert answer("城镇新增就业和粮食产量目标是多少") == (
        "城镇新增就业1200万人左右。今年发展主要预期目标是：国内生产总值增长5%左右…粮食产量保持在1.3万亿斤以上。"
    )


def test_a_short_quote_that_repeats_the_question_does_not_lead(fake_embedder):
    from dataclasses import replace

    text = "扩大退耕还林规模。退耕还林工程在长江上游、黄河上中游地区启动，当年安排退耕还林面积五百万亩。"
    hits = [Hit(1, 1.0, 0, Passage("gwr-2000.txt", "政府工作报告", (), text, 0, len(text)), None, None, ())]
    q = "退耕还林"

    def first(**weights) -> str:
        # Closeness left out: the fake embedder's cosines would decide alone between two.
        config = replace(SummaryConfig(), answer_closeness=0.0, **weights)
        vectors = sentence_lookup(fake_embedder, hits)
        return summarize_hits(q, hits, fake_embedder.encode([q])[0], vectors, 300, config).sentences[0].text

    assert first() == "退耕还林工程在长江上游、黄河上中游地区启动，当年安排退耕还林面积五百万亩。"
    assert first(answer_length=0.0) == "扩大退耕还林规模。"


@pytest.mark.parametrize(
    ("question", "first"),
    [
        # 多快 asks an amount: the share answers it, the year does not.
        ("经济打算增长多快", "今年经济增长的预期目标定为百分之八左右。"),
        # 几月几号 asks a date: the date answers it (in either script).
        ("经济工作会议是几月几号", "经济工作会议于1996年12月召开，部署经济工作。"),
        ("經濟工作會議是幾月幾號", "经济工作会议于1996年12月召开，部署经济工作。"),
    ],
)
def test_the_figure_that_answers_is_the_kind_the_question_asks(fake_embedder, question, first):
    from dataclasses import replace

    text = "经济工作会议于1996年12月召开，部署经济工作。今年经济增长的预期目标定为百分之八左右。"
    hits = [Hit(1, 1.0, 0, Passage("gwr-1997.txt", "政府工作报告", (), text, 0, len(text)), None, None, ())]
    # Only the figure decides: the fake embedder's closeness and the words are left out.
    config = replace(SummaryConfig(), answer_closeness=0.0, answer_coverage=0.0)
    vectors = sentence_lookup(fake_embedder, hits)
    summary = summarize_hits(question, hits, fake_embedder.encode([question])[0], vectors, 300, config)
    assert summary.sentences[0].text == first


def test_documents_whose_titles_are_only_numbers_are_not_one_kind(fake_embedder):
    from retriever.summary.extract import _edition_kind

    passage = lambda doc_id, title: Passage(doc_id, title, (), "", 0, 0)  # noqa: E731
    assert _edition_kind(passage("a", "2023年政府工作报告")) == _edition_kind(passage("b", "2024年政府工作报告"))
    assert _edition_kind(passage("a", "第一屆全國人大第一次會議")) == _edition_kind(passage("b", "第二屆全國人大第三次會議"))
    assert _edition_kind(passage("a", "2023")) != _edition_kind(passage("b", "2024"))
    assert _edition_kind(passage("a", "")) != _edition_kind(passage("b", ""))


def test_a_sentence_covers_the_question_words_whatever_their_case_and_script():
    from retriever.text.words import query_terms

    assert query_terms("GDP增长多少") == ("gdp", "增长", "多少")
    assert _coverage("国内生产总值GDP增长5.2%。", query_terms("GDP增长多少")) == pytest.approx(2 / 3)
    assert _coverage("維護國家安全。", query_terms("国家安全")) == 1.0


RUN_IN = (
    "乡村振兴工作会议讲话\n"
    "第一,巩固拓展脱贫攻坚成果更加牢固。全镇守住了不发生规模性返贫的底线,监测帮扶机制运行良好。\n"
    "第二,乡村产业发展动能更加强劲。各村立足资源禀赋,积极探索一村一品发展模式,带动群众增收。\n"
    "第三,和美乡村建设步伐更加坚实。人居环境整治持续推进,村容村貌明显改善,群众满意度不断提高。\n"
    "一是思想认识的深度有待提升。有的干部把乡村振兴等同于巩固脱贫成果,缺乏长远规划和系统推进。\n"
)


@pytest.mark.parametrize("name", ["讲话.txt", "讲话.md", "讲话.html", "讲话.docx"])
def test_document_summaries_never_quote_a_heading_of_their_outline(fake_embedder, name):
    import io

    from retriever.reading.load import load_stream
    from retriever.summary.documents import summarize_one
    from retriever.text.outline import strip_title

    if name.endswith(".html"):
        data = "<html><body>" + "".join(f"<p>{line}</p>" for line in RUN_IN.splitlines()) + "</body></html>"
        raw = data.encode()
    elif name.endswith(".docx"):
        from docx import Document

        document, buffer = Document(), io.BytesIO()
        for line in RUN_IN.splitlines():
            document.add_paragraph(line)
        document.save(buffer)
        raw = buffer.getvalue()
    else:
        raw = RUN_IN.encode()
    record = summarize_one(load_stream(raw, name), fake_embedder, max_chars=2000)
    titles = {h["title"] for h in record.outline}
    assert "第二,乡村产业发展动能更加强劲" in titles and record.summary.sentences  # a long budget: all it may quote
    assert not [
        s.text
        for s in record.summary.sentences
        if strip_title(s.text) in titles or s.text.rstrip("。") in {t.split(",", 1)[-1] for t in titles}
    ]


@pytest.mark.parametrize(
    "text",
    [
        "第一章 总则\n一、适用范围\n本办法适用于全县各类农业经营主体。\n第二章 补助\n一、补助标准\n每亩补助二十元。",
        "一、总体要求\n（一）适用范围\n本办法适用于全县各类农业经营主体。\n二、补助\n（一）补助标准\n每亩补助二十元。",
        "# 补助办法\n## 总则\n### 适用范围\n本办法适用于全县各类农业经营主体。\n## 补助\n### 补助标准\n每亩补助二十元。",
        # Points (「一是」) right under a section are its second level, as （一） is elsewhere.
        "一、总体要求\n一是坚持农业农村优先发展。各地要抓好落实。\n二、补助\n（一）补助标准\n每亩补助二十元。",
    ],
    ids=["chapters", "numbers", "markdown", "points"],
)
def test_outline_levels_are_depths_from_one_however_headings_are_marked(fake_embedder, text):
    from retriever.reading.load import load_stream
    from retriever.summary.documents import summarize_one

    name = "办法.md" if text.startswith("#") else "办法.txt"
    record = summarize_one(load_stream(text.encode(), name), fake_embedder, max_chars=2000)
    assert [h["level"] for h in record.outline] == [1, 2, 1, 2]


def test_question_summaries_never_quote_the_heading_of_their_passage(fake_embedder):
    text = "第二,乡村产业发展动能更加强劲。各村立足资源禀赋,积极探索一村一品发展模式,带动群众增收。"
    passage = Passage("d", "讲话", ("第二,乡村产业发展动能更加强劲",), text, 0, len(text))
    hits = [Hit(rank=1, score=1.0, passage_id=0, passage=passage, dense=1.0, bm25=1.0, highlights=())]
    summary = summarize_hits("产业发展", hits, fake_embedder.encode(["产业发展"])[0], sentence_lookup(fake_embedder, hits), 300)
    assert [s.text for s in summary.sentences] == ["各村立足资源禀赋,积极探索一村一品发展模式,带动群众增收。"]


def test_what_only_announces_the_points_that_follow_is_never_quoted(fake_embedder):
    # 「要把握好以下三点。」 quoted alone points at points the summary does not hold; so does a
    # line that ends 「主要做了以下工作：」. 「以下」 meaning "below" says something.
    text = (
        "做好今年政府工作，要把握好以下三点。城镇新增就业1100万人以上。\n"
        "一年来，我们统筹推进疫情防控和经济社会发展，主要做了以下工作：\n减税降费超过2.5万亿元。\n"
        "推进省以下财政体制改革。贫困发生率下降到百分之四以下。"
    )
    summary = summarize_document(text, "d", "t", fake_embedder, max_chars=len(text))
    assert [s.text for s in summary.sentences] == [
        "城镇新增就业1100万人以上。",
        "减税降费超过2.5万亿元。",
        "推进省以下财政体制改革。",
        "贫困发生率下降到百分之四以下。",
    ]


def test_a_share_of_the_text_is_quoted_in_whole_sentences(fake_embedder):
    long = (
        "要坚持以人民为中心的发展思想，把增进民生福祉作为发展的根本目的，是能够推动经济社会持续健康发展的重要保证，"
        "各地区各部门必须认真贯彻落实，加强组织领导，压实工作责任，强化督促检查，确保各项政策措施落地见效，切实抓出成效。"
    )
    short = ["城镇新增就业一千二百万人以上。", "粮食产量保持在一万三千亿斤以上。", "居民收入增长和经济增长基本同步。"]
    text = "\n".join([long] * 12 + short)
    pieces = summarize_text(text, max_chars=100, embedder=fake_embedder)
    assert any(s.cut_start for s in pieces.summary.sentences) or "…" in pieces.summary.text  # a budget in characters cuts
    record = summarize_text(text, ratio=0.01, embedder=fake_embedder)  # 1% of 1,500 characters: the floor, 100
    assert record.summary.sentences and all(s.text in short and not s.cut_start for s in record.summary.sentences)
    assert "…" not in record.summary.text and len(record.summary.text) <= 100
    only_long = summarize_text("\n".join([long] * 30), ratio=0.01, embedder=fake_embedder)
    assert only_long.summary.text == ""
    assert only_long.notes == (
        f"nothing quoted: --ratio 0.01 gives 100 characters, and its shortest whole sentence has {len(long)}; "
        "raise --ratio or give --max-chars",
    )


def test_a_sentence_that_restates_its_title_does_not_lead_an_answer(fake_embedder):
    opening = "第十三届全国人民代表大会第二次会议听取和审议了国务院总理李克强所作的政府工作报告。"
    agreed = "会议充分肯定国务院过去一年的工作，同意报告提出的经济社会发展总体要求。"
    call = "会议号召，全国各族人民坚定信心，团结奋斗，以优异成绩庆祝中华人民共和国成立70周年。"
    text = opening + agreed + call
    title = "第十三届全国人民代表大会第二次会议关于政府工作报告的决议"
    hits = [Hit(1, 1.0, 1, Passage("gwr-res-2019.txt", title, (), text, 0, len(text)), None, None, ())]
    question = "人大号召全国各族人民做什么"

    def first_quote(config: SummaryConfig) -> str:
        vector = fake_embedder.encode([question])[0]
        return summarize_hits(question, hits, vector, sentence_lookup(fake_embedder, hits), 300, config).sentences[0].text

    assert first_quote(SummaryConfig(answer_title_echo=0.0)) == opening
    assert first_quote(SummaryConfig()) == call


def test_a_search_box_term_is_read_as_one_and_a_question_is_not():
    from retriever.summary.extract import _search_term

    assert _search_term("党政分开") == "党政分开"
    assert _search_term(" CPTPP ") == "cptpp"
    assert _search_term("黨政分開") == "党政分开"
    assert _search_term("五加二 白加黑") is None  # two terms typed apart
    assert _search_term("党政分开是什么意思") is None  # a question
    assert _search_term("税") is None


@pytest.mark.parametrize(
    ("sentence", "mentions"),
    [
        ("党政分开即党政职能分开。", 1.0),
        ("所谓党政分开，就是党政职能分开。", 1.0),
        ("全会通过了《中国共产党中央委员会关于无产阶级文化大革命的决定》（即《党政分开》）。", 1.5),
        ("实行“党政分开”，理顺关系。", 0.5),
        ("《党政分开（草案）》提请审议。", 0.5),
        ("從黨政不分到黨政分開，是一項重大改革。", 0.0),
        ("党政分开才能保证做到“党要管党”。", 0.0),
    ],
)
def test_a_sentence_that_says_what_a_term_means_or_introduces_it(sentence, mentions):
    from retriever.summary.extract import _matched, _term_mentions

    assert _term_mentions("党政分开")(_matched(sentence)) == mentions


@pytest.mark.parametrize(
    ("term", "sentence", "mentions"),
    [
        # The list a numbered term sums up, right before it ...
        ("三条保障线", "要完善下岗职工基本生活保障、失业保险和城镇居民最低生活保障的“三条保障线”制度。", 1.5),
        ("两免一补", "对学生免学杂费、免书本费、补助寄宿生生活费的“两免一补”政策。", 1.5),
        ("农业八字宪法", "土、肥、水、种、密、保、管、工的“农业八字宪法”。", 1.5),
        ("三条保障线", "逐步完善“三条保障线”。", 0.5),
        ("三条保障线", "继续加强“两个确保”和城市“低保”工作，搞好“三条保障线”的衔接。", 0.5),  # no list: clauses
        ("三条保障线", "要完善基本生活保障、失业保险、医疗保险和最低生活保障的“三条保障线”。", 0.5),  # four items
        ("一带一路", "坚持和完善“一带一路”建设。", 0.5),  # two verbs, not two items
        # ... or the items alone, each with what the one numeral counts.
        ("干部四化", "实现干部队伍的革命化、年轻化、知识化、专业化。", 1.0),
        ("四个全面", "协调推进全面建成小康社会、全面深化改革、全面依法治国和全面从严治党。", 1.0),
        ("四个全面", "全面建成小康社会、全面深化改革、全面依法治国。", 0.0),
        ("干部四化", "推进干部队伍年轻化。", 0.0),
        ("干部四化", "推进新型工业化、信息化、城镇化和农业现代化。", 0.0),  # the clause lacks 干部
        # Several numerals: each item holds what its numeral counts, in order.
        ("一国两制", "香港、澳门和台湾的“一国两制”。", 0.5),
        # After a colon, as many items as the term counts.
        ("约法三章", "要严格执行“约法三章”：政府性楼堂馆所一律不得新建，财政供养人员只减不增，公费接待只减不增。", 1.5),
        ("约法三章", "要严格执行“约法三章”：政府性楼堂馆所一律不得新建。", 0.5),
        ("一带一路", "聚焦“一带一路”：中欧班列开行。", 0.5),
        # An ordinal, a plan's name and a measure word count nothing.
        ("第三产业", "发展农业、工业和第三产业。", 0.0),
        ("第十三届", "历经第十一届、第十二届和第十三届。", 0.0),
        ("十四五", "制定农业、工业和“十四五”规划。", 0.5),
        ("五年规划", "2016年、2017年、2018年、2019年和2020年。", 0.0),
    ],
)
def test_a_sentence_that_gives_the_list_a_numbered_term_sums_up(term, sentence, mentions):
    from retriever.summary.extract import _matched, _term_mentions

    assert _term_mentions(term)(_matched(sentence)) == mentions


def test_a_search_box_term_is_answered_first_by_the_sentence_that_says_what_it_is(fake_embedder):
    said = "从党政不分到党政分开，是我们党的领导制度的一项重大改革。"
    meant = "党政分开即党政职能分开。"
    hits = [_hit(1, "a", said), _hit(2, "b", meant)]

    def first_quote(question: str, answer_term: float) -> str:
        # Closeness left out: the fake embedder's cosines would decide alone between two.
        config = SummaryConfig(answer_closeness=0.0, answer_term=answer_term)
        vector = fake_embedder.encode([question])[0]
        return summarize_hits(question, hits, vector, sentence_lookup(fake_embedder, hits), 300, config).sentences[0].text

    # The longer quote of the better hit leads, unless the other says what the term is.
    assert first_quote("党政分开", 0.0) == said
    assert first_quote("党政分开", 0.3) == meant
    # A question is no term: it gains nothing.
    assert first_quote("党政分开的意义", 0.3) == said


def test_a_search_box_query_quotes_only_sentences_that_name_it(fake_embedder):
    named = "印花税的税率下调，减轻证券交易的负担。"
    near = "改革个人所得税，提高起征点。"
    hits = [_hit(1, "a", f"{named}{near}")]

    def quotes(question: str) -> list[str]:
        vector = fake_embedder.encode([question])[0]
        summary = summarize_hits(
            question, hits, vector, sentence_lookup(fake_embedder, hits), 300, SummaryConfig(answer_floor=0.0)
        )
        return [q.text for q in summary.sentences]

    assert quotes("印花税") == [named]
    assert sorted(quotes("印花税 个人所得税")) == sorted([named, near])  # each names one of its words
    # A question may be answered in other words; a term no sentence names keeps them all.
    assert sorted(quotes("证券交易要交哪些税")) == sorted([named, near])
    assert sorted(quotes("全运会")) == sorted([named, near])


RESOLUTION = (
    "第十四届全国人民代表大会第二次会议听取和审议了国务院总理所作的政府工作报告。"
    "会议通过视频连线方式在北京和各地同时举行。"  # 通过 as "by way of": nothing resolved
    "会议充分肯定国务院过去一年的工作，同意报告提出的工作任务，决定批准这个报告。"
    "会议号召，全国各族人民坚定信心，真抓实干，团结奋进，为强国建设不懈奋斗。"
    "会议要求，各级政府要坚定信心，真抓实干，团结奋进，为民族复兴不懈奋斗。"
    "会议强调，全国各族人民要坚定信心，真抓实干，团结奋进，共同努力。"
)


@pytest.mark.parametrize(
    "title",
    ["第十四届全国人民代表大会第二次会议关于政府工作报告的决议", "中共中央关于若干重大问题的決定", "《关于政府工作报告的决议》"],
)
def test_a_resolution_says_what_its_meeting_resolved(fake_embedder, title):
    decided = "会议充分肯定国务院过去一年的工作，同意报告提出的工作任务，决定批准这个报告。"
    assert decided in summarize_document(RESOLUTION, "r", title, fake_embedder, 100).text
    # A budget too small for the whole sentence quotes it from its start, clause by clause.
    assert summarize_document(RESOLUTION, "r", title, fake_embedder, 38).sentences[0].text == "会议充分肯定国务院过去一年的工作，"
    # Any other document is summarized by its centre, whatever its sentences say.
    assert decided not in summarize_document(RESOLUTION, "r", "政府工作报告", fake_embedder, 100).text


REPORT = (
    "过去一年，我们坚持稳中求进，经济社会发展取得新的成就。"
    "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人以上。"
    "实现上述目标，需要付出艰苦努力，各方面要坚定信心，真抓实干，团结奋进。"
    "我们要坚定信心，真抓实干，团结奋进，推动经济持续回升向好。"
    "各级政府要坚定信心，真抓实干，团结奋进，为民族复兴不懈奋斗。"
)


def test_a_document_that_sets_targets_is_summarized_from_them(fake_embedder):
    targets = "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人以上。"
    assert targets in summarize_document(REPORT, "r", "政府工作报告", fake_embedder, 100).text
    # Without their figures they are words like the others, and the centre passes them by.
    vague = REPORT.replace("国内生产总值增长5%左右；城镇新增就业1200万人以上", "经济稳中向好；就业保持总体稳定")
    assert "目标是" not in summarize_document(vague, "r", "政府工作报告", fake_embedder, 100).text
    # A summary for a question answers the question.
    assert targets not in summarize_document(REPORT, "r", "政府工作报告", fake_embedder, 100, query="团结奋进").text


@pytest.mark.parametrize(
    ("text", "gist"),
    [
        (
            "今年发展主要预期目标是：国内生产总值增长5%左右；城镇新增就业1200万人以上。",
            "今年发展主要预期目标是：国内生产总值增长5%左右；",
        ),
        (
            "宏观调控的主要目标是：经济增长速度8 ％，涨幅控制在3 ％以内。",
            "宏观调控的主要目标是：经济增长速度8 ％，涨幅控制在3 ％以内。",
        ),
        # Announced at the end of a paragraph, given in the next: the two together.
        (
            "今年的主要预期目标是：\n国内生产总值增长8％左右；城镇新增就业900万人以上。",
            "今年的主要预期目标是：\n国内生产总值增长8％左右；",
        ),
        ("今年的目标是：\n全面建成小康社会。\n国内生产总值增长8％左右。", None),  # not the one after that
        ("主要预期目标是：经济稳中向好；国内生产总值增长8％左右。", "主要预期目标是：经济稳中向好；国内生产总值增长8％左右。"),
        ("今年發展主要預期目標為：國內生產總值增長5%左右。", "今年發展主要預期目標為：國內生產總值增長5%左右。"),
        ("《关于“十四五”规划目标是：的思考》发表后，阅读量达10万人次。", None),  # a title's words
        ("今年的目标是：全面建成小康社会，人民生活更加美好。", None),  # no figure
        ("国内生产总值增长8%，实现了预期目标。", None),  # an outcome
        ("增长8%左右的目标是：稳妥的。", None),  # its figure before, not after
    ],
)
def test_targets_are_stated_with_their_figures(text, gist):
    from retriever.summary.extract import _gist
    from retriever.text.segment import paragraphs

    spans = list(_gist((s for p in paragraphs(text) for s in p.sentences), "政府工作报告"))
    assert [text[a:b] for a, b in spans] == ([gist] if gist else [])
