"""Retrieval quality: the tool's rankers and honest baselines on the same passages.

Question sets:
- labelled: benchmarks/questions.jsonl over the passages of indexes/default (corpus/).
  A passage is relevant when it contains one of the question's gold phrases, so the
  labels survive any change of segmentation.
- cmrc2018 and drcd from ../shared/data (Wikipedia paragraphs; DRCD is traditional
  Chinese, which the tool matches through OpenCC t2s and shows as written). Their
  paragraphs are indexed as given, one passage each; the questions asked are those the
  shipped ranker never learned from (benchmarks/train_ranker.py): CMRC 2018's dev
  split, DRCD's questions on the other half of its articles.
- written: benchmarks/written_questions.jsonl, 240 questions written for this project
  the way people type them (paraphrases in their own words, facts, years, places, and
  2-6 character search terms, 48 of each; simplified and traditional), each over one
  CMRC 2018 trial or DRCD training-half paragraph, asked over all the paragraphs of
  both sets together. Never learned from nor tuned on: they test the ranker on
  questions in users' words over documents other than the user questions'.

Methods: the product's own search() in its modes (hybrid, the learned ranker, is the
default; blend the hand-set weights it starts from, also at other BM25 weights), plus
baselines computed here from the same vectors and BM25: RRF, raw cosine +
w·minmax(BM25), and a character 1–2-gram TF-IDF ranker.

The model's backends (torch, fp32 and int8 ONNX) on each kind of CPU are compared in
benchmarks/cpu_kinds.py, with measure_backend() below.
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from retriever import Retriever
from retriever.config import SearchConfig, VectorIndexConfig
from retriever.embedding.embedders import Embedder
from retriever.index.bm25 import BM25
from retriever.index.build import embed_passages
from retriever.index.faiss_store import FaissVectors, build_vector_index
from retriever.index.folder import Index
from retriever.index.manifest import CorpusInfo, Manifest, ModelInfo
from retriever.search import minmax, search
from retriever.text.segment import Passage
from retriever.text.words import for_matching, terms

from .common import BENCH, data_file, log, question_vectors, ranker_learned_from, read_jsonl
from .metrics import mrr_at, paired_bootstrap, summarize_runs
from .user_questions import overlap, sentence_around

K = 10
CANDIDATES = SearchConfig().candidates
DEFAULT = "hybrid: learned ranker (default)"
QUICK_QUESTIONS = 60  # per QA set in --quick
QUICK_DISTRACTORS = 60  # passages besides the gold ones in --quick
WRITTEN = BENCH / "written_questions.jsonl"


@dataclass
class QuestionSet:
    name: str
    passages: list[str]
    questions: list[str]
    relevant: list[set[int]]
    note: str
    kinds: list[str] | None = None  # each question's kind, where the set has them


def labelled(retriever: Retriever) -> QuestionSet:
    texts = [p.text for p in retriever.index.passages]
    rows = read_jsonl(BENCH / "questions.jsonl")
    relevant = [{i for i, t in enumerate(texts) if any(g in t for g in q["gold"])} for q in rows]
    lost = [q["id"] for q, r in zip(rows, relevant) if not r]
    if lost:
        log(f"labelled: no passage holds the gold of {lost}")
    multi = sum(len(r) > 1 for r in relevant)
    return QuestionSet(
        "labelled (corpus/)",
        texts,
        [q["question"] for q in rows],
        relevant,
        f"{len(rows)} paraphrased questions written for this project, {multi} with several relevant passages",
    )


def qa_set(name: str, quick: bool) -> QuestionSet | None:
    passages_file, queries_file = data_file(name, "passages.jsonl"), data_file(name, "queries.jsonl")
    if not (passages_file and queries_file):
        return None
    passages = read_jsonl(passages_file)
    article = {p["passage_id"]: p["article_id"] for p in passages}
    queries = [q for q in read_jsonl(queries_file) if not ranker_learned_from(name, q, article[q["passage_id"]])]
    note = "the questions the ranker never learned from"
    if quick:
        # A fixed sample, and only the passages it needs plus distractors: quick mode
        # must stay within minutes.
        queries = random.Random(0).sample(queries, QUICK_QUESTIONS)
        needed = {q["passage_id"] for q in queries}
        others = [p for p in passages if p["passage_id"] not in needed]
        keep = needed | {p["passage_id"] for p in random.Random(1).sample(others, QUICK_DISTRACTORS)}
        passages = [p for p in passages if p["passage_id"] in keep]
        note = f"quick sample: {QUICK_QUESTIONS} questions, {len(passages)} passages"
    index_of = {p["passage_id"]: i for i, p in enumerate(passages)}
    return QuestionSet(
        name,
        [p["text"] for p in passages],
        [q["query"] for q in queries],
        [{index_of[q["passage_id"]]} for q in queries],
        note,
    )


def written_set(quick: bool) -> QuestionSet | None:
    files = [data_file(name, "passages.jsonl") for name in ("cmrc2018", "drcd")]
    if not all(files):
        return None
    passages = [p for path in files if path for p in read_jsonl(path)]
    rows = read_jsonl(WRITTEN)
    if quick:
        rows = random.Random(0).sample(rows, QUICK_QUESTIONS)
    index_of = {p["passage_id"]: i for i, p in enumerate(passages)}
    # How much they copy the text: the user questions' measure, in matching form (DRCD's
    # traditional paragraphs against questions in either script).
    text = {p["passage_id"]: for_matching(p["text"]) for p in passages}
    copied = [overlap(for_matching(r["question"]), sentence_around(text[r["passage_id"]], for_matching(r["gold"]))) for r in rows]
    copied_by_kind = {
        kind: np.mean([c for c, r in zip(copied, rows) if r["kind"] == kind and c is not None])
        for kind in sorted({r["kind"] for r in rows})
    }
    return QuestionSet(
        "written (CMRC 2018 + DRCD paragraphs)",
        [p["text"] for p in passages],
        [r["question"] for r in rows],
        [{index_of[r["passage_id"]]} for r in rows],
        "questions written in users' words, never learned from; word overlap with the gold sentence "
        + ", ".join(f"{kind} {v:.2f}" for kind, v in copied_by_kind.items()),
        [r["kind"] for r in rows],
    )


def in_memory_index(texts: list[str], embedder: Embedder) -> Index:
    """The product's Index over given paragraphs, one passage each, never written: the
    vectors of the passages and their sentences embedded as `retriever index` embeds
    them, the vector index the one it would build for as many."""
    passages = [Passage(str(i), "", (), t, 0, len(t)) for i, t in enumerate(texts)]
    vectors, sentences, _ = embed_passages(passages, None, lambda: embedder, None)
    store, _ = build_vector_index(vectors, VectorIndexConfig())
    manifest = Manifest(
        "gen-0-0", ModelInfo(embedder.name, embedder.backend, vectors.shape[1]), CorpusInfo("", 0, len(texts), 0), {}
    )
    return Index(Path("<memory>"), manifest, passages, {}, FaissVectors(store), BM25.build([terms(t) for t in texts]), sentences)


def _fused_baseline(kind: str, w: float, cos: np.ndarray, bm: np.ndarray) -> list[int]:
    """Fusions the product does not use, over the same candidate union as search()."""
    dense_top = np.argsort(-cos)[:CANDIDATES]
    bm_top = [i for i in np.argsort(-bm)[:CANDIDATES] if bm[i] > 0]
    union = np.union1d(dense_top, bm_top).astype(int)
    if kind == "rrf":
        dense_rank = {int(i): r for r, i in enumerate(dense_top, 1)}
        bm_rank = {int(i): r for r, i in enumerate(bm_top, 1)}
        scores = np.array([1 / (60 + dense_rank.get(int(i), np.inf)) + 1 / (60 + bm_rank.get(int(i), np.inf)) for i in union])
    else:  # raw cosine plus rescaled BM25
        scores = cos[union] + w * minmax(bm[union])
    return union[np.argsort(-scores, kind="stable")][:K].tolist()


def evaluate(
    qs: QuestionSet, embedder: Embedder, index: Index | None = None, paired: dict | None = None, by_kind: dict | None = None
) -> dict[str, dict[str, float]]:
    """Metrics of every method on one question set; `paired` gains the default against
    the hand-set blend, question by question (mean difference and 95% bootstrap interval),
    `by_kind` both one's hit@1 by kind of question where the set has kinds."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if index is None:
        index = in_memory_index(qs.passages, embedder)
    qvecs = question_vectors(embedder, qs.questions)
    vectors = index.vectors.reconstruct_n(0, index.vectors.ntotal)
    base = SearchConfig()

    def product(mode: str, w: float | None = None):
        # One weight for every question, search-box queries too.
        config = base if w is None else replace(base, bm25_weight=w, short_bm25_weight=w)
        return lambda q, v: [h.passage_id for h in search(index, q, v, K, mode, config)]

    hand_set = f"blend w={base.bm25_weight:g}, {base.short_bm25_weight:g} for search-box queries (hand-set)"
    methods = {
        "BM25 (jieba)": product("bm25"),
        "dense (m3e-small)": product("dense"),
        DEFAULT: product("hybrid"),
        hand_set: product("blend"),
        **{f"blend w={w:g}": product("blend", w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)},
    }
    runs: dict[str, list] = {name: [] for name in methods}
    runs.update({"RRF k=60": [], "cosine + 0.25·minmax(BM25)": [], "char 1-2-gram TF-IDF": []})
    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
    doc_matrix = tfidf.fit_transform([for_matching(t) for t in qs.passages])
    for q, v, relevant in zip(qs.questions, qvecs, qs.relevant):
        for name, rank in methods.items():
            runs[name].append((rank(q, v), relevant))
        cos, bm = vectors @ v, index.bm25.scores(terms(q))
        runs["RRF k=60"].append((_fused_baseline("rrf", 0, cos, bm), relevant))
        runs["cosine + 0.25·minmax(BM25)"].append((_fused_baseline("cos", 0.25, cos, bm), relevant))
        sims = (doc_matrix @ tfidf.transform([for_matching(q)]).T).toarray().ravel()
        runs["char 1-2-gram TF-IDF"].append((np.argsort(-sims, kind="stable")[:K].tolist(), relevant))
    blend = next(name for name in runs if name.endswith("(hand-set)"))
    if paired is not None:
        for metric, score in (("hit@1", _hit1), ("MRR@10", lambda r, g: mrr_at(r, g, K))):
            paired[metric] = paired_bootstrap([score(r, g) for r, g in runs[DEFAULT]], [score(r, g) for r, g in runs[blend]])
    if by_kind is not None and qs.kinds:
        for kind in sorted(set(qs.kinds)):
            at = [i for i, k in enumerate(qs.kinds) if k == kind]
            by_kind[kind] = {
                "n": len(at),
                **{
                    side: float(np.mean([_hit1(*runs[name][i]) for i in at]))
                    for side, name in (("blend", blend), ("hybrid", DEFAULT))
                },
            }
    return {name: summarize_runs(r) for name, r in runs.items()}


