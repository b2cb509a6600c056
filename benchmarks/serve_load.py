"""The service: `ask` through `retriever serve`, one client and under load.

Each setting runs a real `retriever serve` process on a free loopback port over
indexes/default (its access log on, as by default, written to a file). Clients are
threads of this process with one keep-alive HTTP connection each, asking GET /api/ask
(k=5, hybrid, 300-character summary) with the questions of benchmarks/questions.jsonl in
turn; a latency is perf_counter around sending the request and parsing the JSON reply,
so it includes HTTP, the server's queueing and the answer. Measured:

1. one client, one request at a time: the latency a script or the page sees;
2. a bounded load test: 8 clients at once, a fixed number of requests each, with the
   service answering 1, 2 and 4 questions at once (the default: one per core);
3. `retriever ask` as a whole process answered by the running service, against the same
   command answering locally (`--local`), each cold.

    python -m benchmarks.serve_load [--quick]      # from the project root; prints Markdown
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import BENCH, ROOT, log, percentile, read_jsonl, run_and_print

DEFAULT_INDEX = ROOT / "indexes" / "default"
RETRIEVER = Path(sys.executable).parent / "retriever"
CLIENTS = 8

# The service as `retriever serve` runs it, with the number of questions answered at once
# as the one setting that varies.
_SERVER = """
import sys
from retriever import Retriever
from retriever.config import ServeConfig
from retriever.serve.app import listen, run
run(Retriever.open(sys.argv[1]), listen("127.0.0.1", 0), announce=lambda line: print(line, file=sys.stderr, flush=True),
    config=ServeConfig(concurrent_asks=int(sys.argv[2])))
"""


@contextmanager
def service(index_dir: Path, concurrent_asks: int, log_file: Path) -> Iterator[str]:
    """A running service; yields its URL, stops it afterwards."""
    with service_process(index_dir, concurrent_asks, log_file) as (url, _):
        yield url


@contextmanager
def service_process(index_dir: Path, concurrent_asks: int, log_file: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A running service: its URL and process (stopped afterwards, unless it has already ended)."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(log_file.parent)}  # its registration stays out of the user's
    with open(log_file, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(index_dir), str(concurrent_asks)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 120
            while not (m := re.search(r"search page\s+(http://\S+?)/\s", log_file.read_text())):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"retriever serve did not start: {log_file.read_text()[-500:]}")
                time.sleep(0.05)
            yield m.group(1), proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)


def questions() -> list[str]:
    return [q["question"] for q in read_jsonl(BENCH / "questions.jsonl")]


def _client(url: str, asks: list[str], latencies: list[float], errors: list[str]) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    for q in asks:
        start = time.perf_counter()
        try:
            conn.request("GET", "/api/ask?" + urllib.parse.urlencode({"q": q, "k": 5}))
            response = conn.getresponse()
            body = json.loads(response.read())
            if response.status != 200 or not body.get("results"):
                errors.append(f"HTTP {response.status}: {str(body)[:100]}")
        except (OSError, http.client.HTTPException, ValueError) as e:
            errors.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            continue
        latencies.append((time.perf_counter() - start) * 1000)
    conn.close()


def load(url: str, clients: int, per_client: int) -> dict:
    """`clients` threads at once, `per_client` asks each; latency percentiles, throughput, errors."""
    qs = questions()
    _client(url, qs[:5], [], [])  # warm-up: first-request allocations in the service
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=_client, args=(url, [qs[(c * per_client + i) % len(qs)] for i in range(per_client)], latencies[c], errors)
        )
        for c in range(clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    ms = [x for per in latencies for x in per]
    return {
        "clients": clients,
        "requests": clients * per_client,
        "errors": len(errors),
        "error_examples": errors[:3],
        "seconds": round(seconds, 2),
        "throughput_rps": round(len(ms) / seconds, 1),
        "ms": {f"p{q}": round(percentile(ms, q), 2) for q in (50, 95, 99)} | {"max": round(max(ms), 2) if ms else None},
    }


def cold_ask(url: str | None, runs: int, env_dir: Path) -> dict:
    """`retriever ask --json` as a whole process: through the service at `url`, or local."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(env_dir)}
    env.pop("RETRIEVER_INDEX", None)
    extra = ["--server", url] if url else ["--local"]
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [str(RETRIEVER), "ask", "如何化解矛盾纠纷", "--json", *extra], cwd=ROOT, env=env, capture_output=True, text=True
        )
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0 or not json.loads(done.stdout)["results"]:
            raise RuntimeError(f"retriever ask exited {done.returncode}: {done.stderr[-300:]}")
    return {
        "runs": runs,
        "median_s": round(statistics.median(seconds), 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
    }


def run(quick: bool) -> dict:
    from .speed import ensure_default_index

    ensure_default_index()
    sequential, per_client = (100, 25) if quick else (400, 100)
    from retriever.config import ServeConfig

    out: dict = {
        "index": "indexes/default", "passages": None, "load": [], "load_average": round(os.getloadavg()[0], 2),
        "default_concurrent_asks": ServeConfig().concurrent_asks,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="serve-") as tmp:
        work = Path(tmp)
        for concurrent in sorted({1, 2, 4, out["default_concurrent_asks"]}):
            with service(DEFAULT_INDEX, concurrent, work / f"serve-{concurrent}.log") as url:
                out["passages"] = json.loads(http_get(url, "/healthz"))["passages"]
                if concurrent == out["default_concurrent_asks"]:
                    log(f"serve: {sequential} asks from one client")
                    out["sequential"] = load(url, 1, sequential)
                    log("serve: cold `retriever ask` through the service and locally")
                    out["cold_ask_service"] = cold_ask(url, 5 if quick else 9, work)
                    out["cold_ask_local"] = cold_ask(None, 5 if quick else 9, work)
                log(f"serve: {CLIENTS} clients × {per_client} asks, {concurrent} answered at once")
                out["load"].append({"concurrent_asks": concurrent, **load(url, CLIENTS, per_client)})
    return out


def http_get(url: str, path: str) -> str:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path)
    return conn.getresponse().read().decode()


