"""How the model runs, on this CPU and on the kinds of CPU it lacks.

ONNX Runtime picks its integer kernels by the CPU's instruction sets, and int8 results
hold on one kind of CPU only once they hold on the others. Each kind runs in a child
process: this CPU as it is, then with VNNI (and AVX-512) masked by cpuid_mask.c, so that
the child runs the very kernels such CPUs run, natively. Per kind and backend:

- the cosine of the vectors of corpus/'s passages to those of the plain torch path;
- whether the int8 model passed its load check (embed.OnnxEmbedder) or fell back to fp32;
- dense and hybrid nDCG@10 on the labelled questions and CMRC 2018, and the encoding
  speed of the same passages (each encoded in one call, both cores, after a warm-up);
- full runs: `retriever index` of the gov_reports documents with each backend.

torch runs on this CPU only: it is the reference, not the question.

    python -m benchmarks.cpu_kinds --quick     # from the project root; prints Markdown
    python -m benchmarks.cpu_kinds --as avx2 COMMAND…   # run COMMAND as a CPU of that kind
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from retriever.embedding.embedders import MIN_AGREEMENT

from .common import BENCH, ROOT, data_file, log, read_jsonl, run_and_print

MASK_SOURCE = BENCH / "cpuid_mask.c"
# Kinds of CPU: (name, CPUID_MASK, what has it). None: this CPU as it is.
KINDS = (
    ("this CPU", None, ""),
    ("AVX2, no AVX-512, no VNNI", "avx2", "Intel Haswell to Comet Lake, AMD Zen 1-3"),
    ("AVX-512 without VNNI", "avx512", "Intel Skylake-SP servers"),
)
ONNX_BACKENDS = ("onnx-int8", "onnx")


class Unavailable(RuntimeError):
    pass


def mask_library() -> Path:
    """cpuid_mask.c built once (gcc) into the temporary directory; Unavailable, saying
    why, where it cannot be built or this CPU or kernel cannot make CPUID trap."""
    source = MASK_SOURCE.read_bytes()
    library = Path(tempfile.gettempdir()) / f"retriever-cpuid-mask-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if not library.is_file():
        if shutil.which("gcc") is None:
            raise Unavailable("no gcc to build benchmarks/cpuid_mask.c")
        partial = library.with_suffix(f".{os.getpid()}.tmp")
        built = subprocess.run(
            ["gcc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(MASK_SOURCE)], capture_output=True, text=True
        )
        if built.returncode != 0:
            raise Unavailable(f"benchmarks/cpuid_mask.c does not build: {built.stderr.strip()[-300:]}")
        os.replace(partial, library)
    probe = subprocess.run(
        [sys.executable, "-c", ""], env={**os.environ, "LD_PRELOAD": str(library)}, capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise Unavailable(probe.stderr.strip() or f"the CPUID mask fails (exit {probe.returncode})")
    return library


def masked_env(mask: str | None) -> dict[str, str]:
    """The environment of a child process that runs as a CPU of kind `mask` (see
    cpuid_mask.c); the plain environment for None."""
    env = dict(os.environ)
    if mask is not None:
        env.update(LD_PRELOAD=str(mask_library()), CPUID_MASK=mask)
    return env


def cpu_features() -> dict[str, bool]:
    """What this process's CPU reports, as NumPy read it at import (masked or not)."""
    from numpy._core._multiarray_umath import __cpu_features__ as features

    return {name: bool(features.get(name)) for name in ("AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL")}


# ---------------------------------------------------------------------------
# the child: measures in its own process, as whatever CPU it was started as


EIGHT_BIT = "onnx-int8, 8-bit weights"  # recipe 4's int8: right with VNNI only