def _hit1(ranked: list[int], relevant: set[int]) -> float:
    return float(bool(ranked[:1]) and ranked[0] in relevant)


def run(quick: bool, retriever: Retriever | None = None) -> dict:
    retriever = retriever or Retriever.open()
    embedder = retriever.embedder
    sets = [labelled(retriever)] + [s for s in (qa_set("cmrc2018", quick), qa_set("drcd", quick), written_set(quick)) if s]
    out = {}
    for qs in sets:
        log(f"retrieval: {qs.name}: {len(qs.passages)} passages, {len(qs.questions)} questions")
        index = retriever.index if qs.name.startswith("labelled") else None
        paired: dict = {}
        by_kind: dict = {}
        methods = evaluate(qs, embedder, index, paired, by_kind)
        out[qs.name] = {
            "passages": len(qs.passages),
            "questions": len(qs.questions),
            "note": qs.note,
            "methods": methods,
            "paired": paired,
            **({"by_kind": by_kind} if by_kind else {}),
        }
    missing = [n for n in ("cmrc2018", "drcd") if n not in out]
    return {"datasets": out, "skipped": missing, "default_weight": SearchConfig().bm25_weight}


def measure_backend(embedder: Embedder, qs: QuestionSet) -> dict:
    """nDCG@10 (dense, hybrid) of one embedder on a question set, and how fast it
    encodes the set's passages: once, in one call on all cores, after a warm-up."""
    embedder.encode(["预热"])
    texts = [for_matching(t) for t in qs.passages]
    start = time.perf_counter()
    embedder.encode(texts)
    seconds = time.perf_counter() - start
    methods = evaluate(qs, embedder, in_memory_index(qs.passages, embedder))
    return {
        "dense_ndcg10": methods["dense (m3e-small)"]["nDCG@10"],
        "hybrid_ndcg10": next(m["nDCG@10"] for name, m in methods.items() if name.endswith("(default)")),
        "passages": len(texts),
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "encode_s": round(seconds, 3),
        "passages_per_s": round(len(texts) / seconds, 1),
    }


