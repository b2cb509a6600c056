"""Peers: txtai beside the product on every retrieval set, measured in the same run.

txtai runs in its hybrid mode: m3e-small from the same local directory through
sentence-transformers (fp32 torch; txtai L2-normalizes every vector, so its dense score
is the cosine), beside its BM25 keyword index, fused as 0.5·cosine + 0.5·BM25 scaled
to 0-1 (txtai's default convex fusion, over the top 100 of each side for a top 10). It
indexes exactly the passages the product indexes, one txtai document each, so that the
relevance labels apply unchanged; texts and questions are handed to it in the
product's matching form (words.for_matching: traditional → simplified, for DRCD).

Quality, the product's own search() in hybrid mode (the default) beside txtai:
- user questions (benchmarks/user_questions.py): the passages of corpus/ and the
  gov_reports documents, built by `retriever index` into a fresh directory (the build
  timed below); the answerable questions of the dev and the test half apart; hit@1,
  hit@5, MRR@10 and doc@1 overall and by kind (user_questions.per_question and by_kind).
- labelled (corpus/), cmrc2018 and drcd (benchmarks/retrieval_quality.py): an index of
  corpus/ built into a temporary directory, the QA paragraphs in the product's
  in-memory index; R@1, R@5, R@10, MRR@10, nDCG@10.

txtai's BM25 is shown with three tokenizers:
- default: txtai's Tokenizer (Unicode word boundaries, UAX #29). It has no dictionary
  for Chinese, so every Han character is a token of its own (a run of Latin letters or
  digits stays one);
- char 1-2-grams: its built-in n-gram option ({"ngrams": {"nmin": 1, "nmax": 2}});
- jieba: JiebaBM25 below, txtai's BM25 with jieba's cut_for_search (the cut the
  product's BM25 uses, through rjieba), plugged in as a custom scoring method, which
  txtai resolves by its class path.
The dense side is the same for all three: each set's passages are encoded once and
handed to txtai as "external" vectors (a transform function). On the user questions
the default row is instead the index saved by the timed `Embeddings(path=...)` build,
and the log says how many of its top-10 lists the external route reproduces. txtai's
FAISS index is exact up to 5,000 vectors and IVF above (nprobe = cells / 16): the
user-questions passages (5,003) fall just above, so that set also has a row with every
cell probed.

Speed, on the user-questions documents, each tool on its own in turn:
- build: `retriever index corpus/ gov_reports/` into a fresh directory, and
  `Embeddings(path=<m3e-small>, method="sentence-transformers", hybrid=True,
  content=True).index(texts)` then save, each as its own process (speed.run_measured):
  wall time, CPU time, peak RSS, size on disk, and txtai's index() call alone. The
  product also reads and segments the documents and embeds every sentence on its own
  (for search and summaries); txtai gets the passages ready-made.
- warm: one question at a time after a warm-up, 200 user questions: txtai's
  search(question, 10) on its loaded index (content=True: the texts come back) against
  the product's ask(question, k=10, summary_chars=0) (encode and hybrid search) and
  ask(question, k=10) with its default summary.
- cold: a fresh process that loads the saved index and answers one question:
  `python -c "Embeddings().load(DIR); search(Q, 10)"` against `retriever ask Q --json
  --local --index-dir DIR` (-k 10, without and with the summary); median of 5 runs,
  peak RSS.

    python -m benchmarks.peers [--quick]      # from the project root; prints Markdown
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

# txtai and sentence-transformers load m3e-small from its directory: nothing from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retriever import Retriever  # noqa: E402
from retriever.config import DEFAULT_MODEL  # noqa: E402
from retriever.embedding.embedders import resolve_model  # noqa: E402
from retriever.search import search  # noqa: E402
from retriever.text.words import for_matching  # noqa: E402

from . import retrieval_quality, user_questions  # noqa: E402
from .common import ROOT, log, percentile, question_vectors, read_jsonl, run_and_print  # noqa: E402
from .metrics import mrr_at, paired_bootstrap, summarize_runs  # noqa: E402
from .retrieval_quality import QuestionSet  # noqa: E402
from .speed import COLD_QUESTION, RETRIEVER, run_measured, write_texts  # noqa: E402
from .user_questions import KINDS, doc_key, is_short  # noqa: E402

K = 10
PRODUCT = "retriever hybrid (default)"
# txtai's BM25 tokenizers, added to the scoring config that hybrid=True makes.
VARIANTS = {
    "default tokenizer": {},
    "char 1-2-grams": {"tokenizer": {"ngrams": {"nmin": 1, "nmax": 2}}},
    "jieba": {"method": "benchmarks.peers.JiebaBM25"},
}
EXACT = "txtai hybrid, BM25 jieba, every IVF cell probed"
WARM_TXTAI = "txtai search(q, 10)"
WARM_PRODUCT = "retriever ask(q, k=10, summary_chars=0)"
COLD_TXTAI = "txtai load + search(q, 10)"
COLD_PRODUCT = "retriever ask -k 10 --summary-chars 0"
WARM_QUESTIONS = 200
COLD_RUNS = 5
QUICK_DOCS = 10  # gov_reports documents in --quick
_WORD = re.compile(r"\w")


def txtai_name(variant: str) -> str:
    return f"txtai hybrid, BM25 {variant}"


@cache
def _jieba_bm25() -> type:
    from txtai.scoring import BM25

    class JiebaBM25(BM25):
        """txtai's BM25 over the words of jieba's cut_for_search (lower case, no
        punctuation or spaces), for passages and questions alike."""

        def loadtokenizer(self):
            import jieba

            return lambda text: [w for w in jieba.lcut_for_search(text.lower()) if _WORD.search(w)]

    JiebaBM25.__module__ = __name__
    return JiebaBM25


def __getattr__(name: str):
    # txtai resolves "benchmarks.peers.JiebaBM25" here; importing txtai takes 3-4 s, so
    # only when it is asked for.
    if name == "JiebaBM25":
        return _jieba_bm25()
    raise AttributeError(name)


# ---------------------------------------------------------------------------
# txtai


class Vectors:
    """m3e-small through sentence-transformers, as txtai's path= loads it, each distinct
    text encoded once: the dense side shared by the tokenizer variants."""

    def __init__(self, model):
        self.model = model
        self.known: dict[str, np.ndarray] = {}

    def add(self, texts: list[str]) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.known]
        if new:
            self.known.update(zip(new, self.model.encode(new, batch_size=32)))

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.add(texts)
        return np.stack([self.known[t] for t in texts])


def txtai_index(texts: list[str], vectors: Vectors, variant: str, **options):
    """A hybrid txtai index over texts (ids 0..n-1), its vectors from `vectors`."""
    from txtai import Embeddings

    scoring = {"method": "bm25", "terms": True, "normalize": True, **VARIANTS[variant]}
    # txtai calls a plain function as the transform (a callable object it would instantiate).
    embeddings = Embeddings(method="external", transform=lambda batch: vectors(batch), hybrid=True, scoring=scoring, **options)
    embeddings.index(texts)
    return embeddings


def txtai_ranked(embeddings, questions: list[str]) -> list[list[int]]:
    results = embeddings.batchsearch([for_matching(q) for q in questions], K)
    return [[int(r["id"]) if isinstance(r, dict) else int(r[0]) for r in hits] for hits in results]


# The timed txtai build, as its own process: index, save, then (after the timing) the
# passage vectors that it computed, for the other tokenizers' rows.
_TXTAI_BUILD = """
import json, sys, time
import faiss, numpy as np
from txtai import Embeddings
texts = json.loads(open(sys.argv[1], encoding="utf-8").read())
embeddings = Embeddings(path=sys.argv[2], method="sentence-transformers", hybrid=True, content=True)
start = time.perf_counter()
embeddings.index(texts)
seconds = time.perf_counter() - start
embeddings.save(sys.argv[3])
backend = embeddings.ann.backend
if "IVF" in embeddings.config["build"]["settings"]["components"]:
    faiss.extract_index_ivf(backend).make_direct_map()
