"""Vectors in Milvus, with the fake embedder: the same answers as FAISS, incremental
builds, one collection per kept generation, clear errors. Each test runs on milvus-lite
(a file in the index directory) and on a real Milvus server (conftest.milvus_server)."""

import json
from pathlib import Path

import pytest
from conftest import write_corpus
from fastapi.testclient import TestClient
from test_build import DOCS
from typer.testing import CliRunner

from retriever import BadIndexError, Retriever, Scope, StorageError, UsageError
from retriever.cli.commands import app as cli
from retriever.index.manifest import StoreSpec
from retriever.index.milvus import client, is_server, spec

pytest.importorskip("milvus_lite")

QUESTIONS = ("如何化解矛盾纠纷", "人居环境整治", "发展特色产业", "调解组织")


@pytest.fixture(params=["milvus-lite", "milvus-server"])
def uri(request) -> str | None:
    """--uri: none (milvus-lite, a file in the index directory) or the server's."""
    return None if request.param == "milvus-lite" else request.getfixturevalue("milvus_server")


@pytest.fixture
def corpus(in_tmp) -> Path:
    return write_corpus(in_tmp, {**DOCS, "c.txt": "产业发展报告\n要发展特色产业,壮大村集体经济,带动群众增收。"})


def manifest(name: str) -> dict:
    return json.loads(Path(name, "manifest.json").read_text(encoding="utf-8"))


def collections(index_dir: str) -> list[str]:
    store = manifest(index_dir)["vector_store"]
    return sorted(c for c in store_client(index_dir).list_collections() if c.startswith(store["prefix"]))


def store_client(index_dir: str):
    uri = manifest(index_dir)["vector_store"]["uri"]
    return client(uri if is_server(uri) else str(Path(index_dir) / uri))


def results(r: Retriever, mode: str = "hybrid") -> list:
    return [[(h.passage_id, round(h.score, 5)) for h in r.ask(q, k=10, mode=mode, summary_chars=0).results] for q in QUESTIONS]


def test_same_answers_as_faiss(corpus, counting, uri):
    faiss, _ = Retriever.build([corpus], index_dir="faiss")
    milvus, _ = Retriever.build([corpus], index_dir="milvus", vector_store="milvus", uri=uri)
    store = manifest("milvus")["vector_store"]
    assert (store["type"], store["uri"]) == ("milvus", uri or "milvus.db")
    assert store["collection"] == f"{store['prefix']}_{manifest('milvus')['generation']}".replace("-", "_")
    assert "vectors.faiss" not in manifest("milvus")["files"] and Path("milvus/milvus.db").exists() == (uri is None)
    index_type = "AUTOINDEX" if uri else "FLAT"
    assert manifest("milvus")["vector_index"] == {"type": "milvus", "index": index_type, "metric": "IP"}
    for mode in ("hybrid", "dense"):
        assert results(milvus, mode) == results(faiss, mode)
    info = CliRunner().invoke(cli, ["info", "--index-dir", "milvus", "--json"]).stdout
    where = f"Milvus at {uri or 'milvus.db'}, collection {store['collection']}"
    assert json.loads(info)["vector_store"] == {**store, "index": manifest("milvus")["vector_index"], "where": where}
    shown = CliRunner().invoke(cli, ["info", "--index-dir", "milvus"]).stdout
    assert f"  vectors    Milvus at {uri or 'milvus.db'}, collection {store['collection']}\n" in shown
    n = len(faiss.index.passages)
    assert milvus.index.vectors.ntotal == n
    assert abs(milvus.index.vectors.reconstruct_n(0, n) - faiss.index.vectors.reconstruct_n(0, n)).max() < 1e-6
    # The service works the same on either.
    served = TestClient(
        __import__("retriever.serve.app", fromlist=["create_app"]).create_app(milvus), base_url="http://localhost"
    )
    assert served.get("/api/ask", params={"q": "人居环境整治"}).json()["results"][0]["doc_id"] == "corpus/b.txt"