COLUMNS = ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10")


def markdown(results: dict) -> str:
    parts = []
    for name, data in results["datasets"].items():
        parts.append(f"**{name}** — {data['passages']} passages, {data['questions']} questions ({data['note']})\n")
        parts.append("| method | " + " | ".join(COLUMNS) + " |\n|---|" + "---|" * len(COLUMNS))
        best = {c: max(m[c] for m in data["methods"].values()) for c in COLUMNS}
        for method, m in data["methods"].items():
            cells = [f"**{m[c]:.3f}**" if m[c] == best[c] else f"{m[c]:.3f}" for c in COLUMNS]
            parts.append(f"| {method} | " + " | ".join(cells) + " |")
        if data.get("paired"):
            diffs = ", ".join(f"{m} {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, (mean, lo, hi) in data["paired"].items())
            parts.append(f"\nLearned ranker − hand-set blend, question by question (95% paired bootstrap): {diffs}.")
        if data.get("by_kind"):
            cells = ", ".join(f"{kind} ({k['n']}) {k['blend']:.3f} → {k['hybrid']:.3f}" for kind, k in data["by_kind"].items())
            parts.append(f"\nhit@1 by kind of question, hand-set blend → learned ranker: {cells}.")
        parts.append("")
    if results["skipped"]:
        parts.append(f"Skipped (not found in ../shared/data): {', '.join(results['skipped'])}.\n")
    return "\n".join(parts)


def plot(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results["datasets"])
    methods = list(next(iter(results["datasets"].values()))["methods"])
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.8 / len(datasets)
    for j, name in enumerate(datasets):
        values = [results["datasets"][name]["methods"][m]["nDCG@10"] for m in methods]
        ax.bar(np.arange(len(methods)) + j * width, values, width, label=name.split(" ")[0])
    ax.set_xticks(np.arange(len(methods)) + width * (len(datasets) - 1) / 2)
    labels = [m.replace("·", "*").replace("cosine", "cos").replace("minmax", "mm") for m in methods]
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("nDCG@10")
    ax.set_ylim(0, 1)
    ax.set_title("Retrieval quality per method and question set")
    ax.legend()
    fig.tight_layout()
    path = out_dir / "retrieval_quality.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(markdown(run(parser.parse_args().quick)))