else:
    backend = faiss.downcast_index(backend.index)
np.save(sys.argv[4], backend.reconstruct_n(0, backend.ntotal))
open(sys.argv[5], "w").write(json.dumps({"index_s": seconds, "config": embeddings.config}))
"""

_TXTAI_COLD = """
import sys
from txtai import Embeddings
embeddings = Embeddings()
embeddings.load(sys.argv[1])
assert embeddings.search(sys.argv[2], 10)
"""


def _size_mib(directory: Path) -> float:
    return round(sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20, 1)


def build_txtai(texts: list[str], work: Path) -> tuple[dict, np.ndarray]:
    """The timed build row and the passage vectors it computed."""
    import sys

    (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    out, vectors, report = work / "txtai", work / "txtai-vectors.npy", work / "txtai-build.json"
    log(f"peers: txtai build of {len(texts):,} passages")
    seconds, cpu, rss, code, stderr = run_measured(
        [sys.executable, "-c", _TXTAI_BUILD, str(work / "texts.json"), str(resolve_model(DEFAULT_MODEL)), str(out), str(vectors), str(report)], ROOT
    )  # fmt: skip
    if code != 0:
        raise RuntimeError(f"txtai build exited {code}: {stderr.strip()[-500:]}")
    built = json.loads(report.read_text())
    row = {
        "tool": "txtai", "passages": len(texts), "seconds": round(seconds, 2), "cpu_s": round(cpu, 1),
        "index_call_s": round(built["index_s"], 2), "passages_per_s": round(len(texts) / seconds, 1),
        "peak_rss_mib": round(rss), "disk_mib": _size_mib(out), "faiss": built["config"]["build"]["settings"]["components"],
    }  # fmt: skip
    return row, np.load(vectors)


def build_product(sources: list[Path], out: Path) -> dict:
    log("peers: retriever build")
    seconds, cpu, rss, code, stderr = run_measured([str(RETRIEVER), "index", *map(str, sources), "--index-dir", str(out)], ROOT)
    if code != 0:
        raise RuntimeError(f"retriever index exited {code}: {stderr.strip()[-500:]}")
    passages = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["corpus"]["passages"]
    return {
        "tool": "retriever", "passages": passages, "seconds": round(seconds, 2), "cpu_s": round(cpu, 1),
        "passages_per_s": round(passages / seconds, 1), "peak_rss_mib": round(rss), "disk_mib": _size_mib(out),
    }  # fmt: skip


# ---------------------------------------------------------------------------
# quality


def product_ranked(index, embedder, questions: list[str]) -> list[list[int]]:
    """As retrieval_quality.evaluate's default row: the question embedded as `ask` embeds it."""
    vectors = question_vectors(embedder, questions)
    return [[h.passage_id for h in search(index, q, v, K, "hybrid")] for q, v in zip(questions, vectors)]


