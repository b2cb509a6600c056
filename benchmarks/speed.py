"""Speed: index build, warm and cold `ask`, and FAISS search scaling.

Four measurements, each described again under its table in markdown(). Where the
product has a faster path, the plain one is measured in the same run beside it.

1. Index build: `retriever index DIR` as a separate process on corpus/ and on the
   gov_reports documents, with the default backend (int8 ONNX) and the plain
   sentence-transformers + torch one; wall time, passages/s, characters/s, peak RSS.
2. Warm `ask`: an opened Retriever asked questions again and again, on indexes/default
   and on an index of about 10k passages (gov_reports plus the CMRC and DRCD
   paragraphs and the VCSum meetings, added to the gov_reports index of part 1); p50/p95 of the encode,
   search and summary stages and of the whole call.
3. Cold `ask`: `retriever ask --json` as a whole process on the default index and on
   the torch-backed index of corpus/ from part 1; `retriever --help` and `retriever info`.
4. Search scaling: exhaustive (IndexFlatIP, and the product's fp16 scan) against
   approximate (HNSW, IVF) FAISS indexes of 10k, 100k and 1M vectors drawn from a
   Gaussian fitted to the passage vectors of the gov_reports index (same mean and
   covariance), with FAISS thread settings for one query against a batch.

    python -m benchmarks.speed --quick        # from the project root; prints Markdown
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import BENCH, ROOT, data_file, log, percentile, read_jsonl
from retriever.config import DEFAULT_BACKEND, VectorIndexConfig
from retriever.index.faiss_store import build_vector_index, set_ef_search

DEFAULT_INDEX = ROOT / "indexes" / "default"
QUESTIONS = BENCH / "questions.jsonl"
COLD_QUESTION = "如何化解矛盾纠纷"
# The console script next to this interpreter: the one the project's venv installed.
RETRIEVER = Path(sys.executable).parent / "retriever"

# Search scaling settings (recorded in the results).
K = 10
N_QUERIES = 200
# The product's approximate index (config.VectorIndexConfig), searched at several efSearch.
HNSW_NAME = "HNSW32-SQ8 + exact re-rank"
SCAN_NAME = "Flat fp16 + exact re-rank"
HNSW_EF_SEARCH = (128, 256, 576)  # 576: the product's
IVF_NPROBES = (16, 64)
IVF_TRAIN_PER_LIST = 40  # FAISS warns below 39 training points per list
SEED = 20240601


# ---------------------------------------------------------------------------
# helpers


def _env() -> dict[str, str]:
    """The environment for child processes: RETRIEVER_INDEX unset, so that each
    command uses its --index-dir or the default index, never the caller's."""
    env = dict(os.environ)
    env.pop("RETRIEVER_INDEX", None)
    return env


def _stats_ms(values_ms: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values_ms, 50), 3), "p95": round(percentile(values_ms, 95), 3)}


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def ensure_default_index() -> None:
    """Build indexes/default over corpus/ when it is missing (untimed), as `make demo` would."""
    from retriever import Retriever
    from retriever.index import folder as index_store

    if index_store.exists(DEFAULT_INDEX):
        return
    log(f"speed: {DEFAULT_INDEX} missing, building it over corpus/ (not timed)")
    # Relative paths, from the project root, so the doc ids match `make demo`'s index.
    with _cwd(ROOT):
        Retriever.build(["corpus"], index_dir="indexes/default")


# Runs a command and reports its wall time, CPU time and peak RSS as JSON. A child's
# ru_maxrss starts from the RSS of the process it was forked from (Linux carries the
# high-water mark across exec), and this benchmark process holds the model: measured
# from a small Python process instead, the figure is the command's own.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss, "code": code}, f)
"""


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, float, int, str]:
    """Run cmd as a child; return (wall s, CPU s, its peak RSS in MiB, exit code, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "usage.json"
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(report), *cmd], cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        usage = (
            json.loads(report.read_text())
            if report.exists()
            else {"seconds": 0, "cpu": 0, "maxrss_kib": 0, "code": done.returncode}
        )
    return usage["seconds"], usage["cpu"], usage["maxrss_kib"] / 1024, usage["code"], done.stderr


# ---------------------------------------------------------------------------
# 1. index build


