import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import write_corpus

from retriever import BadIndexError, IndexBusy, InputError, Retriever, StorageError
from retriever.config import SearchConfig
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.index import folder as index_store
from retriever.index.bm25 import BM25
from retriever.search import highlight_spans, minmax, search
from retriever.text.segment import sentence_spans
from retriever.text.words import query_terms, terms

DOCS = {
    "a.txt": "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。\n"
    "二、发展产业\n要因地制宜发展特色产业,带动群众增收致富。",
    "b.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
    # A copy of a.txt's first section under another name: a near-duplicate passage.
    "c.txt": "转载稿\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。",
}


@pytest.fixture
def corpus(in_tmp) -> Path:
    return write_corpus(in_tmp, DOCS)


@pytest.fixture
def built(corpus, fake_embedder) -> Retriever:
    retriever, report = Retriever.build([corpus], index_dir="idx", embedder=fake_embedder)
    assert (report.documents, report.passages, report.skipped) == (3, 4, [])
    return retriever


def test_bm25_hand_computed():
    bm = BM25.build([["a", "b"], ["a"]], k1=1.2, b=0.75)
    # idf(b) = ln(1 + (2 - 1 + .5) / (1 + .5)) = ln 2; doc 0 has length 2, average 1.5:
    # tf part = 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / 1.5)) = 0.88
    assert bm.scores(["b"]) == pytest.approx([math.log(2) * 0.88, 0.0])
    idf_a = math.log1p(0.5 / 2.5)
    assert bm.scores(["a"]) == pytest.approx([idf_a * 0.88, idf_a * 2.2 / 1.9])
    assert bm.scores(["zzz"]).tolist() == [0.0, 0.0]


def test_terms_drop_stopwords_and_punctuation():
    assert terms("如何化解矛盾纠纷?") == ["化解", "矛盾", "化解矛盾", "纠纷"]


def test_minmax():
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(np.array([1.0, 1.0])).tolist() == [0.0, 0.0]


def test_highlight_spans_merge_overlaps():
    assert highlight_spans("矛盾纠纷化解", ["矛盾", "纠纷", "矛盾纠纷", "解"]) == ((0, 4),)


def test_highlight_spans_find_every_occurrence_in_any_case_and_script():
    # Words come lower-cased and simplified; the text is matched as written.
    assert highlight_spans("推进AI治理，ai 赋能；矛盾矛盾", ["ai", "矛盾"]) == ((2, 4), (7, 9), (13, 17))
    assert highlight_spans("兩岸關係與經濟發展", ["关系", "经济"]) == ((2, 4), (5, 7))


def test_index_files_and_manifest(built):
    directory = Path("idx")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["model"] == {
        "name": "fake", "backend": "fake", "export_recipe": None, "precision": "fp32", "built_on": cpu_summary(),
        "dim": 64, "normalized": True,
    }  # fmt: skip
    assert manifest["corpus"]["documents"] == 3 and manifest["corpus"]["passages"] == 4
    assert set(manifest["files"]) == {
        "vectors.faiss", "passages.jsonl", "documents.jsonl", "sentences.npz", "bm25.npz", "bm25_vocab.json"
    }  # fmt: skip
    assert index_store.verify(directory) == []
    # Passage offsets point into the stored cleaned documents.
    for p in built.index.passages:
        assert built.index.documents[p.doc_id].text[p.start : p.end] == p.text


@pytest.mark.parametrize(
    ("q", "weight"),
    [("基层如何化解矛盾纠纷", "bm25_weight"), ("化解矛盾纠纷", "short_bm25_weight")],  # a search-box query leans on BM25
)
def test_the_blend_is_weighted_minmax_of_both_sides(built, fake_embedder, q, weight):
    qv = fake_embedder.encode([q])[0]
    hits = search(built.index, q, qv, k=10, mode="blend")
    config = SearchConfig()
    passages = built.index.passages
    cos = built.index.vectors.reconstruct_n(0, len(passages)) @ qv
    # Each passage's best sentence of 8 characters or more, each embedded on its own
    # (as stored: 8 bits a value).
    sentences = [built.index.sentences.of(i) for i in range(len(passages))]
    for p, (spans, vectors) in zip(passages, sentences):
        assert [tuple(s) for s in spans] == sentence_spans(p.text)
        np.testing.assert_allclose(vectors, fake_embedder.encode([p.text[a:b] for a, b in spans]), atol=0.01)
    best = np.array([
        max((float(v @ qv) for (a, b), v in zip(spans, vectors) if b - a >= 8), default=c)
        for (spans, vectors), c in zip(sentences, cos)
    ])  # fmt: skip
    dense = (1 - config.sentence_weight) * cos + config.sentence_weight * best
    bm = built.index.bm25.scores(query_terms(q))
    w = getattr(config, weight)
    assert w == (0.3 if weight == "bm25_weight" else 0.7)
    # With 4 passages every one is a candidate, so minmax runs over all of them.
    expected = (1 - w) * (dense - dense.min()) / (dense.max() - dense.min()) + w * (bm - bm.min()) / (bm.max() - bm.min())
    for h in hits:
        assert h.score == pytest.approx(expected[h.passage_id], abs=1e-5)
        assert h.dense == pytest.approx(dense[h.passage_id], abs=1e-5)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_near_duplicates_are_shown_once(built, fake_embedder):
    hits = search(built.index, "矛盾纠纷排查调处", fake_embedder.encode(["矛盾纠纷排查调处"])[0], k=10, mode="bm25")
    # Two passages match, with the same text: one is shown. BM25 reads their titles too,
    # and the shorter title (c.txt's 转载稿) weighs the same words a little more.
    assert [h.passage.doc_id for h in hits] == ["corpus/c.txt"]
    assert hits[0].passage.heading_path == ("一、化解矛盾纠纷",)
    assert hits[0].passage.text[slice(*hits[0].highlights[0])] in ("矛盾", "纠纷", "矛盾纠纷", "排查", "调处")


