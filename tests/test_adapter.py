"""The question adapter: how it moves a vector, which models have one, and that search
uses it while the judgement whether anything answers does not."""

import numpy as np
import pytest
from conftest import write_corpus

from retriever import Retriever
from retriever.config import DEFAULT_MODEL, SearchConfig
from retriever.embedding.adapter import Adapter, adapter_for
from retriever.search import candidates, dense_scores, judge, search

DOCS = {
    "a.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
    "b.txt": "基层治理讲话\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。",
    "c.txt": "防汛工作会议\n要压实防汛责任,加强隐患排查,确保安全度汛。",
}


def test_an_adapter_moves_a_vector_and_keeps_it_of_unit_length():
    rng = np.random.default_rng(0)
    down, up = rng.normal(size=(8, 2)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    v = rng.normal(size=8).astype(np.float32)
    v /= np.linalg.norm(v)
    moved = Adapter(down, up, {})(v)
    expected = v + (v @ down) @ up
    assert moved == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)
    assert moved.dtype == np.float32
    rows = Adapter(down, up, {})(np.stack([v, -v]))
    assert rows[0] == pytest.approx(moved, abs=1e-6) and np.linalg.norm(rows, axis=1) == pytest.approx([1, 1])
    assert Adapter(down, np.zeros_like(up), {})(v) == pytest.approx(v, abs=1e-6)  # up = 0: the identity


def test_the_default_model_ships_an_adapter_learned_from_public_pairs_only():
    adapter = adapter_for(DEFAULT_MODEL, 512)
    assert adapter is not None
    assert (adapter.down.shape, adapter.up.shape) == ((512, adapter.about["rank"]), (adapter.about["rank"], 512))
    assert set(adapter.about["questions"]) == {"cmrc2018", "drcd"}
    assert adapter_for(DEFAULT_MODEL, 768) is None  # not its vectors
    assert adapter_for(f"/models/{DEFAULT_MODEL}", 512) is None  # a model given by its path
    assert adapter_for("fake", 64) is None


def _towards(target: np.ndarray):
    """An adapter (as search calls it) that moves every question to `target`."""
    return lambda model, dim: lambda vector: target


def test_search_compares_the_passages_with_the_moved_question(in_tmp, fake_embedder, monkeypatch):
    write_corpus(in_tmp, DOCS)
    r, _ = Retriever.build(["corpus"], index_dir="idx")
    question = "矛盾纠纷怎么化解"
    vector = fake_embedder.encode([question])[0]
    flood = next(i for i, p in enumerate(r.index.passages) if "防汛" in p.text)
    target = r.index.vectors.reconstruct_batch(np.array([flood]))[0]

    assert "矛盾纠纷" in search(r.index, question, vector, 1, "dense")[0].passage.text  # no adapter for "fake"
    monkeypatch.setattr("retriever.search.adapter_for", _towards(target))
    assert search(r.index, question, vector, 1, "dense")[0].passage_id == flood
    assert search(r.index, question, vector, 1, "dense", SearchConfig(question_adapter=False))[0].passage_id != flood
    found = candidates(r.index, question, vector)
    assert found.cosine == pytest.approx(r.index.vectors.reconstruct_batch(found.ids) @ target, abs=1e-5)

    # Whether anything answers is judged on the question as embedded, whatever search
    # compared: the threshold was fitted so.
    hits = search(r.index, question, vector, 3, "hybrid")
    ids = np.array([h.passage_id for h in hits])
    as_embedded = float(
        np.max(dense_scores(r.index, ids, r.index.vectors.reconstruct_batch(ids) @ vector, vector, SearchConfig()))
    )
    assert max(h.dense for h in hits) != pytest.approx(as_embedded)
    verdict = judge(r.index, question, hits, vector, threshold=2.0)
    assert f"scores {as_embedded:.2f} on the dense side" in verdict.reason
