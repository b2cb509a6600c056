"""An index folder is the tool's own: nothing in it that the tool did not write is ever
removed or overwritten, a hand-edited manifest is one line of error, and files are
replaced through unpredictable temporary names (a planted link is never followed)."""

import json
import os
from pathlib import Path

import pytest
from conftest import write_corpus
from typer.testing import CliRunner

from retriever import BadIndexError, Retriever
from retriever.cli.commands import app

DOCS = {
    "a.txt": "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。",
    "b.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
}


@pytest.fixture
def corpus(in_tmp, fake_embedder) -> Path:
    return write_corpus(in_tmp, DOCS)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root, with the bytes of each file (None for folders)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def one_line(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_a_folder_that_is_not_an_index_is_refused_and_left_as_it_was(corpus):
    Path("d/gen-important").mkdir(parents=True)
    Path("d/gen-important/thesis.txt").write_text("四年的工作", encoding="utf-8")
    Path("d/manifest.json").write_text('{"name": "my web app", "version": 2}', encoding="utf-8")
    before = tree(Path("d"))
    error = one_line(CliRunner().invoke(app, ["index", "corpus", "--index-dir", "d"]))
    assert error == (
        "error: d: not an index and not empty (holds gen-important, manifest.json); "
        "an index needs a folder of its own: choose a new or empty one"
    )
    assert tree(Path("d")) == before  # not even a lock file
    # Nor is it read as one.
    with pytest.raises(BadIndexError, match="d/manifest.json: not the manifest of an index"):
        Retriever.open("d")


def test_a_file_named_as_an_index_says_the_index_is_a_folder(corpus):
    Retriever.build(["corpus"], index_dir="idx")
    with pytest.raises(
        BadIndexError, match=r"^idx/manifest.json: a file, not an index \(an index is a folder\); the index is its folder, idx$"
    ):
        Retriever.open("idx/manifest.json")
    with pytest.raises(BadIndexError, match=r"^corpus/a.txt: a file, not an index \(an index is a folder\)$"):
        Retriever.open("corpus/a.txt")


@pytest.mark.parametrize("planted", ["gen-important", ".tmp-gen-important", "gen-20260101T000000-abcdef"])
def test_a_build_never_removes_a_folder_holding_files_it_did_not_write(corpus, planted):
    Retriever.build(["corpus"], index_dir="idx")
    Path("idx", planted).mkdir()
    Path("idx", planted, "thesis.txt").write_text("四年的工作", encoding="utf-8")
    Path("idx", planted, "passages.jsonl").write_text("mine too", encoding="utf-8")
    for _ in range(3):  # each rebuild drops the generation before the previous one
        Retriever.build(["corpus"], index_dir="idx", rebuild=True)
    assert Path("idx", planted, "thesis.txt").read_text(encoding="utf-8") == "四年的工作"
    assert Path("idx", planted, "passages.jsonl").read_text(encoding="utf-8") == "mine too"
    # Its own generations are cleaned up as before: the live one and the one before.
    own = [p.name for p in Path("idx").glob("gen-*") if p.name != planted]
    assert len(own) == 2


def test_the_generations_a_crash_left_are_cleaned_up(corpus):
    Retriever.build(["corpus"], index_dir="idx")
    live = json.loads(Path("idx/manifest.json").read_text())["generation"]
    # What a build killed mid-write leaves: a part-written temporary generation, and one
    # renamed into place but never named by the manifest.
    for stale in (".tmp-gen-20260101T000000-abcdef", "gen-20260101T000000-abcdef"):
        Path("idx", stale).mkdir()
        Path("idx", stale, "passages.jsonl").write_text("{}\n")
    Retriever.build(["corpus"], index_dir="idx", rebuild=True)
    assert not Path("idx/.tmp-gen-20260101T000000-abcdef").exists()
    assert not Path("idx/gen-20260101T000000-abcdef").exists()
    assert Path("idx", live).is_dir()  # the previous generation stays for readers


def test_empty_folders_and_a_failed_first_build_are_fine(corpus):
    Path("empty").mkdir()
    assert CliRunner().invoke(app, ["index", "corpus", "--index-dir", "empty"]).exit_code == 0
    assert Path("empty/manifest.json").is_file()
    # A first build that fails leaves no folder behind, not even its lock.
    Path("nothing.txt").write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["index", "nothing.txt", "--index-dir", "new/idx"])
    assert result.exit_code == 1
    assert not Path("new/idx").exists()
    # One that an earlier failure left with its (empty) lock is taken as it is.
    Path("locked").mkdir()
    Path("locked/.lock").touch()
    assert CliRunner().invoke(app, ["index", "corpus", "--index-dir", "locked"]).exit_code == 0
    # And one with milvus-lite's data, written before a failure stopped the first build.
    Path("lite/milvus.db/data").mkdir(parents=True)
    Path("lite/.lock").touch()
    assert CliRunner().invoke(app, ["index", "corpus", "--index-dir", "lite"]).exit_code == 0


