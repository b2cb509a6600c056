"""`retriever serve` through FastAPI's test client, and `ask` using a service, with the fake embedder."""

import io
import json
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retriever import Retriever
from retriever.cli import app as cli
from retriever.client import find_server, register, unregister
from retriever.config import ServeConfig
from retriever.serve import create_app, listen

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。\n二、发展产业\n要因地制宜发展特色产业,带动群众增收。"
ENV = "# 环境整治\n\n要抓好人居环境整治,清理生活垃圾。"


@pytest.fixture
def built(in_tmp, fake_embedder) -> Retriever:
    Path("corpus").mkdir()
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    Path("corpus/b.md").write_text(ENV, encoding="utf-8")
    return Retriever.build(["corpus"])[0]


@pytest.fixture
def client(built) -> TestClient:
    # Server errors come back as the client sees them, not raised into the test.
    return TestClient(create_app(built), raise_server_exceptions=False)


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_healthz(client, built):
    data = client.get("/healthz").json()
    assert (data["status"], data["documents"], data["passages"], data["model"]) == ("ok", 2, built.index.manifest["corpus"]["passages"], built.index.model)
    assert data["generation"] == built.index.manifest["generation"] and data["reload_error"] is None


def test_ask_get_and_post_give_the_json_of_ask(client, built):
    local = without_timings(built.ask("如何化解矛盾纠纷", k=2).to_dict())
    got = client.get("/api/ask", params={"q": "如何化解矛盾纠纷", "k": 2})
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert without_timings(got.json()) == local
    for body in ({"question": "如何化解矛盾纠纷", "k": 2}, {"q": "如何化解矛盾纠纷", "k": 2}):
        assert without_timings(client.post("/api/ask", json=body).json()) == local
    bm25 = client.get("/api/ask", params={"q": "环境整治", "mode": "bm25", "summary_chars": 0}).json()
    assert (bm25["mode"], bm25["results"][0]["doc_id"], bm25["summary"]["text"]) == ("bm25", "corpus/b.md", "")


