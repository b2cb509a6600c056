"""The README's examples, run: the sample output of `retriever ask`, the shell lines of
its summarize and service sections, and the library example, with the real model
against a temporary copy of the corpus and a served instance."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.e2e

# The width the sample output was printed at (COLUMNS): a README is read wide.
SAMPLE_COLUMNS = "100"
# Lines that need what a test cannot have: a Milvus server or Ray cluster, a model under
# /models or from the hub, a server in the foreground (the test serves one itself),
# `make` (CI runs it). The install lines run in a new virtualenv (test_install.py).
NOT_RUN = re.compile(
    r"--vector-store|--uri|--ray|/models/|^retriever serve|^make |indexes/reports|^pipx |model install|~/Documents"
)


def blocks(language: str) -> list[str]:
    """The README's fenced blocks of `language` ("" for a fence without one), in order."""
    found, current, inside = [], [], None
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            if inside is None:
                inside, current = line[3:].strip(), []
            else:
                if inside == language:
                    found.append("".join(current))
                inside = None
        elif inside is not None:
            current.append(line)
    return found


def shell_lines() -> list[str]:
    lines = [line.split("  #")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#") and not NOT_RUN.search(line)]


@pytest.fixture(scope="module")
def workdir(real, tmp_path_factory):
    """A working directory with the files the examples name, and the environment they
    run in: the venv's commands first on PATH, the real index as the default."""
    from docx import Document

    work = tmp_path_factory.mktemp("readme")
    corpus = sorted((ROOT / "corpus").iterdir())
    texts = [p.read_text(encoding="utf-8") for p in corpus]
    shutil.copytree(ROOT / "corpus", work / "corpus")
    for folder, files in (("speeches", corpus[:2]), ("new", corpus[2:3]), ("more", corpus[3:4])):
        (work / folder).mkdir()
        for f in files:
            shutil.copy(f, work / folder / f.name)
    (work / "notes.txt").write_text(texts[1], encoding="utf-8")
    (work / "speech.txt").write_text(texts[2], encoding="utf-8")
    (work / "report.html").write_text(
        f"<html><head><title>讲话</title></head><body><p>{texts[3]}</p></body></html>", encoding="utf-8"
    )
    docx = Document()
    for paragraph in texts[4].splitlines():
        docx.add_paragraph(paragraph)
    docx.save(work / "讲话.docx")
    (work / "home" / "Downloads" / "讲话稿").mkdir(parents=True)
    shutil.copy(work / "讲话.docx", work / "home" / "Downloads" / "讲话稿" / "讲话.docx")
    (work / "reports").mkdir()
    _pdf(work / "reports" / "通知.pdf", texts[0][:600])
    env = {
        **os.environ,
        "HOME": str(work / "home"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "RETRIEVER_INDEX": str(real.index.directory),
        "XDG_RUNTIME_DIR": str(work / "run"),
    }
    env.pop("RETRIEVER_SERVER", None)
    return work, env


def _pdf(path: Path, text: str) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = getSampleStyleSheet()["Normal"].clone("zh", fontName="STSong-Light", wordWrap="CJK")
    SimpleDocTemplate(str(path), pagesize=A4).build([Paragraph(p, style) for p in text.splitlines() if p.strip()])


def test_the_sample_output_of_ask_is_what_it_prints(real):
    [sample] = [b for b in blocks("") if b.startswith('$ retriever ask "如何化解矛盾纠纷" -k 2\n')]
    env = {**os.environ, "COLUMNS": SAMPLE_COLUMNS, "RETRIEVER_INDEX": str(real.index.directory)}
    printed = subprocess.run(
        [sys.executable, "-m", "retriever", "ask", "如何化解矛盾纠纷", "-k", "2", "--local"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert '$ retriever ask "如何化解矛盾纠纷" -k 2\n' + printed == sample


def test_the_shell_examples_run(workdir, real):
    work, env = workdir
    lines = shell_lines()
    assert len(lines) >= 8  # the summarize and service sections are all there
    served = subprocess.Popen(
        [sys.executable, "-m", "retriever", "serve", "--port", "0", "--no-access-log"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=work,
    )  # fmt: skip
    try:
        for line in served.stderr:
            if m := re.search(r"search page\s+(http://127\.0\.0\.1:\d+)/", line):
                url = m.group(1)
                break
        else:
            pytest.fail("retriever serve did not start")
        for line in lines:
            command = line.replace("http://127.0.0.1:8000", url)
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, env=env, cwd=work, timeout=300
            )
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            assert done.stdout.strip() or "--out" in line or "--add-to-index" in line, line
            assert done.stdout.strip() != "null", line  # jq found nothing where the example promises something
    finally:
        served.send_signal(signal.SIGINT)
        served.wait(timeout=30)
    assert (work / "summaries.csv").stat().st_size > 0
    assert (real.index.directory.parent / "mine" / "manifest.json").is_file()  # beside the default index


def test_the_library_example_runs(workdir):
    work, env = workdir
    [example] = blocks("python")
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, env=env, cwd=work, timeout=600)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("1 ") and "corpus/" in first
    # Retriever.build over corpus/ and more/ (a copy of one of them): 6 documents, none skipped.
    assert re.search(r"^6 \d+ \[\]$", done.stdout, re.M), done.stdout
    assert "'path': 'reports/通知.pdf'" in done.stdout