def headline(results: dict) -> list[str]:
    s = results["sequential"]
    default = next(r for r in results["load"] if r["concurrent_asks"] == results["default_concurrent_asks"])
    c, local = results["cold_ask_service"], results["cold_ask_local"]
    return [
        f"`ask` through `retriever serve`: p50 {s['ms']['p50']:.1f} ms, p95 {s['ms']['p95']:.1f} ms end to end (one client); "
        f"{default['clients']} clients: {default['throughput_rps']:.0f} requests/s, p99 {default['ms']['p99']:.1f} ms, "
        f"{default['errors']} errors; cold `retriever ask` answered by the service {c['median_s']:.2f} s "
        f"({local['median_s'] / c['median_s']:.1f}× faster than answering locally)"
    ]


def markdown(results: dict) -> str:
    default = results["default_concurrent_asks"]
    rows = [("1 client, one request at a time", results["sequential"], f"{default} (default)")]
    rows += [
        (f"{r['clients']} clients at once", r, f"{r['concurrent_asks']}{' (default)' if r['concurrent_asks'] == default else ''}")
        for r in results["load"]
    ]
    lines = [
        f"Over {results['index']} ({results['passages']} passages); 1-minute load average {results['load_average']} before the run.\n",
        "| clients | questions answered at once | requests | errors | requests/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r, concurrent in rows:
        ms = r["ms"]
        lines.append(
            f"| {name} | {concurrent} | {r['requests']} | {r['errors']} | {r['throughput_rps']:.1f} | {ms['p50']:.2f} "
            f"| {ms['p95']:.2f} | {ms['p99']:.2f} | {ms['max']:.2f} |"
        )
    c, local = results["cold_ask_service"], results["cold_ask_local"]
    lines += [
        "",
        "| cold `retriever ask --json` (whole process) | runs | median s | min s | max s | × service |",
        "|---|---|---|---|---|---|",
        f"| answered by the running service (`--server`) | {c['runs']} | {c['median_s']:.3f} | {c['min_s']:.3f} | {c['max_s']:.3f} | 1.0 |",
        f"| answered locally (`--local`) | {local['runs']} | {local['median_s']:.3f} | {local['min_s']:.3f} | {local['max_s']:.3f} "
        f"| {local['median_s'] / c['median_s']:.1f} |",
        "",
        "A real `retriever serve` process on a loopback port (access log on, as by default); clients are threads of the "
        "benchmark with one keep-alive connection each, asking GET /api/ask (k=5, hybrid, 300-character summary) with "
        "the labelled questions in turn. A latency runs from sending the request to the parsed JSON reply. The load test "
        "runs the service answering 1, 2 and 4 questions at once (the default is one per core). The cold rows run the "
        "whole `retriever ask` command, which finds the service or answers in its own process.\n",
    ]
    return "\n".join(lines)


def main() -> None:
    run_and_print(__doc__, "fewer requests", run, markdown)


if __name__ == "__main__":
    main()
