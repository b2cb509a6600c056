"""The learned ranker: the signals it sees, how it is fitted and reorders, what --explain
shows, and how an installation teaches it (judgements, `retriever tune`, --undo)."""

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retriever import Retriever, UsageError
from retriever.cli.commands import app as cli
from retriever.config import SEARCH_MODES
from retriever.ranking import store
from retriever.ranking.features import SIGNALS, compact, for_ranker
from retriever.ranking.model import Group, Ranker, train
from retriever.search import candidates, search
from retriever.serve.app import create_app
from retriever.serve.schemas import AskResponse, JudgeResponse
from retriever.text.metadata import Metadata
from retriever.text.words import query_terms

# Three years of reports on the same subjects, each passage a paragraph: years, figures
# and the words of a question decide among them.
SUBJECTS = [
    "稳定和扩大就业是今年的首要任务，城镇新增就业一千一百万人以上，调查失业率控制在百分之五点五左右，落实援企稳岗政策。",
    "推进养老服务体系建设，新建社区养老服务设施，发展普惠托育服务，完善基本养老保险全国统筹制度，让老年人老有所养。",
    "加强生态环境保护，打好蓝天碧水净土保卫战，细颗粒物浓度继续下降，重点流域水质优良比例提高，推进垃圾分类。",
    "深化教育改革，办好人民满意的教育，推进义务教育优质均衡发展，改善农村学校办学条件，提高教师待遇。",
    "去年粮食产量达到六亿五千万吨以上，农民收入持续增长，脱贫攻坚成果得到巩固，乡村建设行动扎实推进。",
    "实施减税降费，支持中小微企业发展，优化营商环境，激发市场主体活力，稳住经济基本盘。",
]


def _report(year: int) -> str:
    # Each year's report says the same things in a different order, with its year's figures.
    shift = year % len(SUBJECTS)
    paragraphs = [SUBJECTS[(i + shift) % len(SUBJECTS)].replace("一千一百万", f"{year - 2010}百万") for i in range(len(SUBJECTS))]
    return f"{year}年政府工作报告\n\n" + "\n\n".join(paragraphs)


@pytest.fixture
def reports(in_tmp, fake_embedder) -> Retriever:
    corpus = in_tmp / "corpus"
    corpus.mkdir()
    for year in (2019, 2020, 2021):
        (corpus / f"{year}.txt").write_text(_report(year), encoding="utf-8")
    return Retriever.build([corpus], index_dir="idx")[0]


def _ranked(r: Retriever, question: str, depth: int = 30):
    vector = r.embedder.encode([question])[0]
    found = candidates(r.index, question, vector)
    ranked = for_ranker(r.index, question, query_terms(question), found, depth)
    return found, ranked


def _row(r: Retriever, found, ranked, doc: str, words: str) -> np.ndarray:
    """The signals of the candidate from `doc` whose text holds `words`."""
    for row, position in enumerate(ranked.rows):
        passage = r.index.passages[found.ids[position]]
        if passage.doc_id.endswith(doc) and words in passage.text:
            return ranked.signals[row]
    raise AssertionError(f"no candidate from {doc} with {words}")


def col(name: str) -> int:
    return SIGNALS.index(name)


def test_signals_read_years_figures_and_words(reports):
    found, ranked = _ranked(reports, "2020年就业目标是多少")
    assert ranked.kinds == {"short": 0.0, "year": 1.0, "amount": 1.0}
    assert _ranked(reports, "2020年新增幾個就業崗位")[1].kinds["amount"] == 1.0  # 幾 is 几
    jobs_2020 = _row(reports, found, ranked, "2020.txt", "就业是今年")
    jobs_2019 = _row(reports, found, ranked, "2019.txt", "就业是今年")
    grain_2021 = _row(reports, found, ranked, "2021.txt", "去年粮食")
    # The 2020 report's title names the year; 「今年」 in it speaks of 2020; 「去年」 in the
    # 2021 report speaks of 2020 too; the 2019 report is of another year.
    assert (jobs_2020[col("year_title")], jobs_2020[col("year_text")], jobs_2020[col("year_other")]) == (1, 1, 0)
    assert (jobs_2019[col("year_title")], jobs_2019[col("year_text")], jobs_2019[col("year_other")]) == (0, 0, 1)
    assert (grain_2021[col("year_title")], grain_2021[col("year_text")]) == (0, 1)
    # The question asks an amount and both passages hold figures, in the sentence that
    # holds the question's words (百分之五点五).
    assert jobs_2020[col("figure")] == jobs_2019[col("figure")] == 1
    assert jobs_2020[col("figure_sentence")] == jobs_2019[col("figure_sentence")] == 1
    # 「就业」 and 「目标」 (and the year's words) by IDF: the jobs paragraph holds 就业, not 目标.
    assert 0 < jobs_2020[col("words_text")] < 1
    assert jobs_2020[col("words_sentence")] <= jobs_2020[col("words_text")]
    # The best of the candidates by the blend, by dense score and by BM25 are at 0 and 1.
    assert ranked.signals[:, col("dense")].max() == 1 and ranked.signals[:, col("dense")].min() == 0
    assert ranked.signals[:, col("cos_passage")].max() == 0


