"""Running an ONNX model: its session, its tokenizer, mean-pooled unit vectors, and the
description of the CPU whose kernels run it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from retriever.config import model_threads
from retriever.errors import RetrieverError

Progress = Callable[[int, int], None]  # (done, total)

# What to do with a model the ONNX path cannot run: the torch backend, which needs torch
# (not installed with the tool: from PyPI it is the CUDA build, 4+ GB).
TORCH_ADVICE = (
    "index it with --backend torch, after installing torch's CPU build "
    "(pip install torch --index-url https://download.pytorch.org/whl/cpu) and sentence-transformers"
)

# ONNX Runtime's CPU kernels for these fused operators are slower than the operators
# they replace: on this 2-core machine SkipLayerNormalization took 15% of an int8
# encode (Add + LayerNormalization 4%) and BiasGelu 8% (Add + Gelu 6%). Neither the
# export nor the session fuses them.
_UNFUSED = ("SkipLayerNormFusion", "BiasGeluFusion")


def read_config(model_path: Path) -> dict:
    try:
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RetrieverError(f"model {model_path}: cannot read config.json ({e})") from None
    if not isinstance(config, dict):
        raise RetrieverError(f"model {model_path}: config.json is not an object")
    return config


def tokenizer_for(model_path: Path):
    """The model's fast tokenizer, truncating and padding as the model needs, and the
    dimension of its vectors."""
    from tokenizers import Tokenizer

    if not (model_path / "tokenizer.json").is_file():
        raise RetrieverError(f"model {model_path}: no tokenizer.json (the ONNX path reads the fast tokenizer); " + TORCH_ADVICE)
    tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    config = read_config(model_path)
    tokenizer.enable_truncation(int(config.get("max_position_embeddings", 512)))
    tokenizer.enable_padding(pad_id=int(config.get("pad_token_id") or 0))
    return tokenizer, int(config["hidden_size"])


# Small batches of similar lengths: on 300 passages of 290 characters, int8 ONNX
# encoded 46 a second in batches of 8, 41 in 32 and 37 in 64.
def encode(tokenizer, model, dim: int, texts: Sequence[str], batch_size: int = 8, progress: Progress | None = None) -> np.ndarray:
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
        hidden = model.run(None, feeds)[0]
        out[ids] = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        if progress:
            progress(min(lo + batch_size, len(texts)), len(texts))
    return unit(out)


def session(model_file: Path):
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


def unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
