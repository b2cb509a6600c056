"""Keywords: distinctive words of a document, shown as written (keywords.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retriever import BadIndexError, Retriever
from retriever.api import summarize_text
from retriever.cli.commands import app
from retriever.index.bm25 import BM25
from retriever.summary.keywords import Reference, keywords
from retriever.text.words import STOPWORDS, for_matching, terms

GENERIC = {"发展", "推进", "建设", "加强", "推动", "加快", "实施"}
# Two made-up work reports of different years: the same generic verbs, said more often
# than anything else, and different programmes.
OPENING = "过去一年，我们坚持发展第一要务，推进改革，加强建设，推动发展。"
REPORT_2031 = (
    "2031年政府工作报告\n" + OPENING + "加快实施海水淡化工程，新建海上风电场十二座，改造渔港三十个。"
    "今年要继续推进海水淡化，加快海上风电建设，加强渔港管理，推动发展，实施好各项工作。"
)
REPORT_2032 = (
    "2032年政府工作报告\n" + OPENING + "加快实施退耕还林，营造防护林八万亩，治理沙漠化土地。"
    "今年要继续推进退耕还林，加快防护林建设，加强草原保护，推动发展，实施好各项工作。"
)
# Traditional characters: 我們 is a stop word (我们) and 國營商業 is scored as 国营商业.
TRADITIONAL = (
    "我們國家的農業合作社發展很快。我們要鞏固工農聯盟，辦好國營商業和供銷合作社，"
    "擴大計劃供應。農業合作社要增產糧食，國營商業要保證供應。"
)


def test_two_reports_get_their_own_programmes_not_the_shared_verbs():
    assert keywords(REPORT_2031) == ["渔港", "海水淡化", "风电场", "推进改革", "要务", "建设", "发展", "新建"]
    assert keywords(REPORT_2032) == ["退耕还林", "防护林", "沙漠化", "推进改革", "要务", "建设", "营造", "发展"]
    assert keywords(REPORT_2031, 4) == ["渔港", "海水淡化", "风电场", "推进改革"]
    assert keywords(REPORT_2032, 4) == ["退耕还林", "防护林", "沙漠化", "推进改革"]


def test_generic_verbs_lose_to_the_programmes():
    # 发展 (a verbal noun, a candidate) is said more often than 渔港, but counts
    # sublinearly; 推进, 加强, 推动, 加快 and 实施 are verbs and never candidates.
    assert REPORT_2031.count("发展") == 3 and REPORT_2031.count("渔港") == 2
    for report in (REPORT_2031, REPORT_2032):
        assert not GENERIC & set(keywords(report, 4))
        assert not {"推进", "加强", "推动", "加快", "实施"} & set(keywords(report, 50))


def test_traditional_text_is_scored_simplified_and_shown_as_written():
    words = keywords(TRADITIONAL)
    assert words == ["國營商業", "農業合作社", "計劃供應", "保證供應", "工農聯盟", "供銷", "糧食", "國家"]
    assert all(w in TRADITIONAL for w in words)  # as written, not in their simplified form
    assert not {for_matching(w) for w in keywords(TRADITIONAL, 50)} & STOPWORDS  # 我們 is 我们


def test_words_that_recur_together_are_one_term():
    # jieba cuts 中国特色社会主义 into 中国 / 特色 / 社会主义 and 个体工商户 into 个体 /
    # 工商户: written together each time, they are one keyword, not 特色 or 工商户.
    text = (
        "坚持和发展中国特色社会主义。中国特色社会主义进入新时代。高举中国特色社会主义伟大旗帜。"
        "发展个体工商户，扶持个体工商户。社会主义制度。"
    )
    assert keywords(text) == ["个体工商户", "中国特色社会主义", "伟大旗帜", "发展", "时代", "制度"]
    # Once is no term: its words apart, as jieba cuts them.
    assert keywords("坚持和发展中国特色社会主义。") == ["特色", "社会主义", "发展", "中国"]


def test_a_keyword_inside_a_better_one_is_left_out():
    # 风电 is said twice, but as part of 风电场 once: the term says it (REPORT_2031 above).
    assert "风电" in REPORT_2031.replace("风电场", "")
    assert "风电" not in keywords(REPORT_2031, 50)
    assert "社会主义" not in keywords("中国特色社会主义好。中国特色社会主义强。社会主义制度。", 50)


def test_a_word_written_both_ways_is_one_keyword_shown_as_most_often_written():
    text = "国营商业要保证供应。國營商業要擴大供應。國營商業要辦好。"
    assert keywords(text, 1) == ["國營商業"]


def test_a_line_whose_conversion_changes_length_is_shown_converted(monkeypatch):
    # for_matching keeps lengths but for a few OpenCC phrases: the offsets of such a line
    # do not point into the written one, so its words are shown in matching form.
    import retriever.summary.keywords as module

    monkeypatch.setattr(module, "for_matching", lambda text: for_matching(text).replace("某", "某某"))
    text = "國營商業辦得好。\n某地的國營商業和糧食工作。\n糧食要增產。"
    assert keywords(text, 2) == ["國營商業", "粮食"]  # 糧食's first line was 某地's


def test_latin_words_are_kept_and_numbers_left_out():
    assert keywords("推广5G基站，2021年至2025年PM2.5浓度下降，GDP增长。") == ["5G", "PM2.5", "GDP", "基站", "浓度"]


def test_no_keyword_from_an_official_documents_furniture():
    # Its number (in its head and cited in its text), addressees, 版记, and the header
    # fields of minutes (the names of those present) say nothing of what it is about.
    notice = (
        "某某县人民政府办公室文件\n某政办发〔2024〕8号\n某某县人民政府办公室关于加强秸秆禁烧工作的通知\n"
        "各乡镇人民政府，县直各单位：\n根据《某某市秸秆禁烧工作方案》（某政办发〔2023〕15号）要求，"
        "为做好秸秆禁烧和综合利用，现通知如下。\n一、落实网格化监管，秸秆禁烧实行乡镇包村、村包组。\n"
        "二、推进秸秆综合利用，秸秆还田面积达到十万亩。\n抄送：县委办公室，县人大常委会办公室。"
    )
    assert keywords(notice) == ["秸秆", "综合利用", "网格化", "乡镇", "人民政府", "办公室", "监管", "方案"]
    minutes = (
        "县政府常务会议纪要\n时间：2024年3月12日\n主持：王建国\n出席：王建国、李红梅、赵志刚、孙丽华\n"
        "列席：县财政局、县发改局主要负责同志\n记录：周晓明\n"
        "会议研究了秸秆禁烧工作，同意秸秆综合利用补助方案，秸秆还田补助每亩二十元。\n会议要求财政局做好秸秆补助资金保障。"
    )
    assert keywords(minutes) == ["秸秆", "会议纪要", "县政府", "综合利用", "财政局", "常务", "方案", "资金"]


def test_no_keyword_from_a_citation():
    # 「（《列宁全集》中文版，第三十二卷，第七十二页）」 names where a quote is from.
    cited = "（《列宁全集》中文版，第三十二卷，第七十二页）"
    text = "".join(f"列宁指出：“要发展农业合作社，巩固工农联盟。”{cited}我们要办好农业合作社。" for _ in range(3))
    assert keywords(text, 3) == ["工农联盟", "发展农业合作社", "列宁"]
    # The same work named in the text is a keyword like any.
    assert keywords(text.replace(cited, "《列宁全集》说农业合作社要发展。"), 3) == ["农业合作社", "列宁全集", "工农联盟"]


def test_keywords_say_nothing_on_stderr_in_python_development_mode():
    # jieba reads its IDF table from a file it does not close: `python -X dev` printed a
    # ResourceWarning into the user's terminal.
    code = "from retriever.summary.keywords import keywords; print(keywords('秸秆综合利用。秸秆还田。'))"
    run = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, check=True)
    assert (run.stdout, run.stderr) == ("['秸秆', '综合利用']\n", "")


def test_empty_and_wordless_texts():
    assert keywords("") == []
    assert keywords("2031年，12345。……") == []


def test_a_word_common_in_the_reference_loses():
    # A collection of 4,000 passages that often speak of 渔港 and 海水淡化 and all open
    # like these reports: for it, the 2031 report is about its wind farms.
    passages = [OPENING, "改造渔港，发展海水淡化。", "渔港和海水淡化工程。", "渔港建设。"] * 1000
    reference = Reference.of_bm25(BM25.build([terms(p) for p in passages]))
    assert (reference.passages, reference.weight) == (4000, 0.8)
    assert keywords(REPORT_2031, 4) == ["渔港", "海水淡化", "风电场", "推进改革"]
    assert keywords(REPORT_2031, 4, reference) == ["风电场", "新建", "报告", "管理"]
    assert keywords(REPORT_2032, 4, reference) == ["退耕还林", "防护林", "沙漠化", "营造"]  # not 推进改革, 要务


def test_a_small_reference_weighs_little():
    # Four passages know too little to overrule general Chinese.
    reference = Reference.of_bm25(BM25.build([terms(p) for p in ["渔港", "渔港", "渔港", "渔港"]]))
    assert reference.weight == pytest.approx(4 / 1004)
    assert keywords(REPORT_2031, 4, reference) == keywords(REPORT_2031, 4)


@pytest.fixture
def index(in_tmp, fake_embedder) -> Path:
    Path("docs").mkdir()
    Path("docs/a.txt").write_text(REPORT_2031, encoding="utf-8")
    Path("docs/b.txt").write_text(REPORT_2032, encoding="utf-8")
    Retriever.build(["docs"], index_dir="idx", embedder=fake_embedder)
    return Path("idx")


def test_reference_of_an_index_is_its_bm25_idf(index):
    bm25 = Retriever.open(index).index.bm25
    reference = Reference.of_index(index)
    assert reference == Reference.of_bm25(bm25)
    assert reference.passages == bm25.n_docs == 2
    assert reference.idf["渔港"] == pytest.approx(bm25.idf[bm25.vocab["渔港"]])


def test_summaries_take_keywords_against_an_index(index, fake_embedder, monkeypatch):
    # Two passages would weigh nothing against general Chinese: trusted alone here.
    monkeypatch.setattr("retriever.summary.keywords.REFERENCE_TRUST", 0)
    # Both reports say 推进改革 and 要务: against their index the 2031 report keeps its
    # own words, those it says twice first.
    against_index = ["海水淡化", "渔港", "工程", "新建", "风电场", "管理", "发展", "建设"]
    assert summarize_text(REPORT_2031, embedder=fake_embedder, against=index).keywords == against_index
    assert summarize_text(REPORT_2031, embedder=fake_embedder).keywords == keywords(REPORT_2031)
    runner = CliRunner()
    result = runner.invoke(app, ["summarize", "docs/a.txt", "--against", "idx", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"][0]["keywords"] == against_index
    # --add-to-index names the index the documents go into: they are compared with it.
    result = runner.invoke(app, ["summarize", "docs/a.txt", "--add-to-index", "idx", "--json"])
    assert json.loads(result.stdout)["documents"][0]["keywords"] == against_index
    # A first --add-to-index creates its index: general Chinese, no error.
    result = runner.invoke(app, ["summarize", "docs/a.txt", "--add-to-index", "new", "--json"])
    assert json.loads(result.stdout)["documents"][0]["keywords"] == keywords(REPORT_2031)


def test_cli_against_a_missing_index_names_it(in_tmp, fake_embedder):
    Path("a.txt").write_text(REPORT_2031, encoding="utf-8")
    result = CliRunner().invoke(app, ["summarize", "a.txt", "--against", "nowhere/idx"])
    assert result.exit_code == 1
    assert "nowhere/idx: no index here" in result.stderr


def test_unreadable_bm25_is_named(index):
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    (index / manifest["generation"] / "bm25_vocab.json").write_text("[", encoding="utf-8")
    with pytest.raises(BadIndexError, match=r"idx/gen-.*/bm25\.npz or bm25_vocab\.json: unreadable"):
        Reference.of_index(index)