def test_a_key_figure_counts_in_the_sentence_that_holds_the_question_words(in_tmp, fake_embedder):
    corpus = in_tmp / "corpus"
    corpus.mkdir()
    texts = {
        "a.txt": "养老服务设施建设加快推进，覆盖城乡。全年财政收入增长百分之六。",
        "b.txt": "新建养老服务设施三千个，比上年增长百分之十。",
        "c.txt": "2019年以来，养老服务设施建设步伐加快。",
    }
    for name, text in texts.items():
        (corpus / name).write_text(f"工作报告\n\n{text}", encoding="utf-8")
    r = Retriever.build([corpus], index_dir="idx")[0]

    def signals(question: str, doc: str) -> tuple[float, float]:
        found, ranked = _ranked(r, question)
        row = _row(r, found, ranked, doc, texts[doc][:6])
        return row[col("figure")], row[col("figure_sentence")]

    # a.txt's figure is in its other sentence; a year (c.txt) is a figure, not a key one.
    asked = "养老服务设施建了多少"
    assert [signals(asked, doc) for doc in texts] == [(1, 0), (1, 1), (1, 0)]
    # A question that asks no amount: neither.
    assert signals("养老服务设施建设", "b.txt") == (0, 0)


def test_a_short_query_matched_whole(reports):
    assert compact("  营商 环境！") == "营商环境"
    found, ranked = _ranked(reports, "营商环境")
    assert ranked.kinds["short"] == 1.0
    texts = [reports.index.passages[found.ids[p]].text for p in ranked.rows]
    assert ranked.signals[:, col("phrase")].tolist() == [float("营商环境" in t) for t in texts]
    assert ranked.signals[:, col("bigrams")].tolist() == [sum(b in t for b in ("营商", "商环", "环境")) / 3 for t in texts]


def _groups(rng: np.random.Generator, n: int, best_by: str) -> list[Group]:
    """Questions whose relevant candidate is the one highest on `best_by`."""
    groups = []
    for _ in range(n):
        signals = rng.random((12, len(SIGNALS)))
        relevant = np.zeros(12, dtype=bool)
        relevant[np.argmax(signals[:, col(best_by)])] = True
        groups.append(Group(signals, {"short": 0.0, "year": 0.0, "amount": 0.0}, relevant))
    return groups


def test_fitting_finds_the_signal_that_decides():
    rng = np.random.default_rng(0)
    ranker = train(_groups(rng, 200, "position"), SIGNALS, 12, l2=0.01)
    weights = dict(zip(ranker.terms, ranker.weights))
    assert max(weights, key=lambda t: abs(weights[t])) == "position"
    held_out = _groups(rng, 100, "position")
    first = [np.argmax(ranker.scores(g.signals, g.kinds)) == np.argmax(g.relevant) for g in held_out]
    assert np.mean(first) > 0.8  # chance: 1 in 12
    # A kind of question can change a signal's weight: `short*bigrams` only counts for short queries.
    kinds = {"short": 1.0, "year": 0.0, "amount": 0.0}
    tied = Ranker(("short*bigrams",), np.zeros(1), np.ones(1), np.ones(1), 12)
    signals = np.zeros((2, len(SIGNALS)))
    signals[1, col("bigrams")] = 1
    assert tied.scores(signals, kinds).tolist() == [0.0, 1.0]
    assert tied.scores(signals, {**kinds, "short": 0.0}).tolist() == [0.0, 0.0]


