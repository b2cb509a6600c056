"""The CLI in-process (typer's runner) with the fake embedder: output, JSON, exit codes."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retriever.cli.commands import app
from retriever.embedding.onnx_runtime import cpu_summary

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。\n二、发展产业\n要因地制宜发展特色产业,带动群众增收。"


@pytest.fixture
def runner():
    # stderr apart from stdout, as a shell sees them.
    return CliRunner()


@pytest.fixture
def corpus(in_tmp, fake_embedder):
    Path("corpus").mkdir()
    Path("indexes").mkdir()  # a project folder, as a clone of this repository is
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    Path("corpus/b.md").write_text("# 环境整治\n\n要抓好人居环境整治,清理生活垃圾。", encoding="utf-8")
    return Path("corpus")


def test_ask_builds_the_default_index_on_first_use(runner, corpus):
    result = runner.invoke(app, ["ask", "如何化解矛盾纠纷", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "No index at indexes/default yet: building it from corpus/ (first use)" in result.stderr
    assert "[1]" in result.stdout and "基层治理讲话" in result.stdout
    assert "Summary" in result.stdout
    assert Path("indexes/default/manifest.json").is_file()


def test_ask_json_contract(runner, corpus):
    assert runner.invoke(app, ["index"]).exit_code == 0
    result = runner.invoke(app, ["ask", "如何化解矛盾纠纷", "--json", "-k", "2", "--mode", "hybrid"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)  # exactly one JSON object, nothing else
    assert {"query", "mode", "score", "results", "summary"} <= set(data)
    assert (data["query"], data["mode"]) == ("如何化解矛盾纠纷", "hybrid")
    first = data["results"][0]
    assert {"rank", "score", "doc_id", "title", "heading_path", "text", "start", "end"} <= set(first)
    assert (first["rank"], first["doc_id"], first["heading_path"]) == (1, "corpus/a.txt", ["一、化解矛盾纠纷"])
    assert {"text", "sentences"} <= set(data["summary"])
    assert all({"text", "doc_id"} <= set(s) for s in data["summary"]["sentences"])


def test_library_answer_equals_cli_json(runner, corpus):
    from retriever import Retriever

    runner.invoke(app, ["index"])
    cli = json.loads(runner.invoke(app, ["ask", "环境整治", "--json"]).stdout)
    lib = Retriever.open().ask("环境整治").to_dict()
    cli.pop("timings_ms"), lib.pop("timings_ms")
    assert cli == lib


def test_index_and_info(runner, corpus):
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert result.exit_code == 0
    assert "Indexed 2 documents" in result.stderr
    info = json.loads(runner.invoke(app, ["info", "--index-dir", "idx", "--json", "--check"]).stdout)
    assert (info["model"]["name"], info["model"]["backend"], info["model"]["dim"]) == ("m3e-small", "onnx-int8", 64)
    assert [d["title"] for d in info["documents"]] == ["基层治理讲话", "环境整治"]
    assert info["problems"] == []
    assert info["vector_store"] == {
        "type": "faiss",
        "index": {"type": "flat-fp16", "refine": 2},
        "where": "FAISS files (flat-fp16)",
    }
    shown = runner.invoke(app, ["info", "--index-dir", "idx"]).stdout
    assert "2 documents" in shown and "  vectors    FAISS files (flat-fp16)\n" in shown


def test_index_again_says_up_to_date_and_rebuild_starts_over(runner, corpus):
    first = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert "2 added; 3 passages embedded" in first.stderr
    again = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert again.exit_code == 0
    assert "idx is up to date: 2 documents, 3 passages, nothing changed" in again.stderr
    Path("corpus/c.txt").write_text("产业发展座谈\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    changed = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert "1 added, 2 unchanged; 1 passage embedded" in changed.stderr
    rebuilt = runner.invoke(app, ["index", "corpus", "--index-dir", "idx", "--rebuild"])
    assert "3 added; 4 passages embedded" in rebuilt.stderr


def test_index_dir_from_environment(runner, corpus, monkeypatch):
    monkeypatch.setenv("RETRIEVER_INDEX", "envidx")
    assert runner.invoke(app, ["index"]).exit_code == 0
    assert Path("envidx/manifest.json").is_file()


def test_summarize(runner, corpus):
    result = runner.invoke(app, ["summarize", "corpus/a.txt", "--json", "--max-chars", "100"])
    assert result.exit_code == 0
    [record] = json.loads(result.stdout)["documents"]
    assert record["title"] == "基层治理讲话"
    assert record["path"] == "corpus/a.txt"
    assert len(record["summary"]) <= 100
    assert all(DOC[s["start"] : s["end"]] == s["text"] for s in record["sentences"])


def test_summarize_reports_bad_files_and_goes_on(runner, corpus):
    Path("bad.txt").write_bytes(b"\x00\x00")
    result = runner.invoke(app, ["summarize", "corpus/a.txt", "bad.txt", "--json"])
    assert result.exit_code == 3
    docs = json.loads(result.stdout)["documents"]
    assert docs[1] == {"path": "bad.txt", "error": "binary file (contains NUL bytes), not text"}
    assert "skipped bad.txt: binary file" in result.stderr


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["ask", "  "], 2, "error: the question is empty"),
        (["ask", "问题", "--mode", "fuzzy"], 2, "error: unknown mode 'fuzzy': choose one of hybrid, blend, dense, bm25"),
        (["ask", "问题", "--index-dir", "nowhere"], 1, "error: nowhere: no index here"),
        (["index", "missing.txt"], 1, "error: missing.txt: no such file or directory"),
        (["index", "empty.txt"], 1, "error: empty.txt: empty file"),
        (["index", "binary.bin"], 1, "error: binary.bin: binary file (contains NUL bytes), not text"),
        (["index", "gbk_broken.txt"], 1, "error: gbk_broken.txt: cannot decode: not UTF-8"),
        (["summarize", "missing.txt"], 1, "error: missing.txt: no such file or directory"),
        (["info", "--index-dir", "nowhere"], 1, "error: nowhere: no index here"),
    ],
)
def test_bad_input_one_line_errors(runner, corpus, args, code, message):
    Path("empty.txt").write_text("")
    Path("binary.bin").write_bytes(b"ELF\x00\x01\x02")
    Path("gbk_broken.txt").write_bytes(b"abc\x80\xff\x80" * 3)
    result = runner.invoke(app, args)
    assert result.exit_code == code
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert result.stdout == ""


def test_bad_input_leaves_the_index_untouched(runner, corpus):
    runner.invoke(app, ["index"])
    before = Path("indexes/default/manifest.json").read_bytes()
    Path("empty.txt").write_text("")
    assert runner.invoke(app, ["index", "empty.txt"]).exit_code == 1
    assert Path("indexes/default/manifest.json").read_bytes() == before
    assert runner.invoke(app, ["ask", "环境"]).exit_code == 0


def test_broken_index_is_a_clear_error(runner, corpus):
    runner.invoke(app, ["index"])
    Path("indexes/default/manifest.json").write_text("garbage")
    result = runner.invoke(app, ["ask", "环境"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: indexes/default/manifest.json: unreadable manifest")


def test_unreadable_files_are_skipped_with_exit_code_3(runner, corpus):
    Path("corpus/bad.txt").write_bytes(b"\x00binary")
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 3
    assert "skipped corpus/bad.txt: binary file (contains NUL bytes), not text" in result.stderr
    assert "Indexed 2 documents" in result.stderr and "1 file(s) skipped" in result.stderr


def test_first_use_build_with_a_bad_file_still_answers(runner, corpus):
    Path("corpus/bad.txt").write_bytes(b"\x00binary")
    result = runner.invoke(app, ["ask", "环境整治", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["doc_id"] == "corpus/b.md"


def test_when_no_file_can_be_read_nothing_is_written(runner, in_tmp, fake_embedder):
    Path("docs").mkdir()
    Path("docs/a.txt").write_text("")
    Path("docs/b.txt").write_bytes(b"\x00")
    result = runner.invoke(app, ["index", "docs"])
    assert result.exit_code == 1
    assert result.stderr == "error: docs: none of the 2 files could be read (first: docs/a.txt: empty file)\n"
    assert not Path("indexes/default/manifest.json").exists()


def test_summarize_a_directory_with_globs_to_each_output_format(runner, corpus):
    import csv

    Path("corpus/notes.txt").write_text("会议纪要\n要抓好人居环境整治工作,清理生活垃圾。", encoding="utf-8")
    args = ["summarize", "corpus", "--include", "*.txt", "--exclude", "notes*"]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert [d["path"] for d in data["documents"]] == ["corpus/a.txt"]

    result = runner.invoke(app, [*args, "--out", "out.jsonl"])
    assert result.exit_code == 0
    assert result.stdout == ""  # the records went to the file
    assert "Summarized 1 of 1 document" in result.stderr and "wrote out.jsonl" in result.stderr
    [line] = Path("out.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == data["documents"][0]

    runner.invoke(app, [*args, "--out", "out.md"])
    md = Path("out.md").read_text(encoding="utf-8")
    assert md.startswith("## 基层治理讲话\n\n`corpus/a.txt` · ")
    assert "- 一、化解矛盾纠纷\n- 二、发展产业" in md

    runner.invoke(app, [*args, "--out", "out.csv"])
    with open("out.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["path"], r["title"], r["error"]) for r in rows] == [("corpus/a.txt", "基层治理讲话", "")]
    assert rows[0]["summary"] == data["documents"][0]["summary"]


def test_why_a_summary_is_empty_is_in_every_format(runner, in_tmp, fake_embedder):
    import csv
    import io

    Path("short.txt").write_text("短。", encoding="utf-8")
    why = "nothing to summarize: no sentence of 8 characters or more in its 2 characters"
    csv_out = runner.invoke(app, ["summarize", "short.txt", "--format", "csv"]).stdout
    [row] = list(csv.DictReader(io.StringIO(csv_out)))
    assert (row["summary"], row["notes"], row["error"]) == ("", why, "")
    md = runner.invoke(app, ["summarize", "short.txt", "--format", "md"]).stdout
    assert f"*({why})*" in md


def test_csv_cells_are_never_formulas(runner, in_tmp, fake_embedder):
    import csv

    Path("docs").mkdir()
    for name, text in {
        "a.txt": '=HYPERLINK(A1,"点击")\n要抓好人居环境整治工作,清理生活垃圾和污水。',
        "@b.txt": "@SUM(1+1)\n+发展乡村旅游,拓宽农民增收渠道,带动群众增收致富。",
        "c.txt": "普通标题\n-1 要因地制宜发展特色产业,带动群众增收。",
    }.items():
        Path("docs", name).write_text(text, encoding="utf-8")
    assert runner.invoke(app, ["summarize", "docs", "--out", "out.csv"]).exit_code == 0
    with open("out.csv", encoding="utf-8-sig", newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f)}
    assert rows["docs/a.txt"]["title"] == '\'=HYPERLINK(A1,"点击")'
    assert rows["docs/@b.txt"]["title"] == "'@SUM(1+1)"
    assert rows["docs/@b.txt"]["summary"].startswith("'+发展乡村旅游")
    assert rows["docs/c.txt"]["summary"].startswith("'-1 要因地制宜")
    assert rows["docs/c.txt"]["title"] == "普通标题"  # others as they are
    cells = [c for r in rows.values() for c in r.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_summarize_unknown_output_format_is_a_usage_error(runner, corpus):
    result = runner.invoke(app, ["summarize", "corpus", "--out", "out.xlsx"])
    assert result.exit_code == 2
    assert result.stderr == "error: which format for out.xlsx (suffix .xlsx)? give --format jsonl|md|csv\n"
    result = runner.invoke(app, ["summarize", "corpus", "--out", "-"])
    assert result.stderr == "error: which format for standard output? give --format jsonl|md|csv\n"
    result = runner.invoke(app, ["summarize", "corpus", "--format", "xlsx"])
    assert result.stderr == "error: unknown output format 'xlsx': choose one of jsonl, md, csv\n"
    result = runner.invoke(app, ["summarize", "corpus", "--format", "csv", "--json"])
    assert result.stderr == "error: --json and --out - (or --format alone) both print on standard output: choose one\n"
    result = runner.invoke(app, ["summarize", "corpus", "--format", "md", "--out", "out.csv"])
    assert result.stderr == "error: --format md, but out.csv names the format csv: choose one\n"
    # -q is --quiet, before the command; after it, no option takes a file as its value.
    result = runner.invoke(app, ["summarize", "-q", "corpus/a.txt", "corpus/b.md"])
    assert result.exit_code == 2 and "No such option: -q" in result.stderr
    assert not list(Path(".").glob("out*"))


def test_summarize_never_reads_its_own_records_back(runner, corpus):
    for _ in range(2):  # the second run finds the first one's records in the folder it reads
        result = runner.invoke(app, ["summarize", "corpus", "--out", "corpus/summaries.md"])
        assert result.exit_code == 0, result.output
        assert "Summarized 2 of 2 documents" in result.stderr
    assert Path("corpus/summaries.md").read_text(encoding="utf-8").count("\n## ") == 1  # two records


def test_summarize_writes_any_format_to_standard_output_or_a_device(runner, corpus):
    import csv
    import io

    piped = runner.invoke(app, ["summarize", "corpus", "--format", "csv"])
    assert piped.exit_code == 0, piped.output
    rows = list(csv.DictReader(io.StringIO(piped.stdout)))
    assert [r["path"] for r in rows] == ["corpus/a.txt", "corpus/b.md"] and not piped.stdout.startswith("\ufeff")
    markdown = runner.invoke(app, ["summarize", "corpus/a.txt", "--out", "-", "--format", "md"])
    assert markdown.stdout.startswith("## 基层治理讲话\n")
    lines = runner.invoke(app, ["summarize", "corpus", "--out", "-", "--format", "jsonl"]).stdout.splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["corpus/a.txt", "corpus/b.md"]
    # A path that is not a regular file (a device, a pipe) is written as it is, not replaced.
    null = runner.invoke(app, ["summarize", "corpus", "--out", "/dev/null", "--format", "md"])
    assert null.exit_code == 0 and Path("/dev/null").is_char_device()
    named = runner.invoke(app, ["summarize", "corpus", "--out", "summaries", "--format", "md"])  # no suffix, named format
    assert Path("summaries").read_text(encoding="utf-8").startswith("## ")
    assert named.exit_code == 0


def test_summarize_out_is_not_replaced_when_no_file_could_be_read(runner, corpus):
    Path("out.jsonl").write_text("earlier good records\n", encoding="utf-8")
    Path("bad.txt").write_bytes(b"\x00\x00")
    result = runner.invoke(app, ["summarize", "bad.txt", "missing.txt", "--out", "out.jsonl"])
    assert result.exit_code == 1
    assert "error: bad.txt: binary file (contains NUL bytes), not text" in result.stderr
    assert Path("out.jsonl").read_text(encoding="utf-8") == "earlier good records\n"
    assert sorted(p.name for p in Path(".").iterdir() if p.name.startswith("out")) == ["out.jsonl"]


def test_version_comes_from_the_package_metadata(runner):
    from importlib.metadata import version

    import retriever

    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"retriever {version('retriever-zh')}\n")
    assert retriever.__version__ == version("retriever-zh")


def test_the_package_namespace_holds_only_its_exports():
    import pkgutil

    import retriever

    submodules = {m.name for m in pkgutil.iter_modules(retriever.__path__)}  # attributes once imported
    assert {n for n in dir(retriever) if not n.startswith("_")} - submodules <= set(retriever.__all__)
    assert all(getattr(retriever, n) is not None for n in retriever.__all__)


def test_type_checkers_see_every_export():
    # The TYPE_CHECKING block imports each name of __all__, so that editors and mypy
    # know retriever.Scope rather than Any.
    import ast

    import retriever

    tree = ast.parse(Path(retriever.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "_TYPE_CHECKING")
    imported = {a.name for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert imported == set(retriever.__all__)
    assert all(
        retriever._EXPORTS[name] == n.module.removeprefix("retriever.")
        for n in block.body
        if isinstance(n, ast.ImportFrom)
        for name in (a.name for a in n.names)
    )


def test_summarize_failures_are_listed_and_the_rest_done(runner, corpus):
    Path("bad.txt").write_bytes(b"\x00\x00")
    result = runner.invoke(app, ["summarize", "corpus", "bad.txt", "missing.txt", "--out", "out.csv"])
    assert result.exit_code == 3
    assert "skipped bad.txt: binary file (contains NUL bytes), not text" in result.stderr
    assert "skipped missing.txt: no such file or directory" in result.stderr
    assert "Summarized 2 of 4 documents" in result.stderr and "2 failed" in result.stderr
    text = Path("out.csv").read_text(encoding="utf-8-sig")
    assert "missing.txt,,,,,,,,,no such file or directory" in text


def test_summarize_stdin(runner, corpus):
    result = runner.invoke(app, ["summarize", "-", "--json"], input=DOC.encode("gb18030"))
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)["documents"]
    assert (record["path"], record["title"]) == ("-", "基层治理讲话")


def test_errors_with_json_are_one_json_object_on_stdout_too(runner, corpus):
    runner.invoke(app, ["index"])
    result = runner.invoke(app, ["ask", "矛盾纠纷", "--year", "2031", "--json"])
    assert result.exit_code == 2 and result.stderr.startswith("error: no indexed document is within --year 2031")
    assert json.loads(result.stdout) == {"error": result.stderr.removeprefix("error: ").rstrip("\n")}
    result = runner.invoke(app, ["info", "--index-dir", "nowhere", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"].startswith("nowhere: no index here")
    result = runner.invoke(app, ["ask", "矛盾纠纷", "--mode", "bm25", "--explain", "--json"])
    assert result.exit_code == 0 and "note --explain shows the ranker's signals, which rank in hybrid mode only" in result.stderr


def test_summarize_add_to_index(runner, corpus):
    result = runner.invoke(app, ["summarize", "corpus/a.txt", "--add-to-index", "mine", "--json"])
    assert result.exit_code == 0
    assert "Indexed 1 document," in result.stderr
    runner.invoke(app, ["summarize", "corpus/b.md", "--add-to-index", "mine", "--json"])
    info = json.loads(runner.invoke(app, ["info", "--index-dir", "indexes/mine", "--json"]).stdout)
    assert [d["doc_id"] for d in info["documents"]] == ["corpus/a.txt", "corpus/b.md"]
    # Standard input has no file to index: summarized, said, and the index left as it was.
    result = runner.invoke(app, ["summarize", "-", "corpus/a.txt", "--add-to-index", "mine", "--json"], input=DOC)
    assert result.exit_code == 0, result.output
    assert "note: standard input is summarized but not indexed: an index keeps files" in result.stderr
    result = runner.invoke(app, ["summarize", "-", "--add-to-index", "mine", "--json"], input=DOC)
    assert result.exit_code == 0 and len(json.loads(result.stdout)["documents"]) == 1
    info = json.loads(runner.invoke(app, ["info", "--index-dir", "indexes/mine", "--json"]).stdout)
    assert [d["doc_id"] for d in info["documents"]] == ["corpus/a.txt", "corpus/b.md"]
    # By its name, as --add-to-index named it, from any command and RETRIEVER_INDEX.
    answer = json.loads(runner.invoke(app, ["ask", "矛盾纠纷", "--index-dir", "mine", "--json"]).stdout)
    assert answer["index"] == "indexes/mine" and answer["results"]
    info = runner.invoke(app, ["info", "--json"], env={"RETRIEVER_INDEX": "mine"})
    assert json.loads(info.stdout)["index"] == "indexes/mine"


def test_help_imports_no_heavy_module():
    # `retriever --help` must start fast: the library is imported by the commands that use it.
    import subprocess
    import sys

    code = (
        "import sys, retriever.cli.commands; print(sorted(m for m in ('numpy', 'faiss', 'torch', 'jieba') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_info_without_check_does_not_load_vectors(runner, corpus, monkeypatch):
    runner.invoke(app, ["index"])
    monkeypatch.setattr("retriever.index.folder.load", lambda directory: pytest.fail("info loaded the whole index"))
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["corpus"]["documents"] == 2


def test_index_with_globs(runner, corpus):
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx", "--include", "*.md"])
    assert result.exit_code == 0
    info = json.loads(runner.invoke(app, ["info", "--index-dir", "idx", "--json"]).stdout)
    assert [d["doc_id"] for d in info["documents"]] == ["corpus/b.md"]
    runner.invoke(app, ["index", "corpus", "--index-dir", "idx", "--exclude", "*.md"])
    info = json.loads(runner.invoke(app, ["info", "--index-dir", "idx", "--json"]).stdout)
    assert [d["doc_id"] for d in info["documents"]] == ["corpus/a.txt"]


def test_ray_without_ray_says_how_to_install_it(runner, in_tmp, monkeypatch):
    # The fake embedder stands in only in this process: --ray must ask for Ray itself.
    Path("corpus").mkdir()
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if not installed
    result = runner.invoke(app, ["index", "--ray"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --ray needs Ray: pip install 'retriever[ray]'"
    assert not Path("indexes/default/manifest.json").exists()


def test_ask_says_when_nothing_answers(runner, corpus, monkeypatch):
    runner.invoke(app, ["index"])
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {"m3e-small": 2.0})  # nothing reaches it
    shown = runner.invoke(app, ["ask", "明天北京天气怎么样", "--local"])
    flat = " ".join(shown.stdout.split())
    assert shown.exit_code == 0 and flat.startswith(
        "Nothing here seems to answer 「明天北京天气怎么样」 (the closest passage scores "
    )
    assert "The nearest passages, for what they are worth:" in flat and "[1]" in flat and "Summary" not in flat
    data = json.loads(runner.invoke(app, ["ask", "明天北京天气怎么样", "--json", "--local"]).stdout)
    assert (data["answered"], data["summary"]["text"]) == (False, "") and data["results"]
    # Where it answers, the summary says how confident: the JSON's confidence.
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {"m3e-small": -1.0})  # everything reaches it
    data = json.loads(runner.invoke(app, ["ask", "如何化解矛盾纠纷", "--json", "--local"]).stdout)
    shown = runner.invoke(app, ["ask", "如何化解矛盾纠纷", "--local"]).stdout
    assert f"Summary  confidence {data['confidence']:.2f}\n" in shown


def test_progress_without_a_terminal_is_a_line_now_and_then(monkeypatch):
    import io

    from rich.console import Console

    from retriever.cli import render

    log = io.StringIO()
    now = [0.0]
    update = render.progress_lines(Console(file=log, width=200), clock=lambda: now[0])
    for t, stage, done, total in [
        (0.0, "read", 1, 3), (0.5, "read", 3, 3),  # quick: nothing
        (1.0, "embed", 100, 1000), (2.5, "embed", 200, 1000), (3.5, "embed", 300, 1000),  # first line after 2 s
        (10.0, "embed", 600, 1000), (13.5, "embed", 900, 1000),  # then every 10 s
        (14.0, "embed", 1000, 1000),  # and at the end
    ]:  # fmt: skip
        now[0] = t
        update(stage, done, total)
    assert log.getvalue().splitlines() == [
        "Embedding passages and sentences: 300/1,000 (30%), 120.0/s",
        "Embedding passages and sentences: 900/1,000 (90%), 72.0/s",
        "Embedding passages and sentences: 1,000/1,000 (100%), 76.9/s",
    ]


def test_help_paragraphs_are_not_hard_wrapped(runner):
    for command in ("index", "ask", "summarize", "info", "serve"):
        help_text = app.registered_commands[
            [c.callback.__name__ for c in app.registered_commands].index(command)
        ].callback.__doc__
        assert all("\n" not in paragraph for paragraph in help_text.split("\n\n")), command
    result = runner.invoke(app, ["ask", "--help"], env={"COLUMNS": "200"})
    assert "answers when one is named (--server, RETRIEVER_SERVER) or serves the same index;" in result.stdout


@pytest.mark.parametrize(
    "text,width,indent,lines",
    [
        ("甲乙丙丁。戊", 8, 0, ["甲乙丙", "丁。戊"]),  # 。 never starts a line
        ("甲乙丙丁 [1]", 8, 0, ["甲乙丙", "丁 [1]"]),  # nor a citation mark
        ("甲乙丙「丁」", 8, 0, ["甲乙丙", "「丁」"]),  # 「 never ends one
        ("abc defgh", 7, 2, ["abc", "  defgh"]),  # a Latin word stays whole; the rest indented
        ("甲乙 › 丙丁", 6, 0, ["甲乙 ›", "丙丁"]),  # › ends a line, never starts one
        ("0123456789", 4, 0, ["0123", "4567", "89"]),  # a word longer than the line is cut
    ],
)
def test_lines_break_where_chinese_typesetting_allows(text, width, indent, lines):
    from rich.text import Text

    from retriever.cli.render import wrapped

    assert wrapped(Text(text), width, indent).plain.split("\n") == lines


def test_wrapping_keeps_the_highlights_on_their_characters():
    from rich.text import Text

    from retriever.cli.render import wrapped

    text = Text("甲乙丙丁戊己")
    text.stylize("bold", 3, 5)  # 丁戊
    out = wrapped(text, 6)
    assert out.plain == "甲乙丙\n丁戊己"
    assert [(out.plain[s.start : s.end], s.style) for s in out.spans] == [("丁戊", "bold")]


def test_the_library_says_which_file_comes_next_and_the_bar_shows_it(in_tmp, fake_embedder, monkeypatch):
    import io

    from rich.console import Console

    from retriever import Retriever
    from retriever.cli import render

    Path("docs").mkdir()
    for name in ("a.txt", "b.txt"):
        Path("docs", name).write_text(DOC, encoding="utf-8")
    heard = []

    def progress(stage, done, total):
        heard.append((stage, done, total))

    progress.item = lambda stage, name: heard.append((stage, name))
    Retriever.build(["docs"], index_dir="idx", progress=progress)
    reads = [h for h in heard if h[0] == "read"]
    assert reads == [("read", "docs/a.txt"), ("read", 1, 2), ("read", "docs/b.txt"), ("read", 2, 2)]

    screen = io.StringIO()
    with render.progress(Console(file=screen, force_terminal=True, width=120)) as bar:
        bar.item("read", "docs/a.txt")
        bar("read", 0, 2)
    assert "Reading files" in screen.getvalue() and "docs/a.txt" in screen.getvalue()


def test_summarizing_one_long_document_shows_its_embedding_progress(in_tmp, fake_embedder):
    from retriever import summarize_files

    class Reporting:  # reports each text as done, as the ONNX embedder reports its batches
        name, backend, dim, precision = fake_embedder.name, fake_embedder.backend, fake_embedder.dim, fake_embedder.precision

        def encode(self, texts, batch_size=32, progress=None):
            for n in range(1, len(texts) + 1):
                progress(n, len(texts))
            return fake_embedder.encode(texts)

    Path("long.txt").write_text(
        "长篇报告\n" + "".join(f"第{i}项工作要抓紧落实，按时完成任务。" for i in range(40)), encoding="utf-8"
    )
    heard = []
    summarize_files(["long.txt"], embedder=Reporting(), progress=lambda stage, done, total: heard.append((stage, done, total)))
    sentences = [h for h in heard if h[0] == "sentences"]
    assert sentences[-1] == ("sentences", 40, 40) and len(sentences) == 40
    assert heard[-1] == ("summarize", 1, 1)


class _OtherFake:
    """An embedder of the same name and dimension that makes other vectors: the fake's
    characters hashed with another salt (another model file, recipe or CPU kernels)."""

    def __init__(self, fake):
        self.name, self.backend, self.dim, self.precision = fake.name, fake.backend, fake.dim, fake.precision
        self.fake = fake

    def encode(self, texts, batch_size=32, progress=None):
        return self.fake.encode(["另" + t[::-1] for t in texts], batch_size, progress)


def test_info_check_catches_an_index_whose_vectors_another_embedder_made(runner, corpus, fake_embedder, monkeypatch):
    assert runner.invoke(app, ["index", "corpus", "--index-dir", "idx"]).exit_code == 0
    same = json.loads(runner.invoke(app, ["info", "--index-dir", "idx", "--json", "--check"]).stdout)
    assert same["problems"] == []
    assert (same["vectors"]["passages"], same["vectors"]["min_cosine"]) == (3, 1.0)
    assert (
        "every file matches its checksum; 3 passages embedded again here at cosine 1.0000"
        in runner.invoke(app, ["info", "--index-dir", "idx", "--check"]).stdout
    )

    monkeypatch.setattr("retriever.api.load_embedder", lambda name, backend=None: _OtherFake(fake_embedder))
    result = runner.invoke(app, ["info", "--index-dir", "idx", "--json", "--check"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    [problem] = data["problems"]
    assert data["vectors"]["min_cosine"] < 0.9
    # The fixture's builds record the backend asked for (the default), with the fake's precision.
    assert problem == (
        f"the model gives other vectors than the index holds (cosine {data['vectors']['min_cosine']:.3f} at worst over 3 "
        f"passages, needs 0.99): the index was made by another embedder (onnx-int8, export recipe 5, fp32, built on {cpu_summary()}) "
        f"than the one running here (fake, fp32, on {cpu_summary()}); rebuild it with `retriever index --rebuild`"
    )
    shown = runner.invoke(app, ["info", "--index-dir", "idx", "--check"])
    assert shown.exit_code == 1 and "  check      the model gives other vectors than the index holds" in shown.stdout


def test_summary_panels_break_lines_as_chinese_is_set(runner, in_tmp, fake_embedder, monkeypatch):
    import io

    from rich.console import Console

    from retriever.cli import commands as cli

    sentences = "".join(f"第{n}项工作要抓紧落实,各部门要加强协调配合,确保按期完成,取得实效。" for n in range(12))
    Path("doc.txt").write_text("工作部署会议讲话\n" + sentences, encoding="utf-8")
    for width in (40, 41, 57, 80):
        screen = io.StringIO()
        monkeypatch.setattr(cli, "out", Console(file=screen, width=width, highlight=False))
        result = runner.invoke(app, ["summarize", "doc.txt", "--max-chars", "400"])
        assert result.exit_code == 0, result.output
        inside = [line[2:-2].strip() for line in screen.getvalue().splitlines() if line.startswith("│")]
        assert inside and all(not line or line[0] not in ",。、，；：)」" for line in inside), (width, inside)


def test_ask_shows_no_markdown_heading_marks_in_a_passage(runner, in_tmp, fake_embedder):
    Path("notes").mkdir()
    Path("notes/plan.md").write_text(
        "# 工作计划\n\n## 一、稳定就业\n\n要扩大就业容量，做好高校毕业生就业工作。\n\n### 1.技能培训\n\n开展职业技能培训。",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["index", "notes", "--index-dir", "idx"]).exit_code == 0
    result = runner.invoke(app, ["ask", "高校毕业生就业", "--index-dir", "idx", "--local", "-k", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, ["ask", "高校毕业生就业", "--index-dir", "idx", "--local", "--json", "-k", "3"]).stdout)
    assert any("## " in hit["text"] for hit in data["results"])  # the text keeps them, offsets and all
    assert "#" not in result.stdout and "一、稳定就业" in result.stdout
