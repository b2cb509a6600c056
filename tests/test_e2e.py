"""End to end with the real model (m3e-small) over corpus/: slower, run in CI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from retriever.cli.commands import app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
pytestmark = pytest.mark.e2e

# Junk of the seed documents, none of which may reach a passage or a summary.
JUNK = re.compile(
    r"省略|会员|试读|微信|http|www\.|\.com|@qq|上一篇|下一篇|返回列表|领取福利|精选图文|扫码|阅读时长|加入收藏|admin|"
    r"为您整理|供您参考|本站|转载|出处|收藏《|未完|仅显示|更多资料|记住我|观山文库|写作网|文秘网|221381|\"\"\"|^\s*。\s*$"
)


def test_cli_answers_the_demo_question(real):
    env = {**os.environ, "RETRIEVER_INDEX": str(real.index.directory)}
    proc = subprocess.run(
        [sys.executable, "-m", "retriever", "ask", "如何化解矛盾纠纷", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    top = answer["results"][0]
    assert top["doc_id"].endswith("004_c317d315896c336b.txt")
    assert top["heading_path"][-1] == "2.完善矛盾纠纷化解机制"
    assert "矛盾纠纷" in answer["summary"]["text"]
    assert 0 < len(answer["summary"]["text"]) <= 300


def test_no_junk_in_passages_or_summaries(real):
    for p in real.index.passages:
        assert not JUNK.search(p.text), p.text
    questions = [json.loads(line)["question"] for line in (ROOT / "benchmarks/questions.jsonl").open(encoding="utf-8")]
    for q in questions[:20]:
        for s in real.ask(q).summary.sentences:
            assert not JUNK.search(s.text), s.text


def test_summary_sentences_are_verbatim_in_the_cited_document(real):
    for q in ("如何化解矛盾纠纷", "怎样留住年轻干部", "乡村产业怎么发展", "基层党组织建设"):
        answer = real.ask(q, k=5)
        assert answer.summary.sentences
        for s in answer.summary.sentences:
            doc = real.index.documents[s.doc_id].text
            assert doc[s.start : s.end] == s.text
            assert answer.results[s.cites - 1].passage.doc_id == s.doc_id


def test_hybrid_is_not_worse_than_either_side(real):
    from benchmarks.retrieval_quality import evaluate, labelled

    results = evaluate(labelled(real), real.embedder, real.index)
    hybrid = next(m for name, m in results.items() if name.endswith("(default)"))
    for metric in ("R@5", "MRR@10", "nDCG@10"):
        assert hybrid[metric] >= max(results["BM25 (jieba)"][metric], results["dense (m3e-small)"][metric])


def test_summarize_a_seed_document(real):
    from retriever import summarize_files

    [record] = summarize_files([ROOT / "corpus/004_c317d315896c336b.txt"], max_chars=300)
    assert record.title == "在全省村(社区)党组织书记基层治理专题培训班上的党课讲稿"
    assert 0 < len(record.summary.text) <= 300
    text = (ROOT / "corpus/004_c317d315896c336b.txt").read_text(encoding="utf-8")
    starts = [s.start for s in record.summary.sentences]
    assert starts == sorted(starts)
    assert [o["title"] for o in record.outline[:2]] == [
        "一、充分认识党建引领农村基层治理的重要意义",
        "(一)党建引领农村基层治理是巩固党的执政基础的必然要求",
    ]
    for s in record.summary.sentences:
        assert s.text in text and not JUNK.search(s.text)


def test_onnx_int8_agrees_with_the_plain_torch_path(real):
    from retriever.embedding.embedders import load_embedder

    texts = [p.text for p in real.index.passages[:16]] + ["如何化解矛盾纠纷"]
    int8 = load_embedder("m3e-small", "onnx-int8").encode(texts)
    plain = load_embedder("m3e-small", "torch").encode(texts)
    cosines = (int8 * plain).sum(axis=1)
    # Here 0.9970 at worst, 0.9978 on average; what that does to rankings is measured
    # in benchmarks/ (within a point of nDCG@10).
    assert cosines.min() > 0.996 and cosines.mean() > 0.997


def test_ask_runs_without_torch(real):
    # The cold path: ONNX Runtime and rjieba only; torch, sentence-transformers and
    # jieba would cost seconds of start-up.
    code = (
        "import sys; from retriever import Retriever; "
        f"a = Retriever.open({str(real.index.directory)!r}).ask('如何化解矛盾纠纷'); "
        "assert a.summary.text; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'jieba', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_milvus_lite_finds_what_faiss_finds(real, tmp_path):
    # The labelled questions' top 10 from the vector store alone (one batched call each),
    # then a few whole answers.
    pytest.importorskip("milvus_lite")
    from benchmarks.retrieval_quality import labelled
    from retriever import Retriever
    from retriever.text.words import for_matching

    milvus, _ = Retriever.build([ROOT / "corpus"], index_dir=tmp_path / "milvus", vector_store="milvus")
    questions = labelled(real).questions
    x = real.embedder.encode([for_matching(q) for q in questions])
    _, by_faiss = real.index.vectors.search(x, 10)
    _, by_milvus = milvus.index.vectors.search(x, 10)
    overlap = sum(len(set(a) & set(b)) / 10 for a, b in zip(by_faiss, by_milvus)) / len(questions)
    assert len(questions) == 71 and overlap >= 0.99
    for q in questions[:5]:
        assert [h.passage.text for h in milvus.ask(q, k=10).results] == [h.passage.text for h in real.ask(q, k=10).results]


def test_ray_embeds_like_the_process(real):
    pytest.importorskip("ray")
    from retriever.embedding.distributed import RayEmbedder

    # Passages and their sentences: several hundred texts of many lengths, so that the
    # in-process order by length crosses Ray's chunks of 64.
    passages = real.index.passages
    texts = [p.text for p in passages] + [
        p.text[a:b] for i, p in enumerate(passages) for a, b in real.index.sentences.spans_of(i)
    ]
    on_ray = RayEmbedder("m3e-small", "onnx-int8", workers=2)
    vectors, here = on_ray.encode(texts), real.embedder.encode(texts)
    assert len(texts) >= 300 and on_ray.workers == 2
    assert np.array_equal(vectors, here)  # bit for bit: every int8 batch holds the same texts


@pytest.fixture(scope="module")
def ray_cluster():
    """A real Ray cluster, as an operator starts one (`ray start --head`, token
    authentication on by default since Ray 2.59), on a free port: its address."""
    import shutil
    import signal
    import socket
    import tempfile

    pytest.importorskip("ray")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    log = []
    for line in head.stdout:
        log.append(line)
        if "Ray runtime started" in line:
            break
    else:
        pytest.fail("ray start --head did not start:\n" + "".join(log))
    yield f"127.0.0.1:{port}"
    head.send_signal(signal.SIGTERM)  # --block: the head stops what it started
    head.wait(timeout=60)
    shutil.rmtree(temp, ignore_errors=True)


def test_a_build_through_a_real_ray_cluster_gives_the_vectors_of_one_in_process(ray_cluster, tmp_path):
    from conftest import required_or_skip

    from benchmarks.common import data_file, read_jsonl
    from retriever import Retriever

    # Ten government work reports: several hundred passages and thousands of sentences.
    reports = data_file("gov_reports", "documents.jsonl")
    if reports is None:
        required_or_skip("../shared/data/gov_reports is absent")
    (tmp_path / "docs").mkdir()
    for d in read_jsonl(reports)[:10]:
        (tmp_path / "docs" / f"{d['id']}.txt").write_text(d["text"], encoding="utf-8")
    here, _ = Retriever.build([tmp_path / "docs"], index_dir=tmp_path / "here")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    proc = subprocess.run(
        [sys.executable, "-m", "retriever", "index", str(tmp_path / "docs"), "--index-dir", str(tmp_path / "ray"),
         "--ray-address", ray_cluster],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    on_ray = Retriever.open(tmp_path / "ray").index
    n = len(here.index.passages)
    assert n >= 300 and [p.text for p in on_ray.passages] == [p.text for p in here.index.passages]
    assert np.array_equal(on_ray.vectors.reconstruct_n(0, n), here.index.vectors.reconstruct_n(0, n))  # bit for bit
    assert np.array_equal(on_ray.sentences.codes, here.index.sentences.codes)
    assert np.array_equal(on_ray.sentences.scales, here.index.sentences.scales)


def test_a_cluster_that_wants_a_token_says_so(ray_cluster, tmp_path):
    # No token anywhere (a HOME without ~/.ray/auth_token): the error says what is missing.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "retriever", "index", "corpus", "--index-dir", str(tmp_path / "idx"), "--ray-address", ray_cluster],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 1  # after Ray's own warnings, one line says why
    assert proc.stderr.splitlines()[-1].startswith(f"error: cannot start or reach Ray at {ray_cluster} (")
    assert "give its token: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token" in proc.stderr
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_the_int8_export_keeps_the_products_with_outlier_inputs_in_fp32():
    # m3e-small's layer-1 feed-forward output has inputs with an outlier: found at
    # export, that product stays fp32 and the other eleven are int8.
    import onnx

    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import _outlier_products, onnx_file

    model_path = resolve_model("m3e-small")
    outlier = "encoder.layer.1.output.dense.product"
    assert _outlier_products(onnx_file(model_path, quantized=False), model_path) == [outlier]
    nodes = onnx.load(str(onnx_file(model_path, quantized=True))).graph.node
    assert sum(n.op_type == "MatMulInteger" for n in nodes) == 11 and sum(n.op_type == "QAttention" for n in nodes) == 4
    assert [n.name for n in nodes if n.op_type == "MatMul"] == [outlier]
    # The fused layer norm and GELU kernels are slower on CPU than the plain operators.
    assert not {"SkipLayerNormalization", "BiasGelu"} & {n.op_type for n in nodes}


def test_exported_models_keep_their_weights_in_a_side_file():
    # ONNX Runtime maps a side file into memory instead of parsing it: a session builds
    # in about 20 ms instead of 100.
    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import onnx_file

    for quantized in (False, True):
        model = onnx_file(resolve_model("m3e-small"), quantized)
        assert model.stat().st_size < 1_000_000
        assert model.with_name(f"{model.name}.data").stat().st_size > 50_000_000


def test_info_check_finds_the_index_and_the_running_model_alike(real):
    # The passages embedded again, in other batches than at the build: the int8 model
    # quantizes activations per batch, so not bit for bit, but close.
    check = real.check()
    assert check["problems"] == []
    assert check["vectors"]["passages"] == 8 and 0.995 < check["vectors"]["min_cosine"] <= 1.0
    assert real.index.manifest.model.precision == "int8"


def test_an_index_of_an_older_export_recipe_is_named_when_asked(real, tmp_path, caplog):
    import shutil

    from retriever import Retriever

    shutil.copytree(real.index.directory, tmp_path / "old")
    manifest = json.loads((tmp_path / "old" / "manifest.json").read_text(encoding="utf-8"))
    manifest["model"]["export_recipe"] = 4
    (tmp_path / "old" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    said = (
        f"{tmp_path / 'old'} was embedded by export recipe 4, questions now by recipe 5: run `retriever index` to embed it again"
    )
    # A warning of the library's log, for its caller to show or not ...
    Retriever.open(tmp_path / "old").ask("如何化解矛盾纠纷")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [("retriever", "WARNING", said)]
    # ... which the command line shows, once a run, --quiet or not.
    for options in ([], ["--quiet"], []):
        result = CliRunner().invoke(app, [*options, "ask", "如何化解矛盾纠纷", "--index-dir", str(tmp_path / "old"), "--local"])
        assert result.exit_code == 0 and result.stderr.count("retriever: ") == 1
        assert f"retriever: {said}\n" in result.stderr
