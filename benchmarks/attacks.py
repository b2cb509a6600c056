"""The service under attack: does it go on answering others, within its memory?

A real `retriever serve` process over indexes/default (the real model) on a free
loopback port. Each attack of issue #27 runs for a while from threads of this process
while a prober asks GET /healthz and GET /api/ask in turn, one at a time, and a sampler
reads the memory of the service and its upload readers every 0.2 s. Measured per attack: the
probes' p50 and p95 latency and failures, the service's peak memory, and what the
attackers were answered. The targets: probes within 100 ms at p95, memory under 1 GB.

Then the attacks whose harm came after them: 50 long summaries whose clients leave
(the service's CPU seconds in the 10 s after), slow bodies (how many the service
closed), and SIGTERM with summaries under way (their answers, tracebacks in the log).

    python -m benchmarks.attacks [--quick]
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from retriever.config import ServeConfig

from .common import ROOT, log, percentile, run_and_print
from .limits import docx, empty_runs, pdf_sharing_one_stream
from .serve_load import service_process

TARGET_P95_MS = 100
TARGET_MB = 1024


@contextmanager
def service(log_file: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The service over indexes/default with its default settings: its URL and process."""
    with service_process(ROOT / "indexes" / "default", ServeConfig().concurrent_asks, log_file) as running:
        yield running


def memory_mb(pid: int) -> tuple[float, float]:
    """The memory of the service and of every process it started (the upload readers and
    the server they fork from), in MB: the sum of their proportional set sizes (a page
    that n of them share counts 1/n in each: what the tree takes of the machine's
    memory), and the sum of their resident sizes (shared pages counted in each: an upper
    bound)."""
    pss = rss = 0.0
    for process in [pid, *_descendants(pid)]:
        try:
            with open(f"/proc/{process}/smaps_rollup") as f:
                pss += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024
            with open(f"/proc/{process}/status") as f:
                rss += next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):  # gone meanwhile, or a zombie without memory
            pass
    return pss, rss