def child(quick: bool, builds: bool) -> dict:
    from retriever import Retriever
    from retriever.embedding.embedders import OnnxEmbedder, load_embedder, resolve_model
    from retriever.embedding.onnx_export import exported
    from retriever.embedding.onnx_runtime import session
    from retriever.text.words import for_matching

    from .retrieval_quality import labelled, measure_backend, qa_set

    retriever = Retriever.open(ROOT / "indexes" / "default")
    texts = [for_matching(p.text) for p in retriever.index.passages]
    reference = np.load(os.environ["CPU_KINDS_TORCH_VECTORS"])
    sets = [labelled(retriever)] + [s for s in (qa_set("cmrc2018", quick),) if s]
    out: dict = {"features": cpu_features(), "backends": {}}
    # torch on this CPU only, as the reference of speed and quality.
    for backend in (*ONNX_BACKENDS, *(() if "CPUID_MASK" in os.environ else ("torch",)), EIGHT_BIT):
        if backend == EIGHT_BIT:
            # Run as it is, without the load check, to show what the check prevents.
            path = resolve_model(retriever.index.model)
            embedder = OnnxEmbedder(retriever.index.model, path, quantized=False)
            embedder.session, embedder.precision = session(Path(os.environ["CPU_KINDS_8_BIT"])), "int8"
            embedder.agreement = embedder.agree(np.load(exported(path).reference))
        else:
            embedder = load_embedder(retriever.index.model, backend)
        cosines = (embedder.encode(texts) * reference).sum(axis=1)
        row = {
            "precision": embedder.precision,
            "load_check": round(getattr(embedder, "agreement", float("nan")), 4),
            "cosine_to_torch": {"min": round(float(cosines.min()), 4), "mean": round(float(cosines.mean()), 4)},
            "sets": {qs.name: measure_backend(embedder, qs) for qs in sets},
        }
        if builds and backend in ONNX_BACKENDS:
            row["build"] = build_gov_reports(backend, quick)
        out["backends"][backend] = row
    return out


def build_gov_reports(backend: str, quick: bool) -> dict:
    """`retriever index` of the gov_reports documents with `backend`, in a process of
    its own (which inherits this one's CPU mask)."""
    from .speed import measure_build, write_texts

    path = data_file("gov_reports", "documents.jsonl")
    if path is None:
        return {"skipped": "../shared/data/gov_reports/documents.jsonl not found"}
    documents = read_jsonl(path)[: 10 if quick else None]
    with tempfile.TemporaryDirectory() as tmp:
        source = write_texts(Path(tmp) / "texts", {d["id"]: d["text"] for d in documents})
        row, _ = measure_build(f"gov_reports ({len(documents)} docs)", source, Path(tmp), backend)
    return row


# ---------------------------------------------------------------------------
# the parent: one child per kind, one after the other


def run(quick: bool) -> dict:
    from retriever.embedding.embedders import load_embedder
    from retriever.embedding.onnx_runtime import cpu_summary
    from retriever.text.words import for_matching

    from .speed import ensure_default_index

    ensure_default_index()
    from retriever import Retriever

    retriever = Retriever.open(ROOT / "indexes" / "default")
    texts = [for_matching(p.text) for p in retriever.index.passages]
    torch = load_embedder(retriever.index.model, "torch")
    out: dict = {"cpu": cpu_summary(), "passages": len(texts), "kinds": {}}
    with tempfile.TemporaryDirectory() as tmp:
        vectors = Path(tmp) / "torch.npy"
        np.save(vectors, torch.encode(texts))
        eight_bit = Path(tmp) / "model-int8-8-bit.onnx"
        _eight_bit_model(retriever.index.model, eight_bit)
        for name, mask, examples in KINDS:
            log(f"cpu kinds: {name}")
            try:
                env = {**masked_env(mask), "CPU_KINDS_TORCH_VECTORS": str(vectors), "CPU_KINDS_8_BIT": str(eight_bit)}
            except Unavailable as e:
                out["kinds"][name] = {"skipped": str(e)}
                continue
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.cpu_kinds", "--child", *(["--quick"] if quick else []),
                 *(["--builds"] if mask != "avx512" else [])],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                out["kinds"][name] = {"skipped": f"the child process exited {done.returncode}"}
                continue
            out["kinds"][name] = {"mask": mask, "examples": examples, **json.loads(done.stdout)}
            log(f"cpu kinds: {name} took {time.perf_counter() - started:.0f} s")
    return out


def _eight_bit_model(model: str, out: Path) -> None:
    """The int8 model as recipe 4 made it, with 8-bit weights (its product with outlier
    inputs kept fp32, as recipe 5 keeps it: the weights are the only difference)."""
    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import _quantize, _save, exported

    path = resolve_model(model)
    _quantize(exported(path).fp32, out.with_name("8-bit.onnx"), path, reduce_range=False)
    _save(out.with_name("8-bit.onnx"), out)


