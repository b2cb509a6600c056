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
from pathlib import Path

from . import atomic
from .config import ServeConfig, UsageError, path_text, user_cache_dir


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
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    conn = HTTPConnection(parts.hostname, port, timeout=config.connect_timeout_s)
    try:
        conn.connect()
        conn.sock.settimeout(config.answer_timeout_s)
        conn.request("GET", f"{parts.path.rstrip('/')}/api/ask?{query}", headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
    except (OSError, HTTPException) as e:
        raise ServerUnavailable(f"{url}: {e or type(e).__name__}") from None
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        raise ServerUnavailable(f"{url}: answered HTTP {response.status} with no JSON") from None
    if 400 <= response.status < 500 and response.status not in (404, 408, 429):
        raise UsageError(data.get("error") or f"the service refused the question (HTTP {response.status})")
    if response.status != 200 or "results" not in data:
        raise ServerUnavailable(f"{url}: HTTP {response.status} ({data.get('error', 'no answer')})")
    return data