def _descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None, timeout: float = 120) -> int:
    """The status of one request on a connection of its own (0: no answer)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def upload(url: str, name: str, data: bytes) -> int:
    boundary = "retrieverattack"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return request(url, "POST", "/api/summarize", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def under_attack(url: str, pid: int, attack: Callable[[threading.Event], list[int]], seconds: float) -> dict:
    """Run `attack` (threads of its own until the event is set; returns the statuses it
    got) for `seconds` while probing and sampling; the figures."""
    done = threading.Event()
    latencies: dict[str, list[float]] = {"healthz": [], "ask": []}
    failures: Counter = Counter()
    peak = [memory_mb(pid)]

    def probe() -> None:
        parts = urllib.parse.urlsplit(url)
        paths = {"healthz": "/healthz", "ask": "/api/ask?" + urllib.parse.urlencode({"q": "如何化解矛盾纠纷", "k": 5})}
        n = 0
        while not done.is_set():
            kind = "healthz" if n % 2 == 0 else "ask"
            n += 1
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            started = time.perf_counter()
            try:
                conn.request("GET", paths[kind])
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failures[f"{kind} HTTP {response.status}"] += 1
                latencies[kind].append((time.perf_counter() - started) * 1000)
            except (OSError, http.client.HTTPException) as e:
                failures[f"{kind} {type(e).__name__}"] += 1
            finally:
                conn.close()
            time.sleep(0.05)

    def sample() -> None:
        while not done.is_set():
            peak.append(memory_mb(pid))
            time.sleep(0.2)

    helpers = [threading.Thread(target=probe), threading.Thread(target=sample)]
    for h in helpers:
        h.start()
    statuses: list[int] = []
    attacker = threading.Thread(target=lambda: statuses.extend(attack(done)))
    attacker.start()
    time.sleep(seconds)
    done.set()
    attacker.join(180)
    for h in helpers:
        h.join(60)
    return {
        "healthz_p50_ms": round(percentile(latencies["healthz"], 50), 1),
        "healthz_p95_ms": round(percentile(latencies["healthz"], 95), 1),
        "ask_p50_ms": round(percentile(latencies["ask"], 50), 1),
        "ask_p95_ms": round(percentile(latencies["ask"], 95), 1),
        "probes": sum(map(len, latencies.values())),
        "probe_failures": dict(failures),
        "peak_mb": round(max(pss for pss, _ in peak), 0),
        "peak_rss_mb": round(max(rss for _, rss in peak), 0),
        "attack_answers": dict(Counter(map(str, statuses))),
    }


def repeatedly(parallel: int, send: Callable[[], int]) -> Callable[[threading.Event], list[int]]:
    """An attack: `parallel` threads sending again and again until stopped."""

    def attack(done: threading.Event) -> list[int]:
        statuses: list[int] = []

        def loop() -> None:
            while not done.is_set():
                statuses.append(send())

        threads = [threading.Thread(target=loop) for _ in range(parallel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        return statuses

    return attack


def attack_files(folder: Path) -> dict[str, tuple[str, bytes]]:
    line = "要加强基层党组织建设,发挥党员先锋模范作用,推动乡村振兴战略实施"  # no full stop: one long sentence
    runs = docx(folder / "runs.docx", [b"<w:p>", *empty_runs(2_400_000), b"</w:p>"])
    ops = pdf_sharing_one_stream(folder / "ops.pdf", b"BT ET\n" * 1_900_000, pages=100)
    return {
        "15.6 MB .txt on one line": ("big.txt", (line * 200_000).encode()[: int(15.6 * 2**20)]),
        "15 MB GB18030 .txt": ("gb.txt", (line * 250_000).encode("gb18030")[: 15 * 2**20]),
        f".docx of 2.4 M empty runs in one paragraph ({runs.stat().st_size / 2**20:.1f} MB)": ("runs.docx", runs.read_bytes()),
        f"PDF of 100 pages sharing 1.9 M empty operators ({ops.stat().st_size / 2**10:.0f} KB)": ("ops.pdf", ops.read_bytes()),
    }


def abandoned(url: str, pid: int, clients: int = 50, chars: int = 100_000) -> dict:
    """`clients` long summaries, their clients gone after 3 s: the service's CPU seconds
    in the 10 s after they left (2 cores: 20 at most)."""
    text = ("要加强基层党组织建设,发挥党员先锋模范作用。推动乡村振兴战略实施,促进农民增收。" * (chars // 40 + 1))[:chars]
    body = json.dumps({"text": text}).encode()
    socks = []
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    for _ in range(clients):
        sock = socket.create_connection((host, port))
        sock.sendall(
            b"POST /api/summarize HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        socks.append(sock)
    time.sleep(3)
    for sock in socks:
        sock.close()
    time.sleep(1)
    before = cpu_seconds(pid)
    time.sleep(10)
    return {"clients": clients, "chars": chars, "cpu_s_in_10_s_after": round(cpu_seconds(pid) - before, 1)}


def slow_bodies(url: str, count: int, body_timeout_s: float = 30.0) -> dict:
    """`count` connections with whole heads and Content-Length 100000, then one byte
    every 2 s: how many the service has closed after its body timeout."""
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    socks = []
    for _ in range(count):
        sock = socket.create_connection((host, port))
        sock.sendall(
            b"POST /api/summarize HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        socks.append(sock)
    started = time.monotonic()
    while time.monotonic() - started < body_timeout_s + 5:
        for sock in socks:
            try:
                sock.sendall(b"x")
            except OSError:
                pass
        time.sleep(2)
    closed = 0
    for sock in socks:
        sock.settimeout(0.5)
        try:
            data = sock.recv(65536)
            closed += data.startswith(b"HTTP/1.1 408") or data == b""
        except (TimeoutError, OSError):
            pass
        sock.close()
    return {"connections": count, "closed_with_408_or_reset": closed, "after_s": body_timeout_s + 5}


def sigterm(log_file: Path) -> dict:
    """Six long summaries under way or queued, then SIGTERM: their answers, and the
    tracebacks in the log."""
    text = ("要加强基层党组织建设,发挥党员先锋模范作用。推动乡村振兴战略实施。" * 3000)[:100_000]
    body = json.dumps({"text": text}).encode()
    statuses: list[int] = []
    with service(log_file) as (url, proc):
        threads = [
            threading.Thread(
                target=lambda: statuses.append(request(url, "POST", "/api/summarize", body, {"Content-Type": "application/json"}))
            )
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        time.sleep(3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(120)
        proc.wait(timeout=60)
        stopped_s = time.monotonic() - started
    text = log_file.read_text()
    return {
        "answers": dict(Counter(map(str, statuses))),
        "tracebacks": text.count("Traceback"),
        "stopped_in_s": round(stopped_s, 1),
    }


def run(quick: bool) -> dict:
    seconds = 10 if quick else 20
    with tempfile.TemporaryDirectory(prefix="retriever-attacks-") as tmp:
        folder = Path(tmp)
        files = attack_files(folder)
        results: dict = {"attacks": {}}
        with service(folder / "serve.log") as (url, proc):
            results["idle_mb"], results["idle_rss_mb"] = (round(m, 0) for m in memory_mb(proc.pid))
            results["attacks"]["none (baseline)"] = under_attack(url, proc.pid, lambda done: done.wait() and [], seconds)
            for name, (filename, data) in files.items():
                results["attacks"][f"3 at once: {name}"] = under_attack(
                    url, proc.pid, repeatedly(3, lambda f=filename, d=data: upload(url, f, d)), seconds
                )
                log(f"attacks: {name}: {results['attacks'][f'3 at once: {name}']}")
            results["cross_site"] = upload_cross_site(url)
            results["abandoned"] = abandoned(url, proc.pid, clients=10 if quick else 50)
            log(f"attacks: abandoned: {results['abandoned']}")
            results["slow_bodies"] = slow_bodies(url, 50 if quick else 300)
            log(f"attacks: slow bodies: {results['slow_bodies']}")
            results["serve_log_tracebacks"] = (folder / "serve.log").read_text().count("Traceback")
        results["sigterm"] = sigterm(folder / "sigterm.log")
        log(f"attacks: sigterm: {results['sigterm']}")
        return results


def upload_cross_site(url: str) -> int:
    boundary = "x"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n基层治理\r\n--{boundary}--\r\n'
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": "http://evil.com"}
    return request(url, "POST", "/api/summarize", body.encode(), headers)


def headline(results: dict) -> list[str]:
    attacks = [a for name, a in results["attacks"].items() if name != "none (baseline)"]
    worst = max(max(a["healthz_p95_ms"], a["ask_p95_ms"]) for a in attacks)
    peak = max(a["peak_mb"] for a in attacks)
    return [
        f"under attack (uploads of hostile files, 3 at once): /healthz and /api/ask p95 at worst {worst:.0f} ms "
        f"(target {TARGET_P95_MS}), service memory at most {peak:.0f} MB (target {TARGET_MB})"
    ]


def markdown(results: dict) -> str:
    out = [
        f"A real `retriever serve` (idle: {results['idle_mb']:.0f} MB). Each attack runs while a prober asks /healthz and "
        "/api/ask in turn. Memory is the peak of the service and the processes it started (its upload readers): "
        "their proportional set sizes summed (a page n of them share counts 1/n in each: what they take of the "
        "machine), and in brackets their resident sizes summed (shared pages counted in each: an upper bound).\n",
        "| attack | /healthz p50 / p95 | /api/ask p50 / p95 | probes (failed) | peak memory (resident, summed) | attackers got |",
        "|---|---|---|---|---|---|",
    ]
    for name, a in results["attacks"].items():
        failed = sum(a["probe_failures"].values())
        answers = ", ".join(f"{n}× {s}" for s, n in sorted(a["attack_answers"].items())) or "-"
        out.append(
            f"| {name} | {a['healthz_p50_ms']:.0f} / {a['healthz_p95_ms']:.0f} ms | {a['ask_p50_ms']:.0f} / {a['ask_p95_ms']:.0f} ms "
            f"| {a['probes']} ({failed}) | {a['peak_mb']:.0f} MB ({a['peak_rss_mb']:.0f} MB) | {answers} |"
        )
    ab, slow, term = results["abandoned"], results["slow_bodies"], results["sigterm"]
    out += [
        "",
        f"- A cross-site upload (Origin: http://evil.com): HTTP {results['cross_site']}.",
        f"- {ab['clients']} summaries of {ab['chars']:,} characters whose clients left after 3 s: the service used "
        f"{ab['cpu_s_in_10_s_after']} CPU seconds in the 10 s after (2 cores: 20 at most).",
        f"- {slow['connections']} connections sending a body a byte every 2 s: {slow['closed_with_408_or_reset']} closed by the "
        f"service after {slow['after_s']:.0f} s.",
        f"- SIGTERM with six long summaries under way or queued: answers {term['answers']}, stopped in "
        f"{term['stopped_in_s']} s, {term['tracebacks']} tracebacks in the log "
        f"({results['serve_log_tracebacks']} in the log of all the attacks above).",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    run_and_print(__doc__, "10 s an attack, fewer clients", run, markdown)
