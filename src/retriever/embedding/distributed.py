"""Embedding on Ray: `retriever index --ray [ADDRESS]`.

The texts to embed (passages and their sentences) are cut into chunks and mapped over
a pool of Ray actors, each holding one copy of the model (loading it once per worker,
not per chunk) and running on its share of the cores. Results come back in order, so
the index is the same as one built in process; reading, cleaning, BM25 and writing
stay in the driver, since embedding is nearly all the time of a build.

Without an address, Ray starts a local instance on this machine's cores; with one
(`ray://head:10001` or `auto`), the work goes to that cluster, whose workers need
this package and the model installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retriever.config import ENV_THREADS
from retriever.embedding.embedders import load_embedder
from retriever.errors import RetrieverError

CHUNK = 64  # texts per task (whole batches): large enough to amortize a call, small for progress


def _auth_token_at_hand() -> bool:
    """Is a Ray token given (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH) or where `ray start`
    leaves one (~/.ray/auth_token)?"""
    return (
        bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"))
        or (Path.home() / ".ray" / "auth_token").is_file()
    )


def _ray(address: str | None = None):
    # Ray 2.59+ clusters started by `ray start` require a token, and a driver that
    # connects to an explicit address sends one only in token mode, which Ray reads when
    # it is imported: without it, ray.init retried for 20 s to 2 min and failed saying
    # nothing of authentication. With a token at hand, token mode is turned on here
    # (unless RAY_AUTH_MODE says otherwise).
    if address and "RAY_AUTH_MODE" not in os.environ and _auth_token_at_hand():
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise RetrieverError("--ray needs Ray: pip install 'retriever[ray]'") from None
    return ray


def _cannot_reach(address: str | None, error: Exception) -> RetrieverError:
    where = f" at {address}" if address else ""
    hint = ""
    if address and not _auth_token_at_hand():
        hint = (
            "; if the cluster uses token authentication (Ray 2.59 and later turn it on), give its token: "
            "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token (`ray get-auth-token` on the head node)"
        )
    return RetrieverError(f"cannot start or reach Ray{where} ({error}){hint}")


class RayEmbedder:
    """An Embedder whose encode runs on Ray actors."""

    def __init__(self, name: str, backend: str, address: str | None = None, workers: int | None = None):
        ray = _ray(address)
        self.name, self.backend = name, backend
        if not ray.is_initialized():
            if not address:
                # Ray waits 20-30 s for a local control process to start; on a busy
                # 2-core machine that took longer once: give it two minutes. (Not for a
                # cluster: a wrong address or a missing token would wait as long.)
                os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "120")
            attempts = 1 if address else 3
            for attempt in range(1, attempts + 1):
                try:
                    ray.init(address=address or None, include_dashboard=False, log_to_driver=False, configure_logging=False)
                    break
                except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError…
                    # A local instance gets more tries when it timed out: its node did
                    # not register within Ray's fixed 30 s (seen on a loaded 2-core
                    # machine, at times twice in a row), or its control process never
                    # wrote its port (seen once, with no log at all: waiting longer
                    # would not have helped, a new start does).
                    if attempt == attempts or "timed out" not in str(e).lower():
                        raise _cannot_reach(address, e) from None
                    ray.shutdown()
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # One worker per core on a machine of its own; each gets the cores it may use,
        # and its ONNX Runtime as many threads.
        self.workers = max(1, min(workers or cpus, cpus))
        threads = max(1, cpus // self.workers)
        worker = ray.remote(num_cpus=threads)(_Worker)
        self._pool = [worker.remote(name, backend, threads) for _ in range(self.workers)]
        # Each worker checks its model on its own CPU (embedders.OnnxEmbedder); the first
        # one says what runs.
        self.dim, self.precision = ray.get(self._pool[0].describe.remote())

    def encode(self, texts: Sequence[str], batch_size: int = 8, progress: Callable | None = None) -> np.ndarray:
        """The vectors an in-process encode gives, bit for bit: the int8 model quantizes
        activations per batch, so every batch must hold the same texts. The texts are
        put in the in-process order (by length, stably) before they are cut into chunks
        of whole batches; each worker keeps that order, and the vectors are put back."""
        from ray.util import ActorPool

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunk = max(1, CHUNK // batch_size) * batch_size
        chunks = [[texts[i] for i in order[lo : lo + chunk]] for lo in range(0, len(order), chunk)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pool = ActorPool(self._pool)
        done = 0
        for lo, chunk_vectors in zip(
            range(0, len(order), chunk), pool.map(lambda actor, part: actor.encode.remote(part, batch_size), chunks)
        ):
            out[order[lo : lo + len(chunk_vectors)]] = chunk_vectors
            done += len(chunk_vectors)
            if progress:
                progress(done, len(texts))
        return out


class _Worker:
    """One model per Ray worker process."""

    def __init__(self, name: str, backend: str, threads: int):
        os.environ[ENV_THREADS] = str(threads)
        self.embedder = load_embedder(name, backend)

    def describe(self) -> tuple[int, str]:
        return self.embedder.dim, self.embedder.precision

    def encode(self, texts: list[str], batch_size: int):
        return self.embedder.encode(texts, batch_size)