@pytest.mark.parametrize(
    "params, status, message",
    [
        ({}, 422, "q: Field required"),
        ({"q": ""}, 422, "q: String should have at least 1 character"),
        ({"q": "   "}, 400, "the question is empty"),
        ({"q": "问" * 2001}, 422, "q: String should have at most 2000 characters"),
        ({"q": "问题", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
        ({"q": "问题", "k": 101}, 422, "k: Input should be less than or equal to 100"),
        ({"q": "问题", "k": "five"}, 422, "k: Input should be a valid integer, unable to parse string as an integer"),
        ({"q": "问题", "mode": "fuzzy"}, 422, "mode: Input should be 'hybrid', 'dense' or 'bm25'"),
        ({"q": "问题", "summary_chars": 5001}, 422, "summary_chars: Input should be less than or equal to 5000"),
    ],
)
def test_bad_questions_are_clear_4xx(client, params, status, message):
    response = client.get("/api/ask", params=params)
    assert (response.status_code, response.json()) == (status, {"error": message})


def test_bad_post_bodies(client):
    assert client.post("/api/ask", content="{not json", headers={"content-type": "application/json"}).status_code == 422
    response = client.post("/api/ask", json={"question": "问题", "k": 500})
    assert (response.status_code, response.json()) == (422, {"error": "k: Input should be less than or equal to 100"})


def test_summarize_text(client):
    record = client.post("/api/summarize", json={"text": DOC, "max_chars": 60}).json()
    assert (record["path"], record["title"]) == ("<text>", "基层治理讲话")
    assert record["summary"] and len(record["summary"]) <= 60
    assert [h["title"] for h in record["outline"]] == ["一、化解矛盾纠纷", "二、发展产业"]
    focused = client.post("/api/summarize", json={"text": DOC, "max_chars": 40, "query": "产业"}).json()
    assert focused["query"] == "产业" and "产业" in focused["summary"]


def test_summarize_uploaded_files(client):
    record = client.post("/api/summarize", files={"file": ("讲话.md", ENV.encode(), "text/markdown")}).json()
    assert (record["path"], record["title"]) == ("讲话.md", "环境整治")
    html = "<html><head><title>通知</title></head><body><nav>首页</nav><p>要抓好人居环境整治,清理生活垃圾。</p></body></html>"
    record = client.post("/api/summarize", files={"file": ("page.html", html.encode(), "text/html")}, data={"max_chars": "50"}).json()
    assert record["title"] == "通知" and "首页" not in record["summary"] and "环境整治" in record["summary"]


def test_summarize_bad_input_is_4xx_naming_the_file(client):
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("hello.txt", "not a document")
    response = client.post("/api/summarize", files={"file": ("报告.docx", broken.getvalue())})
    assert response.status_code == 422 and response.json()["error"].startswith("报告.docx: not a readable .docx file")
    response = client.post("/api/summarize", files={"file": ("空.txt", b"  \n")})
    assert (response.status_code, response.json()["error"]) == (422, "空.txt: empty file")
    assert client.post("/api/summarize", json={"text": ""}).json() == {"error": "text: String should have at least 1 character"}
    assert client.post("/api/summarize", json={"text": DOC, "ratio": 2}).status_code == 422
    misnamed = client.post("/api/summarize", files={"document": ("a.txt", DOC.encode())})
    assert (misnamed.status_code, misnamed.json()) == (400, {"error": "multipart upload without a `file` field"})
    response = client.post("/api/summarize", content=b"text", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["error"]


def test_request_bodies_are_bounded(built):
    small = TestClient(create_app(built, ServeConfig(max_body_bytes=1000)), raise_server_exceptions=False)
    response = small.post("/api/summarize", json={"text": "很长的文字。" * 500})
    too_large = (413, {"error": "request body too large: the limit is 1,000 bytes"})
    assert (response.status_code, response.json()) == too_large
    chunked = small.post("/api/summarize", content=iter([b'{"text": "', "长".encode() * 400, b'"}']), headers={"content-type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert (chunked.status_code, chunked.json()) == too_large
    assert small.post("/api/summarize", json={"text": DOC}).status_code == 200


def test_info_page_docs_and_unknown_paths(client, built):
    assert client.get("/api/info").json() == json.loads(json.dumps(built.info()))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/ask" in page.text and 'name="viewport"' in page.text
    # Nothing fetched from elsewhere: the page must work offline.
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    docs = client.get("/docs").text
    assert "cdn" not in docs and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    assert {"/healthz", "/api/ask", "/api/summarize", "/api/info"} <= set(client.get("/openapi.json").json()["paths"])
    assert (client.get("/nothing").status_code, client.get("/nothing").json()) == (404, {"error": "Not Found"})


def test_failures_give_no_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /etc/passwd")

    monkeypatch.setattr(Retriever, "ask", broken)
    response = client.get("/api/ask", params={"q": "问题"})
    assert (response.status_code, response.json()) == (500, {"error": "internal error (RuntimeError); the server's log has the details"})


def test_a_new_generation_is_served_once_loaded(client, built):
    before = client.get("/api/ask", params={"q": "乡村旅游", "mode": "bm25"}).json()
    assert before["results"] == []
    Path("corpus/c.txt").write_text("乡村旅游\n要发展乡村旅游,打造特色民宿。", encoding="utf-8")
    Retriever.build(["corpus"])  # what `retriever index` does while the service runs
    client.get("/healthz")  # notices the change; the old index answers until the new one is loaded
    client.app.state.live.settle()
    after = client.get("/api/ask", params={"q": "乡村旅游", "mode": "bm25"}).json()
    assert after["results"][0]["doc_id"] == "corpus/c.txt"
    assert client.get("/healthz").json()["documents"] == 3


def test_a_broken_new_generation_leaves_the_old_one_serving(client, built):
    manifest = Path("indexes/default/manifest.json")
    data = json.loads(manifest.read_text())
    data["generation"] = "gen-missing"
    manifest.with_suffix(".new").write_text(json.dumps(data))
    manifest.with_suffix(".new").replace(manifest)
    client.get("/healthz")
    client.app.state.live.settle()
    health = client.get("/healthz").json()
    assert health["generation"] == built.index.manifest["generation"]
    assert "gen-missing" in health["reload_error"]
    assert client.get("/api/ask", params={"q": "环境整治"}).json()["results"][0]["doc_id"] == "corpus/b.md"


@pytest.fixture
def served(built):
    """A real uvicorn server on a free loopback port, in a thread, registered like `retriever serve`."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(built), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    registration = register(built.index.directory, url)
    yield url
    unregister(registration)
    server.should_exit = True
    thread.join(5)


def test_ask_finds_the_service_of_its_index(served, built):
    assert find_server(Path("indexes/default")) == served
    runner = CliRunner()
    by_service = runner.invoke(cli, ["ask", "如何化解矛盾纠纷", "-k", "2", "--json", "--verbose"])
    assert by_service.exit_code == 0, by_service.output
    assert f"answered by the service at {served} from indexes/default" in by_service.stderr
    local = runner.invoke(cli, ["ask", "如何化解矛盾纠纷", "-k", "2", "--json", "--verbose", "--local"])
    assert "answered by this process from indexes/default" in local.stderr
    assert without_timings(json.loads(by_service.stdout)) == without_timings(json.loads(local.stdout))
    # The rendering is the same whichever answered.
    assert runner.invoke(cli, ["ask", "环境整治"]).stdout == runner.invoke(cli, ["ask", "环境整治", "--local"]).stdout


def test_ask_reports_what_the_service_refuses(served):
    result = CliRunner().invoke(cli, ["ask", "问" * 2001, "--server", served])
    assert result.exit_code == 2
    assert "q: String should have at most 2000 characters" in result.stderr


def test_ask_falls_back_when_the_service_is_gone(built):
    closed = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now
    result = CliRunner().invoke(cli, ["ask", "环境整治", "--server", url, "--verbose", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["doc_id"] == "corpus/b.md"
    assert f"answered by this process (the service did not answer: {url}: [Errno 111] Connection refused)" in result.stderr
    # A registration left by a killed service is ignored.
    registration = register(Path("indexes/default"), url)
    data = json.loads(registration.read_text())
    registration.write_text(json.dumps({**data, "pid": 2**22 + 1}))
    assert find_server(Path("indexes/default")) is None


def test_serve_refuses_a_port_in_use(built):
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    taken.close()
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use); choose another with --port" in result.stderr