def measure_build(name: str, source: Path, out_dir: Path, backend: str) -> tuple[dict, Path | None]:
    """`retriever index SOURCE --index-dir DIR --backend B` in its own process; counts
    from its manifest. Returns the row and the built index (None when it failed)."""
    index_dir = out_dir / f"{name.split()[0].strip('/')}-{backend}"
    cmd = [str(RETRIEVER), "index", str(source), "--index-dir", str(index_dir), "--backend", backend]
    log(f"speed: building {name} index ({source}) with {backend}")
    seconds, cpu, rss_mib, code, stderr = run_measured(cmd, ROOT)
    if code != 0:
        return {"corpus": name, "backend": backend, "skipped": f"retriever index exited {code}: {stderr.strip()[-300:]}"}, None
    corpus = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["corpus"]
    return {
        "corpus": name,
        "backend": backend,
        "documents": corpus["documents"],
        "passages": corpus["passages"],
        "chars": corpus["chars"],
        "seconds": round(seconds, 3),
        # CPU seconds (user + system, all threads): less affected than wall time when
        # other jobs share the cores.
        "cpu_s": round(cpu, 3),
        "passages_per_s": round(corpus["passages"] / seconds, 2),
        "chars_per_s": round(corpus["chars"] / seconds, 1),
        "peak_rss_mib": round(rss_mib, 1),
    }, index_dir