def test_a_failed_first_build_takes_its_milvus_lite_data_with_it(corpus):
    from retriever.index import folder as index_store

    with pytest.raises(RuntimeError), index_store.write_lock(Path("new")):
        Path("new/milvus.db/collections").mkdir(parents=True)  # as milvus-lite writes before the manifest
        raise RuntimeError("the build failed")
    assert not Path("new").exists()
    # A folder that was there before keeps what is in it.
    Path("old").mkdir()
    with pytest.raises(RuntimeError), index_store.write_lock(Path("old")):
        Path("old/milvus.db").mkdir()
        raise RuntimeError("the build failed")
    assert sorted(p.name for p in Path("old").iterdir()) == [".lock", "milvus.db"]


def test_the_root_and_the_home_folder_are_refused(corpus, monkeypatch):
    Path("home").mkdir()
    monkeypatch.setenv("HOME", str(Path("home").resolve()))
    for target in ("/", "home", "home/../home"):
        error = one_line(CliRunner().invoke(app, ["index", "corpus", "--index-dir", target]))
        assert error.startswith(f"error: {target}: an index needs a folder of its own, not /")
    assert list(Path("home").iterdir()) == []
    assert not Path("/manifest.json").exists() and not Path("/.lock").exists()


def test_an_index_with_a_damaged_manifest_is_built_again(corpus):
    Retriever.build(["corpus"], index_dir="idx")
    Path("idx/manifest.json").write_text("garbage", encoding="utf-8")
    r, report = Retriever.build(["corpus"], index_dir="idx")
    assert report.written and len(r.index.documents) == 2


def edit(*path, value=None):
    """A change to the manifest at `path`: set to `value`, or deleted if None."""

    def apply(manifest):
        *parents, last = path
        for key in parents:
            manifest = manifest[key]
        if value is None:
            del manifest[last]
        else:
            manifest[last] = value

    return apply


MANIFEST_EDITS = [
    (edit("files", value=[]), "`files` must list the index's data files, each with bytes and sha256"),
    (
        edit("files", value={"../../etc/passwd": {"bytes": 1, "sha256": "x"}}),
        "`files` must list the index's data files, each with bytes and sha256",
    ),
    (edit("model", value=["m3e-small"]), "`model` needs a name and a backend"),
    (edit("model", "dim", value="512"), "`model.dim` is not a positive whole number"),
    (edit("corpus"), "`corpus` needs counts of documents, passages and chars"),
    (edit("corpus", "passages", value="ab"), "`corpus` needs counts of documents, passages and chars"),
    (edit("generation", value="../gen-x"), "`generation` is not the name of a generation folder"),
    (edit("vector_store", value={"type": "milvus"}), "`vector_store` is neither FAISS files nor a Milvus collection"),
    (edit("vector_index", value={"type": "hnsw-sq8", "efSearch": None}), "`vector_index` is not a vector index's parameters"),
]


@pytest.mark.parametrize("change, problem", MANIFEST_EDITS)
def test_a_manifest_of_the_wrong_shape_is_one_line(corpus, change, problem):
    Retriever.build(["corpus"], index_dir="idx")
    manifest = json.loads(Path("idx/manifest.json").read_text())
    change(manifest)
    Path("idx/manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    expected = f"error: idx/manifest.json: unreadable manifest ({problem}); rebuild it with `retriever index PATHS --rebuild`"
    for command in (["ask", "垃圾", "--index-dir", "idx"], ["info", "--index-dir", "idx"]):
        assert one_line(CliRunner().invoke(app, command)) == expected
    # And the rebuild it asks for works.
    assert CliRunner().invoke(app, ["index", "corpus", "--index-dir", "idx", "--rebuild"]).exit_code == 0
    assert Retriever.open("idx").ask("垃圾").results


def test_names_planted_beside_the_index_and_the_output_are_never_followed(corpus):
    victim = Path("victim.txt")
    victim.write_text("not yours", encoding="utf-8")
    Path("idx").mkdir()
    for planted in ("idx/.lock", "idx/.manifest.json.tmp"):
        os.symlink(victim.resolve(), planted)
    # A planted link is not an index's file: the folder is refused, untouched.
    assert "not an index and not empty" in one_line(CliRunner().invoke(app, ["index", "corpus", "--index-dir", "idx"]))
    Path("idx/.lock").unlink()
    Retriever.build(["corpus"], index_dir="ok")
    os.symlink(victim.resolve(), "ok/.manifest.json.tmp")
    Retriever.build(["corpus"], index_dir="ok", rebuild=True)
    Path("share").mkdir()
    os.symlink(victim.resolve(), "share/.out.csv.tmp")
    result = CliRunner().invoke(app, ["summarize", "corpus/a.txt", "--out", "share/out.csv"])
    assert result.exit_code == 0, result.stderr
    assert victim.read_text(encoding="utf-8") == "not yours"
    assert Path("share/out.csv").read_text(encoding="utf-8-sig").startswith("path,title")
    # The output keeps the permissions a new file gets (mkstemp's would be 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert Path("share/out.csv").stat().st_mode & 0o777 == 0o666 & ~umask
