"""`retriever serve` through FastAPI's test client, and `ask` using a service, with the fake embedder."""

import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from retriever import Retriever
from retriever.arguments import check_budget, check_k, check_question
from retriever.cli.commands import app as cli
from retriever.config import ServeConfig
from retriever.errors import UsageError
from retriever.serve.app import create_app, http_server, listen
from retriever.serve.client import ask_server, find_server, register, unregister

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。\n二、发展产业\n要因地制宜发展特色产业,带动群众增收。"
ENV = "# 环境整治\n\n要抓好人居环境整治,清理生活垃圾。"


@pytest.fixture
def built(in_tmp, fake_embedder) -> Retriever:
    Path("corpus").mkdir()
    Path("indexes").mkdir()  # a project folder
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    Path("corpus/b.md").write_text(ENV, encoding="utf-8")
    return Retriever.build(["corpus"])[0]


def local_client(app) -> TestClient:
    """A test client that names the service as a browser on this machine does (the
    service refuses TestClient's own `testserver`), and gets server errors as a client
    sees them, not raised into the test."""
    return TestClient(app, base_url="http://localhost", raise_server_exceptions=False)


@pytest.fixture
def client(built) -> TestClient:
    return local_client(create_app(built))


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def test_healthz(client, built):
    data = client.get("/healthz").json()
    assert (data["status"], data["documents"], data["passages"], data["model"]) == (
        "ok",
        2,
        built.index.manifest.corpus.passages,
        built.index.model,
    )
    assert data["generation"] == built.index.manifest.generation and data["reload_error"] is None


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
        ({}, 422, "q is required"),
        ({"q": ""}, 400, "the question is empty"),
        ({"q": "   "}, 400, "the question is empty"),
        (
            {"q": "问" * 2001},
            400,
            "the question is too long: 2,001 characters, the limit is 2,000 (to summarize a document, use `retriever summarize`)",
        ),
        ({"q": "问题", "k": 0}, 400, "k (the number of passages) must be a whole number from 1 to 100, not 0"),
        ({"q": "问题", "k": 101}, 400, "k (the number of passages) must be a whole number from 1 to 100, not 101"),
        ({"q": "问题", "k": "five"}, 422, "k must be a whole number"),
        ({"q": "问题", "mode": "fuzzy"}, 400, "unknown mode 'fuzzy': choose one of hybrid, blend, dense, bm25"),
        (
            {"q": "问题", "summary_chars": 5001},
            400,
            "summary_chars (the summary's budget) must be a whole number of characters from 0 to 5,000, not 5001",
        ),
        ({"q": "问题", "summary_chars": "1.5"}, 422, "summary_chars must be a whole number"),
    ],
)
def test_bad_questions_are_clear_4xx(client, params, status, message):
    """Out of bounds: 400 and the words of the library's checks (arguments.check_*); not
    parsed: 422 in the user's words, not pydantic's."""
    response = client.get("/api/ask", params=params)
    assert (response.status_code, response.json()) == (status, {"error": message})


