"""`retriever doctor`: what is installed and where, and whether it works here."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from retriever.config import default_backend, default_index_dir, default_model, places, settings
from retriever.embedding.embedders import check_backend, resolve_model
from retriever.embedding.installation import PUBLISHED, caches
from retriever.embedding.onnx_model import FP32_FILE, INT8_FILE, REFERENCE_FILE, OnnxEmbedder, cpu_summary, export_dir
from retriever.errors import RetrieverError, path_text
from retriever.index import folder as index_store


def doctor() -> dict:
    """What `retriever doctor` reports: the installation, the user's folders, the model
    and how it runs on this CPU, the default index; and the problems found, each with
    what to do."""
    problems: list[str] = []
    report: dict = {"version": version("retriever-zh"), "python": f"{platform.python_version()} ({sys.executable})"}
    report["package"] = path_text(Path(__file__).parent)
    try:
        report["torch"] = version("torch")  # only the torch backend needs it
    except PackageNotFoundError:
        report["torch"] = None
    where = places()
    report["places"] = {
        "config": path_text(where.config_file) + ("" if where.config_file.is_file() else " (none)"),
        "data": path_text(where.data),
        "cache": f"{path_text(where.cache)} ({sum(c.bytes for c in caches()) / 1e6:.1f} MB)",
    }
    try:
        report["settings"] = settings()
    except RetrieverError as e:  # the defaults below come from it: nothing more to check
        report["problems"] = [str(e)]
        return report
    name, backend = default_model(), default_backend()
    model: dict = {"name": name, "backend": backend, "cpu": cpu_summary()}
    report["model"] = model
    try:
        check_backend(backend)  # one that does not exist, or torch where it is not installed
        path = resolve_model(name)
        model["path"] = path_text(path)
        if name in PUBLISHED:
            model["licence"] = PUBLISHED[name].licence
        files = export_dir(path)
        model["onnx"] = path_text(files)
        if backend == "torch":
            model["runs_as"] = "fp32 on torch"
        elif all((files / f).is_file() for f in (FP32_FILE, INT8_FILE, REFERENCE_FILE)):
            embedder = OnnxEmbedder(name, path, quantized=backend == "onnx-int8")
            model["runs_as"] = embedder.precision
            model["agreement"] = round(embedder.agreement, 4)
        else:
            model["runs_as"] = "not exported yet (made on first use, in about 5 s; `retriever model install` makes it now)"
    except RetrieverError as e:
        problems.append(str(e))
    directory = default_index_dir()
    index: dict = {"path": path_text(directory)}
    report["index"] = index
    if index_store.exists(directory):
        try:
            manifest = index_store.read_manifest(directory)
            index.update(
                documents=manifest["corpus"]["documents"], model=manifest["model"]["name"], updated=manifest.get("updated")
            )
        except RetrieverError as e:
            problems.append(str(e))
    else:
        index["documents"] = None
        problems.append(f"no index at {path_text(directory)} yet: `retriever index FOLDER…` builds it from your documents")
    report["problems"] = problems
    return report
