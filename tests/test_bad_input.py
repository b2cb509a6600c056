"""A folder of bad files and hostile text, through `retriever index`, `summarize` and `ask`.

Every bad file must be reported with its cause and skipped while the rest is done;
hostile text must give sensible passages and answers, not a crash.
"""

import json
import os
import re
from pathlib import Path

import pytest
from conftest import raw_docx
from typer.testing import CliRunner

from retriever import Retriever, UsageError
from retriever.cli.commands import EXIT_PARTIAL, app
from retriever.config import SegmentConfig

GOOD = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。\n"
TINY_FILES = 2000
DEPTH = 40


def make_bad_folder(root: Path) -> dict[str, str]:
    """The folder, and for each bad file (relative path) the cause it must be reported with."""
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    bad = {
        "empty.txt": "empty file",
        "spaces.txt": "empty file",
        "binary.txt": "binary file",
        "undecodable.txt": "cannot decode: not UTF-8 (byte 0xff at offset 6)",
        "huge.txt": "too large (100 MB, the limit is 64 MB",
        "broken.docx": "not a readable .docx file",
        "broken.pdf": "not a readable PDF",
        "nav-only.html": "no text left once site chrome and junk were removed",
        "loop-a.txt": "broken symbolic link (or a loop of links)",
        "loop-b.txt": "broken symbolic link (or a loop of links)",
    }
    (root / "empty.txt").write_bytes(b"")
    (root / "spaces.txt").write_text(" \n\t\n", encoding="utf-8")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (root / "undecodable.txt").write_bytes("正文".encode() + b"\xff\xfe\xfa\x80\x81" * 200)
    with open(root / "huge.txt", "wb") as f:
        f.truncate(100 * 2**20)  # sparse: 100 MB on paper, nothing on disk
    (root / "broken.docx").write_bytes(b"PK\x03\x04 this is not a zip archive at all")
    # 8 MB of XML in 20 KB: refused before it is inflated.
    chunk = ("<w:p><w:r><w:t>" + "党建引领基层治理" * 1000 + "</w:t></w:r></w:p>").encode()
    raw_docx(root / "bomb.docx", (chunk for _ in range(8 * 2**20 // len(chunk))))
    bad["bomb.docx"] = "a zip bomb? word/document.xml inflates"
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer")
    (root / "nav-only.html").write_text(
        "<html><body><nav><a href='/'>首页</a><a href='/a'>上一篇</a></nav><footer>版权所有</footer></body></html>",
        encoding="utf-8",
    )
    # Thousands of tiny files, a deep tree, and links that loop.
    tiny = root / "tiny"
    tiny.mkdir()
    for i in range(TINY_FILES):
        (tiny / f"{i:04d}.txt").write_text(f"第{i}号通知。请各单位做好第{i}项工作的落实。", encoding="utf-8")
    deep = root.joinpath(*[f"d{i}" for i in range(DEPTH)])
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("深层目录中的文件\n要加强基层党组织建设,发挥党员先锋模范作用。", encoding="utf-8")
    (root / "loop-a.txt").symlink_to("loop-b.txt")
    (root / "loop-b.txt").symlink_to("loop-a.txt")
    (root / "d0" / "up").symlink_to(root, target_is_directory=True)
    (root / "locked.txt").write_text(GOOD, encoding="utf-8")
    (root / "locked.txt").chmod(0)
    bad["locked.txt"] = "Permission denied"
    return bad


@pytest.fixture
def folder(in_tmp, fake_embedder, monkeypatch) -> tuple[Path, dict[str, str]]:
    root = in_tmp / "bad"
    root.mkdir()
    bad = make_bad_folder(root)
    if os.geteuid() == 0:
        # root reads every file whatever its mode: refuse this one as the OS would.
        os_open = os.open

        def refuse(path, *args, **kwargs):
            if os.path.basename(path) == "locked.txt":
                raise PermissionError(13, "Permission denied", str(path))
            return os_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    return root, bad


def _skipped(stderr: str) -> dict[str, str]:
    """{file name: cause} from the `skipped PATH: cause` lines (which rich may wrap)."""
    text = " ".join(stderr.split())
    pieces = re.split(r"(?:^| )skipped (?=\S+: )", text)[1:]
    return {Path(piece.partition(": ")[0]).name: piece.partition(": ")[2] for piece in pieces}


def test_index_reports_each_bad_file_and_indexes_the_rest(folder):
    root, bad = folder
    result = CliRunner().invoke(app, ["index", str(root), "--index-dir", "idx"])
    assert result.exit_code == EXIT_PARTIAL, result.stderr
    skipped = _skipped(result.stderr)
    assert set(skipped) == set(bad)
    for name, cause in bad.items():
        assert cause in skipped[name], (name, skipped[name])
    r = Retriever.open("idx")
    # good.txt, every tiny file and the deep one; the looping directory link is not followed.
    assert len(r.index.documents) == 1 + TINY_FILES + 1
    assert any(doc_id.endswith("deep.txt") for doc_id in r.index.documents)
    assert r.ask("矛盾纠纷").results[0].passage.doc_id.endswith("good.txt")


def test_summarize_goes_on_past_bad_files(folder):
    root, bad = folder
    result = CliRunner().invoke(app, ["summarize", str(root), "--exclude", "tiny/*", "--json"])
    assert result.exit_code == EXIT_PARTIAL
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)["documents"]}
    for name, cause in bad.items():
        assert cause in records[name]["error"]
    assert records["good.txt"]["summary"] and records["deep.txt"]["summary"]


HOSTILE = {
    "no-punctuation.txt": "没有标点的超长行" * 6000,  # 48,000 characters in one line
    # Runs that once sent cleaning's regular expressions into quadratic backtracking
    # (19 s and 112 s for 48,000 characters): bounded now.
    "ellipses.txt": "…" * 48_000 + "正文在省略号之后。",
    "ascii-run.txt": "abcdefgh" * 6000,
    "emoji.txt": "今天开会😀讨论乡村振兴🚜。大家都很高兴🎉🎉!要把产业发展好💪。",
    "control.txt": "第一段\x07\x08内容\x1b[31m红色\x1b[0m。\r\n第二段\u200b零宽\u200d字符\ufeff。",
    "width.txt": "ＡＢＣ全角字母和ABC半角字母混排，１２３和123。全角标点！半角标点!",
    "scripts.txt": "English text here. Русский текст. العربية. 日本語のテキスト。한국어 텍스트. 中文内容在这里。",
}


def test_hostile_text_gives_bounded_passages_and_answers(in_tmp, fake_embedder):
    for name, text in HOSTILE.items():
        Path(name).write_text(text, encoding="utf-8")
    r, report = Retriever.build(list(HOSTILE), index_dir="idx")
    assert report.skipped == [] and report.documents == len(HOSTILE)
    limit = SegmentConfig().max_chars
    for p in r.index.passages:
        assert 0 < len(p.text) <= limit
        assert r.index.documents[p.doc_id].text[p.start : p.end] == p.text
    # One line of 48,000 characters without punctuation is cut, not kept whole.
    long_doc = [p for p in r.index.passages if p.doc_id == "no-punctuation.txt"]
    assert len(long_doc) >= 48_000 // limit
    for question in ("乡村振兴😀", "\u200b\x00", "ＡＢＣ", "Русский", "没有标点" * 500):
        answer = r.ask(question)
        assert answer.results and len(answer.summary.text) <= 300
    # A question is not a document: one bound, the service's too.
    with pytest.raises(UsageError, match="^the question is too long: 2,001 characters, the limit is 2,000 "):
        r.ask("没有标点" * 500 + "?")
    # Control characters and terminal colour codes do not reach the stored text.
    assert r.index.documents["control.txt"].text == "第一段内容红色。\n第二段零宽字符。"


@pytest.mark.parametrize("value", ["abc", "-3", "0", "nan", "inf"])
@pytest.mark.parametrize("name", ["RETRIEVER_MAX_FILE_MB", "RETRIEVER_MAX_CHARS", "RETRIEVER_THREADS"])
def test_a_limit_in_the_environment_that_is_no_positive_number_is_named(monkeypatch, name, value):
    from retriever.config import env_number

    monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as e:
        env_number(name, 1)
    assert str(e.value) == f"{name}={value!r}: give a positive number"
    monkeypatch.setenv(name, "1e3")
    assert env_number(name, 1) == 1000.0
