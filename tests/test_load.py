import codecs

import pytest

from retriever.errors import InputError
from retriever.reading.load import decode, find_files, load_document

TEXT = "一、总体要求\n要把群众满意作为根本标准。"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        TEXT.encode("gb18030"),
        TEXT.encode("utf-16"),  # with BOM
    ],
    ids=["utf-8", "utf-8-bom", "gb18030", "utf-16"],
)
def test_decodings(data):
    assert decode(data, "f.txt") == TEXT


def test_binary_file_is_refused():
    with pytest.raises(InputError, match=r"^f.bin: binary file \(contains NUL bytes\)"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "f.bin")


def test_undecodable_bytes_name_the_offset():
    with pytest.raises(InputError, match=r"^f.txt: cannot decode: not UTF-8 \(byte 0x80 at offset 3\)"):
        decode(b"abc\x80\x81\xfe\xff\xfe", "f.txt")


def test_empty_and_junk_only_files(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "junk.txt").write_text("上一篇:某某讲话\n下一篇:返回列表\n221381\n")
    with pytest.raises(InputError, match=r"empty.txt: empty file$"):
        load_document(tmp_path / "empty.txt")
    with pytest.raises(InputError, match=r"junk.txt: no text left once site chrome and junk were removed$"):
        load_document(tmp_path / "junk.txt")


def test_document(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# 标题\n\n正文**一**。", encoding="utf-8")
    doc = load_document(tmp_path / "docs" / "a.md")
    assert (doc.doc_id, doc.title, doc.text) == ("docs/a.md", "标题", "# 标题\n正文一。")


def test_find_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.md", "sub/c.txt", "image.png", ".hidden.txt"):
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in find_files([tmp_path, tmp_path / "b.txt"])[0]] == [
        "a.md",
        "b.txt",
        "sub/c.txt",
    ]
    with pytest.raises(InputError, match="nope.txt: no such file or directory"):
        find_files([tmp_path / "nope.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no documents \(\.txt, \.md, .*, \.docx, \.pdf\) in this directory$"):
        find_files([tmp_path / "empty"])


def test_format_by_suffix_then_content(tmp_path):
    # An unknown suffix is read as text (or by its content: a saved page, a PDF);
    # a .txt that holds markup stays text.
    (tmp_path / "notes.xyz").write_text("一、总体要求\n要把群众满意作为根本标准。", encoding="gb18030")
    assert load_document(tmp_path / "notes.xyz").text == TEXT
    (tmp_path / "page.txt").write_text("<p>正文。</p>", encoding="utf-8")
    assert load_document(tmp_path / "page.txt").text == "<p>正文。</p>"
    (tmp_path / "page.asp").write_text("<html><body><p>正文。</p></body></html>", encoding="utf-8")
    assert load_document(tmp_path / "page.asp").text == "正文。"
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(InputError, match=r"old.doc: a legacy Office file \(.doc/.xls/.ppt\)"):
        load_document(tmp_path / "old.doc")