def qa_quality(qs: QuestionSet, index, embedder, model) -> dict:
    """R@k, MRR@10, nDCG@10 of the product and of txtai with each tokenizer."""
    log(f"peers: {qs.name}: {len(qs.passages):,} passages, {len(qs.questions):,} questions")
    ranked = {PRODUCT: product_ranked(index, embedder, qs.questions)}
    texts = [for_matching(t) for t in qs.passages]
    vectors = Vectors(model)
    start = time.perf_counter()
    vectors.add(texts)
    vectors.add([for_matching(q) for q in qs.questions])
    log(f"peers: {qs.name}: txtai's vectors encoded in {time.perf_counter() - start:.0f} s")
    for variant in VARIANTS:
        embeddings = txtai_index(texts, vectors, variant)
        ranked[txtai_name(variant)] = txtai_ranked(embeddings, qs.questions)
        embeddings.close()
    return {
        "passages": len(qs.passages),
        "questions": len(qs.questions),
        "note": qs.note,
        "methods": {name: summarize_runs(list(zip(r, qs.relevant))) for name, r in ranked.items()},
    }


def uq_scores(ranked: list[list[int]], rows: list[dict], relevant: list[set[int]], docs: list[str]) -> list[dict]:
    """Each question's hit@1, hit@5, MRR@10 and doc@1, as user_questions.per_question."""
    return [
        {
            "kind": row["kind"],
            "short": is_short(row["question"]),
            "hit@1": float(bool(ids[:1] and ids[0] in rel)),
            "hit@5": float(bool(set(ids[:5]) & rel)),
            "MRR@10": mrr_at(ids, rel, K),
            "doc@1": float(bool(ids) and docs[ids[0]] == doc_key(row["doc"])),
        }
        for row, rel, ids in zip(rows, relevant, ranked)
    ]


