"""The model as ONNX, without torch: its export and its int8 quantization.

The export builds the fused ONNX graph from the model's weights file (bert_graph.py,
weights.py) and quantizes most of its weights to 7-bit integers per channel, which every
x86-64 CPU multiplies exactly (_quantize). Both models are cached, their weights in side
files that load by memory mapping, with the fp32 vectors of a few fixed texts: every
load encodes them again with the model it is about to use, on the CPU it runs on, so an
int8 model that disagrees (another CPU's integer kernels, a damaged file) is never used
silently (embedders.OnnxEmbedder).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever import atomic
from retriever.config import ONNX_FP32, ONNX_INT8, user_cache_dir
from retriever.embedding import bert_graph
from retriever.embedding.onnx_runtime import TORCH_ADVICE, encode, read_config, session, tokenizer_for
from retriever.embedding.weights import read_weights
from retriever.errors import RetrieverError

# What the library has to say on its way (warnings, the one-time export), for the caller's
# logging to show or not: the command line shows it as 「retriever: …」 on stderr.
log = logging.getLogger(__name__)


def export_dir(model_path: Path) -> Path:
    """Where a model's ONNX files live: in the user's cache (`retriever cache` shows and
    clears it), one folder per model folder and weights file, so that a model updated
    or moved is exported again, and nothing is written into the model's own folder
    (often inside a package that pip removes without it)."""
    weights = sorted(model_path.glob("*.bin")) + sorted(model_path.glob("*.safetensors"))
    stamp = "".join(f"{w.name}{w.stat().st_size}{w.stat().st_mtime_ns}" for w in weights)
    key = hashlib.sha256(f"{model_path.resolve()}\0{stamp}".encode()).hexdigest()[:16]
    return user_cache_dir() / "onnx" / f"{model_path.name}-{key}"


# Named after the export recipe, so that a new recipe exports again instead of using an
# older file. Recipe 5:
# - weights in a side file (NAME.data) that ONNX Runtime maps into memory instead of
#   parsing: a session builds in 20 ms instead of 100;
# - residual additions and layer norms, and bias additions and GELU, left as separate
#   operators (bert_graph, session);
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


@dataclass(frozen=True)
class Exported:
    """A model's exported files: both models, and the reference vectors that mark the
    export whole (written last)."""

    fp32: Path
    int8: Path
    reference: Path


_ONNX_BACKENDS = (ONNX_INT8, ONNX_FP32)


def export_recipe(backend: str) -> int | None:
    """What, besides the model and the backend, decides the vectors: the recipe of
    the ONNX export (None for torch, which runs the model as published)."""
    return EXPORT_RECIPE if backend in _ONNX_BACKENDS else None


def exported(model_path: Path) -> Exported:
    """The model's ONNX files, exported on first use (both models at once) and cached."""
    cache = export_dir(model_path)
    files = Exported(cache / FP32_FILE, cache / INT8_FILE, cache / REFERENCE_FILE)
    if files.fp32.is_file() and files.int8.is_file() and files.reference.is_file():
        return files
    _check_pooling(model_path)
    config = read_config(model_path)
    try:
        bert_graph.shape_of(config)  # before any file is written
    except RetrieverError as e:
        raise RetrieverError(f"model {model_path}: {e}; {TORCH_ADVICE}") from None
    cache.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s to ONNX (once; about 5 s)…", model_path.name)
    try:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            work = Path(tmp)
            try:
                _save(bert_graph.build(config, read_weights(model_path)), work / FP32_FILE)
                _quantize(work / FP32_FILE, work / "int8.onnx", model_path)
                _save(work / "int8.onnx", work / INT8_FILE)
            except RetrieverError:
                raise
            except Exception as e:  # onnx and ONNX Runtime fail in many types
                raise RetrieverError(
                    f"cannot export model {model_path} to ONNX ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                    + TORCH_ADVICE
                ) from None
            # Renames within one directory are atomic, and a model's weights move before the
            # model itself: a concurrent or killed export leaves either no model or a whole one.
            for name in (FP32_FILE, INT8_FILE):
                if not (cache / name).is_file():
                    os.replace(work / f"{name}.data", cache / f"{name}.data")
                    os.replace(work / name, cache / name)
            # The reference comes from the fp32 model now in place, and last: its presence
            # says the export is whole.
            tokenizer, dim = tokenizer_for(model_path)
            vectors = encode(tokenizer, session(files.fp32), dim, _REFERENCE_TEXTS)
            with atomic.replacing_binary(files.reference) as f:  # np.savez would add ".npz" to a name without it
                np.savez(f, texts=np.array(_REFERENCE_TEXTS), vectors=vectors)
    except BaseException:
        with contextlib.suppress(OSError):  # a failed first export leaves no empty folder behind
            cache.rmdir()
        raise
    _drop_older_exports(cache)
    return files


def onnx_file(model_path: Path, quantized: bool) -> Path:
    """The model's ONNX file (int8 or fp32), exported on first use and cached."""
    files = exported(model_path)
    return files.int8 if quantized else files.fp32


def _save(model, out: Path) -> None:
    """`model` (an onnx.ModelProto or the path of one) saved as `out`, its weights in
    `out`.data."""
    import onnx

    onnx.save_model(
        onnx.load(str(model)) if isinstance(model, Path) else model, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
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
                raise RetrieverError(f"model {model_path}: not mean pooling; " + TORCH_ADVICE)
        elif kind not in ("Transformer", "Normalize"):
            raise RetrieverError(f"model {model_path}: its module {kind} is not supported by the ONNX path; " + TORCH_ADVICE)


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
