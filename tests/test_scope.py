"""Asking within some documents: metadata (dates and issuers from the text and the
file), scopes by path, date and name, and filters applied inside the vector search, so
that k results come back, ranked as an index of only those documents ranks them."""

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retriever import Retriever, Scope, UsageError
from retriever.cli.commands import app as cli
from retriever.index.faiss_store import FaissVectors, build_vector_index
from retriever.index.milvus import id_filter
from retriever.serve.app import create_app
from retriever.serve.schemas import AskResponse
from retriever.text.metadata import FileProperties, Metadata, metadata, parse_date, session_year

# Reports of three years in folders by year, a notice that ends with its 落款, and a
# page with no date at all: several passages each, on the same subjects, so that years
# and folders decide.
P = [
    "稳定和扩大就业是今年的首要任务。城镇新增就业一千一百万人以上，调查失业率控制在百分之五点五左右，落实援企稳岗政策，支持高校毕业生和农民工就业创业。",
    "推进养老服务体系建设，新建社区养老服务设施两百处，发展普惠托育服务，完善基本养老保险全国统筹制度，让老年人老有所养、老有所乐。",
    "加强生态环境保护，打好蓝天碧水净土保卫战，细颗粒物浓度继续下降，重点流域水质优良比例提高，推进垃圾分类和污水处理设施建设。",
    "就业优先政策要全面发力，把稳就业摆在更加突出的位置，扩大职业技能培训规模，开发公益性岗位，帮助困难人员实现再就业。",
    "完善社会保障制度，提高城乡居民基础养老金最低标准，扩大失业保险保障范围，做好困难群众基本生活保障工作。",
    "统筹推进山水林田湖草沙系统治理，开展国土绿化行动，加强自然保护地建设，推动能源结构向清洁低碳转型。",
    "今年把稳就业保民生放在突出位置，减税降费向中小微企业倾斜，稳住市场主体就是稳住就业的基本盘。",
    "加快发展老年教育和康养产业，推进医养结合，支持社会力量兴办养老机构，提高护理人员待遇。",
    "深入实施大气污染防治行动计划，推进钢铁行业超低排放改造，加强机动车尾气治理。",
    "健全灵活就业人员社保制度，支持新就业形态健康发展，清理取消对就业的不合理限制。",
    "建设覆盖城乡的居家社区养老服务网络，发展老年助餐和上门护理服务，推进适老化改造。",
    "持续改善生态环境质量，单位国内生产总值能耗下降百分之三左右，推进碳达峰碳中和工作。",
    "各区要把养老服务纳入民生实事项目，加大财政投入力度，落实养老服务设施配建要求，按时报送工作进展。",
    "做好重点群体就业，加强公共就业服务，开展就业援助月活动，促进零就业家庭至少一人就业。",
    "推进城乡环境综合整治，深化河长制湖长制，加强饮用水水源地保护，改善农村人居环境。",
]


def _paragraphs(n: int) -> list[str]:
    """n paragraphs of three of P's sentences each, no two sharing more than one: each
    paragraph a passage of its own (over 200 characters), none a near-duplicate."""
    chosen: list[tuple[int, int, int]] = []
    for a in range(len(P)):
        for b in range(a + 1, len(P)):
            for c in range(b + 1, len(P)):
                if len(chosen) < n and all(len({a, b, c} & set(t)) <= 1 for t in chosen):
                    chosen.append((a, b, c))
    return ["".join(P[i] for i in t) for t in chosen]


_PARAS = _paragraphs(17)
DOCS = {
    "2019/report.txt": "2019年工作报告\n\n" + "\n\n".join(_PARAS[0:3]),
    "2019/notes.txt": "二〇一九年学习笔记\n\n" + "\n\n".join(_PARAS[3:6]),
    "2020/report.txt": "2020年工作报告\n\n" + "\n\n".join(_PARAS[6:9]),
    "2021/report.txt": "2021年工作报告\n\n" + "\n\n".join(_PARAS[9:12]),
    "notices/pension.txt": "某某市人民政府关于加强养老服务的通知\n各区人民政府:\n"
    + "\n\n".join(_PARAS[12:15])
    + "\n\n某某市人民政府办公室 某某市民政局\n2020年7月15日",
    "misc/page.txt": "工作要点\n\n" + "\n\n".join(_PARAS[15:17]),
}


