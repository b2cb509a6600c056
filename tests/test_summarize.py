import numpy as np
import pytest
from conftest import sentence_lookup

from retriever import summarize_text
from retriever.config import SummaryConfig
from retriever.search import Hit
from retriever.segment import Passage
from retriever.summarize import Summary, SummarySentence, centre, select, summarize_document, summarize_hits


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
    # The first piece is not continued by the second: its comma becomes an ellipsis.
    assert summary.text == "我们要建立矛盾纠纷排查调处机制…还要发展特色产业增加农民收入。"


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


def test_question_summary_cites_and_quotes(fake_embedder):
    hits = [
        _hit(1, "a", "一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制。加强人民调解组织建设。", start=5),
        _hit(2, "b", "要抓好人居环境整治。矛盾纠纷要及时化解在基层。"),
    ]
    q = "如何化解矛盾纠纷"
    summary = summarize_hits(q, hits, fake_embedder.encode([q])[0], sentence_lookup(fake_embedder, hits), max_chars=40)
    assert len(summary.text) <= 40
    assert summary.text == "".join(s.text for s in summary.sentences)
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
    assert record["keywords"] == ["纠纷", "化解矛盾", "特色产业", "调处", "因地制宜", "排查", "基层", "发展"]


def test_salience_prefers_sentences_with_the_documents_own_words():
    from retriever.summarize import salience

    sentences = ["乡村振兴要抓产业发展。", "产业发展是乡村振兴的基础。", "今天天气不错。"]
    scores = salience(sentences)
    # 乡村/振兴/产业/发展 recur and count twice; 今天天气/不错 are said once.
    assert scores[0] > 2 * scores[2] and scores[1] > 2 * scores[2]
    assert salience(["今天天气不错。"])[0] == pytest.approx(scores[2])  # the other sentences add nothing to it


def test_budget_by_ratio_and_cap():
    from retriever.digest import budget

    assert budget(10_000, None, None) == SummaryConfig.doc_max_chars
    assert budget(10_000, 250, None) == 250
    assert budget(10_000, None, 0.05) == 500
    assert budget(10_000, 300, 0.05) == 300  # --max-chars caps --ratio
    assert budget(500, None, 0.05) == SummaryConfig.ratio_floor_chars  # never under the floor


def test_budget_ratio_out_of_range():
    from retriever import UsageError
    from retriever.digest import budget

    with pytest.raises(UsageError, match="^ratio must be a number above 0 and at most 1, not 1.5$"):
        budget(1000, None, 1.5)
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
    assert (record.summary.text, record.notes) == ("", ("nothing to summarize: its 2 characters hold no sentence of 8 or more",))
    assert record.to_dict()["notes"] == list(record.notes)