def write_texts(directory: Path, texts: dict[str, str]) -> Path:
    """One .txt per text: what a user would hand `retriever index`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (directory / f"{name}.txt").write_text(text, encoding="utf-8")
    return directory


def bench_builds(quick: bool, work: Path) -> tuple[list[dict], dict[str, Path]]:
    """Build rows for corpus/ and gov_reports with each backend, and the built indexes
    by "<corpus>-<backend>" (parts 2-4 reuse them)."""
    rows, built = [], {}
    sources = [("corpus/", ROOT / "corpus")]
    path = data_file("gov_reports", "documents.jsonl")
    if path is None:
        rows.append({"corpus": "gov_reports", "skipped": "../shared/data/gov_reports/documents.jsonl not found"})
    else:
        documents = read_jsonl(path)[: 10 if quick else None]
        texts = {doc["id"]: doc["text"] for doc in documents}
        sources.append((f"gov_reports ({len(documents)} docs)", write_texts(work / "gov-texts", texts)))
    for name, source in sources:
        for backend in (DEFAULT_BACKEND, "torch"):
            row, index_dir = measure_build(name, source, work, backend)
            rows.append(row)
            if index_dir is not None:
                built[f"{name.split()[0].strip('/')}-{backend}"] = index_dir
    return rows, built


def grow_to_10k(gov_index: Path, work: Path) -> Path | None:
    """The gov_reports index plus the CMRC 2018 and DRCD paragraphs and the VCSum
    meeting transcripts (one file each): about 10k passages of real text, added
    incrementally (only the new ones embedded)."""
    from retriever import Retriever

    sources = []
    for name, file, key in (
        ("cmrc2018", "passages.jsonl", "passage_id"),
        ("drcd", "passages.jsonl", "passage_id"),
        ("vcsum", "meetings.jsonl", "id"),
    ):
        path = data_file(name, file)
        if path is not None:
            texts = {f"{name}-{row[key]}": row["text"] for row in read_jsonl(path)}
            sources.append(write_texts(work / f"{name}-texts", texts))
    if not sources:
        return None
    log("speed: adding CMRC, DRCD and VCSum texts to the gov_reports index (not timed)")
    Retriever.build(sources, index_dir=gov_index, add=True)
    return gov_index


# ---------------------------------------------------------------------------
# 2. warm ask


def bench_warm_ask(quick: bool, index_dir: Path) -> dict:
    """Ask an opened index repeatedly; the first (untimed) ask loads the model."""
    from retriever import Retriever

    n = 60 if quick else 200
    questions = [q["question"] for q in read_jsonl(QUESTIONS)]
    # Off-corpus questions fill up to n distinct ones: latency must not depend on the
    # labelled set being small (the summary of an off-topic question is no cheaper).
    cmrc = data_file("cmrc2018", "queries.jsonl")
    if cmrc is not None and len(questions) < n:
        questions += [q["query"] for q in read_jsonl(cmrc)[: n - len(questions)]]
    retriever = Retriever.open(index_dir)
    retriever.warm_up()  # as a service does: model, word segmenter, first-call allocations
    stages: dict[str, list[float]] = {"encode": [], "search": [], "summary": [], "total": []}
    log(f"speed: {n} warm asks on {index_dir}")
    for i in range(n):
        start = time.perf_counter()
        answer = retriever.ask(questions[i % len(questions)])
        stages["total"].append((time.perf_counter() - start) * 1000)
        for stage in ("encode", "search", "summary"):
            stages[stage].append(answer.timings_ms[stage])
    return {
        "asks": n,
        "distinct_questions": min(n, len(questions)),
        "passages": len(retriever.index.passages),
        "vector_index": retriever.index.manifest.vector_index_type,
        "ms": {stage: _stats_ms(values) for stage, values in stages.items()},
    }


def _scopes(index) -> list[tuple[str, object]]:
    """Scopes of the kinds people ask within, chosen from what the index holds (not
    from any question): the folder with the most passages and the one with the fewest,
    the year with the most documents, the longest document."""
    from collections import Counter

    from retriever import Scope

    folders: Counter[str] = Counter()
    for d in index.documents.values():
        folders[str(Path(d.path).parent.name)] += d.passages[1] - d.passages[0]
    ranked = folders.most_common()
    scopes: list[tuple[str, object]] = [(f"folder {ranked[0][0]}/", Scope(paths=(ranked[0][0],)))]
    if len(ranked) > 1:
        scopes.append((f"folder {ranked[-1][0]}/", Scope(paths=(ranked[-1][0],))))
    years = Counter(d.meta.year for d in index.documents.values() if d.meta.year)
    if years:
        year = years.most_common(1)[0][0]
        scopes.append((f"year {year}", Scope(years=(year,))))
    longest = max(index.documents.values(), key=lambda d: d.passages[1] - d.passages[0])
    scopes.append(("one document", Scope(docs=(longest.doc_id,))))
    return scopes


def bench_scoped_ask(quick: bool, index_dir: Path) -> dict:
    """Warm asks within scopes beside the same asks over the whole index, question by
    question in turn (so that the machine's load falls on all alike): the scope is
    applied inside the vector search, and k results must still come back."""
    from retriever import Retriever

    n = 60 if quick else 200
    questions = [q["question"] for q in read_jsonl(QUESTIONS)]
    cmrc = data_file("cmrc2018", "queries.jsonl")
    if cmrc is not None and len(questions) < n:
        questions += [q["query"] for q in read_jsonl(cmrc)[: n - len(questions)]]
    retriever = Retriever.open(index_dir)
    retriever.warm_up()
    scopes = [("whole index", None), *_scopes(retriever.index)]
    rows = {name: {"total": [], "search": [], "scope": [], "full": 0, "outside": 0} for name, _ in scopes}
    log(f"speed: {n} warm asks within each of {len(scopes)} scopes on {index_dir}")
    for i in range(n):
        for name, scope in scopes:
            start = time.perf_counter()
            answer = retriever.ask(questions[i % len(questions)], within=scope)
            row = rows[name]
            row["total"].append((time.perf_counter() - start) * 1000)
            row["search"].append(answer.timings_ms["search"])
            row["scope"].append(answer.timings_ms.get("scope", 0.0))
            row["full"] += len(answer.results) == 5
            admitted = set(answer.scope.doc_ids) if answer.scope else None
            row["outside"] += sum(admitted is not None and h.passage.doc_id not in admitted for h in answer.results)
    out = []
    for name, scope in scopes:
        row = rows[name]
        selection = scope.select(retriever.index) if scope else None
        out.append(
            {
                "scope": name,
                "options": scope.describe() if scope else "",
                "passages": selection.passages if selection else len(retriever.index.passages),
                "asks": n,
                "asks_with_k_results": row["full"],
                "results_outside": row["outside"],
                "ms": {stage: _stats_ms(row[stage]) for stage in ("total", "search", "scope")},
            }
        )
    return {"passages": len(retriever.index.passages), "vector_index": retriever.index.manifest.vector_index_type, "rows": out}


# ---------------------------------------------------------------------------
# 3. cold commands


def _time_command(args: list[str], runs: int) -> tuple[list[float], list[str]]:
    """Wall seconds of each run of `retriever ARGS` and its stdout."""
    seconds, outputs = [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([str(RETRIEVER), *args], cwd=ROOT, env=_env(), capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"retriever {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-300:]}")
        outputs.append(done.stdout)
    return seconds, outputs


def _summary_s(seconds: list[float]) -> dict[str, float]:
    return {
        "runs": len(seconds),
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
    }


def _cold_ask(index_dir: Path, runs: int) -> dict:
    seconds, outputs = _time_command(["ask", COLD_QUESTION, "--json", "--index-dir", str(index_dir)], runs)
    # The process's own account of the one-off cost (imports, model, the question's word cutter).
    load_ms = [json.loads(out)["timings_ms"]["load"] for out in outputs]
    top = {json.loads(out)["results"][0]["doc_id"] for out in outputs}
    return {**_summary_s(seconds), "load_ms_median": round(statistics.median(load_ms), 1), "top_doc": sorted(top)}


def bench_cold(quick: bool, plain_index: Path | None) -> dict:
    log("speed: cold commands")
    out = {"question": COLD_QUESTION, "ask": _cold_ask(DEFAULT_INDEX, 5 if quick else 9)}
    if plain_index is not None:
        out["ask_torch"] = _cold_ask(plain_index, 3 if quick else 5)
    help_s, _ = _time_command(["--help"], 5)
    info_s, _ = _time_command(["info"], 5)
    return {**out, "help": _summary_s(help_s), "info": _summary_s(info_s)}


# ---------------------------------------------------------------------------
# 4. search scaling


class GaussianLike:
    """Unit vectors from a Gaussian with the mean and covariance of real passage vectors.

    Real embeddings fill a few directions much more than others (the top 50 of 512
    carry about two thirds of the variance for m3e-small); vectors drawn like this keep
    that shape and come out with nearest-neighbour cosines close to the real ones
    (the results record both). Noisy copies of the real vectors, used before, made
    clusters of near-ties that no approximate index can order.
    """

    def __init__(self, base: np.ndarray):
        self.mean = base.mean(axis=0)
        eigenvalues, eigenvectors = np.linalg.eigh(np.cov(base - self.mean, rowvar=False))
        self.transform = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))).T.astype(np.float32)
        self.top50_share = float(np.sort(eigenvalues)[::-1][:50].sum() / eigenvalues.sum())

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
        out = np.empty((n, len(self.mean)), dtype=np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            x = self.mean + rng.standard_normal((m, len(self.mean)), dtype=np.float32) @ self.transform
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


def neighbour_cosines(x: np.ndarray, probes: int = 500) -> list[float]:
    """Median cosine of a vector's 1st and 10th nearest neighbour (itself excluded)."""
    import faiss

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    scores, _ = index.search(x[:probes], 11)
    return [round(float(np.median(scores[:, 1])), 3), round(float(np.median(scores[:, 10])), 3)]


def single_query_latency(index, queries: np.ndarray, threads: int = 1) -> tuple[list[float], np.ndarray]:
    """Milliseconds of each one-query search (k=10) on `threads` threads, and the ids found."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        index.search(queries[:1], K)  # warm-up
        times, ids = [], np.empty((len(queries), K), dtype=np.int64)
        for i in range(len(queries)):
            start = time.perf_counter()
            _, found = index.search(queries[i : i + 1], K)
            times.append((time.perf_counter() - start) * 1000)
            ids[i] = found[0]
    finally:
        faiss.omp_set_num_threads(before)
    return times, ids


def batch_throughput(index, queries: np.ndarray, threads: int) -> float:
    """Queries per second of one batched search of all `queries` on `threads` threads."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        start = time.perf_counter()
        index.search(queries, K)
        return len(queries) / (time.perf_counter() - start)
    finally:
        faiss.omp_set_num_threads(before)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k that the approximate top-k contains."""
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found.tolist(), exact.tolist())]))


def build_ivf(x: np.ndarray, rng: np.random.Generator):
    """IVF-Flat with nlist ≈ 4·sqrt(n), trained on a random sample of 40 points per list."""
    import faiss

    nlist = int(round(4 * math.sqrt(len(x))))
    quantizer = faiss.IndexFlatIP(x.shape[1])
    index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    sample = x[np.sort(rng.choice(len(x), min(len(x), IVF_TRAIN_PER_LIST * nlist), replace=False))]
    start = time.perf_counter()
    index.train(sample)
    index.add(x)
    return index, time.perf_counter() - start, nlist, len(sample)


def _measure(name: str, n: int, index, seconds: float, queries: np.ndarray, exact: np.ndarray, **params) -> dict:
    """One row of the scaling table: build time, memory, latency and recall of `index`."""
    import faiss

    times, found = single_query_latency(index, queries)
    return {
        "n": n,
        "index": name,
        **params,
        "build_s": round(seconds, 3),
        "memory_mib": round(faiss.serialize_index(index).nbytes / 2**20, 1),
        "p50_ms": round(percentile(times, 50), 4),
        "p95_ms": round(percentile(times, 95), 4),
        "recall_at_10": round(recall_at_k(found, exact), 4),
    }


def _thread_row(n: int, name: str, index, queries: np.ndarray) -> dict:
    """One query on one thread and on all, a batch on one and on all."""
    import faiss

    every = faiss.omp_get_max_threads()
    return {
        "n": n,
        "index": name,
        "threads": every,
        "single_p50_ms_1": round(percentile(single_query_latency(index, queries, 1)[0], 50), 3),
        "single_p50_ms_all": round(percentile(single_query_latency(index, queries, every)[0], 50), 3),
        "batch_qps_1": round(batch_throughput(index, queries, 1)),
        "batch_qps_all": round(batch_throughput(index, queries, every)),
    }


def bench_scaling(quick: bool, base: np.ndarray) -> dict:
    """Exact and approximate indexes of vectors drawn like the real passage vectors."""
    import faiss

    sizes = [10_000, 50_000] if quick else [10_000, 100_000, 1_000_000]
    model = GaussianLike(base)
    queries = model.sample(N_QUERIES, np.random.default_rng(SEED))
    rows: list[dict] = []
    threads: list[dict] = []
    size_seconds: dict[str, float] = {}  # wall time of everything done at each size
    synthetic_cosines = None
    for n in sizes:
        size_start = time.perf_counter()
        rng = np.random.default_rng(SEED + n)
        log(f"speed: search scaling at n={n:,}")
        x = model.sample(n, rng)
        if synthetic_cosines is None:
            synthetic_cosines = neighbour_cosines(x[: len(base)])

        # Exact: the reference for recall, from one multi-threaded batch search.
        start = time.perf_counter()
        flat = faiss.IndexFlatIP(base.shape[1])
        flat.add(x)
        flat_s = time.perf_counter() - start
        _, exact = flat.search(queries, K)
        rows.append(_measure("Flat (exact)", n, flat, flat_s, queries, exact))
        threads.append(_thread_row(n, "Flat", flat, queries))
        del flat
        gc.collect()

        # The product's exhaustive index (what it builds below 50,000 passages, forced
        # at every size): a half-precision scan, its best candidates re-scored exactly.
        start = time.perf_counter()
        scan, _ = build_vector_index(x, replace(VectorIndexConfig(), exact_below=n + 1))
        scan_s = time.perf_counter() - start
        rows.append(_measure(SCAN_NAME, n, scan, scan_s, queries, exact))
        threads.append(_thread_row(n, SCAN_NAME, scan, queries))
        del scan
        gc.collect()

        ivf, ivf_s, nlist, trained = build_ivf(x, rng)
        for nprobe in IVF_NPROBES:
            ivf.nprobe = nprobe
            rows.append(_measure("IVF-Flat", n, ivf, ivf_s, queries, exact, nlist=nlist, nprobe=nprobe))
        del ivf
        gc.collect()

        # The product's approximate index (index.build_vector_index, forced at every
        # size): HNSW over 8-bit codes, re-ranked exactly, at several efSearch.
        start = time.perf_counter()
        hnsw, params = build_vector_index(x, replace(VectorIndexConfig(), exact_below=0))
        hnsw_s = time.perf_counter() - start
        for ef in HNSW_EF_SEARCH:
            set_ef_search(hnsw, ef)
            rows.append(_measure(HNSW_NAME, n, hnsw, hnsw_s, queries, exact, efSearch=ef))
        threads.append(_thread_row(n, f"{HNSW_NAME} ef {HNSW_EF_SEARCH[-1]}", hnsw, queries))
        del hnsw
        gc.collect()
        del x, exact
        gc.collect()
        size_seconds[str(n)] = round(time.perf_counter() - size_start, 1)
    return {
        "dim": int(base.shape[1]),
        "k": K,
        "queries": N_QUERIES,
        "base_vectors": int(len(base)),
        "top50_variance_share": round(model.top50_share, 3),
        "neighbour_cosines": {"real": neighbour_cosines(base), "synthetic": synthetic_cosines},
        "hnsw": {**{k: v for k, v in params.items() if k != "efSearch"}, "efSearch": list(HNSW_EF_SEARCH)},
        "ivf": {"nlist": "round(4*sqrt(n))", "nprobe": list(IVF_NPROBES), "train_points_per_list": IVF_TRAIN_PER_LIST},
        "rows": rows,
        "threads": threads,
        "size_seconds": size_seconds,
    }


# ---------------------------------------------------------------------------
# the benchmark interface


def run(quick: bool) -> dict:
    """All four measurements; quick mode is smaller everywhere (see the module docstring)."""
    import faiss

    from retriever.index import folder as index_store

    started = time.perf_counter()
    ensure_default_index()  # the cold and warm asks read it
    results: dict = {
        "quick": quick,
        "threads": {"faiss_omp_max_threads": faiss.omp_get_max_threads(), "cores": os.cpu_count()},
    }
    results["part_seconds"] = {}
    # The machine may be shared: the 1-minute load average before each part says how busy it was.
    results["load_average"] = {}

    @contextmanager
    def part(name: str) -> Iterator[None]:
        results["load_average"][name] = round(os.getloadavg()[0], 2)
        t = time.perf_counter()
        yield
        results["part_seconds"][name] = round(time.perf_counter() - t, 1)

    with tempfile.TemporaryDirectory(prefix="speed-") as tmp:
        work = Path(tmp)
        with part("index_build"):
            results["index_build"], built = bench_builds(quick, work)
        gov = built.get(f"gov_reports-{DEFAULT_BACKEND}")
        base_index = index_store.load(gov or DEFAULT_INDEX).vectors
        base = base_index.reconstruct_n(0, base_index.ntotal).astype(np.float32)
        with part("warm_ask"):
            results["warm_ask"] = [bench_warm_ask(quick, DEFAULT_INDEX)]
            grown = grow_to_10k(gov, work) if gov else None
            if grown is not None:
                results["warm_ask"].append(bench_warm_ask(quick, grown))
        if grown is not None:
            with part("scoped_ask"):
                results["scoped_ask"] = bench_scoped_ask(quick, grown)
        with part("cold"):
            results["cold"] = bench_cold(quick, built.get("corpus-torch"))
    with part("search_scaling"):
        results["search_scaling"] = bench_scaling(quick, base)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def _ratio(results: dict, corpus: str) -> float | None:
    """Build throughput of the default backend over the plain torch path."""
    rows = {r["backend"]: r for r in results["index_build"] if r["corpus"] == corpus and "skipped" not in r}
    if DEFAULT_BACKEND in rows and "torch" in rows:
        return rows[DEFAULT_BACKEND]["passages_per_s"] / rows["torch"]["passages_per_s"]
    return None


def headline(results: dict) -> list[str]:
    """The speed figures the README quotes."""
    c = results["cold"]
    lines = []
    for w in results["warm_ask"]:
        ms = w["ms"]
        lines.append(
            f"warm ask at {w['passages']:,} passages: p50 {ms['total']['p50']:.1f} ms (encode {ms['encode']['p50']:.1f}, "
            f"search {ms['search']['p50']:.1f}, summary {ms['summary']['p50']:.1f})"
        )
    if "scoped_ask" in results:
        worst = max(results["scoped_ask"]["rows"][1:], key=lambda r: r["ms"]["total"]["p50"])
        lines.append(
            f"warm ask within a scope at {results['scoped_ask']['passages']:,} passages: p50 at worst "
            f"{worst['ms']['total']['p50']:.1f} ms ({worst['scope']})"
        )
    cold = f"cold `retriever ask` {c['ask']['median_s']:.2f} s"
    if "ask_torch" in c:
        cold += f" (plain torch path {c['ask_torch']['median_s']:.2f} s, {c['ask_torch']['median_s'] / c['ask']['median_s']:.1f}× slower)"
    lines.append(f"{cold}; `retriever --help` {c['help']['median_s']:.2f} s, `retriever info` {c['info']['median_s']:.2f} s")
    builds = [r for r in results["index_build"] if "skipped" not in r and r["backend"] == DEFAULT_BACKEND]
    lines.append(
        "index build: "
        + "; ".join(
            f"{r['corpus']} {r['passages']:,} passages in {r['seconds']:.1f} s ({r['passages_per_s']:.1f}/s"
            + (f", {_ratio(results, r['corpus']):.1f}× the torch path" if _ratio(results, r["corpus"]) else "")
            + f", peak RSS {r['peak_rss_mib']:.0f} MiB)"
            for r in builds
        )
    )
    return lines


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    """Markdown tables for RESULTS.md, with what was measured and how under each."""
    t = results["threads"]
    out = [
        f"{'Quick' if results['quick'] else 'Full'} mode, {_fmt(results['seconds'], 0)} s in all, on {t['cores']} cores "
        f"(FAISS {t['faiss_omp_max_threads']} OpenMP threads). 1-minute load average at the start of each part: "
        + ", ".join(f"{part.replace('_', ' ')} {load:.1f}" for part, load in results["load_average"].items())
        + " (other jobs share the cores: a load above the core count slows every figure here).",
        "",
        "### Index build: the default int8 ONNX path against plain sentence-transformers + torch",
        "",
        "| corpus | backend | documents | passages | characters | wall s | CPU s | passages/s | × torch | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["index_build"]:
        if "skipped" in row:
            out.append(f"| {row['corpus']} | {row.get('backend', '')} | skipped: {row['skipped']} | | | | | | | |")
            continue
        plain = next(
            (
                r
                for r in results["index_build"]
                if r["corpus"] == row["corpus"] and r.get("backend") == "torch" and "skipped" not in r
            ),
            None,
        )
        ratio = f"{row['passages_per_s'] / plain['passages_per_s']:.2f}" if plain else ""
        out.append(
            f"| {row['corpus']} | {row['backend']} | {row['documents']} | {row['passages']:,} | {row['chars']:,} | {_fmt(row['seconds'], 2)} "
            f"| {_fmt(row['cpu_s'], 1)} | {_fmt(row['passages_per_s'])} | {ratio} | {_fmt(row['peak_rss_mib'], 0)} |"
        )
    out += [
        "",
        "`retriever index DIR --index-dir TMP --backend B` run once per corpus and backend as its own process; wall time is "
        "the whole process (start-up and model loading included), passages/s divides by it; CPU s is the child's user + "
        "system time; counts come from the built index's manifest.json, and peak RSS is the command's ru_maxrss, read by "
        "a small parent process (a child of this benchmark would report the benchmark's own RSS). gov_reports documents "
        "were written one per .txt file. Quality of each backend: the retrieval section's backend table.",
        "",
        "### Warm `ask` (in process)",
        "",
        "| passages | vector index | encode p50 ms | search p50 ms | summary p50 ms | whole `ask` p50 ms | whole `ask` p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in results["warm_ask"]:
        ms = w["ms"]
        out.append(
            f"| {w['passages']:,} | {w['vector_index']} | {_fmt(ms['encode']['p50'], 2)} | {_fmt(ms['search']['p50'], 2)} "
            f"| {_fmt(ms['summary']['p50'], 2)} | {_fmt(ms['total']['p50'], 2)} | {_fmt(ms['total']['p95'], 2)} |"
        )
    w = results["warm_ask"][0]
    out += [
        "",
        f"`Retriever.open()` on indexes/default (corpus/) and on the gov_reports index with the CMRC 2018 and DRCD "
        f"paragraphs and the VCSum meeting transcripts added; `Retriever.warm_up()` first (as `retriever serve` does: the model, rjieba and one untimed ask), then {w['asks']} asks (k=5, hybrid, 300-character summary) cycling "
        f"through the {w['distinct_questions']} questions of benchmarks/questions.jsonl followed by cmrc2018 questions; "
        "stages are the answer's own timings_ms, the whole ask is perf_counter around the call. The summary runs no "
        "model: the index stores a vector per sentence (before format 2 it encoded the hits' sentences with torch, "
        "about 265 ms).",
        "",
    ]
    if "scoped_ask" in results:
        sc = results["scoped_ask"]
        whole = sc["rows"][0]["ms"]["total"]["p50"]
        out += [
            f"### Warm `ask` within a scope ({sc['passages']:,} passages, {sc['vector_index']})",
            "",
            "| scope | options | passages within | asks with 5 results | results outside | scope ms p50 | search p50 ms "
            "| whole `ask` p50 ms | whole `ask` p95 ms | × whole index |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in sc["rows"]:
            ms = row["ms"]
            out.append(
                f"| {row['scope']} | {('`' + row['options'] + '`') if row['options'] else ''} | {row['passages']:,} "
                f"| {row['asks_with_k_results']}/{row['asks']} | {row['results_outside']} | {_fmt(ms['scope']['p50'], 2)} "
                f"| {_fmt(ms['search']['p50'], 2)} | {_fmt(ms['total']['p50'], 2)} | {_fmt(ms['total']['p95'], 2)} "
                f"| {ms['total']['p50'] / whole:.2f} |"
            )
        out += [
            "",
            "The same index and questions as the warm asks above, each question asked over the whole index and within "
            "each scope in turn (k=5, hybrid, 300-character summary). The scopes are chosen from what the index holds: "
            "the folders with the most and the fewest passages, the year most documents are dated (from their text, "
            "file or title), the longest document. The scope is applied inside the vector search (FAISS's ID "
            "selection over the scope's passages; BM25 scores only them), so every ask returns 5 results while the "
            "scope holds 5 distinct passages; `results outside` counts results from documents outside the scope (0 "
            "is right). `scope ms` is the selection of the documents within, part of the whole ask.",
            "",
        ]

    c = results["cold"]
    out += [
        "### Cold commands (whole process)",
        "",
        "| command | runs | median s | min s | max s | × default |",
        "|---|---|---|---|---|---|",
        f'| `retriever ask "{c["question"]}" --json` (default: int8 ONNX) | {c["ask"]["runs"]} | {_fmt(c["ask"]["median_s"], 2)} '
        f"| {_fmt(c['ask']['min_s'], 2)} | {_fmt(c['ask']['max_s'], 2)} | 1 |",
    ]
    if "ask_torch" in c:
        r = c["ask_torch"]
        out.append(
            f"| the same on an index built with `--backend torch` (plain sentence-transformers) | {r['runs']} "
            f"| {_fmt(r['median_s'], 2)} | {_fmt(r['min_s'], 2)} | {_fmt(r['max_s'], 2)} | {r['median_s'] / c['ask']['median_s']:.1f} |"
        )
    for name, label in (("help", "`retriever --help`"), ("info", "`retriever info`")):
        r = c[name]
        out.append(f"| {label} | {r['runs']} | {_fmt(r['median_s'], 2)} | {_fmt(r['min_s'], 2)} | {_fmt(r['max_s'], 2)} | |")
    torch_load = f", {_fmt(c['ask_torch']['load_ms_median'] / 1000, 2)} s on the torch path" if "ask_torch" in c else ""
    out += [
        "",
        "Wall time of each command run by subprocess (output captured) against an already built index of corpus/; "
        f"of a cold ask, a median {_fmt(c['ask']['load_ms_median'] / 1000, 2)} s is the process's own `load` timing "
        f"(loading the model and opening the lexicon that cuts the question into words){torch_load}.",
        "",
    ]

    s = results["search_scaling"]
    out += [
        "### Search scaling: exact against approximate FAISS indexes",
        "",
        "| vectors | index | build s | memory MiB | p50 ms | p95 ms | recall@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in s["rows"]:
        if "skipped" in row:
            out.append(f"| {row['n']:,} | {row['index']} | not built | | | | |")
            notes.append(f"{row['index']} at {row['n']:,} vectors: {row['skipped']}.")
            continue
        name = row["index"]
        if "nprobe" in row:
            name = f"IVF-Flat (nlist {row['nlist']:,}, nprobe {row['nprobe']})"
        elif "efSearch" in row:
            name = f"{row['index']}, efSearch {row['efSearch']}"
        out.append(
            f"| {row['n']:,} | {name} | {_fmt(row['build_s'], 2)} | {_fmt(row['memory_mib'])} "
            f"| {_fmt(row['p50_ms'], 3)} | {_fmt(row['p95_ms'], 3)} | {row['recall_at_10']:.3f} |"
        )
    h, i, cos = s["hnsw"], s["ivf"], s["neighbour_cosines"]
    out += [
        "",
        f"Vectors of dimension {s['dim']} drawn from a Gaussian with the mean and covariance of the {s['base_vectors']:,} "
        f"real passage vectors of the gov_reports index (its top 50 directions carry {s['top50_variance_share']:.0%} of the "
        f"variance), made unit length; the median cosine of a vector's 1st and 10th nearest neighbour is "
        f"{cos['synthetic'][0]:.2f} and {cos['synthetic'][1]:.2f} among as many synthetic vectors, {cos['real'][0]:.2f} and "
        f"{cos['real'][1]:.2f} among the real ones. {s['queries']} queries drawn the same way. The product's exhaustive "
        f"index (what `retriever index` builds below 50,000 passages): a scan of half-precision copies, whose top "
        f"{h['refine']}·k are re-scored by exact inner products. Its approximate "
        f"index (what `retriever index` builds from 50,000 passages on): an HNSW graph (M {h['M']}, efConstruction "
        f"{h['efConstruction']}) over 8-bit scalar-quantized codes, whose top {h['refine']}·k are re-ranked by exact inner "
        f"products; efSearch as shown. IVF-Flat: nlist = 4·sqrt(n), trained on "
        f"{i['train_points_per_list']} random vectors per list. Build time uses all FAISS threads; latency is one query "
        f"(k={s['k']}) per search on one thread; memory is the serialized index; recall@10 is the share of the exact top 10 "
        "found. Wall time of everything at each size: "
        + ", ".join(f"{int(n):,}: {sec:.0f} s" for n, sec in s["size_seconds"].items())
        + ".",
        "",
        "**Threads.** One query against a batch of all queries, on one FAISS thread and on all:",
        "",
        "| vectors | index | one query p50 ms, 1 thread | one query p50 ms, all threads | batch queries/s, 1 thread | batch queries/s, all threads |",
        "|---|---|---|---|---|---|",
    ]
    for r in s["threads"]:
        out.append(
            f"| {r['n']:,} | {r['index']} | {_fmt(r['single_p50_ms_1'], 3)} | {_fmt(r['single_p50_ms_all'], 3)} "
            f"| {r['batch_qps_1']:,} | {r['batch_qps_all']:,} |"
        )
    if notes:
        out += [""] + [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def plot(results: dict, out_dir: Path) -> list[Path]:
    """Two PNGs: search latency p50 against index size (log-log), and build throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    rows = [r for r in results["search_scaling"]["rows"] if "skipped" not in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r["index"] for r in rows):
        points = sorted((r["n"], r["p50_ms"]) for r in rows if r["index"] == name)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"vectors in the index (dim {results['search_scaling']['dim']})")
    ax.set_ylabel("p50 latency per query, ms (1 thread, k=10)")
    ax.set_title("FAISS search latency vs index size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "speed_search_latency.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    builds = [r for r in results["index_build"] if "skipped" not in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [r["corpus"].replace("/", "") + f"\n{r['backend']}" for r in builds]
    bars = ax.bar(labels, [r["passages_per_s"] for r in builds], color="tab:blue")
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("passages per second (whole process)")
    ax.set_title("Index build throughput")
    fig.tight_layout()
    paths.append(out_dir / "speed_build_throughput.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: 10k and 50k vectors, 10 gov_reports documents")
    parser.add_argument("--out", type=Path, default=None, help="also write speed.json and the plots here")
    args = parser.parse_args()
    results = run(args.quick)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
        for path in plot(results, args.out):
            log(f"speed: wrote {path}")
    print(markdown(results))


if __name__ == "__main__":
    main()