@pytest.fixture
def corpus(in_tmp) -> Path:
    for name, text in DOCS.items():
        path = in_tmp / "corpus" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return in_tmp / "corpus"


@pytest.fixture
def whole(corpus, fake_embedder) -> Retriever:
    return Retriever.build([corpus], index_dir="whole")[0]


def hits(answer) -> list[tuple[str, int, float]]:
    return [(h.passage.doc_id, h.passage.start, round(h.score, 5)) for h in answer.results]


# What the text and the file say of a document.


def test_dates_and_issuers_from_the_text():
    notice = metadata("某某市人民政府关于加强养老服务的通知", DOCS["notices/pension.txt"])
    assert notice == Metadata("2020-07-15", "text", "某某市人民政府办公室、某某市民政局")
    resolution = "决议\n（2021年3月11日第十三届全国人民代表大会第四次会议通过）\n正文。"
    assert metadata("第十三届全国人民代表大会第四次会议关于政府工作报告的决议", resolution) == Metadata(
        "2021-03-11", "text", "第十三届全国人民代表大会第四次会议"
    )
    assert metadata("讲话", "讲话\n——二○一九年三月五日在大会上\n正文。") == Metadata("2019-03-05", "text", None)
    # A title's one year, when the text has no dated line; a month alone dates nothing.
    assert metadata("2019年工作报告", "2019年3月工作安排\n正文。") == Metadata("2019", "title", None)
    assert metadata("2019年总结和2020年计划", "正文。") == Metadata()
    # A title that is the body's name and the kind of document names its issuer.
    assert metadata("2019年中华人民共和国国务院政府工作报告", "正文。") == Metadata("2019", "title", "中华人民共和国国务院")
    assert metadata("最高人民法院工作报告", "正文。").issuer == "最高人民法院"
    assert metadata("某某县人民政府2023年政府工作报告", "正文。").issuer == "某某县人民政府"
    assert [metadata(t, "正文。").issuer for t in ("2019年政府工作报告", "乡村振兴工作方案")] == [None, None]
    # Or the body its opening speaks for; a person, or a body named late in it, is none.
    opening = "同志们：\n现在，我代表第十四届中央委员会向大会作报告。\n正文。"
    assert metadata("在中国共产党第十五次全国代表大会上的报告", opening).issuer == "第十四届中央委员会"
    assert metadata("报告", "同志们：\n我受十二届中央委员会委托，向大会作报告。").issuer == "十二届中央委员会"
    assert metadata("讲话", "同志们：\n我代表党中央，向大家致以问候。").issuer is None
    assert metadata("讲话", "正文。\n" * 6 + "我代表县委向大家表示感谢。").issuer is None
    # A person signing is no issuer; nor is a sentence that ends with a date.
    assert metadata("讲话", "正文。\n张三\n2023年1月2日") == Metadata("2023-01-02", "text", None)
    assert metadata("讲话", "会议于2023年1月2日召开,各单位要认真贯彻落实会议精神,切实抓好各项工作,确保取得实效。") == Metadata()


def test_dates_and_issuers_in_traditional_script():
    # The issuer as the document writes it; Taiwan's years counted from 民國元年 (1912).
    text = "各地：\n要加強安全生產。\n國務院辦公廳\n2023年3月5日"
    assert metadata("國務院辦公廳關於加強安全生產工作的通知", text) == Metadata("2023-03-05", "text", "國務院辦公廳")
    assert metadata("國務院關於加強安全生產工作的通知", "正文。") == Metadata(None, None, "國務院")
    assert metadata("函", "正文。\n行政院\n中華民國112年3月5日") == Metadata("2023-03-05", "text", "行政院")
    assert parse_date("民國112年3月") == "2023-03"
    # Years of 民國 in numerals, counted or digit by digit.
    assert metadata("函", "正文。\n行政院\n中華民國一百一十三年三月五日") == Metadata("2024-03-05", "text", "行政院")
    assert [parse_date(f"民國{y}年十月十日") for y in ("九十九", "一百", "一百零五", "一一三", "〇十")] == [
        "2010-10-10", "2011-10-10", "2016-10-10", "2024-10-10", None,
    ]  # fmt: skip