def markdown(results: dict) -> str:
    lines = [
        f"This CPU: {results['cpu']}. The other kinds are this CPU with the instruction sets they lack masked "
        "(benchmarks/cpuid_mask.c): ONNX Runtime then runs the kernels such a CPU runs, natively, so their vectors "
        "are those of such a CPU while their speed is this core's.\n",
        "| CPU kind | backend | load check: cosine, ran as | cosine to torch, worst / mean | labelled dense / hybrid nDCG@10 "
        "| CMRC 2018 dense / hybrid nDCG@10 | CMRC passages/s | gov_reports build |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, kind in results["kinds"].items():
        if "skipped" in kind:
            lines.append(f"| {name} | skipped: {kind['skipped']} |||||||")
            continue
        for backend, row in kind["backends"].items():
            sets = list(row["sets"].values())
            quality = [f"{s['dense_ndcg10']:.3f} / {s['hybrid_ndcg10']:.3f}" for s in sets]
            cmrc = sets[1] if len(sets) > 1 else None
            build = row.get("build", {})
            built = f"{build['seconds']:.0f} s ({build['passages_per_s']:.1f} passages/s)" if "seconds" in build else "–"
            cosine = row["cosine_to_torch"]
            if backend == EIGHT_BIT:
                ran = "int8 (unchecked)" if row["load_check"] >= MIN_AGREEMENT else "would give way to fp32"
            else:
                ran = row["precision"]
            check = f"{row['load_check']:.4f}, {ran}" if row["load_check"] == row["load_check"] else ran  # NaN: torch
            lines.append(
                f"| {name} | {backend} | {check} | {cosine['min']:.4f} / {cosine['mean']:.4f} | {quality[0]} "
                f"| {quality[1] if cmrc else '–'} | {cmrc['passages_per_s'] if cmrc else '–'} | {built} |"
            )
    lines.append(
        f"\nCosines over the {results['passages']} passages of corpus/. The load check encodes four reference texts and "
        f"compares them with the fp32 vectors the export kept: below {MIN_AGREEMENT} an int8 model gives way to the fp32 one. "
        f'"{EIGHT_BIT}" is the int8 model with the weights of export recipe 4, run here without the check to show what '
        "the check prevents; the default (recipe 5) has 7-bit weights. Speed: CMRC 2018's passages encoded in one call on "
        "both cores after a warm-up; builds: `retriever index` of the gov_reports documents in a process of its own."
    )
    return "\n".join(lines)


def headline(results: dict) -> list[str]:
    rows = []
    for name, kind in results["kinds"].items():
        if "skipped" in kind:
            continue
        int8, fp32 = kind["backends"]["onnx-int8"], kind["backends"]["onnx"]
        ratio = ""
        if "seconds" in int8.get("build", {}) and "seconds" in fp32.get("build", {}):
            ratio = f", builds {fp32['build']['seconds'] / int8['build']['seconds']:.2f}× faster than fp32"
        old = kind["backends"][EIGHT_BIT]["cosine_to_torch"]
        rows.append(
            f"{name}: int8 at cosine {int8['cosine_to_torch']['min']:.4f} worst / {int8['cosine_to_torch']['mean']:.4f} "
            f"mean to torch{ratio} (8-bit weights: {old['min']:.4f} / {old['mean']:.4f})"
        )
    return [f"int8 on each kind of CPU ({results['cpu']}): " + "; ".join(rows)] if rows else []


if __name__ == "__main__":
    if sys.argv[1:2] == ["--as"]:  # python -m benchmarks.cpu_kinds --as avx2 COMMAND…: run it as that kind
        mask, command = sys.argv[2], sys.argv[3:]
        os.execvpe(command[0], command, masked_env(mask))
    elif "--child" in sys.argv:  # started by run(), as one kind of CPU
        print(json.dumps(child("--quick" in sys.argv, "--builds" in sys.argv)))
    else:
        run_and_print(__doc__, "a sample of CMRC 2018 and 10 gov_reports documents", run, markdown)