def test_scoped_answers_as_faiss_gives_them(corpus, counting, uri):
    """Asked within some documents, the collection filters inside its search (a filter
    expression): the same k results as FAISS's ID selection gives."""
    faiss, _ = Retriever.build([corpus], index_dir="faiss")
    milvus, _ = Retriever.build([corpus], index_dir="milvus", vector_store="milvus", uri=uri)
    for scope in (Scope(paths=("a.txt",)), Scope(paths=("b.txt", "c.txt"))):
        admitted = set(scope.select(faiss.index).doc_ids)
        for mode in ("dense", "hybrid"):
            got = [(h.passage_id, round(h.score, 5)) for h in milvus.ask("发展产业", k=3, mode=mode, within=scope).results]
            assert got == [(h.passage_id, round(h.score, 5)) for h in faiss.ask("发展产业", k=3, mode=mode, within=scope).results]
            assert {milvus.index.passages[i].doc_id for i, _ in got} <= admitted and len(got) == min(
                3, scope.select(faiss.index).passages
            )


def test_incremental_builds_keep_two_generations_of_collections(corpus, counting, uri):
    Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=uri)
    first = manifest("idx")["vector_store"]["collection"]
    assert collections("idx") == [first]
    (corpus / "d.txt").write_text("垃圾分类\n要推进垃圾分类,建设美丽乡村。", encoding="utf-8")
    counting.texts.clear()
    r, report = Retriever.build([corpus], index_dir="idx")  # the index keeps its store
    assert (report.added, report.unchanged, len(counting.texts)) == (1, 3, 1)  # one new passage embedded
    second = manifest("idx")["vector_store"]["collection"]
    assert collections("idx") == sorted([first, second])  # the previous generation's stays for readers
    states = {name: str(store_client("idx").get_load_state(name)["state"]) for name in (first, second)}
    assert states == {first: "NotLoad", second: "Loaded"}  # but leaves the server's memory
    (corpus / "d.txt").unlink()
    Retriever.build([corpus], index_dir="idx", rebuild=True)
    third = manifest("idx")["vector_store"]["collection"]
    assert manifest("idx")["vector_store"]["type"] == "milvus"  # --rebuild keeps the store too
    assert collections("idx") == sorted([second, third])
    assert Retriever.build([corpus], index_dir="idx")[1].written is False  # nothing changed, nothing written


def test_moving_between_stores(corpus, counting, uri):
    before = results(Retriever.build([corpus], index_dir="idx")[0])
    counting.texts.clear()
    r, report = Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=uri)
    assert report.written and counting.texts == []  # the vectors move, none is embedded again
    assert any(f"vectors move from FAISS files to Milvus at {uri or 'milvus.db'}" in n for n in report.notes)
    assert results(r) == before
    r, report = Retriever.build([corpus], index_dir="idx", vector_store="faiss")
    assert "vectors.faiss" in manifest("idx")["files"] and results(r) == before


def test_errors(corpus, counting, monkeypatch, uri):
    Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=uri)
    store = manifest("idx")["vector_store"]
    check = ["info", "--index-dir", "idx", "--json", "--check"]
    first = CliRunner().invoke(cli, check)
    assert json.loads(first.stdout)["problems"] == [], (first.stderr, first.exception)
    store_client("idx").delete(store["collection"], ids=[0])  # a vector lost
    result = CliRunner().invoke(cli, check)
    assert result.exit_code == 1
    if uri:  # found by the check of the collection
        lost = f"Milvus at {uri}: collection {store['collection']} holds 3 vectors for 4 passages"
        assert json.loads(result.stdout)["problems"] == [lost]
    else:  # milvus-lite counts it at once: opening the index finds it
        assert result.stderr.endswith("vectors, passages and BM25 disagree in count; rebuild it with `retriever index`\n")
    store_client("idx").drop_collection(store["collection"])
    with pytest.raises(BadIndexError, match=f"collection {store['collection']} is missing; rebuild it"):
        Retriever.open("idx")
    with pytest.raises(UsageError, match="--uri and --collection are for --vector-store milvus"):
        spec("faiss", "http://x:19530", None, Path("idx"))
    with pytest.raises(UsageError, match="unknown vector store 'qdrant'"):
        spec("qdrant", None, None, Path("idx"))
    with pytest.raises(UsageError, match="Milvus names are letters, digits and _"):
        spec("milvus", None, "9-bad", Path("idx"))
    assert spec(None, "http://milvus:19530", "team", Path("idx")) == StoreSpec("milvus", "http://milvus:19530", "team")
    monkeypatch.setitem(__import__("sys").modules, "pymilvus", None)  # as if not installed
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", "other", "--vector-store", "milvus"])
    assert result.exit_code == 1 and "pip install 'retriever[milvus]'" in result.stderr