def test_a_notice_that_issues_a_plan_is_dated_by_its_own_signature():
    # 「关于印发…的通知」 signs, then carries the plan it issues: its 落款 is inside the text.
    notice = [
        "某某市人民政府文件",
        "某政发〔2024〕8号",
        "某某市人民政府关于印发《某某市优化营商环境行动方案》的通知",
        "各县（市、区）人民政府，市政府各部门：",
        "现将《某某市优化营商环境行动方案》印发给你们，请认真贯彻执行。",
        "某某市人民政府",
        "二〇二四年三月五日",
        "（此件公开发布）",
        "某某市优化营商环境行动方案",
    ] + [
        f"{n}、重点任务{n}" if i % 2 == 0 else "推进政务服务事项标准化建设，实现无差别受理。"
        for i, n in enumerate("一一二二三三四四五五")
    ]
    title = notice[2]
    assert metadata(title, "\n".join(notice)) == Metadata("2024-03-05", "text", "某某市人民政府")
    # Without it, the day its 版记 says it was printed; a sentence that names a date is no 落款.
    printed = notice[:5] + notice[8:] + ["抄送：市委各部门。", "某某市人民政府办公室　　2024年3月6日印发"]
    assert metadata(title, "\n".join(printed)) == Metadata("2024-03-06", "text", "某某市人民政府")
    talk = notice[:5] + ["会议要求：", "2024年3月5日前完成部署。"] + notice[8:]
    assert metadata(title, "\n".join(talk)).date is None
    assert session_year("第十三屆全國人民代表大會第四次會議關於政府工作報告的決議") == 2021


def test_dates_and_issuers_from_the_file():
    converted = FileProperties(date="2024-01-01T08:00:00Z", author="Administrator")
    assert metadata("2019年工作报告", "正文。", converted) == Metadata("2019", "title", None)
    same_year = FileProperties(date="D:20190305120000+08'00'", author="某某市发展和改革委员会")
    assert metadata("2019年工作报告", "正文。", same_year) == Metadata("2019-03-05", "file", "某某市发展和改革委员会")
    assert metadata("工作要点", "正文。", FileProperties(date="2022-05-06", author="张三")) == Metadata(
        "2022-05-06", "file", None
    )
    # The text's own dated line comes first.
    assert metadata("通知", "正文。\n某某局\n2021年1月4日", same_year) == Metadata("2021-01-04", "text", "某某局")


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("第十三届全国人民代表大会第四次会议关于政府工作报告的决议", 2021),
        ("第十四届全国人民代表大会第三次会议关于政府工作报告的决议", 2025),
        ("十三届全国人大四次会议", 2021),
        ("第六届全国人民代表大会第一次会议关于政府工作报告的决议", 1983),
        ("第二届全国人民代表大会第三次会议关于政府工作报告的决议", 1962),  # the early terms skipped years
        ("第三届全国人民代表大会第一次会议关于政府工作报告的决议", 1964),
        ("在中国共产党第九次全国代表大会上的报告", 1969),
        ("陈独秀在中国共产党第三次全国代表大会上的报告", 1923),
        ("全面开创社会主义现代化建设的新局面 (十二大)", 1982),
        ("北京共产主义组织的报告（一大）", 1921),
        ("党的二十大报告", 2022),
        ("第二届全国人民代表大会第七次会议关于政府工作报告的决议", None),  # no such session
        ("第十三届全国人民代表大会常务委员会第二十次会议", None),  # the standing committee meets often
        ("某某省第十三届人民代表大会第二次会议", None),  # a province's congress
        ("共青团第十八次全国代表大会", None),
        ("党的三大作风", None),
        ("党的十八大以来的成就", None),
    ],
)
def test_a_title_naming_a_national_congress_dates_its_document(title, year):
    assert session_year(title) == year
    meta = metadata(title, "正文。")
    assert (meta.date, meta.date_from) == ((f"{year}", "title") if year else (None, None))
    # A dated line in the text comes first; a file's date counts where it is of that year.
    assert metadata(title, "（2021年3月11日通过）\n正文。").date == "2021-03-11"
    if year:
        assert metadata(title, "正文。", FileProperties(date=f"{year}-03-11")).date == f"{year}-03-11"
        assert metadata(title, "正文。", FileProperties(date="2024-12-01")).date == (f"{year}" if year != 2024 else "2024-12-01")


def test_dates_written_any_common_way():
    assert [parse_date(v) for v in ("2019", "2019-3", "2019/03/05", "2019.3.5", "二〇一九年三月五日", "2019年12月")] == [
        "2019", "2019-03", "2019-03-05", "2019-03-05", "2019-03-05", "2019-12",
    ]  # fmt: skip
    assert [parse_date(v) for v in ("2019-13", "2019-02-30", "next year", "")] == [None] * 4