def test_a_ranker_file_round_trips_and_bad_ones_are_named(tmp_path):
    ranker = train(_groups(np.random.default_rng(1), 50, "bm25"), SIGNALS, 12, l2=0.01, about={"by": "test"})
    path = tmp_path / "ranker.json"
    ranker.save(path)
    again = Ranker.load(path)
    assert again.terms == ranker.terms and again.depth == 12 and again.about == {"by": "test"}
    assert np.allclose(again.weights, ranker.weights, atol=1e-6) and again.precision is not None
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "terms": ["blend", "colour"]}))
    with pytest.raises(UsageError, match="unknown ranker term 'colour'"):
        Ranker.load(path)
    path.write_text(json.dumps({**data, "weights": [1.0]}))
    with pytest.raises(UsageError, match=f"do not match its {len(SIGNALS)} terms"):
        Ranker.load(path)
    path.write_text("{")
    with pytest.raises(UsageError, match="cannot read the ranker"):
        Ranker.load(path)


def test_the_shipped_ranker_and_what_it_learned_from():
    shipped = store.shipped()
    assert shipped.terms == SIGNALS and shipped.depth == 30 and shipped.precision is not None
    assert set(shipped.about["questions"]) == {"user", "cmrc2018", "drcd"}


def _only(term: str, weight: float = 1.0) -> Ranker:
    weights = np.array([weight if t == term else 0.0 for t in SIGNALS])
    return Ranker(SIGNALS, np.zeros(len(SIGNALS)), np.ones(len(SIGNALS)), weights, 30)


def test_hybrid_reorders_the_blends_best_by_the_ranker(reports):
    vector = reports.embedder.encode(["养老服务"])[0]
    blend = search(reports.index, "养老服务", vector, 5, "blend")
    found = candidates(reports.index, "养老服务", vector)
    top = set(found.ids[np.argsort(-found.blend, kind="stable")[:30]].tolist())
    # A ranker that only likes passages late in their documents.
    late = search(reports.index, "养老服务", vector, 5, "hybrid", ranker=_only("position"))
    positions = [h.passage.start / len(reports.index.documents[h.passage.doc_id].text) for h in late]
    assert positions == sorted(positions, reverse=True)
    assert {h.passage_id for h in late} <= top
    assert late[0].score == 1.0 and all(0 <= h.score <= 1 for h in late)
    # The blend's weight alone gives the blend's order.
    assert [h.passage_id for h in search(reports.index, "养老服务", vector, 5, "hybrid", ranker=_only("blend"))] == [
        h.passage_id for h in blend
    ]