def test_a_failed_write_drops_its_collection(corpus, counting, monkeypatch, uri):
    Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=uri)
    live = manifest("idx")["vector_store"]["collection"]

    def broken(self, path):
        raise OSError("disk full")

    monkeypatch.setattr("retriever.index.folder.SentenceVectors.save", broken)
    (corpus / "d.txt").write_text("垃圾分类\n要推进垃圾分类。", encoding="utf-8")
    with pytest.raises(StorageError, match="disk full"):
        Retriever.build([corpus], index_dir="idx")
    assert collections("idx") == [live] and manifest("idx")["vector_store"]["collection"] == live


def test_a_milvus_server_that_dies_mid_build_or_before_is_one_clear_error(corpus, counting, tmp_path_factory):
    import os
    import signal

    from conftest import running_milvus_server

    with running_milvus_server(tmp_path_factory.mktemp("milvus-killed")) as (uri, server):
        built, _ = Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=uri)
        before = manifest("idx")
        served = TestClient(
            __import__("retriever.serve.app", fromlist=["create_app"]).create_app(built), base_url="http://localhost"
        )
        assert served.get("/api/ask", params={"q": "人居环境整治"}).status_code == 200
        # The server dies mid-build, while the new passage is embedded: the write fails
        # with one line, and the live generation stays.
        (corpus / "e.txt").write_text("村务公开\n要推进村务公开,接受群众监督。", encoding="utf-8")
        embed = counting.encode

        def dying(texts, *args, **kwargs):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            return embed(texts, *args, **kwargs)

        counting.encode = dying
        with pytest.raises(BadIndexError, match=f"Milvus at {uri}: cannot write collection"):
            Retriever.build([corpus], index_dir="idx")
        counting.encode = embed
        assert manifest("idx") == before
        response = served.get("/api/ask", params={"q": "人居环境整治"})
        assert response.status_code == 503 and response.json()["error"].startswith(f"Milvus at {uri}: cannot search collection")
        (corpus / "d.txt").write_text("垃圾分类\n要推进垃圾分类,建设美丽乡村。", encoding="utf-8")
        counting.texts.clear()
        with pytest.raises(BadIndexError, match=f"Milvus at {uri}: cannot"):
            Retriever.build([corpus], index_dir="idx")
        assert counting.texts == []  # nothing was embedded for a build that cannot be written
        assert manifest("idx") == before  # the old generation is untouched


def test_a_server_database_in_the_uri_and_a_token_from_the_environment(corpus, counting, milvus_server, monkeypatch):
    from pymilvus import MilvusClient

    admin = MilvusClient(uri=milvus_server)
    if "team" not in admin.list_databases():
        admin.create_database("team")
    monkeypatch.setenv("RETRIEVER_MILVUS_TOKEN", "root:Milvus")  # the server's default user (auth off here)
    r, _ = Retriever.build([corpus], index_dir="idx", vector_store="milvus", uri=f"{milvus_server}/team")
    store = manifest("idx")["vector_store"]
    assert store["uri"] == f"{milvus_server}/team"  # the token is not written
    assert "root:Milvus" not in Path("idx", "manifest.json").read_text(encoding="utf-8")
    assert store["collection"] in MilvusClient(uri=milvus_server, db_name="team").list_collections()
    assert store["collection"] not in admin.list_collections()  # not in the default database
    assert r.ask("人居环境整治", k=1).results[0].passage.doc_id == "corpus/b.txt"
    with pytest.raises(UsageError, match="give the password or token in RETRIEVER_MILVUS_TOKEN"):
        spec("milvus", "http://root:secret@milvus:19530", None, Path("idx"))