# Scopes.


def test_a_scope_that_cannot_be_is_a_usage_error():
    for bad, says in [
        (dict(since="last spring"), "--since 'last spring': not a date"),
        (dict(since="2021", until="2020-06"), "--since 2021 is after --until 2020-06"),
        (dict(years=(19,)), "--year 19: give a year"),
        (dict(paths=("./",)), "--in: give a folder"),
    ]:
        with pytest.raises(UsageError, match=says):
            Scope(**bad)
    assert not Scope() and Scope(years=[2019]) == Scope(years=(2019,))
    with pytest.raises(UsageError, match="^Scope years: give one or a list, not float$"):
        Scope(years=2019.5)


def test_one_path_year_or_document_is_one():
    # Not the characters of a name: Scope(paths="corpus") is not --in c --in o …
    assert Scope(paths="corpus") == Scope(paths=("corpus",))
    assert Scope(paths=Path("reports/2019")) == Scope(paths=("reports/2019",))
    assert Scope(years=2019) == Scope(years=(2019,))
    assert Scope(docs="corpus/a.txt").docs == ("corpus/a.txt",)


def test_documents_within_each_scope(whole):
    def within(**scope) -> list[str]:
        return sorted(Scope(**scope).select(whole.index).doc_ids)

    assert within(years=(2019,)) == ["corpus/2019/notes.txt", "corpus/2019/report.txt"]
    assert within(years=(2019, 2021)) == ["corpus/2019/notes.txt", "corpus/2019/report.txt", "corpus/2021/report.txt"]
    # A year covers every day of it; a day, only the documents that may be of it.
    assert within(since="2020-07") == ["corpus/2020/report.txt", "corpus/2021/report.txt", "corpus/notices/pension.txt"]
    assert within(since="2020-07-16", until="2020-12") == ["corpus/2020/report.txt"]
    # A folder anywhere in the path, a glob, a file.
    assert within(paths=("2019",)) == ["corpus/2019/notes.txt", "corpus/2019/report.txt"]
    assert within(paths=("corpus/20*/report.txt",)) == [f"corpus/{y}/report.txt" for y in (2019, 2020, 2021)]
    assert within(paths=("PENSION.TXT", "misc")) == ["corpus/misc/page.txt", "corpus/notices/pension.txt"]
    assert within(docs=("corpus/misc/page.txt",), paths=("misc",)) == ["corpus/misc/page.txt"]
    selection = Scope(years=(2020,)).select(whole.index)
    assert selection.undated == 1  # the page
    assert selection.passages == sum(
        whole.index.documents[d].passages[1] - whole.index.documents[d].passages[0] for d in selection.doc_ids
    )
    with pytest.raises(
        UsageError, match=r"^no indexed document is within --year 2031 \(the documents are dated 2019–2021; 1 without a date\)$"
    ):
        Scope(years=(2031,)).select(whole.index)
    with pytest.raises(UsageError, match="--doc nothing.txt: no such document"):
        Scope(docs=("nothing.txt",)).select(whole.index)


def test_paths_and_documents_are_found_from_any_folder(whole, in_tmp, monkeypatch):
    """A document's path is relative to the folder the index was built in; a user in
    another folder names it from there, or by its absolute path."""

    def within(**scope) -> list[str]:
        return sorted(Scope(**scope).select(whole.index).doc_ids)

    monkeypatch.chdir(in_tmp / "corpus" / "2019")
    assert within(docs=("report.txt",)) == within(docs=("./report.txt",)) == ["corpus/2019/report.txt"]
    assert within(docs=(str(in_tmp / "corpus/2021/report.txt"),)) == ["corpus/2021/report.txt"]
    assert within(paths=(str(in_tmp / "corpus/notices"),)) == ["corpus/notices/pension.txt"]
    assert within(paths=("../2020",)) == ["corpus/2020/report.txt"]
    assert within(paths=("2019",)) == ["corpus/2019/notes.txt", "corpus/2019/report.txt"]  # as indexed, as before
    with pytest.raises(UsageError, match=r"^no indexed document is within --in /nowhere \(the documents are in corpus/2019, "):
        Scope(paths=("/nowhere",)).select(whole.index)


