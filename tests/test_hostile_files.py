"""Hostile file trees: names that are not UTF-8 or carry terminal escapes, and links
that lead out of the folders being read."""

import json
import os
from pathlib import Path
from random import Random

import pytest
from typer.testing import CliRunner

from retriever import InputError, Retriever
from retriever.cli.commands import EXIT_PARTIAL, app

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。\n"
SECRET = "root:x:0:0:root:/root:/bin/bash\n机密文件的内容,不应进入索引。\n"


def _write(name: bytes, text: str) -> None:
    """A file whose name is these bytes (which need not be UTF-8)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def test_a_name_that_is_not_utf8_is_indexed_and_shown_escaped(in_tmp, fake_embedder):
    os.mkdir("corpus")
    os.mkdir("indexes")  # a project folder: --add-to-index puts idx2 in indexes/
    _write(b"corpus/bad\xffname.txt", DOC)
    _write(b"corpus/good.txt", DOC.replace("矛盾纠纷", "产业发展"))
    runner = CliRunner()
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert result.exit_code == 0, result.stderr
    assert sorted(Retriever.open("idx").index.documents) == ["corpus/bad\\xffname.txt", "corpus/good.txt"]
    # The same name next time: the index is up to date, nothing read again.
    again = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert again.exit_code == 0 and "is up to date" in again.stderr
    # JSON out is valid UTF-8 and names the file with its escape.
    answer = runner.invoke(app, ["ask", "矛盾纠纷", "--index-dir", "idx", "--json", "--local"])
    data = json.loads(answer.stdout_bytes.decode("utf-8"))
    assert data["results"][0]["doc_id"] == "corpus/bad\\xffname.txt"
    summaries = runner.invoke(app, ["summarize", "corpus", "--json"])
    paths = [r["path"] for r in json.loads(summaries.stdout_bytes.decode("utf-8"))["documents"]]
    assert (summaries.exit_code, paths) == (0, ["corpus/bad\\xffname.txt", "corpus/good.txt"])
    written = runner.invoke(app, ["summarize", "corpus", "--out", "s.jsonl"])
    assert written.exit_code == 0, written.stderr
    lines = Path("s.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["path"] for line in lines] == paths
    assert not [name for name in os.listdir(".") if name.endswith(".tmp")]
    # --add-to-index reads the file by its real name, not the escaped one.
    added = runner.invoke(app, ["summarize", "corpus/", "--out", "s.md", "--add-to-index", "idx2"])
    assert added.exit_code == 0, added.stderr
    assert sorted(Retriever.open("indexes/idx2").index.documents) == sorted(Retriever.open("idx").index.documents)


def test_control_characters_in_names_are_escaped_on_the_terminal(in_tmp, fake_embedder):
    os.mkdir("corpus")
    _write(b"corpus/clear\x1b[2J\x1b]0;owned\x07\nname.txt", DOC)
    _write(b"corpus/empty\x1b[31m.txt", "")
    runner = CliRunner()
    for args in (["index", "corpus", "--index-dir", "idx"], ["summarize", "corpus"], ["info", "--index-dir", "idx"]):
        result = runner.invoke(app, args)
        assert result.exit_code in (0, EXIT_PARTIAL), (args, result.stderr)
        printed = result.stdout + result.stderr
        assert "\x1b" not in printed and "\x07" not in printed, args
    summary = runner.invoke(app, ["summarize", "corpus"])
    flat = "".join(summary.stdout.split())  # rich wraps long lines in its panels
    assert "clear\\x1b[2J\\x1b]0;owned\\x07\\nname.txt" in flat
    assert "corpus/empty\\x1b[31m.txt: empty file" in " ".join(summary.stderr.split())


def test_links_out_of_the_tree_are_not_followed_unless_asked(in_tmp, fake_embedder):
    outside = in_tmp / "etc"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET, encoding="utf-8")
    (outside / "shadow.txt").write_text(SECRET, encoding="utf-8")
    corpus = in_tmp / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(DOC, encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(outside / "passwd")
    (corpus / "etcdir").symlink_to(outside, target_is_directory=True)
    (corpus / "again.txt").symlink_to(corpus / "good.txt")  # inside the tree: fine, read once
    runner = CliRunner()
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert result.exit_code == EXIT_PARTIAL
    stderr = " ".join(result.stderr.split())
    for name, target in (("etcdir", outside), ("passwd.txt", outside / "passwd")):
        assert (
            f"skipped corpus/{name}: a link to {target}, outside the paths being read: not followed (--follow-links follows it)"
            in stderr
        )
    assert list(Retriever.open("idx").index.documents) == ["corpus/good.txt"]
    summaries = json.loads(runner.invoke(app, ["summarize", "corpus", "--json"]).stdout)["documents"]
    assert [(Path(r["path"]).name, "error" in r) for r in summaries] == [
        ("good.txt", False),
        ("etcdir", True),
        ("passwd.txt", True),
    ]
    # Asked to, it follows them (a document's id is its real path).
    followed = runner.invoke(app, ["index", "corpus", "--index-dir", "idx", "--follow-links"])
    assert followed.exit_code == 0, followed.stderr
    assert sorted(Retriever.open("idx").index.documents) == ["corpus/good.txt", "etc/passwd", "etc/shadow.txt"]
    # Naming the outside folder too makes it one of the paths being read.
    both = runner.invoke(app, ["index", "corpus", str(outside / "shadow.txt"), "--index-dir", "idx2"])
    assert both.exit_code == EXIT_PARTIAL
    assert sorted(Retriever.open("idx2").index.documents) == ["corpus/good.txt", "etc/shadow.txt"]


# --- bombs and floods: bounded memory and time ---------------------------------------

import zlib  # noqa: E402

import pytest  # noqa: E402
from conftest import raw_docx  # noqa: E402

from retriever.config import ReadLimits  # noqa: E402
from retriever.errors import InputError  # noqa: E402
from retriever.reading.docx import read_docx  # noqa: E402
from retriever.reading.html import read_html  # noqa: E402
from retriever.reading.load import load_document  # noqa: E402
from retriever.reading.pdf import read_pdf  # noqa: E402

PARAGRAPH = "<w:p><w:r><w:t>{}</w:t></w:r></w:p>"


def _bomb_chunks(megabytes: int):
    chunk = (PARAGRAPH.format("党建引领基层治理" * 1000)).encode()
    return (chunk for _ in range(megabytes * 2**20 // len(chunk)))


def _cause(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as e:
        call(*args, **kwargs)
    return e.value.cause


def test_a_docx_bomb_is_refused_before_it_is_inflated(tmp_path):
    # 4 MB of XML in a 10 KB file: real Word XML compresses 5-20 times, this 400.
    bomb = raw_docx(tmp_path / "bomb.docx", _bomb_chunks(4))
    assert bomb.stat().st_size < 20_000
    assert _cause(load_document, bomb).startswith("a zip bomb? word/document.xml inflates ")
    assert _cause(load_document, bomb).endswith(" times (to 4 MB; real documents: under 100)")
    # Whatever the ratio, the parts read may not claim more than the limit in all.
    limits = ReadLimits(max_inflated_bytes=2**20, max_inflate_ratio=10**6)
    assert _cause(read_docx, bomb.read_bytes(), "bomb.docx", limits) == (
        "a zip bomb? its text parts would inflate to 4 MB (the limit is 1 MB)"
    )
    # Under both, it is read (as a stream).
    text = read_docx(bomb.read_bytes(), "bomb.docx", ReadLimits(max_inflate_ratio=10**6)).text
    assert len(text) == 4 * 2**20 // len(PARAGRAPH.format("党建引领基层治理" * 1000).encode()) * 8001 - 1


def test_a_docx_flood_of_paragraphs_or_text_is_cut_short(tmp_path, monkeypatch):
    many = raw_docx(tmp_path / "many.docx", "<w:p/>" * 1001)  # small: under the ratio's grace
    assert read_docx(many.read_bytes(), "many.docx").text == "\n" * 1000
    assert _cause(read_docx, many.read_bytes(), "many.docx", ReadLimits(max_blocks=1000)) == (
        "more than 1,000 paragraphs: not a document this tool reads"
    )
    assert _cause(read_docx, many.read_bytes(), "many.docx", ReadLimits(max_seconds=-1)) == (
        "reading it took over -1 s: given up"
    )
    wordy = raw_docx(tmp_path / "wordy.docx", PARAGRAPH.format("字" * 60) * 2)
    assert _cause(read_docx, wordy.read_bytes(), "wordy.docx", ReadLimits(max_chars=100)) == (
        "too much text (over 100 characters; set RETRIEVER_MAX_CHARS to raise the limit)"
    )
    monkeypatch.setenv("RETRIEVER_MAX_CHARS", "100")
    assert _cause(load_document, wordy) == "too much text (over 100 characters; set RETRIEVER_MAX_CHARS to raise the limit)"
    (tmp_path / "wordy.txt").write_text("字" * 101, encoding="utf-8")
    assert _cause(load_document, tmp_path / "wordy.txt") == _cause(load_document, wordy)


def test_a_docx_paragraph_of_millions_of_runs_is_refused_as_it_is_parsed(tmp_path):
    """3.7 MB holding millions of empty runs in one paragraph (60 MB of XML, under the
    zip-bomb bounds) was built into a 2.5 GB tree: now counted as it is parsed."""
    random = Random(0)
    # Runs that differ (as Word's revision ids make them) compress some 5 times, as real XML does.
    chunks = (b"".join(b'<w:r w:rsidR="%08X"/>' % random.getrandbits(32) for _ in range(10_000)) for _ in range(60))
    runs = raw_docx(tmp_path / "runs.docx", [b"<w:p>", *chunks, "<w:r><w:t>字</w:t></w:r></w:p>".encode()])
    assert _cause(read_docx, runs.read_bytes(), "runs.docx") == (
        "a paragraph or table of over 500,000 XML elements: not a document this tool reads"
    )
    # A long table, one block too, is read.
    rows = "".join(f"<w:tr><w:tc><w:p><w:r><w:t>第{i}行</w:t></w:r></w:p></w:tc></w:tr>" for i in range(20_000))
    table = raw_docx(tmp_path / "table.docx", f"<w:tbl>{rows}</w:tbl>")
    assert read_docx(table.read_bytes(), "table.docx").text.count("\n") == 19_999


def test_other_zips_are_named_for_what_they_are(tmp_path):
    workbook = raw_docx(tmp_path / "book.docx", "", main="xl/workbook.xml")
    assert _cause(load_document, workbook) == (
        "an Excel workbook (.xlsx), not a Word document: not supported (formats: .txt .md .html .docx .pdf)"
    )


def _pdf_with_stream(path: Path, content: bytes, pages: int = 1) -> Path:
    """A minimal PDF of `pages` pages sharing one Flate-compressed content stream."""
    stream = zlib.compress(content, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        *[
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> /Contents 3 0 R >>"
        ]
        * pages,
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def test_pdf_bombs_and_floods(tmp_path):
    # A content stream that inflates past pypdf's bound (75 MB) from 80 KB.
    bomb = _pdf_with_stream(tmp_path / "bomb.pdf", b" " * (80 * 10**6))
    assert bomb.stat().st_size < 200_000
    assert _cause(load_document, bomb).startswith("a PDF bomb? LimitReachedError: ")
    pages = _pdf_with_stream(tmp_path / "pages.pdf", b"BT ET", pages=3)
    assert _cause(read_pdf, pages.read_bytes(), "pages.pdf", ReadLimits(max_pages=2)) == (
        "3 pages: more than the 2 this tool reads"
    )
    assert _cause(read_pdf, pages.read_bytes(), "pages.pdf", ReadLimits(max_seconds=-1)) == (
        "reading it took over -1 s: given up"
    )
    # 100 pages sharing one stream of 1.9 M empty text operators (28 KB): pypdf parses
    # drawing instructions in Python, 11.6 s a page. Pages of too many are left out.
    ops = _pdf_with_stream(tmp_path / "ops.pdf", b"BT ET\n" * 1_900_000, pages=100)
    assert ops.stat().st_size < 60_000
    assert _cause(read_pdf, ops.read_bytes(), "ops.pdf") == (
        "no text layer (a scanned PDF? run OCR first); "
        "pages 1-100 left out: up to 10.9 MB of drawing instructions each, over the 1 MB read"
    )
    text = b"".join(b"BT /F1 12 Tf 72 %d Td (Line %d) Tj ET\n" % (780 - 12 * (i % 60), i) for i in range(3000))
    many = _pdf_with_stream(tmp_path / "many.pdf", text, pages=3)  # 120 KB a page
    extracted = read_pdf(many.read_bytes(), "many.pdf", ReadLimits(max_pdf_content_bytes=300_000))
    assert extracted.notes == ("pages 3-3 left out: the pages before hold 0 MB of drawing instructions, all that is read",)


def test_a_flood_of_html_tags_is_refused_before_parsing():
    page = "<html><body>" + "".join(f"<p>第{i}段</p>" for i in range(600)) + "</body></html>"
    assert read_html(page.encode(), "page.html", ReadLimits(max_tags=1300)).text.startswith("第0段\n第1段\n")
    assert _cause(read_html, page.encode(), "flood.html", ReadLimits(max_tags=1000)) == (
        "over 1,000 tags (1,204): not a page this tool reads"
    )


def test_fifos_and_devices_are_skipped_with_a_reason_never_read(in_tmp, fake_embedder):
    """A FIFO would block `open` for ever and /dev/zero never ends: both are named and
    skipped, found in a folder, through a link, or named on the command line."""
    os.mkdir("corpus")
    _write(b"corpus/good.txt", DOC)
    os.mkfifo("pipe")
    os.symlink(os.path.abspath("pipe"), "corpus/pipe.txt")
    os.symlink("/dev/zero", "corpus/zero.txt")
    os.mkfifo("corpus/inside.txt")  # in the folder itself, not through a link
    runner = CliRunner()
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx", "--follow-links"])
    assert result.exit_code == EXIT_PARTIAL, result.stderr
    assert "skipped corpus/pipe.txt: a named pipe (FIFO), not a regular file: not read" in result.stderr
    assert "skipped corpus/zero.txt: a character device, not a regular file: not read" in result.stderr
    assert "skipped corpus/inside.txt: a named pipe (FIFO), not a regular file: not read" in result.stderr
    assert sorted(Retriever.open("idx").index.documents) == ["corpus/good.txt"]
    # Built again, a pipe where an indexed file was is not opened to compare its bytes.
    os.rename("corpus/good.txt", "good.txt")
    os.mkfifo("corpus/good.txt")
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "idx"])
    assert "skipped corpus/good.txt: a named pipe (FIFO), not a regular file: not read" in result.stderr
    assert sorted(Retriever.open("idx").index.documents) == ["corpus/good.txt"]  # its indexed version kept
    os.remove("corpus/good.txt")
    os.rename("good.txt", "corpus/good.txt")

    result = runner.invoke(app, ["summarize", "/dev/zero", "pipe", "corpus/good.txt", "--json"])
    assert result.exit_code == EXIT_PARTIAL and "Traceback" not in result.stderr
    records = json.loads(result.stdout)["documents"]
    assert [(r["path"], r.get("error")) for r in records] == [
        ("/dev/zero", "a character device, not a regular file: not read"),
        ("pipe", "a named pipe (FIFO), not a regular file: not read"),
        ("corpus/good.txt", None),
    ]


def test_no_read_goes_past_the_cap_whatever_size_the_file_reports(in_tmp, fake_embedder, monkeypatch):
    monkeypatch.setenv("RETRIEVER_MAX_FILE_MB", "1")
    # A file that reports 0 bytes and holds far more: what /proc files do. stdin, which
    # reports nothing, stands in for it.
    result = CliRunner().invoke(app, ["summarize", "-", "--json"], input=b"x" * (3 << 20))
    assert json.loads(result.stdout)["documents"] == [
        {"path": "-", "error": "too large (over 1 MB; set RETRIEVER_MAX_FILE_MB to raise it)"}
    ]
    # A file that grows after it was looked at is read up to the cap and no further.
    from retriever.reading.load import read_file

    assert read_file(Path("/proc/self/status"), 1 << 20).startswith(b"Name:")  # reports 0 bytes
    with pytest.raises(InputError, match=r"^/proc/self/status: too large \(over 0 MB"):
        read_file(Path("/proc/self/status"), 100)
