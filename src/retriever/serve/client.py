"""How `retriever ask` finds a running `retriever serve` and asks it.

Standard library only: a question answered by the service must not pay for importing
numpy, ONNX Runtime or FAISS. A service registers itself in a small file named after
the index it serves (servers_dir()/<hash of the index path>.json), so that `ask` over the
same index finds it without being told; `--server URL` or RETRIEVER_SERVER names one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from retriever import atomic
from retriever.config import ServeConfig, user_cache_dir
from retriever.errors import UsageError, path_text


class ServerUnavailable(Exception):
    """The service could not answer (not running, not reachable, or failed): ask locally."""


def servers_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return (Path(runtime) / "retriever" if runtime else user_cache_dir()) / "servers"


def _registration(index_dir: Path) -> Path:
    key = hashlib.sha256(os.fsencode(os.path.realpath(index_dir))).hexdigest()[:16]
    return servers_dir() / f"{key}.json"


def register(index_dir: Path, url: str) -> Path | None:
    """Announce a service of `index_dir` at `url`; returns the file to remove at exit, or
    None where it cannot be written (a full or read-only disk): the service then runs
    all the same, and `ask` finds it only when told its URL."""
    path = _registration(index_dir)
    entry = {"url": url, "pid": os.getpid(), "index": path_text(os.path.realpath(index_dir))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps(entry))
    except OSError:
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is None:
        return
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass  # already gone, or another service's by now


def find_server(index_dir: Path) -> str | None:
    """The URL of a live service registered for `index_dir`, if any."""
    path = _registration(index_dir)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(entry["pid"]), 0)  # signal 0: is that process alive?
        return str(entry["url"])
    except ProcessLookupError:
        # Killed without cleanup (SIGKILL, a crash): drop its registration, so that
        # later asks do not look at it again.
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, unreadable, or not ours to check


def ask_server(url: str, params: dict, config: ServeConfig = ServeConfig()) -> dict:
    """GET /api/ask on the service at `url`: the JSON of `retriever ask --json`.

    UsageError for a question the service refuses (4xx: the same answer locally);
    ServerUnavailable for anything else that keeps it from answering.
    """
    # Imported here: http.client costs ~30 ms, which a local answer need not pay.
    import urllib.parse
    from http.client import HTTPConnection, HTTPException

    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port or 80  # urllib checks the port only when asked for it
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise UsageError(f"server {url!r}: give it as http://HOST:PORT")
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    # One deadline for the whole answer: a timeout per read alone let a server that
    # sends a byte a second hold `ask` for as long as it liked.
    deadline = time.monotonic() + config.answer_timeout_s
    conn = HTTPConnection(parts.hostname, port, timeout=config.connect_timeout_s)
    try:
        conn.connect()
        conn.sock.settimeout(config.answer_timeout_s)
        conn.request("GET", f"{parts.path.rstrip('/')}/api/ask?{query}", headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = _read_body(response, deadline, config.max_answer_bytes, conn.sock)
    except TimeoutError:
        raise ServerUnavailable(f"{url}: no whole answer within {config.answer_timeout_s:g} s") from None
    except (OSError, HTTPException) as e:
        raise ServerUnavailable(f"{url}: {e or type(e).__name__}") from None
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        raise ServerUnavailable(f"{url}: answered HTTP {response.status} with no JSON") from None
    if not isinstance(data, dict):
        raise ServerUnavailable(f"{url}: answered HTTP {response.status} with JSON that is not an object")
    if 400 <= response.status < 500 and response.status not in (404, 408, 429):
        raise UsageError(str(data.get("error") or f"the service refused the question (HTTP {response.status})")[:500])
    if response.status != 200:
        raise ServerUnavailable(f"{url}: HTTP {response.status} ({str(data.get('error', 'no answer'))[:200]})")
    if problem := answer_problem(data):
        raise ServerUnavailable(f"{url}: not an answer ({problem})")
    return data


def _read_body(response, deadline: float, limit: int, sock) -> bytes:
    """The body, read before `deadline` (TimeoutError) and at most `limit` bytes."""
    chunks, size = [], 0
    while chunk := response.read1(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise OSError(f"an answer of over {limit:,} bytes")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
    return b"".join(chunks)


def answer_problem(data: dict) -> str | None:
    """What keeps `data` from being the JSON of `ask --json` as far as `ask` reads it,
    if anything: a service of another program, or a broken one, must not make `ask`
    fail with a traceback."""

    def typed(value: object, kind: type | tuple[type, ...]) -> bool:
        return isinstance(value, kind) and not isinstance(value, bool) if kind is not bool else isinstance(value, bool)

    number = (int, float)
    if not typed(data.get("query"), str) or not typed(data.get("results"), list) or not typed(data.get("summary"), dict):
        return "query, results and summary are needed"
    for hit in data["results"]:
        if not isinstance(hit, dict):
            return "a result is not an object"
        fields: dict[str, type | tuple[type, ...]] = {
            "rank": int, "score": number, "title": str, "doc_id": str, "text": str, "start": int, "end": int,
        }  # fmt: skip
        if wrong := [name for name, kind in fields.items() if not typed(hit.get(name), kind)]:
            return f"a result's {', '.join(wrong)} missing or of the wrong type"
        if not (isinstance(hit.get("heading_path"), list) and all(isinstance(h, str) for h in hit["heading_path"])):
            return "a result's heading_path is not a list of str"
        spans = hit.get("highlights")
        if not isinstance(spans, list) or not all(
            isinstance(sp, list) and len(sp) == 2 and all(typed(x, int) for x in sp) and 0 <= sp[0] <= sp[1] <= len(hit["text"])
            for sp in spans
        ):
            return "a result's highlights are not spans of its text"
    sentences = data["summary"].get("sentences")
    if not isinstance(sentences, list) or not all(
        isinstance(s, dict) and typed(s.get("text"), str) and typed(s.get("cites"), int) and typed(s.get("shown", ""), str)
        for s in sentences
    ):
        return "the summary's sentences are not text that cites a result"
    if not typed(data.get("score"), (str, int, float)) or not typed(data.get("timings_ms", {}), dict):
        return "score or timings_ms of the wrong type"
    if not all(typed(v, number) for v in data.get("timings_ms", {}).values()):
        return "timings_ms of the wrong type"
    return None