def test_bm25_mode_returns_only_matching_passages(built):
    assert search(built.index, "人居环境", None, k=5, mode="bm25")[0].passage.doc_id == "corpus/b.txt"
    assert search(built.index, "完全无关的词语", None, k=5, mode="bm25") == []


def test_ask(built):
    answer = built.ask("如何化解矛盾纠纷", k=2, summary_chars=60)
    assert len(answer.results) == 2
    assert answer.results[0].passage.doc_id in ("corpus/a.txt", "corpus/c.txt")
    assert 0 < len(answer.summary.text) <= 60
    for s in answer.summary.sentences:
        assert built.index.documents[s.doc_id].text[s.start : s.end] == s.text
        assert answer.results[s.cites - 1].passage.doc_id == s.doc_id
    # The same question answers the same, whatever the time it took; an answer is no key.
    again = built.ask("如何化解矛盾纠纷", k=2, summary_chars=60)
    assert again == answer and again.timings_ms is not answer.timings_ms
    with pytest.raises(TypeError, match="unhashable type: 'Answer'"):
        hash(answer)


def test_failed_write_leaves_the_old_index(built, corpus, monkeypatch):
    before = json.loads(Path("idx/manifest.json").read_text())
    (corpus / "d.txt").write_text("新文件内容。", encoding="utf-8")

    def boom(self, directory):
        raise OSError("disk full")

    monkeypatch.setattr(BM25, "save", boom)
    with pytest.raises(StorageError, match="^idx: cannot write the index: disk full$"):
        Retriever.build([corpus], index_dir="idx")
    assert json.loads(Path("idx/manifest.json").read_text()) == before
    assert [p.name for p in Path("idx").iterdir() if p.name.startswith(".tmp")] == []
    assert len(Retriever.open("idx").index.passages) == 4


def test_a_second_writer_is_refused(built, corpus):
    with index_store.write_lock(Path("idx")):
        with pytest.raises(IndexBusy, match="another `retriever index` is writing this index"):
            Retriever.build([corpus], index_dir="idx")


def test_rebuild_keeps_one_previous_generation(built, corpus):
    for _ in range(3):
        Retriever.build([corpus], index_dir="idx", rebuild=True)
    assert len(list(Path("idx").glob("gen-*"))) == 2


def test_skipped_files_are_reported(corpus, fake_embedder):
    (corpus / "bad.txt").write_bytes(b"\x00\x01binary")
    _, report = Retriever.build([corpus], index_dir="idx")
    assert report.documents == 3
    assert [str(e) for e in report.skipped] == [f"{corpus / 'bad.txt'}: binary file (contains NUL bytes), not text"]


def test_nothing_readable_writes_nothing(in_tmp, fake_embedder):
    Path("empty.txt").write_text("")
    with pytest.raises(InputError, match="empty.txt: empty file"):
        Retriever.build(["empty.txt"], index_dir="idx")
    assert not index_store.exists(Path("idx"))


def test_sentence_vectors_follow_the_passages(built, fake_embedder):
    # One vector per sentence of each passage, at the sentence's offsets: the sentence
    # embedded on its own.
    for pid, passage in enumerate(built.index.passages):
        spans, vectors = built.index.sentences.of(pid)
        assert spans.tolist() == [list(span) for span in sentence_spans(passage.text)]
        expected = fake_embedder.encode([passage.text[a:b] for a, b in spans])
        # Stored in 8 bits: each value within half a step of its sentence's scale.
        step = np.abs(expected).max(axis=1, keepdims=True) / 127
        assert (np.abs(vectors - expected) <= step / 2 + 1e-6).all()
    assert {len(built.index.sentences.of(pid)[0]) for pid in range(len(built.index.passages))} >= {1, 2}