@pytest.mark.parametrize(
    "body, status, message",
    [
        ("{not json", 422, "the body is not valid JSON"),
        ('["问题"]', 422, "the body must be a JSON object"),
        ('{"k": 5}', 422, "question is required"),
        ('{"question": 5}', 422, "question must be a string"),
        ('{"question": "问题", "k": 500}', 400, "k (the number of passages) must be a whole number from 1 to 100, not 500"),
        ('{"q": "问题", "k": 2.5}', 422, "k must be a whole number"),
    ],
)
def test_bad_post_bodies(client, body, status, message):
    response = client.post("/api/ask", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (status, {"error": message})


@pytest.mark.parametrize(
    "method, path, request_, message",
    [
        ("get", "/api/ask", {"q": "问题", "explain": "maybe"}, "explain must be true or false"),
        ("get", "/api/ask", {"q": "问题", "year": "2019年"}, "year.0 must be a whole number"),
        ("get", "/api/ask", {"q": "问题", "k": "9" * 5000}, "k is too large a number"),
        ("get", "/api/ask", {"q": "问题", "since": "2019-03-05" * 5}, "since must be at most 40 characters"),
        ("get", "/api/ask", [("q", "问题")] + [("year", "2019")] * 65, "year must have at most 64 values, not 65"),
        ("get", "/api/ask", [("q", "问题")] + [("in", "reports")] * 65, "in must have at most 64 values, not 65"),
        ("post", "/api/ask", '{"q": "问题", "explain": []}', "explain must be true or false"),
        ("post", "/api/ask", '{"q": "问题", "explain": "maybe"}', "explain must be true or false"),
        ("post", "/api/ask", '{"q": "问题", "year": 2019}', "year must be a list"),
        ("post", "/api/ask", '{"q": "问题", "doc": "a.txt"}', "doc must be a list"),
        ("post", "/api/ask", '{"q": "问题", "in": [1]}', "in.0 must be a string"),
        ("post", "/api/ask", '{"q": "问题", "until": "' + "2" * 41 + '"}', "until must be at most 40 characters"),
        ("post", "/api/ask", '{"q": "问题", "k": 1e400}', "k must be a finite number"),
        ("post", "/api/ask", '{"q": "问题", "k": 1e20}', "k is too large a number"),
        ("post", "/api/ask", "", "the body is required"),
        (
            "post",
            "/api/judge",
            '{"question": "问题", "passage_id": "first", "start": "b", "doc_id": 3, "verdict": "good"}',
            "passage_id must be a whole number; doc_id must be a string; start must be a whole number",
        ),
        ("post", "/api/judge", '{"question": "问题", "passage_id": 0, "verdict": true}', "verdict must be a string"),
        ("post", "/api/summarize", '{"text": "文字", "max_chars": 1e400}', "max_chars must be a finite number"),
        # A summary's field called `query` is named, not taken for where a GET's fields come from.
        ("post", "/api/summarize", '{"text": "文字", "query": 1}', "query must be a string"),
        ("post", "/api/summarize", '{"text": "文字", "title": null}', "title must be a string"),
    ],
)
def test_fields_pydantic_refuses_are_named_in_plain_words(client, method, path, request_, message):
    """Every kind of value pydantic refuses in the service's fields: the field, and the
    limit it passed, in plain words (the bounds of k, mode and the budgets are the
    library's checks: test_bad_questions_are_clear_4xx)."""
    if method == "get":
        response = client.get(path, params=request_)
    else:
        response = client.post(path, content=request_, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (422, {"error": message})


def test_the_schema_keeps_the_bounds(client):
    schema = client.get("/openapi.json").json()
    ask = {p["name"]: p["schema"] for p in schema["paths"]["/api/ask"]["get"]["parameters"]}
    assert ask["k"]["description"] == "How many passages: 1 to 100" and ask["mode"]["enum"] == [
        "hybrid",
        "blend",
        "dense",
        "bm25",
    ]
    form = schema["paths"]["/api/summarize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert list(form["properties"]) == ["file", "max_chars", "ratio", "query"]


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
    record = client.post(
        "/api/summarize", files={"file": ("page.html", html.encode(), "text/html")}, data={"max_chars": "50"}
    ).json()
    assert record["title"] == "通知" and "首页" not in record["summary"] and "环境整治" in record["summary"]


def test_summarize_bad_input_is_4xx_naming_the_file(client):
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("hello.txt", "not a document")
    response = client.post("/api/summarize", files={"file": ("报告.docx", broken.getvalue())})
    assert response.status_code == 422 and response.json()["error"].startswith("报告.docx: not a readable .docx file")
    response = client.post("/api/summarize", files={"file": ("表.xlsx", broken.getvalue())})
    assert (response.status_code, response.json()["error"]) == (
        422,
        "表.xlsx: .xlsx files are not read (the formats read: .txt, .md, .html, .docx, .pdf)",
    )
    response = client.post("/api/summarize", files={"file": ("空.txt", b"  \n")})
    assert (response.status_code, response.json()["error"]) == (422, "空.txt: empty file")
    for body, message in [
        ({"text": ""}, "no text to summarize once site chrome and junk were removed"),
        ({"text": DOC, "ratio": 2}, "ratio must be a number above 0 and at most 1, not 2.0"),
        (
            {"text": DOC, "max_chars": 0},
            "max_chars (the summary's budget) must be a whole number of characters from 1 to 5,000, not 0",
        ),
        ({"text": DOC, "query": " "}, "the query is empty"),
    ]:
        response = client.post("/api/summarize", json=body)
        assert (response.status_code, response.json()) == (400, {"error": message})
    response = client.post("/api/summarize", json={"text": DOC, "max_chars": "many"})
    assert (response.status_code, response.json()) == (422, {"error": "max_chars must be a whole number"})
    response = client.post("/api/summarize", files={"file": ("a.txt", DOC.encode())}, data={"ratio": "a tenth"})
    assert (response.status_code, response.json()) == (422, {"error": "ratio must be a number"})
    misnamed = client.post("/api/summarize", files={"document": ("a.txt", DOC.encode())})
    assert (misnamed.status_code, misnamed.json()) == (
        400,
        {"error": "unknown form field `document`: the fields are file, max_chars, ratio, query"},
    )
    no_file = client.post("/api/summarize", files={"max_chars": (None, "50")})
    assert (no_file.status_code, no_file.json()) == (400, {"error": "multipart upload without a `file` field"})
    response = client.post("/api/summarize", content=b"text", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["error"]


def test_request_bodies_are_bounded(built):
    small = local_client(create_app(built, ServeConfig(max_body_bytes=1000)))
    response = small.post("/api/summarize", json={"text": "很长的文字。" * 500})
    too_large = (413, {"error": "request body too large: the limit is 1,000 bytes"})
    assert (response.status_code, response.json()) == too_large
    chunked = small.post(
        "/api/summarize", content=iter([b'{"text": "', "长".encode() * 400, b'"}']), headers={"content-type": "application/json"}
    )
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
    assert (response.status_code, response.json()) == (
        500,
        {"error": "internal error (RuntimeError); the server's log has the details"},
    )


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
    data["generation"] = "gen-20990101T000000-abcdef"
    manifest.with_suffix(".new").write_text(json.dumps(data))
    manifest.with_suffix(".new").replace(manifest)
    client.get("/healthz")
    client.app.state.live.settle()
    health = client.get("/healthz").json()
    assert health["generation"] == built.index.manifest.generation
    assert "gen-20990101T000000-abcdef" in health["reload_error"]
    assert client.get("/api/ask", params={"q": "环境整治"}).json()["results"][0]["doc_id"] == "corpus/b.md"


@contextmanager
def running(app, config: ServeConfig = ServeConfig()) -> Iterator[str]:
    """`app` served as `retriever serve` serves it, by a real uvicorn server on a free
    loopback port in a thread: its URL."""
    sock = listen("127.0.0.1", 0)
    server = http_server(app, config, log_level="warning", lifespan="off")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture
def served(built):
    """A real server, registered like `retriever serve`."""
    with running(create_app(built)) as url:
        registration = register(built.index.directory, url)
        yield url
        unregister(registration)


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


def test_the_service_refuses_in_the_words_of_ask(served):
    """A question refused locally is refused by the service with the same message."""
    for params, local in [
        ({"q": "问" * 2001}, lambda: check_question("问" * 2001)),
        ({"q": "问题", "k": 101}, lambda: check_k(101)),
        ({"q": "问题", "summary_chars": -1}, lambda: check_budget(-1, "summary_chars", allow_zero=True)),
        ({"q": "问题", "mode": "fuzzy"}, lambda: check_question("问题", "fuzzy")),
    ]:
        with pytest.raises(UsageError) as by_service:
            ask_server(served, params)
        with pytest.raises(UsageError) as here:
            local()
        assert str(by_service.value) == str(here.value)
    result = CliRunner().invoke(cli, ["ask", "问" * 2001, "--server", served])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: the question is too long: 2,001 characters, the limit is 2,000 (to summarize a document, use `retriever summarize`)\n",
    )


def test_ask_falls_back_when_the_service_is_gone(built):
    closed = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now
    result = CliRunner().invoke(cli, ["ask", "环境整治", "--server", url, "--verbose", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["results"][0]["doc_id"] == "corpus/b.md"
    assert f"answered by this process (the service did not answer: {url}: [Errno 111] Connection refused)" in result.stderr
    # A registration left by a killed service is ignored, and dropped.
    registration = register(Path("indexes/default"), url)
    data = json.loads(registration.read_text())
    registration.write_text(json.dumps({**data, "pid": 2**22 + 1}))
    assert find_server(Path("indexes/default")) is None
    assert not registration.exists()


def test_serve_refuses_a_port_in_use(built):
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    taken.close()
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use); choose another with --port" in result.stderr


@pytest.mark.parametrize("url", ["http://localhost:abc", "localhost:99999", "ftp://localhost:8765", "http://:8765"])
def test_a_server_address_that_is_no_http_host_and_port_is_named(url):
    with pytest.raises(UsageError) as e:
        ask_server(url, {"q": "环境整治"})
    assert str(e.value) == f"server {url!r}: give it as http://HOST:PORT"


def test_the_schema_describes_every_answer_and_every_error_as_sent(client):
    from retriever.serve.schemas import AskResponse, HealthResponse, InfoResponse, SummarizeResponse

    # Real answers, validated with unknown fields forbidden: the description cannot drift.
    AskResponse.model_validate(client.get("/api/ask", params={"q": "矛盾纠纷"}).json())
    AskResponse.model_validate(client.get("/api/ask", params={"q": "？？？"}).json())  # not answered: reason, reason_code
    SummarizeResponse.model_validate(client.post("/api/summarize", json={"text": DOC, "query": "产业"}).json())
    upload = client.post("/api/summarize", files={"file": ("a.txt", DOC.encode(), "text/plain")})
    SummarizeResponse.model_validate(upload.json())
    HealthResponse.model_validate(client.get("/healthz").json())
    InfoResponse.model_validate(client.get("/api/info").json())

    schema = client.get("/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    ask = schema["paths"]["/api/ask"]["get"]["responses"]
    assert ask["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AskResponse"}
    assert sorted(ask) == ["200", "400", "403", "408", "413", "422", "500", "503"]
    assert all(ask[s]["content"]["application/json"]["schema"] == error for s in ask if s != "200")
    summarize = schema["paths"]["/api/summarize"]["post"]["responses"]
    assert sorted(summarize) == ["200", "400", "403", "408", "413", "415", "422", "499", "500", "503"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's {"detail": …}, never sent
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]


def test_the_page_has_an_icon_and_says_why_nothing_answers_in_chinese(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg ")
    page = client.get("/").text
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page
    answer = client.get("/api/ask", params={"q": "？？？"}).json()
    assert answer["reason_code"] == "no_words"
    for code in ("no_words", "no_match", "below_threshold"):
        assert f'  {code}: "' in page  # each reason has its Chinese words
    assert "answer.reason ||" not in page  # the English reason is for programs and logs
