"""Scaling out on one machine: embedding on Ray and vectors in Milvus, beside the defaults.

1. Build: `retriever index` as its own process over the same documents, in process
   (the default), with `--ray` (a local Ray instance, one worker per core), with
   `--vector-store milvus` (milvus-lite, a local file) and with `--uri` a real Milvus
   server started here (benchmarks/milvus_server.py); wall time, CPU, peak RSS.
2. Ask: the milvus-lite and the server index against the FAISS one built from the
   same documents, opened in this process: the vector search alone (top 100, as a
   hybrid ask asks), its recall@10 against FAISS, and the whole `ask`, p50/p95 over
   the labelled questions.

On one 2-core machine neither can be faster than the defaults: Ray adds its start-up
and moves the passages between processes, milvus-lite answers over gRPC. The figures
say what that costs, so that the gain on a cluster can be weighed against it.

    python -m benchmarks.scale_out [--quick]      # from the project root; prints Markdown
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import BENCH, ROOT, data_file, log, percentile, read_jsonl, run_and_print

from .speed import RETRIEVER, run_measured, write_texts

WAYS = (
    ("in process (default)", []),
    ("`--ray` (local Ray, a worker per core)", ["--ray"]),
    ("`--vector-store milvus` (milvus-lite)", ["--vector-store", "milvus"]),
)


def documents(quick: bool, work: Path) -> tuple[str, Path]:
    """gov_reports documents, one .txt each (corpus/ when the data set is absent)."""
    path = data_file("gov_reports", "documents.jsonl")
    if path is None:
        return "corpus/", ROOT / "corpus"
    docs = read_jsonl(path)[: 6 if quick else 20]
    return f"gov_reports ({len(docs)} docs)", write_texts(work / "gov", {d["id"]: d["text"] for d in docs})


# Added when a Milvus server starts on this machine (benchmarks/milvus_server.py).
SERVER_WAY = "`--uri` a Milvus server (standalone, on this machine)"


def build(name: str, source: Path, work: Path, ways) -> list[dict]:
    rows = []
    for label, options in ways:
        index_dir = work / f"index-{len(rows)}"
        log(f"scale-out: building {name} {label}")
        seconds, cpu, rss, code, stderr = run_measured(
            [str(RETRIEVER), "index", str(source), "--index-dir", str(index_dir), *options], ROOT
        )
        if code != 0:
            rows.append({"way": label, "skipped": f"exited {code}: {stderr.strip()[-300:]}"})
            continue
        corpus = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["corpus"]
        rows.append({
            "way": label, "index_dir": str(index_dir), "passages": corpus["passages"], "seconds": round(seconds, 2),
            "cpu_s": round(cpu, 1), "passages_per_s": round(corpus["passages"] / seconds, 1), "peak_rss_mib": round(rss),
        })  # fmt: skip
    return rows


def asks(stores: list[tuple[str, Path]], quick: bool) -> list[dict]:
    """Vector search and whole asks on each index of the same documents, the first
    (FAISS) the reference: recall@10 is the share of its top 10 each other finds."""
    import numpy as np

    from retriever import Retriever
    from retriever.config import SearchConfig
    from retriever.index.folder import nearest
    from retriever.text.words import for_matching

    questions = [q["question"] for q in read_jsonl(BENCH / "questions.jsonl")][: 30 if quick else None]
    rows = []
    reference: list[set[int]] = []
    for label, directory in stores:
        r = Retriever.open(directory)
        vectors = r.embedder.encode([for_matching(q) for q in questions])
        r.warm_up()
        search_ms, ask_ms, top10 = [], [], []
        for q, v in zip(questions, vectors):
            t = time.perf_counter()
            _, ids = nearest(r.index, np.asarray(v), SearchConfig.candidates)
            search_ms.append((time.perf_counter() - t) * 1000)
            top10.append({int(i) for i in ids[0][:10]})
            t = time.perf_counter()
            r.ask(q)
            ask_ms.append((time.perf_counter() - t) * 1000)
        rows.append({
            "store": label, "passages": len(r.index.passages), "questions": len(questions),
            "search_p50_ms": round(percentile(search_ms, 50), 2), "search_p95_ms": round(percentile(search_ms, 95), 2),
            "ask_p50_ms": round(percentile(ask_ms, 50), 2), "ask_p95_ms": round(percentile(ask_ms, 95), 2),
            "recall_at_10": round(sum(len(a & b) for a, b in zip(top10, reference or top10)) / (10 * len(top10)), 3),
        })  # fmt: skip
        reference = reference or top10
    return rows


def run(quick: bool) -> dict:
    from .milvus_server import NotStarted, running

    with tempfile.TemporaryDirectory(prefix="scale-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        name, source = documents(quick, work)
        ways, server = list(WAYS), None
        try:
            uri, _ = stack.enter_context(running(work / "milvus-server"))
            ways.append((SERVER_WAY, ["--uri", uri]))
        except NotStarted as e:
            server = f"no Milvus server: {e}"
            log(f"scale-out: {server}")
        rows = build(name, source, work, ways)
        labels = {WAYS[0][0]: "FAISS (files)", WAYS[2][0]: "Milvus (milvus-lite)", SERVER_WAY: "Milvus (server)"}
        stores = [(labels[r["way"]], Path(r["index_dir"])) for r in rows if r["way"] in labels and "skipped" not in r]
        ask_rows = asks(stores, quick) if stores and stores[0][0] == "FAISS (files)" else []
    for r in rows:
        r.pop("index_dir", None)
    return {"corpus": name, "build": rows, "ask": ask_rows, **({"server": server} if server else {})}


def headline(results: dict) -> list[str]:
    rows = {r["way"]: r for r in results["build"] if "skipped" not in r}
    default, ray = rows.get(WAYS[0][0]), rows.get(WAYS[1][0])
    if not (default and ray):
        return []
    line = (
        f"scaling out on this machine ({results['corpus']}): build with `--ray` {ray['passages_per_s']:.1f} passages/s, "
        f"{ray['passages_per_s'] / default['passages_per_s']:.2f}× the in-process path"
    )
    ask = {r["store"]: r for r in results["ask"]}
    f, lite, server = ask.get("FAISS (files)"), ask.get("Milvus (milvus-lite)"), ask.get("Milvus (server)")
    if f and lite:
        line += f"; milvus-lite vector search p50 {lite['search_p50_ms']:.1f} ms against FAISS {f['search_p50_ms']:.2f} ms"
    if f and server:
        line += f", a Milvus server {server['search_p50_ms']:.1f} ms (recall@10 {server['recall_at_10']:.3f})"
    return [line]


def markdown(results: dict) -> str:
    out = [
        f"**Build** of {results['corpus']}, each way as its own `retriever index` process:\n",
        "| way | passages | wall s | CPU s | passages/s | × in process | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    base = next((r for r in results["build"] if "skipped" not in r and r["way"] == WAYS[0][0]), None)
    for r in results["build"]:
        if "skipped" in r:
            out.append(f"| {r['way']} | skipped: {r['skipped']} | | | | | |")
            continue
        ratio = f"{r['passages_per_s'] / base['passages_per_s']:.2f}" if base else ""
        out.append(
            f"| {r['way']} | {r['passages']:,} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['passages_per_s']:.1f} | {ratio} "
            f"| {r['peak_rss_mib']:,} |"
        )
    if results["ask"]:
        out += [
            "",
            "**Ask** on the FAISS, milvus-lite and Milvus server index of the same documents (one process; the labelled "
            "questions; recall@10: the share of FAISS's top 10 by vector found):\n",
            "| vectors in | passages | questions | vector search p50 ms | p95 ms | recall@10 | whole `ask` p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["ask"]:
            out.append(
                f"| {r['store']} | {r['passages']:,} | {r['questions']} | {r['search_p50_ms']:.2f} | {r['search_p95_ms']:.2f} "
                f"| {r.get('recall_at_10', 1.0):.3f} | {r['ask_p50_ms']:.2f} | {r['ask_p95_ms']:.2f} |"
            )
    out += [
        "",
        "Wall time includes start-up: for `--ray`, starting a local Ray instance and one model per worker (each worker "
        "runs ONNX Runtime on its share of the cores); for milvus-lite, its embedded server; the Milvus server (the "
        "`milvus` package's standalone server, started for this section on free ports) was already running. The search row is the top "
        "100 by inner product (what a hybrid ask takes from the vector side); milvus-lite answers over gRPC from its own "
        "server thread. On a cluster, Ray adds machines to the embedding and Milvus holds more vectors than one machine; "
        "here both only add overhead, which these rows measure. CPU s and peak RSS are those of the `retriever` process "
        "and the children it waits for: Ray's workers, started by Ray's own daemons, are not counted in them.\n",
    ]
    return "\n".join(out)


def main() -> None:
    run_and_print(__doc__, "6 gov_reports documents, 30 questions", run, markdown)


if __name__ == "__main__":
    main()