def test_sentence_vectors_of_an_older_index_are_read(built, tmp_path):
    # Indexes written before 8-bit sentence vectors hold float16 "vectors": read as if
    # written now.
    now = built.index.sentences
    old_file = tmp_path / "sentences.npz"
    wide = now.codes.astype(np.float32) * now.scales[:, None]
    np.savez(old_file, indptr=now.indptr, spans=now.spans, vectors=wide.astype(np.float16))
    old = index_store.SentenceVectors.load(old_file)
    assert old.indptr.tolist() == now.indptr.tolist() and old.spans.tolist() == now.spans.tolist()
    assert old.codes.dtype == np.int8 and np.abs(old.codes.astype(int) - now.codes).max() <= 1


def blas_threads() -> set[int]:
    """Threads of numpy's own BLAS (other libraries' loaded by other tests, scipy's, are
    not what search uses)."""
    from threadpoolctl import threadpool_info

    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    return {lib["num_threads"] for lib in [lib for lib in blas if "numpy" in lib["filepath"]] or blas}


def test_blas_on_one_thread_while_a_question_is_answered(built, monkeypatch):
    # From a process's second question on (threadpoolctl costs more to load than it
    # saves one question), and put back after.
    import retriever.api

    monkeypatch.setattr(retriever.api, "_one_blas_thread", retriever.api._OneBlasThread())  # a process that has not asked
    seen = []
    real_search = retriever.api.search
    monkeypatch.setattr(retriever.api, "search", lambda *a, **kw: seen.append(blas_threads()) or real_search(*a, **kw))
    before = blas_threads()
    built.ask("城市更新")
    built.ask("城市更新")
    assert seen == [before, {1}] and blas_threads() == before


def test_blas_threads_come_back_when_the_last_question_leaves():
    # Questions answered at once, each leaving in its own time: the setting is the
    # process's, so it is put back only when none is inside.
    from retriever.api import _OneBlasThread

    before, one = blas_threads(), _OneBlasThread()
    with one():  # a process's first question is left alone
        assert blas_threads() == before
    first, second = one(), one()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert blas_threads() == {1}
    second.__exit__(None, None, None)
    assert blas_threads() == before


def test_best_sentence_of_each_candidate(built, fake_embedder):
    index = built.index
    q = fake_embedder.encode(["加强人民调解组织建设"])[0]
    ids = np.arange(len(index.passages))
    best = index.sentences.best(ids, q, min_chars=8)
    for pid, value in zip(ids, best):
        spans, vectors = index.sentences.of(pid)
        long = [v @ q for (a, b), v in zip(spans, vectors) if b - a >= 8]
        assert value == pytest.approx(max(long), abs=1e-6) if long else math.isnan(value)
    # Sentences shorter than min_chars do not count: none is that long here.
    assert np.isnan(index.sentences.best(ids, q, min_chars=1000)).all()


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda gen: (gen / "vectors.faiss").unlink(), "vectors.faiss: missing"),
        (lambda gen: (gen / "passages.jsonl").write_text("{}"), "passages.jsonl: truncated or altered"),
        (lambda gen: (gen.parent / "manifest.json").write_text("{not json"), "manifest.json: unreadable manifest"),
    ],
)
def test_broken_index_errors(built, damage, message):
    gen = Path("idx") / json.loads(Path("idx/manifest.json").read_text())["generation"]
    damage(gen)
    with pytest.raises(BadIndexError, match=message):
        Retriever.open("idx")


def test_missing_index_and_wrong_model(built):
    with pytest.raises(BadIndexError, match="nowhere: no index here"):
        Retriever.open("nowhere")
    with pytest.raises(BadIndexError, match="built with model fake, not m3e-small"):
        Retriever.open("idx", model="m3e-small")  # the fixture built it with the fake embedder


def test_traditional_text_matches_simplified_questions(in_tmp, fake_embedder):
    Path("t.txt").write_text("防空飛彈能全天候攻擊所有空中目標。", encoding="utf-8")
    r, _ = Retriever.build(["t.txt"], index_dir="idx")
    [hit] = search(r.index, "攻击目标", None, k=1, mode="bm25")
    assert hit.passage.text == "防空飛彈能全天候攻擊所有空中目標。"  # shown as written
    assert [hit.passage.text[s:e] for s, e in hit.highlights] == ["攻擊", "目標"]
