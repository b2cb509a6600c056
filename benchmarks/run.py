"""Run every benchmark, one after the other, and publish the results.

    python -m benchmarks.run            # full run (about 3 hours on 2 cores, 2 of them the model on three kinds of CPU)
    python -m benchmarks.run --quick    # a smaller run (under 3 minutes)
    python -m benchmarks.run --resume   # go on with the last interrupted run

Writes benchmarks/results/<time>-<commit>[-quick].json (with the machine, package
versions and git commit). A full run also rewrites benchmarks/RESULTS.md and the plots
in benchmarks/results/plots/; a quick run prints its report instead (--report to write
it anyway). Benchmarks never run concurrently: they would measure each other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from retriever import Retriever
from retriever.config import DEFAULT_INDEX_DIR
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.index.folder import exists

from . import (
    attacks,
    cpu_kinds,
    limits,
    peers,
    reader_checks,
    retrieval_quality,
    scale_out,
    serve_load,
    speed,
    summary_quality,
    user_questions,
)
from .common import BENCH, ROOT, log

RESULTS = BENCH / "results"
PLOTS = RESULTS / "plots"
REPORT = BENCH / "RESULTS.md"
PACKAGES = (
    "retriever-zh", "onnxruntime", "onnx", "tokenizers", "torch", "sentence-transformers", "transformers", "faiss-cpu", "numpy",
    "rjieba", "jieba", "opencc", "sumy",
)  # fmt: skip


def machine() -> dict:
    """The machine the figures were measured on: the CPU named with the instruction sets
    the model's kernels depend on (int8 results differ with VNNI), cores and memory."""
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {
        "cpu": cpu_summary(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    out = {}
    for package in PACKAGES:
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--", "src", "benchmarks/questions.jsonl") else "")


def headline(results: dict) -> list[str]:
    """The figures the README quotes."""
    lines = []
    for name, data in results["retrieval"]["datasets"].items():
        methods = data["methods"]
        default = next(m for k, m in methods.items() if k.endswith("(default)"))
        # Baselines are the single rankers (BM25, dense, TF-IDF), not the other fusions.
        best_name, best = max(
            ((k, m) for k, m in methods.items() if not k.startswith(("hybrid", "blend", "RRF", "cosine +"))),
            key=lambda kv: kv[1]["nDCG@10"],
        )
        blend = next((m for k, m in methods.items() if k.endswith("(hand-set)")), None)
        lines.append(
            f"{name}: hybrid nDCG@10 {default['nDCG@10']:.3f}"
            + (f" (hand-set blend {blend['nDCG@10']:.3f})" if blend else "")
            + f" vs best baseline ({best_name}) {best['nDCG@10']:.3f}"
        )
    lines.extend(user_questions.headline(results["user_questions"]))
    lines.extend(peers.headline(results["peers"]))
    lines.extend(speed.headline(results["speed"]))
    lines.extend(cpu_kinds.headline(results["cpu_kinds"]))
    lines.extend(serve_load.headline(results["serve"]))
    lines.extend(scale_out.headline(results["scale_out"]))
    lines.extend(summary_quality.headline(results["summary"]))
    lines.extend(reader_checks.headline(results["reader"]))
    lines.extend(limits.headline(results["limits"]))
    if "attacks" in results:  # runs before it had none
        lines.extend(attacks.headline(results["attacks"]))
    return lines


def _sections_apart(by_section: dict[str, str], own: str) -> dict[str, list[str]]:
    """The sections of a resumed run measured at another commit or on another CPU than
    the run's own, grouped by that commit or CPU."""
    apart: dict[str, list[str]] = {}
    for section, value in by_section.items():
        if value != own:
            apart.setdefault(value, []).append(section.replace("_", " "))
    return apart


def _earlier_commits(meta: dict) -> str:
    """A run resumed at a later commit says which sections an earlier one measured."""
    apart = _sections_apart(meta.get("section_commits", {}), meta["commit"])
    return "".join(f" ({', '.join(sections)} at `{commit}`)" for commit, sections in apart.items())


def _other_machines(meta: dict) -> str:
    """A run resumed on another machine says which sections were measured on which CPU:
    int8 results and every speed figure depend on it."""
    apart = _sections_apart(meta.get("section_machines", {}), meta["machine"]["cpu"])
    return "".join(f" ({', '.join(sections)} on {cpu})" for cpu, sections in apart.items())


def report(results: dict, plots: list[Path]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    link = lambda p: f"![{p.stem}]({p.relative_to(BENCH).as_posix()})"  # noqa: E731
    by_name = {p.stem: p for p in plots}
    sections = [
        "# Benchmarks\n",
        f"Run of {meta['date']} at commit `{meta['commit']}`{_earlier_commits(meta)} ({'quick' if meta['quick'] else 'full'} mode, "
        f"{meta['seconds'] / 60:.1f} minutes) on {m['cpu']}{_other_machines(meta)}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}. Reproduce with `make bench` (`make bench-quick` for the short run); "
        f"the raw figures are in `{meta['json']}`.\n",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".\n",
        "## Headline\n",
        "\n".join(f"- {line}" for line in headline(results)) + "\n",
        "## Retrieval quality\n",
        retrieval_quality.markdown(results["retrieval"]),
        link(by_name["retrieval_quality"]) if "retrieval_quality" in by_name else "",
        "\n## Questions in users' own words\n",
        user_questions.markdown(results["user_questions"]),
        "\n## A peer: txtai on the same passages and model\n",
        peers.markdown(results["peers"]),
        "\n## Summary quality\n",
        summary_quality.markdown(results["summary"]),
        *(link(p) for p in plots if p.stem.startswith("summary")),
        "\n### Summaries as a reader checks them\n",
        reader_checks.markdown(results["reader"]),
        "\n## Speed, memory and scale\n",
        speed.markdown(results["speed"]),
        *(link(p) for p in plots if p.stem.startswith("speed")),
        "\n### How the model runs, on each kind of CPU\n",
        cpu_kinds.markdown(results["cpu_kinds"]),
        "\n## The service (`retriever serve`)\n",
        serve_load.markdown(results["serve"]),
        "\n## Scaling out: Ray and Milvus on this machine\n",
        scale_out.markdown(results["scale_out"]),
        "\n## Hostile and huge input\n",
        limits.markdown(results["limits"]),
        *(link(p) for p in plots if p.stem.startswith("limits")),
        *(["\n### The service under attack\n", attacks.markdown(results["attacks"])] if "attacks" in results else []),
        "",
    ]
    return "\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples, under 3 minutes")
    parser.add_argument("--report", action="store_true", help="write RESULTS.md and plots after a quick run too")
    parser.add_argument(
        "--resume", action="store_true", help="keep the sections the last interrupted run finished (each keeps its commit)"
    )
    args = parser.parse_args()
    os.chdir(ROOT)  # the default index and corpus/ are relative to the project
    started = time.perf_counter()

    if not exists(DEFAULT_INDEX_DIR):
        log("building the default index over corpus/ first")
        Retriever.build(["corpus"])
    retriever = Retriever.open()
    # Each section's results are kept as soon as it ends: a run stopped after hours
    # (a restart, a test that needs the cores) goes on with --resume where it stopped.
    commit = git_commit()
    kind = "-quick" if args.quick else ""
    partial = RESULTS / f"partial{kind}.json"
    results: dict = json.loads(partial.read_text(encoding="utf-8")) if args.resume and partial.is_file() else {}
    earlier = results.pop("elapsed_s", 0.0)  # the interrupted runs' time
    # The commit each section was measured at: a resumed run may be at a later one.
    commits: dict[str, str] = results.pop("commits", {})
    cpus: dict[str, str] = results.pop("machines", {})  # and the CPU: the machine may have changed
    here = machine()
    sections = {
        "retrieval": ("retrieval", lambda: retrieval_quality.run(args.quick, retriever=retriever)),
        "summary": ("summary", lambda: summary_quality.run(args.quick, retriever=retriever)),
        "user_questions": ("user questions", lambda: user_questions.run(args.quick)),
        "reader": ("reader checks", lambda: reader_checks.run("all", documents=not args.quick)),
        "peers": ("peers", lambda: peers.run(args.quick)),
        "speed": ("speed", lambda: speed.run(args.quick)),
        "cpu_kinds": ("the model on each kind of CPU", lambda: cpu_kinds.run(args.quick)),
        "serve": ("service", lambda: serve_load.run(args.quick)),
        "scale_out": ("scaling out", lambda: scale_out.run(args.quick)),
        "limits": ("hostile and huge input", lambda: limits.run(args.quick)),
        "attacks": ("the service under attack", lambda: attacks.run(args.quick)),
    }
    RESULTS.mkdir(exist_ok=True)
    for key, (title, section) in sections.items():
        if key in results:
            log(f"== {title}: kept from {partial.relative_to(ROOT)}")
            continue
        log(f"== {title}")
        results[key], commits[key], cpus[key] = section(), commit, here["cpu"]
        elapsed = earlier + time.perf_counter() - started
        partial.write_text(
            json.dumps({**results, "elapsed_s": elapsed, "commits": commits, "machines": cpus}, ensure_ascii=False),
            encoding="utf-8",
        )

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = RESULTS / f"{stamp}-{commit}{kind}.json"
    results["meta"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "section_commits": commits,
        "section_machines": cpus,
        "quick": args.quick,
        "seconds": earlier + time.perf_counter() - started,
        "machine": here,
        "versions": versions(),
        "json": json_path.relative_to(BENCH).as_posix(),
    }
    json_path.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    partial.unlink(missing_ok=True)
    log(f"wrote {json_path.relative_to(ROOT)}")

    if args.quick and not args.report:
        print(report(results, []))
        return
    PLOTS.mkdir(parents=True, exist_ok=True)
    plots = [
        *retrieval_quality.plot(results["retrieval"], PLOTS),
        *summary_quality.plot(results["summary"], PLOTS),
        *speed.plot(results["speed"], PLOTS),
        *limits.plot(results["limits"], PLOTS),
    ]
    REPORT.write_text(report(results, plots), encoding="utf-8")
    log(f"wrote {REPORT.relative_to(ROOT)} and {len(plots)} plots")


if __name__ == "__main__":
    main()
