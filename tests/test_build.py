"""Incremental indexing: what is read, embedded and written when the corpus changes."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import write_corpus

from retriever import Retriever, UsageError
from retriever.embedding.onnx_export import EXPORT_RECIPE
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.text.segment import sentence_spans

DOCS = {
    "a.txt": "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。\n"
    "二、发展产业\n要因地制宜发展特色产业,带动群众增收致富。",
    "b.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
}


@pytest.fixture
def corpus(in_tmp) -> Path:
    return write_corpus(in_tmp, DOCS)


def manifest(index: Path = Path("idx")) -> dict:
    return json.loads((index / "manifest.json").read_text(encoding="utf-8"))


def vectors_by_text(r: Retriever) -> dict[str, np.ndarray]:
    stored = r.index.vectors.reconstruct_n(0, r.index.vectors.ntotal)
    return {p.text: stored[i] for i, p in enumerate(r.index.passages)}


def test_unchanged_corpus_embeds_and_writes_nothing(corpus, counting):
    Retriever.build([corpus], index_dir="idx")
    first = manifest()
    counting.texts.clear()
    _, report = Retriever.build([corpus], index_dir="idx")
    assert counting.texts == []
    assert (report.written, report.unchanged, report.added, report.changed, report.removed, report.embedded) == (
        False, 2, 0, 0, 0, 0,
    )  # fmt: skip
    assert (report.documents, report.passages) == (2, 3)
    assert manifest() == first  # not even rewritten


def test_one_changed_document_embeds_only_its_new_passages(corpus, counting):
    Retriever.build([corpus], index_dir="idx")
    counting.texts.clear()
    (corpus / "b.txt").write_text("乡村振兴座谈会\n要抓好农村厕所革命,改善农民生活条件。", encoding="utf-8")
    r, report = Retriever.build([corpus], index_dir="idx")
    assert counting.texts == ["要抓好农村厕所革命,改善农民生活条件。"]
    assert (report.changed, report.unchanged, report.embedded, report.written) == (1, 1, 1, True)
    texts = [p.text for p in r.index.passages]
    assert "要抓好农村厕所革命,改善农民生活条件。" in texts
    assert not any("人居环境" in t for t in texts)
    # Reused vectors are the ones a fresh build computes.
    fresh, _ = Retriever.build([corpus], index_dir="fresh", rebuild=True)
    a, b = vectors_by_text(r), vectors_by_text(fresh)
    assert a.keys() == b.keys()
    for text in a:
        np.testing.assert_array_equal(a[text], b[text])


def test_added_and_removed_documents(corpus, counting):
    Retriever.build([corpus], index_dir="idx")
    counting.texts.clear()
    (corpus / "a.txt").unlink()
    (corpus / "c.txt").write_text("产业发展座谈\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    r, report = Retriever.build([corpus], index_dir="idx")
    assert (report.added, report.removed, report.unchanged, report.embedded) == (1, 1, 1, 1)
    assert sorted(r.index.documents) == ["corpus/b.txt", "corpus/c.txt"]
    assert counting.texts == ["要发展乡村旅游,拓宽农民增收渠道。"]


def test_add_mode_keeps_what_was_indexed(corpus, counting):
    Retriever.build(["corpus/a.txt"], index_dir="idx")
    r, report = Retriever.build(["corpus/b.txt"], index_dir="idx", add=True)
    assert (report.added, report.kept, report.removed) == (1, 1, 0)
    assert sorted(r.index.documents) == ["corpus/a.txt", "corpus/b.txt"]
    assert manifest()["corpus"]["sources"] == ["corpus/a.txt", "corpus/b.txt"]


def test_index_without_paths_reads_again_what_it_was_built_from(corpus, counting, monkeypatch):
    Retriever.build(["corpus"], index_dir="idx")
    (corpus / "c.txt").write_text("产业发展座谈\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    r, report = Retriever.build(index_dir="idx")
    assert (report.added, report.unchanged) == (1, 2)
    assert sorted(r.index.documents) == ["corpus/a.txt", "corpus/b.txt", "corpus/c.txt"]
    base = str(Path.cwd().resolve())
    assert manifest()["corpus"]["sources"] == ["corpus"] and manifest()["corpus"]["base"] == base
    # Elsewhere, another corpus/ must not replace what the index holds: the sources are
    # read again from the folder the index was built in, and the ids stay as they were.
    index = Path("idx").resolve()
    Path("elsewhere").mkdir()
    write_corpus(Path("elsewhere"), {"x.txt": "别的文件夹\n这里的文件不该替换索引里的内容。"})
    monkeypatch.chdir("elsewhere")
    r, report = Retriever.build(index_dir=index)
    assert not report.written and sorted(r.index.documents) == ["corpus/a.txt", "corpus/b.txt", "corpus/c.txt"]
    # Sources named by absolute paths are recorded from that folder too.
    Retriever.build([corpus / "a.txt"], index_dir=index)
    assert manifest(index)["corpus"]["sources"] == ["corpus/a.txt"] and manifest(index)["corpus"]["base"] == base
    assert Retriever.build(index_dir=index)[1].written is False
    # Sources that are gone: refused, nothing replaced.
    (corpus / "a.txt").rename(corpus / "moved.txt")
    refused = rf"^{re.escape(str(index))} was built from corpus/a.txt in {re.escape(base)}, not all of them here now: name"
    with pytest.raises(UsageError, match=refused):
        Retriever.build(index_dir=index)
    assert sorted(Retriever.open(index).index.documents) == ["corpus/a.txt"]


def test_adding_from_another_folder_keeps_the_ids(corpus, counting, monkeypatch):
    # A document's id is its path from the folder the index was first built in: the same
    # file added again from elsewhere is the same document, not a second copy.
    Retriever.build(["corpus"], index_dir="idx")
    index, here = Path("idx").resolve(), Path.cwd()
    (corpus / "c.txt").write_text("产业发展座谈\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    Path("elsewhere").mkdir()
    monkeypatch.chdir("elsewhere")
    r, report = Retriever.build(["../corpus"], index_dir=index, add=True)
    assert (report.added, report.unchanged, report.kept) == (1, 2, 0)
    assert sorted(r.index.documents) == ["corpus/a.txt", "corpus/b.txt", "corpus/c.txt"]
    assert manifest(index)["corpus"]["sources"] == ["corpus"] and manifest(index)["corpus"]["base"] == str(here.resolve())


def test_files_of_other_text_formats_are_noted(corpus, counting):
    (corpus / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    report = Retriever.build([corpus], index_dir="idx")[1]
    assert "1 .doc file, not read: save it as .docx, .txt or .pdf" in report.notes and report.documents == 2


def test_a_passage_that_repeats_across_documents_is_embedded_once(corpus, counting):
    (corpus / "c.txt").write_text("另一篇讲话\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。", encoding="utf-8")
    r, report = Retriever.build([corpus], index_dir="idx")
    repeated = "要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。"
    assert report.embedded == 3 and counting.texts.count(repeated) == 1
    stored = r.index.vectors.reconstruct_n(0, r.index.vectors.ntotal)
    same = [i for i, p in enumerate(r.index.passages) if p.text == repeated]
    assert len(same) == 2 and np.array_equal(stored[same[0]], stored[same[1]])
    assert np.array_equal(r.index.sentences.of(same[0])[1], r.index.sentences.of(same[1])[1])


def test_rebuild_embeds_everything_again(corpus, counting):
    Retriever.build([corpus], index_dir="idx")
    counting.texts.clear()
    r, report = Retriever.build([corpus], index_dir="idx", rebuild=True)
    assert report.embedded == 3 and report.written
    # Each passage and each of its sentences on its own; a one-sentence passage once.
    sentences = [p.text[a:b] for p in r.index.passages for a, b in sentence_spans(p.text)]
    assert sorted(counting.texts) == sorted({*(p.text for p in r.index.passages), *sentences})
    assert len(counting.texts) == 8 and "一、化解矛盾纠纷" in counting.texts  # a heading line is a sentence


def test_sentences_cut_otherwise_are_embedded_again(corpus, counting, monkeypatch):
    Retriever.build([corpus], index_dir="idx")
    counting.texts.clear()
    # The same passages, their sentences cut otherwise, as by a newer segment.py (whose
    # code is part of the pipeline a document was read with).
    monkeypatch.setattr("retriever.index.build.sentence_spans", lambda text: [(0, len(text))])
    monkeypatch.setattr("retriever.index.build.pipeline", lambda: {"code": "newer"})
    r, report = Retriever.build([corpus], index_dir="idx", rebuild=False)
    # Two passages had several sentences; the third was one sentence and keeps its vectors.
    changed = [p.text for p in r.index.passages if "\n" in p.text]
    assert report.embedded == 2 and sorted(counting.texts) == sorted(changed)
    assert all(r.index.sentences.spans_of(i) == [(0, len(p.text))] for i, p in enumerate(r.index.passages))


def test_a_file_unreadable_now_keeps_its_indexed_version(corpus, counting):
    Retriever.build([corpus], index_dir="idx")
    (corpus / "b.txt").write_bytes(b"\x00\x01 now binary")
    r, report = Retriever.build([corpus], index_dir="idx")
    assert [e.cause for e in report.skipped] == ["binary file (contains NUL bytes), not text"]
    assert report.kept == 1
    assert "corpus/b.txt" in r.index.documents
    assert any("人居环境" in p.text for p in r.index.passages)


def test_an_index_keeps_its_model_and_backend_unless_told(corpus, counting, monkeypatch):
    asked = []
    monkeypatch.setattr("retriever.api.load_embedder", lambda name, backend: asked.append((name, backend)) or counting)
    Retriever.build([corpus], index_dir="idx", model="some-model", backend="torch")
    (corpus / "c.txt").write_text("新增文件\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    Retriever.build([corpus], index_dir="idx")
    # The second build loads the model and backend the index records.
    assert asked == [("some-model", "torch"), ("some-model", "torch")]
    assert manifest()["model"] == {
        "name": "some-model", "backend": "torch", "export_recipe": None, "precision": "fp32", "built_on": cpu_summary(),
        "dim": 64, "normalized": True,
    }  # fmt: skip
    _, report = Retriever.build([corpus], index_dir="idx", backend="onnx")
    assert report.embedded == 4 and asked[-1] == ("some-model", "onnx")
    assert report.notes == ["model changed from some-model (torch) to some-model (onnx): every passage is embedded again"]
    assert manifest()["model"]["export_recipe"] == EXPORT_RECIPE


def test_a_new_onnx_export_embeds_everything_again(corpus, counting, monkeypatch):
    import retriever.index.build

    monkeypatch.setattr("retriever.api.load_embedder", lambda name, backend: counting)
    Retriever.build([corpus], index_dir="idx", backend="onnx")
    monkeypatch.setattr(retriever.index.build, "export_recipe", lambda backend: EXPORT_RECIPE + 1)
    _, report = Retriever.build([corpus], index_dir="idx")
    assert (report.embedded, report.unchanged) == (3, 2)
    assert report.notes == [
        f"the model's ONNX export changed (recipe {EXPORT_RECIPE} to recipe {EXPORT_RECIPE + 1}): every passage is embedded again"
    ]


def test_new_reading_code_reads_files_again_but_reuses_vectors(corpus, counting, monkeypatch):
    import retriever.index.build

    Retriever.build([corpus], index_dir="idx")
    counting.texts.clear()
    monkeypatch.setattr(retriever.index.build, "pipeline", lambda: {"code": "another version"})
    _, report = Retriever.build([corpus], index_dir="idx")
    assert (report.changed, report.unchanged, report.embedded, report.written) == (2, 0, 0, True)
    assert counting.texts == []
    assert manifest()["pipeline"] == {"code": "another version"}


def test_index_type_is_chosen_by_size_and_recorded(corpus, counting, monkeypatch):
    from retriever.config import VectorIndexConfig

    flat, _ = Retriever.build([corpus], index_dir="flat")
    assert manifest_of("flat")["vector_index"] == {"type": "flat-fp16", "refine": 2}
    import faiss

    vectors = flat.index.vectors.index
    assert type(vectors).__name__ == "IndexRefineFlat" and vectors.k_factor == 2
    assert faiss.downcast_index(vectors.base_index).sq.qtype == faiss.ScalarQuantizer.QT_fp16
    monkeypatch.setattr("retriever.index.faiss_store.VectorIndexConfig", lambda: VectorIndexConfig(exact_below=2))
    hnsw, _ = Retriever.build([corpus], index_dir="hnsw")
    assert manifest_of("hnsw")["vector_index"] == {
        "type": "hnsw-sq8", "M": 32, "efConstruction": 80, "efSearch": 576, "refine": 2
    }  # fmt: skip
    vectors = hnsw.index.vectors.index
    assert type(vectors).__name__ == "IndexRefineFlat" and vectors.k_factor == 2
    assert type(faiss.downcast_index(vectors.base_index)).__name__ == "IndexHNSWSQ"
    assert faiss.downcast_index(vectors.base_index).hnsw.efSearch == 576
    # Same answers and scores (a graph over three vectors is exhaustive, and the scores
    # are re-ranked exactly), and vectors reused from the index.
    for question in ("如何化解矛盾纠纷", "人居环境整治"):
        a, b = flat.ask(question, summary_chars=0), hnsw.ask(question, summary_chars=0)
        assert [(h.passage.text, round(h.score, 6)) for h in a.results] == [
            (h.passage.text, round(h.score, 6)) for h in b.results
        ]
    counting.texts.clear()
    (corpus / "c.txt").write_text("产业发展座谈\n要发展乡村旅游,拓宽农民增收渠道。", encoding="utf-8")
    _, report = Retriever.build([corpus], index_dir="hnsw")
    assert report.embedded == 1 and counting.texts == ["要发展乡村旅游,拓宽农民增收渠道。"]


def manifest_of(directory: str) -> dict:
    return json.loads(Path(directory, "manifest.json").read_text(encoding="utf-8"))


def test_the_pipeline_fingerprint_covers_the_word_cutter_by_construction(tmp_path):
    import shutil

    import retriever
    from retriever.index.build import code_fingerprint, reading_modules

    package = tmp_path / "retriever"
    shutil.copytree(Path(retriever.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    # Every module reading runs, at any depth: the word cutter and its lexicon too.
    modules = {name.removeprefix("retriever.") for name in reading_modules(package)}
    assert {
        "reading.load",
        "reading.encoding",
        "reading.html",
        "reading.docx",
        "reading.pdf",
        "text.clean",
        "text.outline",
        "text.segment",
        "text.words",
        "text.lexicon",
    } <= modules
    assert not {"cli.commands", "serve.app", "api", "summary.extract"} & modules
    before = code_fingerprint(package)
    with open(package / "text" / "words.py", "a", encoding="utf-8") as f:
        f.write("\n# a change to how words are cut\n")
    cut_changed = code_fingerprint(package)
    assert cut_changed != before
    with open(package / "serve" / "app.py", "a", encoding="utf-8") as f:  # not reading: documents are not read again
        f.write("\n# a change to the service\n")
    assert code_fingerprint(package) == cut_changed
