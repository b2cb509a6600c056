"""Speed: index build, warm and cold `ask`, and FAISS search scaling.

Four measurements, each described again under its table in markdown():

1. Index build: `retriever index DIR` as a separate process on corpus/ and on the
   gov_reports documents; wall time, passages/s, characters/s and the process's peak RSS.
2. Warm `ask`: an opened Retriever asked the labelled questions again and again;
   p50/p95 of the encode, search and summary stages and of the whole call.
3. Cold `ask`: `retriever ask --json`, `retriever --help` and `retriever info` as whole
   processes, as a user at a shell meets them.
4. Search scaling: exact (IndexFlatIP) against approximate (HNSW, IVF) FAISS indexes of
   10k, 100k and 1M vectors (the model's dimension) grown from the passage vectors of the
   gov_reports index built in part 1.

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
from pathlib import Path

import numpy as np

from benchmarks.common import BENCH, ROOT, data_file, log, percentile, read_jsonl

DEFAULT_INDEX = ROOT / "indexes" / "default"
QUESTIONS = BENCH / "questions.jsonl"
COLD_QUESTION = "如何化解矛盾纠纷"
# The console script next to this interpreter: the one the project's venv installed.
RETRIEVER = Path(sys.executable).parent / "retriever"

# Search scaling settings (recorded in the results).
K = 10
N_QUERIES = 200
NOISE_SIGMA = 0.05  # per dimension, before re-normalizing
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 64
IVF_NPROBE = 16
IVF_TRAIN_PER_LIST = 40  # FAISS warns below 39 training points per list
# How long an HNSW build may take before it is abandoned; quick mode keeps the brief's ~60 s.
HNSW_BUDGET_S = {True: 60.0, False: 360.0}
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
    from retriever import index as index_store

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
        usage = json.loads(report.read_text()) if report.exists() else {"seconds": 0, "cpu": 0, "maxrss_kib": 0, "code": done.returncode}
    return usage["seconds"], usage["cpu"], usage["maxrss_kib"] / 1024, usage["code"], done.stderr


# ---------------------------------------------------------------------------
# 1. index build


def measure_build(name: str, source: Path, cwd: Path) -> tuple[dict, np.ndarray | None]:
    """`retriever index SOURCE --index-dir TMP` in its own process; counts from its manifest.

    Also returns the built index's vectors (None when the build failed): the search
    scaling benchmark grows its synthetic indexes from them.
    """
    from retriever import index as index_store

    with tempfile.TemporaryDirectory(prefix="speed-index-") as tmp:
        index_dir = Path(tmp) / "index"
        cmd = [str(RETRIEVER), "index", str(source), "--index-dir", str(index_dir)]
        log(f"speed: building {name} index ({source})")
        seconds, cpu, rss_mib, code, stderr = run_measured(cmd, cwd)
        if code != 0:
            return {"corpus": name, "skipped": f"retriever index exited {code}: {stderr.strip()[-300:]}"}, None
        corpus = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["corpus"]
        stored = index_store.load(index_dir).vectors
        vectors = stored.reconstruct_n(0, stored.ntotal).astype(np.float32)
    return {
        "corpus": name,
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
    }, vectors


def bench_builds(quick: bool) -> tuple[list[dict], np.ndarray]:
    """Build rows for corpus/ and gov_reports, and the vectors of the larger index built."""
    row, vectors = measure_build("corpus/", Path("corpus"), ROOT)
    rows = [row]
    path = data_file("gov_reports", "documents.jsonl")
    if path is None:
        rows.append({"corpus": "gov_reports", "skipped": "../shared/data/gov_reports/documents.jsonl not found"})
        return rows, vectors
    documents = read_jsonl(path)
    if quick:
        documents = documents[:10]
    name = f"gov_reports ({len(documents)} docs)"
    with tempfile.TemporaryDirectory(prefix="speed-gov-") as tmp:
        # One .txt per document: what a user would hand `retriever index`.
        for doc in documents:
            (Path(tmp) / f"{doc['id']}.txt").write_text(doc["text"], encoding="utf-8")
        row, gov_vectors = measure_build(name, Path(tmp), ROOT)
        rows.append(row)
    return rows, gov_vectors if gov_vectors is not None else vectors


# ---------------------------------------------------------------------------
# 2. warm ask


def bench_warm_ask(quick: bool) -> dict:
    """Ask an opened index repeatedly; the first (untimed) ask loads the model and jieba."""
    from retriever import Retriever

    n = 60 if quick else 200
    questions = [q["question"] for q in read_jsonl(QUESTIONS)]
    # Off-corpus questions fill up to n distinct ones: latency must not depend on the
    # labelled set being small (the summary of an off-topic question is no cheaper).
    cmrc = data_file("cmrc2018", "queries.jsonl")
    if cmrc is not None and len(questions) < n:
        questions += [q["query"] for q in read_jsonl(cmrc)[: n - len(questions)]]
    retriever = Retriever.open(DEFAULT_INDEX)
    retriever.ask(questions[0])  # warm-up: model, jieba dictionary, first-call allocations
    stages: dict[str, list[float]] = {"encode": [], "search": [], "summary": [], "total": []}
    log(f"speed: {n} warm asks")
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
        "ms": {stage: _stats_ms(values) for stage, values in stages.items()},
    }


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


def bench_cold(quick: bool) -> dict:
    log("speed: cold commands")
    ask_s, ask_out = _time_command(["ask", COLD_QUESTION, "--json"], 3 if quick else 5)
    # The process's own account of the one-off cost (imports, model, jieba dictionary).
    load_ms = [json.loads(out)["timings_ms"]["load"] for out in ask_out]
    help_s, _ = _time_command(["--help"], 5)
    info_s, _ = _time_command(["info"], 5)
    return {
        "ask": {**_summary_s(ask_s), "question": COLD_QUESTION, "load_ms_median": round(statistics.median(load_ms), 1)},
        "help": _summary_s(help_s),
        "info": _summary_s(info_s),
    }


# ---------------------------------------------------------------------------
# 4. search scaling


def noisy_copies(base: np.ndarray, n: int, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
    """n unit vectors, each a randomly chosen row of `base` plus N(0, sigma²) per dimension.

    Built in chunks so that 1M vectors never need float64 temporaries.
    """
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = base[rng.integers(0, len(base), m)]
        x += rng.standard_normal(x.shape, dtype=np.float32) * NOISE_SIGMA
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def single_query_latency(index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Milliseconds of each one-query search (k=10) on one thread, and the ids found.

    One thread, because a single query is what `ask` sends and OpenMP start-up
    would otherwise dominate small searches.
    """
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.search(queries[:1], K)  # warm-up
        times, ids = [], np.empty((len(queries), K), dtype=np.int64)
        for i in range(len(queries)):
            start = time.perf_counter()
            _, found = index.search(queries[i : i + 1], K)
            times.append((time.perf_counter() - start) * 1000)
            ids[i] = found[0]
    finally:
        faiss.omp_set_num_threads(threads)
    return times, ids


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of the exact top-k that the approximate top-k contains."""
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found.tolist(), exact.tolist())]))


def build_hnsw(x: np.ndarray, budget_s: float):
    """HNSW built in chunks so that a build past its budget is abandoned, not waited for.

    Returns (index or None, seconds, vectors added).
    """
    import faiss

    index = faiss.IndexHNSWFlat(x.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    chunk = max(10_000, len(x) // 20)
    start = time.perf_counter()
    for s in range(0, len(x), chunk):
        index.add(x[s : s + chunk])
        elapsed = time.perf_counter() - start
        if elapsed > budget_s and s + chunk < len(x):
            return None, elapsed, s + chunk
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index, time.perf_counter() - start, len(x)


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
    seconds = time.perf_counter() - start
    index.nprobe = IVF_NPROBE  # (faiss's wrapper keeps `quantizer` alive with the index)
    return index, seconds, nlist, len(sample)


def _measure(name: str, n: int, index, seconds: float, queries: np.ndarray, exact: np.ndarray) -> dict:
    """One row of the scaling table: build time, memory, latency and recall of `index`."""
    import faiss

    times, found = single_query_latency(index, queries)
    memory = faiss.serialize_index(index).nbytes
    return {
        "n": n,
        "index": name,
        "build_s": round(seconds, 3),
        "memory_mib": round(memory / 2**20, 1),
        "p50_ms": round(percentile(times, 50), 4),
        "p95_ms": round(percentile(times, 95), 4),
        "recall_at_10": round(recall_at_k(found, exact), 4),
    }


def bench_scaling(quick: bool, base: np.ndarray) -> dict:
    """Exact and approximate indexes of noisy copies of `base`, real passage vectors."""
    import faiss

    sizes = [10_000, 50_000] if quick else [10_000, 100_000, 1_000_000]
    # Queries: noisy copies too (not encoded questions), so the figures do not depend on the model.
    queries = noisy_copies(base, N_QUERIES, np.random.default_rng(SEED))
    # How much of the real structure the noise leaves: the mean cosine of a copy to its
    # source (noisy_copies of a one-row base are all copies of that row).
    cosine_to_source = float(np.mean([noisy_copies(v[None], 100, np.random.default_rng(SEED + 1)) @ v for v in base]))
    budget = HNSW_BUDGET_S[quick]
    rows: list[dict] = []
    size_seconds: dict[str, float] = {}  # wall time of everything done at each size
    hnsw_last: tuple[int, float] | None = None  # (n, seconds) of the last finished HNSW build
    for n in sizes:
        size_start = time.perf_counter()
        rng = np.random.default_rng(SEED + n)
        log(f"speed: search scaling at n={n:,}")
        x = noisy_copies(base, n, rng)

        # Exact: the reference for recall, from one multi-threaded batch search.
        start = time.perf_counter()
        flat = faiss.IndexFlatIP(base.shape[1])
        flat.add(x)
        flat_s = time.perf_counter() - start
        _, exact = flat.search(queries, K)
        # Its recall, single queries against the batch, is a consistency check (1.0 but for ties).
        rows.append(_measure("Flat (exact)", n, flat, flat_s, queries, exact))
        del flat
        gc.collect()

        ivf, ivf_s, nlist, trained = build_ivf(x, rng)
        rows.append({**_measure("IVF-Flat", n, ivf, ivf_s, queries, exact), "nlist": nlist, "train_points": trained})
        del ivf
        gc.collect()

        # HNSW: skip without trying when the last build, scaled by n·log n, would overrun the budget.
        projected = None
        if hnsw_last is not None:
            n0, s0 = hnsw_last
            projected = s0 * (n / n0) * (math.log(n) / math.log(n0))
        elif n != sizes[0]:
            projected = math.inf  # the smaller build was already abandoned
        if projected is not None and projected > budget:
            why = (
                f"not built: projected {projected:.0f} s from the {hnsw_last[0]:,}-vector build, over the {budget:.0f} s budget"
                if hnsw_last
                else "not built: the smaller HNSW build already exceeded the budget"
            )
            rows.append({"n": n, "index": "HNSW32", "skipped": why, "projected_build_s": None if math.isinf(projected) else round(projected)})
        else:
            hnsw, hnsw_s, added = build_hnsw(x, budget)
            if hnsw is None:
                rows.append(
                    {
                        "n": n,
                        "index": "HNSW32",
                        "skipped": f"abandoned: {added:,} of {n:,} vectors added in {hnsw_s:.0f} s, over the {budget:.0f} s budget",
                        "projected_build_s": round(hnsw_s * n / added),
                    }
                )
            else:
                hnsw_last = (n, hnsw_s)
                rows.append(_measure("HNSW32", n, hnsw, hnsw_s, queries, exact))
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
        "noise_sigma": NOISE_SIGMA,
        "copy_to_source_cosine": round(cosine_to_source, 3),
        "hnsw": {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION, "efSearch": HNSW_EF_SEARCH, "budget_s": budget},
        "ivf": {"nlist": "round(4*sqrt(n))", "nprobe": IVF_NPROBE, "train_points_per_list": IVF_TRAIN_PER_LIST},
        "rows": rows,
        "size_seconds": size_seconds,
    }


# ---------------------------------------------------------------------------
# the benchmark interface


def run(quick: bool) -> dict:
    """All four measurements; quick mode is smaller everywhere (see the module docstring)."""
    import faiss
    import torch

    started = time.perf_counter()
    ensure_default_index()  # every part below but the builds reads it
    results: dict = {
        "quick": quick,
        "threads": {"faiss_omp_max_threads": faiss.omp_get_max_threads(), "torch_num_threads": torch.get_num_threads()},
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

    with part("index_build"):
        results["index_build"], base = bench_builds(quick)
    with part("warm_ask"):
        results["warm_ask"] = bench_warm_ask(quick)
    with part("cold"):
        results["cold"] = bench_cold(quick)
    with part("search_scaling"):
        results["search_scaling"] = bench_scaling(quick, base)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def headline(results: dict) -> list[str]:
    """The speed figures the README quotes."""
    w, c = results["warm_ask"]["ms"], results["cold"]
    lines = [
        f"warm ask p50 {w['total']['p50']:.0f} ms (encode {w['encode']['p50']:.1f}, search {w['search']['p50']:.1f}, "
        f"summary {w['summary']['p50']:.0f}); cold `retriever ask` {c['ask']['median_s']:.2f} s, "
        f"`retriever --help` {c['help']['median_s']:.2f} s",
    ]
    builds = [r for r in results["index_build"] if "skipped" not in r]
    lines.append(
        "index build: "
        + "; ".join(f"{r['corpus']} {r['passages']:,} passages in {r['seconds']:.1f} s ({r['passages_per_s']:.1f}/s, "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB)" for r in builds)
    )
    return lines


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    """Markdown tables for RESULTS.md, with what was measured and how under each."""
    t = results["threads"]
    out = [
        f"{'Quick' if results['quick'] else 'Full'} mode, {_fmt(results['seconds'], 0)} s in all; "
        f"FAISS used {t['faiss_omp_max_threads']} OpenMP threads (1 for the single-query latencies), "
        f"PyTorch {t['torch_num_threads']} threads. 1-minute load average at the start of each part: "
        + ", ".join(f"{part.replace('_', ' ')} {load:.1f}" for part, load in results["load_average"].items())
        + " (other jobs share the cores: a load above the core count slows every figure here).",
        "",
        "### Index build",
        "",
        "| corpus | documents | passages | characters | wall s | CPU s | passages/s | characters/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["index_build"]:
        if "skipped" in row:
            out.append(f"| {row['corpus']} | skipped: {row['skipped']} | | | | | | | |")
        else:
            out.append(
                f"| {row['corpus']} | {row['documents']} | {row['passages']:,} | {row['chars']:,} | {_fmt(row['seconds'], 2)} "
                f"| {_fmt(row['cpu_s'], 1)} | {_fmt(row['passages_per_s'])} | {_fmt(row['chars_per_s'], 0)} | {_fmt(row['peak_rss_mib'], 0)} |"
            )
    out += [
        "",
        "`retriever index DIR --index-dir TMP` run once per corpus as its own process; wall time is the whole "
        "process (start-up and model loading included, about the cold `ask`'s load time below), passages/s and "
        "characters/s divide by it; CPU s is the child's user + system time; counts come from "
        "the built index's manifest.json, and peak RSS is the command's ru_maxrss, read by a small parent process (a child of this benchmark would report the benchmark's own RSS). gov_reports "
        "documents were written one per .txt file.",
        "",
    ]

    w = results["warm_ask"]
    out += [
        "### Warm `ask` (in process)",
        "",
        "| stage | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    for stage in ("encode", "search", "summary", "total"):
        label = "whole `ask`" if stage == "total" else stage
        out.append(f"| {label} | {_fmt(w['ms'][stage]['p50'], 2)} | {_fmt(w['ms'][stage]['p95'], 2)} |")
    out += [
        "",
        f"`Retriever.open()` on indexes/default ({w['passages']} passages), one untimed warm-up ask, then "
        f"{w['asks']} asks (k=5, hybrid, 300-character summary) cycling through the {w['distinct_questions']} "
        "questions of benchmarks/questions.jsonl followed by cmrc2018 questions; stages are the answer's own timings_ms, the whole ask is "
        "perf_counter around the call.",
        "",
    ]

    c = results["cold"]
    out += [
        "### Cold commands (whole process)",
        "",
        "| command | runs | median s | min s | max s |",
        "|---|---|---|---|---|",
        f"| `retriever ask \"{c['ask']['question']}\" --json` | {c['ask']['runs']} | {_fmt(c['ask']['median_s'], 2)} "
        f"| {_fmt(c['ask']['min_s'], 2)} | {_fmt(c['ask']['max_s'], 2)} |",
    ]
    for name, label in (("help", "`retriever --help`"), ("info", "`retriever info`")):
        r = c[name]
        out.append(f"| {label} | {r['runs']} | {_fmt(r['median_s'], 2)} | {_fmt(r['min_s'], 2)} | {_fmt(r['max_s'], 2)} |")
    out += [
        "",
        "Wall time of each command run by subprocess (output captured) against the already built default index; "
        f"of a cold ask, a median {_fmt(c['ask']['load_ms_median'] / 1000, 2)} s is the process's own `load` "
        "timing (importing PyTorch and sentence-transformers, loading the model and jieba's dictionary).",
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
        else:
            name = f"IVF-Flat (nlist {row['nlist']:,})" if "nlist" in row else row["index"]
            out.append(
                f"| {row['n']:,} | {name} | {_fmt(row['build_s'], 2)} | {_fmt(row['memory_mib'])} "
                f"| {_fmt(row['p50_ms'], 3)} | {_fmt(row['p95_ms'], 3)} | {row['recall_at_10']:.3f} |"
            )
    h, i = s["hnsw"], s["ivf"]
    out += [
        "",
        f"Vectors of dimension {s['dim']}: noisy copies of the {s['base_vectors']:,} real passage vectors of the "
        f"largest index built above (N(0, {s['noise_sigma']}²) added per dimension, then re-normalized; a copy keeps a mean cosine of "
        f"{s['copy_to_source_cosine']:.2f} to its source), queried with {s['queries']} other noisy copies. "
        f"HNSW: M {h['M']}, efConstruction {h['efConstruction']}, efSearch {h['efSearch']}, build budget "
        f"{h['budget_s']:.0f} s; IVF-Flat: nlist = 4·sqrt(n), nprobe {i['nprobe']}, trained on "
        f"{i['train_points_per_list']} random vectors per list. Build time uses all FAISS threads; latency is one "
        f"query (k={s['k']}) per search on one thread; memory is the serialized index; recall@10 is the share of the "
        "exact top 10 found. Wall time of everything at each size: "
        + ", ".join(f"{int(n):,}: {sec:.0f} s" for n, sec in s["size_seconds"].items())
        + ".",
    ]
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
    labels = [r["corpus"].replace("/", "") + f"\n{r['passages']:,} passages" for r in builds]
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