def test_explain_says_what_each_signal_added(reports):
    answer = reports.ask("2020年就业目标是多少", k=3, explain=True)
    ranker = store.shipped()
    for hit in answer.results:
        assert list(hit.explain) == sorted(hit.explain, key=lambda t: -abs(hit.explain[t]))
        assert set(hit.explain) == set(ranker.terms)
    # Contributions are against the average candidate: the first result's add up to more than the third's.
    totals = [sum(h.explain.values()) for h in answer.results]
    assert totals[0] >= totals[2]
    data = answer.to_dict()
    assert data["ranker"] == "shipped" and "explain" in data["results"][0]
    AskResponse.model_validate(data)
    assert "explain" not in reports.ask("2020年就业目标是多少", k=3).to_dict()["results"][0]
    blend = reports.ask("2020年就业目标是多少", k=3, mode="blend", explain=True).to_dict()
    assert "ranker" not in blend and "explain" not in blend["results"][0]
    shown = CliRunner().invoke(cli, ["ask", "2020年就业目标是多少", "-k", "2", "--explain", "--index-dir", "idx", "--local"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.count("why: blend ") == 2


# Teaching an installation's ranker.


def _late_preference(r: Retriever, questions: list[str]) -> int:
    """Judge, for each question, the candidate latest in its document as the answer and
    the ranker's first (when another) as not: a preference the shipped ranker lacks."""
    judged = 0
    for q in questions:
        vector = r.embedder.encode([q])[0]
        found = candidates(r.index, q, vector)
        top = found.ids[np.argsort(-found.blend, kind="stable")[:10]]
        late = max(
            top, key=lambda pid: (r.index.passages[pid].start / len(r.index.documents[r.index.passages[pid].doc_id].text), pid)
        )
        r.judge(q, int(late), "good")
        first = r.ask(q, k=1, summary_chars=0).results[0].passage_id
        if first != late:
            r.judge(q, first, "bad")
        judged += 1
    return judged


QUESTIONS = [
    "就业", "养老", "环境保护", "教育", "粮食", "减税降费", "失业率", "托育", "垃圾分类", "教师待遇",
    "农民收入", "营商环境", "社区养老", "蓝天碧水", "义务教育", "脱贫攻坚", "中小微企业", "乡村建设",
]  # fmt: skip


def _late_first(r: Retriever, questions: list[str]) -> float:
    """Share of questions whose first result is the latest in its document of the blend's ten best."""
    hits = 0
    for q in questions:
        vector = r.embedder.encode([q])[0]
        found = candidates(r.index, q, vector)
        top = found.ids[np.argsort(-found.blend, kind="stable")[:10]]
        where = {int(p): r.index.passages[p].start / len(r.index.documents[r.index.passages[p].doc_id].text) for p in top}
        first = r.ask(q, k=1, summary_chars=0).results[0].passage_id
        hits += where.get(first, -1) == max(where.values())
    return hits / len(questions)


def test_tune_learns_a_preference_from_judgements_and_undo_goes_back(reports):
    before = _late_first(reports, QUESTIONS)
    _late_preference(reports, QUESTIONS[:14])
    report = reports.tune()
    assert report["installed"] and report["using"] == "shipped" and report["after"] > report["before"]
    assert report["questions"] == 14 and report["good"] == 14
    assert store.ranker_for(reports.index.directory)[1] == "tuned"
    assert reports.ask("就业", k=1).to_dict()["ranker"] == "tuned"
    # Learned: also on questions never judged.
    assert _late_first(reports, QUESTIONS) > before
    assert _late_first(reports, QUESTIONS[14:]) >= _late_first_shipped(reports, QUESTIONS[14:])
    tuned = (reports.index.directory / "tuning" / "ranker.json").read_text()
    assert json.loads(tuned)["about"]["judgements"] == report["judgements"]
    # Back to the shipped ranker, then nothing more to undo.
    assert reports.tune(undo=True) == {"undone": True, "ranker": "the shipped ranker"}
    assert store.ranker_for(reports.index.directory)[1] == "shipped"
    assert _late_first(reports, QUESTIONS) == before
    with pytest.raises(UsageError, match="nothing to undo"):
        reports.tune(undo=True)


def _late_first_shipped(r: Retriever, questions: list[str]) -> float:
    folder = r.index.directory / "tuning"
    (folder / "ranker.json").rename(folder / "aside.json")
    try:
        return _late_first(r, questions)
    finally:
        (folder / "aside.json").rename(folder / "ranker.json")


def test_tune_keeps_a_ranker_the_judgements_agree_with(reports):
    # Every judged passage is already first: no refit can rank the judgements better.
    for q in QUESTIONS[:12]:
        reports.judge(q, reports.ask(q, k=1, summary_chars=0).results[0].passage_id, "good")
    report = reports.tune()
    assert not report["installed"] and report["before"] == 1.0
    assert report["message"].startswith("kept the shipped ranker")
    assert store.ranker_for(reports.index.directory)[1] == "shipped"


def test_judgements_are_checked_counted_and_removed_with_the_index(reports, in_tmp):
    with pytest.raises(UsageError, match="tuning needs at least 10"):
        reports.tune()
    with pytest.raises(UsageError, match="unknown verdict 'maybe'"):
        reports.judge("就业", 0, "maybe")
    with pytest.raises(UsageError, match="no passage 10000 in this index"):
        reports.judge("就业", 10_000, "good")
    kept = reports.judge("就业", 0, "good")
    assert kept == {"question": "就业", "passage_id": 0, "verdict": "good", "judgements": 1}
    line = json.loads((in_tmp / "idx" / "tuning" / "judgements.jsonl").read_text())
    assert line["signals"] == list(SIGNALS) and len(line["candidates"][0]) == len(SIGNALS)
    assert line["passage"]["passage_id"] == 0 and line["candidates"]
    shown = CliRunner().invoke(cli, ["judge", "养老", "1", "bad", "--index-dir", "idx"])
    assert shown.exit_code == 0, shown.output
    assert "the index holds 2 judgements" in shown.output
    removed = CliRunner().invoke(cli, ["remove", "--index-dir", "idx", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert not (in_tmp / "idx").exists()


def test_the_service_takes_judgements(reports):
    client = TestClient(create_app(reports), base_url="http://127.0.0.1")
    answer = client.get("/api/ask", params={"q": "就业", "k": 2, "explain": "true"}).json()
    assert "explain" in answer["results"][0]
    first = answer["results"][0]["passage_id"]
    recorded = client.post("/api/judge", json={"question": "就业", "passage_id": first, "verdict": "good"})
    assert recorded.status_code == 200, recorded.text
    assert JudgeResponse.model_validate(recorded.json()).judgements == 1
    refused = client.post("/api/judge", json={"question": "就业", "passage_id": first, "verdict": "maybe"})
    assert refused.status_code == 400
    scoped = client.post("/api/judge", json={"question": "就业", "passage_id": first, "verdict": "bad", "year": [2019]})
    assert scoped.status_code in (200, 400)
    # The result as the page showed it: a passage id that now names another passage (the
    # index was indexed again) is refused, not recorded against the wrong passage.
    hit = answer["results"][0]
    same = client.post(
        "/api/judge",
        json={"question": "就业", "passage_id": first, "doc_id": hit["doc_id"], "start": hit["start"], "verdict": "good"},
    )
    assert same.status_code == 200, same.text
    stale = client.post(
        "/api/judge",
        json={"question": "就业", "passage_id": first, "doc_id": hit["doc_id"], "start": hit["start"] + 1, "verdict": "good"},
    )
    assert stale.status_code == 409 and "indexed again since" in stale.json()["error"]
    # A JSON route takes JSON only.
    text = client.post(
        "/api/judge",
        content=json.dumps({"question": "就业", "passage_id": first, "verdict": "good"}),
        headers={"Content-Type": "text/plain"},
    )
    assert (
        text.status_code == 415
        and client.post("/api/ask", content='{"question": "就业"}', headers={"Content-Type": "text/plain"}).status_code == 415
    )


def test_a_judgement_given_twice_or_changed_counts_once_the_latest(reports, in_tmp):
    from retriever.ranking.judgements import read

    first = reports.ask("就业", k=2, summary_chars=0).results
    for verdict in ("good", "good", "bad"):
        reports.judge("就业", first[0].passage_id, verdict)
    reports.judge(" 就业 ", first[1].passage_id, "good")
    judgements, skipped = read(in_tmp / "idx")
    assert [(j.passage["passage_id"], j.verdict) for j in judgements] == [
        (first[0].passage_id, "bad"),
        (first[1].passage_id, "good"),
    ]
    assert skipped == 0


def test_tune_from_the_command_line(reports):
    _late_preference(reports, QUESTIONS[:12])
    shown = CliRunner().invoke(cli, ["tune", "--index-dir", "idx"])
    assert shown.exit_code == 0, shown.output
    assert "installed the refit ranker" in shown.output
    undone = CliRunner().invoke(cli, ["tune", "--undo", "--index-dir", "idx", "--json"])
    assert json.loads(undone.output) == {"undone": True, "ranker": "the shipped ranker"}
    assert Path("idx/tuning/ranker.json").exists() is False


def test_an_index_of_bare_passages_is_searched_in_every_mode(fake_embedder):
    # As the benchmarks build one in memory: passages, no documents.
    from benchmarks.retrieval_quality import in_memory_index

    index = in_memory_index(SUBJECTS, fake_embedder)
    vector = fake_embedder.encode(["就业"])[0]
    for mode in SEARCH_MODES:
        hits = search(index, "就业", vector, 3, mode)
        assert len(hits) == (1 if mode == "bm25" else 3) and hits[0].meta == Metadata(), mode  # one holds the word
        assert "就业" in hits[0].passage.text, mode