@pytest.mark.parametrize("mode", ["dense", "hybrid", "bm25"])
def test_k_results_all_within_the_scope(whole, mode):
    for scope in (Scope(years=(2019,)), Scope(paths=("notices", "misc")), Scope(since="2020", until="2020-12-31")):
        admitted = set(scope.select(whole.index).doc_ids)
        answer = whole.ask("稳定和扩大就业", k=3, mode=mode, summary_chars=0, within=scope)
        assert len(answer.results) == 3, scope
        assert {h.passage.doc_id for h in answer.results} <= admitted, scope
        assert answer.to_dict()["scope"]["documents"] == len(admitted)


def test_dense_ranking_within_a_scope_is_that_of_an_index_of_only_those_documents(whole, corpus, fake_embedder, tmp_path):
    only = tmp_path / "only"
    for name in ("2019/report.txt", "2019/notes.txt"):
        (only / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        (only / "corpus" / name).write_text(DOCS[name], encoding="utf-8")
    alone = Retriever.build([only / "corpus"], index_dir=tmp_path / "only-index")[0]
    for question in ("就业优先", "养老服务体系", "生态环境"):
        scoped = whole.ask(question, k=5, mode="dense", summary_chars=0, within=Scope(paths=("2019",)))
        plain = alone.ask(question, k=5, mode="dense", summary_chars=0)
        # The small index's documents are under only/.
        assert hits(scoped) == [(d.removeprefix("only/"), start, score) for d, start, score in hits(plain)], question


def test_scoped_answers_in_json_from_the_cli_and_the_service(whole):
    runner = CliRunner()
    got = runner.invoke(cli, ["ask", "就业", "--index-dir", "whole", "--local", "--year", "2019", "--in", "2019", "--json"])
    assert got.exit_code == 0, got.output
    answer = json.loads(got.stdout)
    assert answer["scope"] == {"in": ["2019"], "year": [2019], "documents": 2, "passages": 4, "undated": 0}
    assert {(h["date"], h["issuer"]) for h in answer["results"]} == {("2019", None)}
    shown = runner.invoke(cli, ["ask", "养老", "--index-dir", "whole", "--local", "--since", "2020-07", "-k", "10"]).stdout
    assert shown.startswith("Within 3 documents (6 passages); 1 without a date left out\n")
    assert "(344–534) · 2020-07-15 · 某某市人民政府办公室、" in shown  # wrapped at 80 columns after
    bad = runner.invoke(cli, ["ask", "就业", "--index-dir", "whole", "--local", "--until", "soon"])
    assert bad.exit_code == 2 and "--until 'soon': not a date" in bad.stderr

    client = TestClient(create_app(whole), base_url="http://localhost")
    got = client.get("/api/ask", params=[("q", "就业"), ("year", 2019), ("year", 2021), ("k", 10)])
    AskResponse.model_validate(got.json())
    assert {h["doc_id"] for h in got.json()["results"]} == {
        "corpus/2019/notes.txt",
        "corpus/2019/report.txt",
        "corpus/2021/report.txt",
    }
    posted = client.post("/api/ask", json={"q": "养老", "in": ["notices"], "doc": ["corpus/notices/pension.txt"]}).json()
    assert posted["scope"]["documents"] == 1 and posted["results"][0]["issuer"] == "某某市人民政府办公室、某某市民政局"
    refused = client.get("/api/ask", params={"q": "就业", "since": "2030"})
    assert refused.status_code == 400 and refused.json()["error"].startswith("no indexed document is within --since 2030")
    documents = client.get("/api/info").json()["documents"]
    assert {d["doc_id"]: d["date"] for d in documents}["corpus/notices/pension.txt"] == "2020-07-15"


def test_an_index_written_before_metadata_reads_it_from_its_text(whole):
    documents = whole.index.directory / whole.index.manifest.generation / "documents.jsonl"
    rows = [json.loads(line) for line in documents.read_text(encoding="utf-8").splitlines()]
    assert {r["doc_id"]: r["date"] for r in rows}["corpus/2019/notes.txt"] == "2019"
    for row in rows:
        del row["date"], row["date_from"], row["issuer"]
    documents.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    from retriever.index.folder import read_documents

    _, read = read_documents(whole.index.directory)
    assert read["corpus/notices/pension.txt"].meta == Metadata("2020-07-15", "text", "某某市人民政府办公室、某某市民政局")


def test_an_index_written_before_session_dates_reads_them_from_its_titles(whole):
    documents = whole.index.directory / whole.index.manifest.generation / "documents.jsonl"
    rows = [json.loads(line) for line in documents.read_text(encoding="utf-8").splitlines()]
    undated = next(r for r in rows if r["doc_id"] == "corpus/misc/page.txt")
    assert (undated["date"], undated["date_from"]) == (None, None)
    undated["title"] = "第十三届全国人民代表大会第四次会议关于政府工作报告的决议"  # as an older version stored it: no date
    documents.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    from retriever.index.folder import read_documents

    _, read = read_documents(whole.index.directory)
    assert read["corpus/misc/page.txt"].meta == Metadata("2021", "title", None)
    assert read["corpus/notices/pension.txt"].meta == Metadata("2020-07-15", "text", "某某市人民政府办公室、某某市民政局")


def test_an_unchanged_document_keeps_its_metadata_in_an_incremental_build(whole, corpus):
    (corpus / "misc" / "new.txt").write_text("新文件\n正文。\n某某县教育局\n2022年9月1日", encoding="utf-8")
    again, report = Retriever.build([corpus], index_dir="whole")
    assert (report.added, report.unchanged) == (1, 6)
    assert again.index.documents["corpus/notices/pension.txt"].meta.date == "2020-07-15"
    assert again.index.documents["corpus/misc/new.txt"].meta == Metadata("2022-09-01", "text", "某某县教育局")


# The vector index's own filtering (the stores' contract is in test_vector_stores.py).


def test_hnsw_keeps_to_the_marked_passages_exactly_when_few_and_by_the_graph_when_many(monkeypatch):
    from retriever.config import VectorIndexConfig

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index, params = build_vector_index(x, VectorIndexConfig(exact_below=1000))
    assert params["type"] == "hnsw-sq8"
    vectors = FaissVectors(index)
    q = x[:1]
    for marked in (slice(100, 160), slice(0, 2000)):
        within = np.zeros(len(x), dtype=bool)
        within[marked] = True
        monkeypatch.setattr(VectorIndexConfig, "exact_below", 1000)
        scores, ids = vectors.search(q, 20, within)
        assert within[ids[0]].all() and len(set(ids[0].tolist())) == 20
        exact = np.flatnonzero(within)[np.argsort(-(x[within] @ q[0]), kind="stable")[:20]]
        if marked.stop - marked.start < 1000:  # scored exactly
            assert ids[0].tolist() == exact.tolist()
            assert np.allclose(scores[0], x[exact] @ q[0], atol=1e-5)
        else:  # by the graph, which finds nearly all of them here
            assert len(set(ids[0].tolist()) & set(exact.tolist())) >= 18


def test_milvus_filter_expressions_name_runs_of_ids():
    within = np.zeros(12, dtype=bool)
    within[[0, 1, 2, 7, 8, 11]] = True
    assert id_filter(within) == "(id >= 0 and id < 3) or (id >= 7 and id < 9) or (id >= 11 and id < 12)"


def test_summaries_carry_the_documents_date_and_issuer(fake_embedder):
    from retriever import summarize_text
    from retriever.summary.records import WRITERS

    record = summarize_text(DOCS["notices/pension.txt"], max_chars=100)
    assert (record.to_dict()["date"], record.to_dict()["issuer"]) == ("2020-07-15", "某某市人民政府办公室、某某市民政局")
    csv = WRITERS["csv"]([record]).splitlines()
    assert csv[0] == "path,title,chars,date,issuer,keywords,summary,outline,notes,error"
    assert (
        csv[1].startswith("<text>,某某市人民政府关于加强养老服务的通知,")
        and ",2020-07-15,某某市人民政府办公室、某某市民政局," in csv[1]
    )
    assert "`<text>` · " in WRITERS["md"]([record]) and " · 2020-07-15 · 某某市人民政府办公室、某某市民政局" in WRITERS["md"](
        [record]
    )


def test_a_scope_is_bounded_as_a_request_to_a_service_must_be():
    with pytest.raises(UsageError, match="--in: at most 64 of them"):
        Scope(paths=tuple(f"folder{i}" for i in range(65)))
    with pytest.raises(UsageError, match="--in: a pattern of at most 1,000 characters"):
        Scope(paths=("*" * 1001,))
