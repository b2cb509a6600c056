"""The model without torch: weights read from both file formats, the ONNX graph built from
them, each proved equal to what torch and transformers compute."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, required_or_skip

from retriever.embedding.weights import read_weights
from retriever.errors import RetrieverError


def _torch():
    try:
        import torch
        import transformers
    except ImportError:
        required_or_skip("torch and transformers are not installed (the dev extra has them)")
    return torch, transformers


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors format by hand: an 8-byte header length, a JSON header, the data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t).tobytes()
        header[name] = {
            "dtype": {"float32": "F32", "int64": "I64"}[t.dtype.name],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def test_safetensors_weights_are_read_as_written(tmp_path):
    tensors = {"a.weight": np.arange(12, dtype=np.float32).reshape(3, 4), "ids": np.arange(5, dtype=np.int64)}
    _write_safetensors(tmp_path / "model.safetensors", tensors)
    read = read_weights(tmp_path)
    assert sorted(read) == ["a.weight", "ids"]
    assert np.array_equal(read["a.weight"], tensors["a.weight"]) and read["ids"].dtype == np.int64


def test_torch_weights_are_read_without_torch_equal_to_torch_load(tmp_path):
    torch, _ = _torch()
    state = {
        "w": torch.randn(4, 3),
        "t": torch.randn(3, 4).t(),  # a view with strides of its own
        "part": torch.arange(10, dtype=torch.int64)[2:7],  # an offset into its storage
        "half": torch.randn(2, 2).half(),
    }
    torch.save(state, tmp_path / "pytorch_model.bin")
    read = read_weights(tmp_path)
    for name, tensor in state.items():
        assert np.array_equal(read[name], tensor.float().numpy() if name == "half" else tensor.numpy()), name
    assert read["half"].dtype == np.float32


def _torch_zip(path: Path, pickled: bytes, storages: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickled)
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)


def test_a_weights_file_that_would_run_code_is_refused(tmp_path):
    class Hostile:
        def __reduce__(self):
            return (print, ("owned",))

    _torch_zip(tmp_path / "pytorch_model.bin", pickle.dumps({"w": Hostile()}), {})
    with pytest.raises(RetrieverError) as caught:
        read_weights(tmp_path)
    assert (
        str(caught.value)
        == f"cannot read the weights in {tmp_path / 'pytorch_model.bin'}: unexpected object builtins.print in a weights file"
    )


def _text(s: str) -> bytes:  # pickle's BINUNICODE
    return b"X" + struct.pack("<I", len(s.encode())) + s.encode()


def test_a_tensor_that_claims_more_than_its_storage_is_refused(tmp_path):
    # What torch.save writes for a tensor of 4 floats, written opcode by opcode, but
    # claiming 1000 elements: numpy's as_strided would read past the storage's end.
    pickled = b"".join([
        b"\x80\x02}", _text("w"), b"ctorch._utils\n_rebuild_tensor_v2\n(",
        b"(", _text("storage"), b"ctorch\nFloatStorage\n", _text("0"), _text("cpu"), b"K\x04tQ",
        b"K\x00", b"(M\xe8\x03t", b"(K\x01t", b"\x89N", b"tRs.",
    ])  # fmt: skip
    _torch_zip(tmp_path / "pytorch_model.bin", pickled, {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(RetrieverError, match=r"a tensor outside its storage \(0\)$"):
        read_weights(tmp_path)
    # The same tensor with its true length is read.
    _torch_zip(
        tmp_path / "pytorch_model.bin",
        pickled.replace(b"(M\xe8\x03t", b"(K\x04t"),
        {"0": np.arange(4, dtype=np.float32).tobytes()},
    )
    assert np.array_equal(read_weights(tmp_path)["w"], [0, 1, 2, 3])


def _run_graph(model, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]


# Two texts of different lengths, the shorter padded on the right as the tokenizer pads.
_IDS = np.array([[2, 17, 5, 9, 33, 3], [2, 8, 41, 3, 1, 1]], dtype=np.int64)
_MASK = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=np.int64)


@pytest.mark.parametrize("family", ["bert", "xlm-roberta"])
@pytest.mark.parametrize("file", ["model.safetensors", "pytorch_model.bin"])
def test_the_graph_of_a_small_random_model_computes_what_transformers_computes(tmp_path, family, file):
    torch, transformers = _torch()
    from retriever.embedding.bert_graph import build

    kind = {"bert": transformers.BertConfig, "xlm-roberta": transformers.XLMRobertaConfig}[family]
    config = kind(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=40, pad_token_id=1, type_vocab_size=2 if family == "bert" else 1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config, attn_implementation="eager").eval()
    model.save_pretrained(tmp_path)  # config.json and model.safetensors
    if file == "pytorch_model.bin":  # the older format, as torch.save writes it
        torch.save(model.state_dict(), tmp_path / file)
        (tmp_path / "model.safetensors").unlink()
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(_IDS), attention_mask=torch.tensor(_MASK)).last_hidden_state.numpy()
    config_json = json.loads((tmp_path / "config.json").read_text())
    got = _run_graph(build(config_json, read_weights(tmp_path)), _IDS, _MASK)
    real = _MASK.astype(bool)  # padding's vectors are never used
    assert np.abs(got[real] - expected[real]).max() < 1e-5


def test_a_model_the_graph_cannot_build_is_named_with_the_reason():
    from retriever.embedding.bert_graph import shape_of

    base = {"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4}
    assert shape_of(base).position_offset == 0
    assert shape_of({**base, "model_type": "xlm-roberta", "pad_token_id": 1}).position_offset == 2
    for change, message in [
        ({"model_type": "t5"}, "model type 't5' is not one this tool builds (bert, roberta, xlm-roberta)"),
        ({"hidden_act": "gelu_new"}, "activation 'gelu_new' is not one this tool builds (gelu)"),
        ({"position_embedding_type": "relative_key"}, "position embeddings 'relative_key' are not supported (absolute)"),
    ]:
        with pytest.raises(RetrieverError) as caught:
            shape_of({**base, **change})
        assert str(caught.value) == message


@pytest.mark.e2e
def test_m3e_small_built_without_torch_computes_what_transformers_computes():
    torch, transformers = _torch()
    from retriever.embedding.bert_graph import build
    from retriever.embedding.embedders import resolve_model

    path = resolve_model("m3e-small")
    model = transformers.AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()
    ids = np.array([[101, 2496, 3416, 6375, 102], [101, 3209, 6814, 102, 0]], dtype=np.int64)
    mask = (ids != 0).astype(np.int64)
    with torch.no_grad():
        expected = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).last_hidden_state.numpy()
    got = _run_graph(build(json.loads((path / "config.json").read_text()), read_weights(path)), ids, mask)
    assert np.abs(got[mask.astype(bool)] - expected[mask.astype(bool)]).max() < 1e-4


# Exports m3e-small where torch cannot be imported, then prints what each model gives
# the reference texts.
_EXPORT_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # import torch now fails, as where it is not installed
import json
import logging
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # as a caller shows the library's log
from pathlib import Path
import numpy as np
from retriever.embedding.embedders import OnnxEmbedder
from retriever.embedding.onnx_export import exported
path = Path(sys.argv[1])
files = exported(path)
texts = [str(t) for t in np.load(files.reference)["texts"]]
print(json.dumps({q: OnnxEmbedder("copy", path, quantized=q == "int8").encode(texts).tolist() for q in ("int8", "fp32")}))
"""