def uq_quality(retriever: Retriever, rows: list[dict], saved_txtai: Path, passage_vectors: np.ndarray, model) -> dict:
    from txtai import Embeddings

    passages = retriever.index.passages
    texts = [for_matching(p.text) for p in passages]
    questions = [r["question"] for r in rows]
    log(f"peers: user questions: {len(passages):,} passages, {len(rows)} answerable questions")
    scores = {PRODUCT: user_questions.per_question(retriever, rows, ("hybrid",))["hybrid"]}
    ranked = {}
    saved = Embeddings()
    saved.load(str(saved_txtai))
    ranked[txtai_name("default tokenizer")] = txtai_ranked(saved, questions)
    saved.close()

    shared = Vectors(model)
    shared.known.update(zip(texts, passage_vectors))
    shared.add([for_matching(q) for q in questions])
    for variant in VARIANTS:
        embeddings = txtai_index(texts, shared, variant)
        found = txtai_ranked(embeddings, questions)
        embeddings.close()
        if variant == "default tokenizer":
            same = sum(a == b for a, b in zip(found, ranked[txtai_name(variant)]))
            log(f"peers: txtai through external vectors gives the saved index's top 10 on {same} of {len(found)} questions")
        else:
            ranked[txtai_name(variant)] = found
    embeddings = txtai_index(texts, shared, "jieba", faiss={"nprobe": len(texts)})  # FAISS caps it at the cells
    ranked[EXACT] = txtai_ranked(embeddings, questions)
    embeddings.close()

    relevant = [user_questions.relevant_passages(retriever, r) for r in rows]
    docs = [doc_key(p.doc_id) for p in passages]
    scores.update({name: uq_scores(r, rows, relevant, docs) for name, r in ranked.items()})
    splits = {
        split: {
            name: user_questions.by_kind([s for s, r in zip(values, rows) if r["split"] == split])
            for name, values in scores.items()
        }
        for split in ("dev", "test")
    }
    # The product against each txtai row on the test half, question by question.
    test = [i for i, r in enumerate(rows) if r["split"] == "test"]
    paired = {
        name: {
            m: paired_bootstrap([scores[PRODUCT][i][m] for i in test], [values[i][m] for i in test]) for m in ("hit@5", "MRR@10")
        }
        for name, values in scores.items()
        if name != PRODUCT
    }
    return {"passages": len(passages), "splits": splits, "paired_test": paired}


# ---------------------------------------------------------------------------
# speed


