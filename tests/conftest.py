"""Shared fixtures: a small deterministic fake embedder so logic tests are fast and exact."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from retriever.text.segment import sentence_spans

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks/ (the Milvus server the tests run)
CORPUS = ROOT / "corpus"


class FakeEmbedder:
    """Bag of hashed character unigrams and bigrams, 64 dimensions, unit length.

    Texts that share characters get close vectors, which is all the logic tests need.
    """

    name = "fake"
    backend = "fake"
    precision = "fp32"
    dim = 64

    def __init__(self):
        self.calls = 0

    def encode(self, texts, batch_size=32, progress=None):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            grams = list(text) + [text[i : i + 2] for i in range(len(text) - 1)]
            for g in grams:
                h = int.from_bytes(hashlib.md5(g.encode()).digest()[:4], "little")
                out[row, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        if progress:
            progress(len(texts), len(texts))
        return out


def sentence_lookup(embedder, hits):
    """What Index.sentences.of gives the summary, for passages that are not indexed."""
    table = {}
    for hit in hits:
        spans = sentence_spans(hit.passage.text)
        table[hit.passage_id] = (np.array(spans).reshape(-1, 2), embedder.encode([hit.passage.text[a:b] for a, b in spans]))
    return table.__getitem__


@pytest.fixture
def fake_embedder(monkeypatch) -> FakeEmbedder:
    """Every model name loads the fake embedder, in the library and the CLI."""
    fake = FakeEmbedder()
    monkeypatch.setattr("retriever.api.load_embedder", lambda name, backend=None: fake)
    # Its cosines mean nothing to the judgement whether anything answers, which is
    # calibrated per real model: every question is left unjudged (tests of the
    # judgement give it a threshold of their own).
    monkeypatch.setattr("retriever.api.ANSWER_THRESHOLDS", {})
    return fake


class CountingEmbedder:
    """Wraps the fake embedder and records every text it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.name, self.backend, self.dim = inner, inner.name, inner.backend, inner.dim
        self.precision = inner.precision
        self.texts: list[str] = []

    def encode(self, texts, batch_size=32, progress=None):
        self.texts.extend(texts)
        return self.inner.encode(texts, batch_size, progress)


@pytest.fixture
def counting(fake_embedder, monkeypatch) -> CountingEmbedder:
    """The fake embedder, counting what it is asked to embed (incremental builds)."""
    counter = CountingEmbedder(fake_embedder)
    monkeypatch.setattr("retriever.api.load_embedder", lambda name, backend=None: counter)
    return counter


def required_or_skip(what: str) -> None:
    """Skip for want of `what`, saying so, except in CI (RETRIEVER_CI, set by .ci/run),
    where every test must run: there a missing component fails the test."""
    (pytest.fail if os.environ.get("RETRIEVER_CI") else pytest.skip)(what)


@contextlib.contextmanager
def running_milvus_server(data: Path):
    """A real standalone Milvus server while the block runs: (its URI, its process);
    skipped, saying why, where it cannot start (failed in CI)."""
    from benchmarks.milvus_server import NotStarted, running

    try:
        with running(data) as started:
            yield started
    except NotStarted as e:
        required_or_skip(str(e))


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """One real Milvus server for the whole run: its URI."""
    with running_milvus_server(tmp_path_factory.mktemp("milvus")) as (uri, _):
        yield uri


@pytest.fixture(scope="session")
def real(tmp_path_factory):
    """An index of corpus/ built with the real model (the end-to-end tests')."""
    from retriever import Retriever

    index_dir = tmp_path_factory.mktemp("e2e") / "index"
    retriever, report = Retriever.build([ROOT / "corpus"], index_dir=index_dir)
    assert (report.documents, report.skipped) == (5, [])
    return retriever


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run in an empty working directory (indexes/ and corpus/ resolve there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RETRIEVER_INDEX", raising=False)
    monkeypatch.delenv("RETRIEVER_MODEL", raising=False)
    monkeypatch.delenv("RETRIEVER_SERVER", raising=False)
    # Services register here (client.servers_dir): none of the machine's is found.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    # The user's configuration and data (the default index) too; the caches (the model's
    # export, the dictionaries) stay where they are, made once.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("RETRIEVER_HOME", raising=False)
    return tmp_path


def write_corpus(root: Path, docs: dict[str, str]) -> Path:
    """root/corpus/<name> for each document; returns the corpus directory."""
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in docs.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="{main}"/></Relationships>'
)
W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def raw_docx(path: Path, body, main: str = "word/document.xml") -> Path:
    """A .docx whose <w:body> is `body` (a string, or an iterable of byte chunks written
    as a stream: a bomb of any size costs no memory to make)."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS.format(main=main))
        with z.open(main, "w", force_zip64=True) as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W_NS}><w:body>'.encode())
            for chunk in [body.encode()] if isinstance(body, str) else body:
                f.write(chunk)
            f.write(b"</w:body></w:document>")
    return path