@pytest.mark.e2e
def test_the_export_needs_no_torch_and_gives_the_vectors_torch_gives(tmp_path):
    from retriever.embedding.embedders import load_embedder, resolve_model
    from retriever.embedding.onnx_export import REFERENCE_FILE

    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_WITHOUT_TORCH, str(resolve_model("m3e-small"))],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, "RETRIEVER_HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "retriever.embedding.onnx_export: exporting m3e-small to ONNX (once; about 5 s)…\n"
    [export] = (tmp_path / "cache" / "onnx").iterdir()
    assert sorted(p.name for p in export.iterdir()) == [
        "model-fp32-5.onnx", "model-fp32-5.onnx.data", "model-int8-5.onnx", "model-int8-5.onnx.data", "reference-5.npz",
    ]  # fmt: skip
    vectors = json.loads(done.stdout)
    texts = [str(t) for t in np.load(export / REFERENCE_FILE)["texts"]]
    torch_vectors = load_embedder("m3e-small", "torch").encode(texts)
    # fp32: what sentence-transformers computes on torch, to float rounding; int8 close to it.
    assert np.abs(np.array(vectors["fp32"]) - torch_vectors).max() < 1e-5
    assert (np.array(vectors["int8"]) * torch_vectors).sum(axis=1).min() > 0.995


def test_a_failed_export_says_why_and_leaves_no_folder_behind(tmp_path, monkeypatch):
    from retriever.embedding.onnx_export import exported

    monkeypatch.setenv("RETRIEVER_HOME", str(tmp_path / "home"))
    model = tmp_path / "model"
    model.mkdir()
    config = {"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (model / "pytorch_model.bin").write_bytes(b"not a zip archive")
    with pytest.raises(RetrieverError) as caught:
        exported(model)
    assert str(caught.value) == (
        f"cannot read the weights in {model / 'pytorch_model.bin'}: "
        "not torch's zip format (a model saved before torch 1.6; save it again, or as safetensors)"
    )
    assert list((tmp_path / "home" / "cache" / "onnx").iterdir()) == []
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "pytorch_model.bin"]  # nothing written beside the model