def _ms_stats(values: list[float]) -> dict:
    return {"n": len(values), "p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2)}


def warm(retriever: Retriever, saved_txtai: Path, questions: list[str]) -> dict:
    """Latency of one question at a time, each tool after its own warm-up."""
    from txtai import Embeddings

    log(f"peers: warm queries, {len(questions)} questions each")
    out = {}
    embeddings = Embeddings()
    embeddings.load(str(saved_txtai))
    for q in questions[:3]:
        embeddings.search(for_matching(q), K)
    out[WARM_TXTAI] = _ms_stats(_timed(lambda q: embeddings.search(for_matching(q), K), questions))
    embeddings.close()
    retriever.warm_up()
    out[WARM_PRODUCT] = _ms_stats(_timed(lambda q: retriever.ask(q, k=K, summary_chars=0), questions))
    out["retriever ask(q, k=10) with its summary"] = _ms_stats(_timed(lambda q: retriever.ask(q, k=K), questions))
    return out


def _timed(call, questions: list[str]) -> list[float]:
    ms = []
    for q in questions:
        start = time.perf_counter()
        call(q)
        ms.append((time.perf_counter() - start) * 1000)
    return ms


def cold(name: str, cmd: list[str], runs: int) -> dict:
    log(f"peers: cold start, {name}")
    seconds, cpus, rsss = [], [], []
    for _ in range(runs):
        wall, cpu, rss, code, stderr = run_measured(cmd, ROOT)
        if code != 0:
            raise RuntimeError(f"{name} exited {code}: {stderr.strip()[-500:]}")
        seconds.append(wall)
        cpus.append(cpu)
        rsss.append(rss)
    return {
        "runs": runs, "median_s": round(statistics.median(seconds), 3), "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3), "cpu_s": round(statistics.median(cpus), 2), "peak_rss_mib": round(max(rsss)),
    }  # fmt: skip


def user_questions_and_speed(quick: bool, model, work: Path) -> dict | None:
    """Build both indexes of the user-questions documents (timed), then their quality,
    warm and cold queries."""
    import sys

    docs = user_questions.documents()
    if docs is None:
        return None
    if quick:
        docs = dict(list(docs.items())[:QUICK_DOCS])
    gov = write_texts(work / "gov_reports", {name.removesuffix(".txt"): text for name, text in docs.items()})
    product_build = build_product([ROOT / "corpus", gov], work / "retriever")
    retriever = Retriever.open(work / "retriever")
    texts = [for_matching(p.text) for p in retriever.index.passages]
    txtai_build, passage_vectors = build_txtai(texts, work)

    indexed = {doc_key(p.doc_id) for p in retriever.index.passages}
    all_rows = read_jsonl(user_questions.QUESTIONS)
    rows = [r for r in all_rows if r["kind"] != "off_topic" and doc_key(r["doc"]) in indexed]
    quality = uq_quality(retriever, rows, work / "txtai", passage_vectors, model)

    questions = [r["question"] for r in all_rows][: 50 if quick else WARM_QUESTIONS]
    runs = 3 if quick else COLD_RUNS
    ask = [str(RETRIEVER), "ask", COLD_QUESTION, "--json", "--local", "--index-dir", str(work / "retriever"), "-k", str(K)]
    return {
        "quality": quality,
        "build": [product_build, txtai_build],
        "warm_ms": warm(retriever, work / "txtai", questions),
        "cold": {
            "question": COLD_QUESTION,
            COLD_TXTAI: cold("txtai", [sys.executable, "-c", _TXTAI_COLD, str(work / "txtai"), COLD_QUESTION], runs),
            COLD_PRODUCT: cold("retriever, no summary", [*ask, "--summary-chars", "0"], runs),
            "retriever ask -k 10 (with its summary)": cold("retriever", ask, runs),
        },
    }


# ---------------------------------------------------------------------------


def run(quick: bool) -> dict:
    from importlib import metadata

    from sentence_transformers import SentenceTransformer

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    model = SentenceTransformer(str(resolve_model(DEFAULT_MODEL)), device="cpu")
    out: dict = {"versions": {p: metadata.version(p) for p in ("txtai", "sentence-transformers", "torch", "faiss-cpu", "jieba")}}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        work = Path(tmp)
        out["user_questions"] = user_questions_and_speed(quick, model, work)
        log("peers: index of corpus/ for the labelled questions")
        retriever, _ = Retriever.build([ROOT / "corpus"], index_dir=work / "corpus")
        embedder = retriever.embedder
        out["datasets"] = {}
        labelled = retrieval_quality.labelled(retriever)
        out["datasets"][labelled.name] = qa_quality(labelled, retriever.index, embedder, model)
        for name in ("cmrc2018", "drcd"):
            qs = retrieval_quality.qa_set(name, quick)
            if qs is not None:
                index = retrieval_quality.in_memory_index(qs.passages, embedder)
                out["datasets"][name] = qa_quality(qs, index, embedder, model)
    # Another job on the machine slows both tools alike, but shows in their latencies.
    out["run"] = {"seconds": round(time.perf_counter() - started), "load_avg_1min": [load_before, os.getloadavg()[0]]}
    return out


# ---------------------------------------------------------------------------
# report


def best_txtai(methods: dict, metric: str) -> tuple[str, float]:
    name, m = max(((k, v) for k, v in methods.items() if k.startswith("txtai")), key=lambda kv: kv[1][metric])
    return name, m[metric]


def verdict(results: dict) -> dict[str, list[str]]:
    """Where the product wins, ties (equal at the precision shown) and loses against
    txtai's best row on each measure."""
    out: dict[str, list[str]] = {"wins": [], "ties": [], "losses": []}

    def compare(what: str, ours: float, theirs: float, higher_better: bool, fmt: str) -> None:
        shown = f"{ours:{fmt}}", f"{theirs:{fmt}}"
        key = "ties" if shown[0] == shown[1] else "wins" if (ours > theirs) == higher_better else "losses"
        out[key].append(f"{what}: {shown[0]} against {shown[1]}")

    uq = results["user_questions"]
    if uq:
        for split, methods in uq["quality"]["splits"].items():
            methods = {k: v["all"] for k, v in methods.items()}
            for metric in ("hit@1", "hit@5", "MRR@10"):
                name, theirs = best_txtai(methods, metric)
                compare(f"user questions ({split}) {metric}, txtai {_short(name)}", methods[PRODUCT][metric], theirs, True, ".3f")
    for name, data in results["datasets"].items():
        txtai, theirs = best_txtai(data["methods"], "nDCG@10")
        compare(f"{name} nDCG@10, txtai {_short(txtai)}", data["methods"][PRODUCT]["nDCG@10"], theirs, True, ".3f")
    if uq:
        ours, theirs = uq["build"]
        compare("build of the user-questions documents, s (whole process)", ours["seconds"], theirs["seconds"], False, ".1f")
        compare("peak RSS of that build, MiB", ours["peak_rss_mib"], theirs["peak_rss_mib"], False, ",")
        compare("index on disk, MiB", ours["disk_mib"], theirs["disk_mib"], False, ".1f")
        w, c = uq["warm_ms"], uq["cold"]
        compare(
            "warm query p50, ms (ask without summary; txtai search)", w[WARM_PRODUCT]["p50"], w[WARM_TXTAI]["p50"], False, ".1f"
        )
        compare("warm query p95, ms", w[WARM_PRODUCT]["p95"], w[WARM_TXTAI]["p95"], False, ".1f")
        compare(
            "cold start, s (ask without summary; txtai load + search)",
            c[COLD_PRODUCT]["median_s"],
            c[COLD_TXTAI]["median_s"],
            False,
            ".2f",
        )
        compare("cold start peak RSS, MiB", c[COLD_PRODUCT]["peak_rss_mib"], c[COLD_TXTAI]["peak_rss_mib"], False, ",")
    return out


def _short(name: str) -> str:
    return name.removeprefix("txtai hybrid, ")


def headline(results: dict) -> list[str]:
    """One line: the product against txtai's best row on each set, and the speed."""
    parts = []
    uq = results["user_questions"]
    if uq:
        test = {k: v["all"] for k, v in uq["quality"]["splits"]["test"].items()}
        parts.append(f"user questions (test) MRR@10 {test[PRODUCT]['MRR@10']:.3f} vs {best_txtai(test, 'MRR@10')[1]:.3f}")
    for name, data in results["datasets"].items():
        ours, theirs = data["methods"][PRODUCT]["nDCG@10"], best_txtai(data["methods"], "nDCG@10")[1]
        parts.append(f"{name.split(' ')[0]} nDCG@10 {ours:.3f} vs {theirs:.3f}")
    if uq:
        (ours, theirs), w, c = uq["build"], uq["warm_ms"], uq["cold"]
        parts.append(
            f"build of {ours['passages']:,} passages {ours['seconds']:.0f} s vs {theirs['seconds']:.0f} s; warm query p50 "
            f"{w[WARM_PRODUCT]['p50']:.1f} vs {w[WARM_TXTAI]['p50']:.1f} ms; cold start "
            f"{c[COLD_PRODUCT]['median_s']:.2f} vs {c[COLD_TXTAI]['median_s']:.2f} s"
        )
    return [
        f"retriever vs txtai {results['versions']['txtai']} (hybrid, the same m3e-small and passages, "
        f"its best BM25 tokenizer per set): " + "; ".join(parts)
    ]


def _bold_best(rows: dict[str, dict], columns: tuple[str, ...]) -> dict[str, list[str]]:
    best = {c: max(m[c] for m in rows.values()) for c in columns}
    return {name: [f"**{m[c]:.3f}**" if m[c] == best[c] else f"{m[c]:.3f}" for c in columns] for name, m in rows.items()}


def markdown(results: dict) -> str:
    v = results["versions"]
    parts = [
        f"txtai {v['txtai']} in hybrid mode (sentence-transformers {v['sentence-transformers']}, torch {v['torch']}, "
        f"faiss {v['faiss-cpu']}) over the same passages as the product, with m3e-small from the same directory "
        f"({results['run']['seconds'] / 60:.1f} minutes; load average {results['run']['load_avg_1min'][0]:.1f} at the start, "
        f"{results['run']['load_avg_1min'][1]:.1f} at the end).\n"
    ]
    uq = results["user_questions"]
    if uq is None:
        parts.append("User questions and speed skipped: ../shared/data/gov_reports not found.\n")
    else:
        q = uq["quality"]
        metrics = ("hit@1", "hit@5", "MRR@10", "doc@1")
        parts += [
            f"**User questions** — {q['passages']:,} passages (corpus/ and gov_reports), answerable questions; dev | test\n",
            "| kind | method | n | "
            + " | ".join(f"dev {m}" for m in metrics)
            + " | "
            + " | ".join(f"test {m}" for m in metrics)
            + " |",
            "|---|---|---|" + "---|" * (2 * len(metrics)),
        ]
        dev, test = q["splits"]["dev"], q["splits"]["test"]
        for kind in ("all", *KINDS):
            if kind not in dev[PRODUCT]:
                continue
            d = _bold_best({k: m[kind] for k, m in dev.items()}, metrics)
            t = _bold_best({k: m[kind] for k, m in test.items()}, metrics)
            for name in dev:
                n = f"{dev[name][kind]['n']} / {test[name][kind]['n']}"
                parts.append(f"| {kind} | {name} | {n} | " + " | ".join(d[name]) + " | " + " | ".join(t[name]) + " |")
        parts += ["", "| test half: retriever minus (95% paired bootstrap interval) | hit@5 | MRR@10 |", "|---|---|---|"]
        for name, diffs in q["paired_test"].items():
            parts.append(f"| {name} | " + " | ".join(f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, lo, hi in diffs.values()) + " |")
        parts.append("")

    columns = retrieval_quality.COLUMNS
    parts += [
        "**Labelled questions and QA sets**\n",
        "| question set | method | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for name, data in results["datasets"].items():
        cells = _bold_best(data["methods"], columns)
        for method in data["methods"]:
            label = f"{name} ({data['passages']:,} passages, {data['questions']:,} questions)"
            parts.append(f"| {label} | {method} | " + " | ".join(cells[method]) + " |")
    parts.append("")

    if uq is not None:
        parts += [
            f"**Speed** on the user-questions documents ({uq['build'][0]['passages']:,} passages)\n",
            "| build | wall s | CPU s | passages/s | index() alone s | peak RSS MiB | on disk MiB |",
            "|---|---|---|---|---|---|---|",
        ]
        for b in uq["build"]:
            tool = b["tool"] if b["tool"] == "retriever" else f"txtai (FAISS {b['faiss']})"
            parts.append(
                f"| {tool} | {b['seconds']:.1f} | {b['cpu_s']:.1f} | {b['passages_per_s']:.1f} | {b.get('index_call_s', '')} "
                f"| {b['peak_rss_mib']:,} | {b['disk_mib']:.1f} |"
            )
        parts += ["", "| warm, one question at a time | questions | p50 ms | p95 ms |", "|---|---|---|---|"]
        for name, w in uq["warm_ms"].items():
            parts.append(f"| {name} | {w['n']} | {w['p50']:.1f} | {w['p95']:.1f} |")
        parts += [
            "",
            f"| cold process: load the index, answer «{uq['cold']['question']}» | runs | median s | min s | max s | CPU s | peak RSS MiB |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, c in uq["cold"].items():
            if isinstance(c, dict):
                parts.append(
                    f"| {name} | {c['runs']} | {c['median_s']:.2f} | {c['min_s']:.2f} | {c['max_s']:.2f} | {c['cpu_s']:.2f} | {c['peak_rss_mib']:,} |"
                )
        parts.append("")

    v = verdict(results)
    for key, title in (("wins", "Where retriever wins"), ("ties", "Where they tie"), ("losses", "Where retriever loses")):
        parts += [f"**{title}** (against txtai's best row on each measure)\n", *(f"- {line}" for line in v[key] or ["none"]), ""]
    parts.append(
        "txtai rows: m3e-small on fp32 torch (the product: int8 ONNX), 0.5·cosine + 0.5·BM25 / min(best + mean, "
        "6·mean) over the top 100 of each side, a passage found by one side only getting nothing from the other (the "
        "product fills the missing side in, and ranks by 0.7·min-max of the mean of the passage's cosine and its best "
        "sentence's, + 0.3·min-max BM25, a boost for the year asked, near-duplicates dropped). The product's BM25 also "
        "indexes each passage's document title and heading path and expands the short forms of years and congresses in "
        "the question; txtai gets the passage text alone, as a user would give it, so nothing in a gov_reports passage "
        "says which year's report it is from. Above 5,000 vectors txtai's default FAISS index is IVF probing 1/16 of its "
        "cells. txtai's default tokenizer cuts Chinese "
        'into single characters; the jieba row is a custom scoring class of a few lines. "Best txtai" is its best row '
        "on each measure, chosen on the figures themselves, which flatters txtai. Texts and questions reach txtai in the "
        "product's matching form (traditional → simplified). Cold start counts importing each tool (txtai imports torch "
        "and transformers).\n"
    )
    return "\n".join(parts)


if __name__ == "__main__":
    run_and_print(__doc__, "10 gov_reports documents, QA samples, fewer timed queries", run, markdown)
