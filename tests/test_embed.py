"""The ONNX export and the check of every load: an int8 model that disagrees with fp32
(another CPU's kernels, a damaged file) is never used silently."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, required_or_skip

from retriever.embedding.onnx_export import FP32_FILE, INT8_FILE, REFERENCE_FILE, _drop_older_exports


def test_a_new_export_removes_the_files_of_older_recipes(tmp_path):
    current = [FP32_FILE, f"{FP32_FILE}.data", INT8_FILE, f"{INT8_FILE}.data", REFERENCE_FILE]
    older = ["model.onnx", "model-int8.onnx", "model-int8-2.onnx", "model-int8-4.onnx.data", "reference-4.npz"]
    for name in [*current, *older, "tokenizer.json"]:
        (tmp_path / name).write_bytes(b"x")
    _drop_older_exports(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*current, "tokenizer.json"])


def _model_copy(directory: Path, monkeypatch, int8_from=None) -> Path:
    """m3e-small in a folder of its own, with RETRIEVER_HOME in a temporary folder: its
    files linked, the real export's fp32 model and reference linked into its export
    folder, and an int8 model made by `int8_from(path, real export)` (or the real one)."""
    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import export_dir, exported

    real = resolve_model("m3e-small")
    files = exported(real)
    directory.mkdir()
    for file in real.iterdir():
        if file.is_file():
            (directory / file.name).symlink_to(file)
    monkeypatch.setenv("RETRIEVER_HOME", str(directory.parent / "home"))  # the copy's export goes there
    target = export_dir(directory)
    target.mkdir(parents=True)
    for file in (files.fp32, files.fp32.with_name(f"{FP32_FILE}.data"), files.reference):
        (target / file.name).symlink_to(file)
    if int8_from is None:
        for file in (files.int8, files.int8.with_name(f"{INT8_FILE}.data")):
            (target / file.name).symlink_to(file)
    else:
        int8_from(target / INT8_FILE, files)
    return directory


def _damaged_int8(out: Path, files) -> None:
    """The real int8 model with the signs of the first attention's weights flipped."""
    import onnx
    from onnx import numpy_helper

    from retriever.embedding.onnx_export import _save

    model = onnx.load(str(files.int8))
    weight = next(i for i in model.graph.initializer if i.name.endswith("qkv.weight_quantized"))
    weight.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(weight), weight.name))
    onnx.save_model(model, str(out.with_name("damaged.onnx")), save_as_external_data=True, location="damaged.onnx.data")
    _save(out.with_name("damaged.onnx"), out)


def _int8_without_7_bit_weights(out: Path, files) -> None:
    """The recipe's int8 model, but with 8-bit weights: right with VNNI, not without."""
    from retriever.embedding.embedders import resolve_model
    from retriever.embedding.onnx_export import _quantize, _save

    _quantize(files.fp32, out.with_name("int8.onnx"), resolve_model("m3e-small"), reduce_range=False)
    _save(out.with_name("int8.onnx"), out)


@pytest.mark.e2e
def test_an_int8_model_that_disagrees_gives_way_to_fp32_with_a_line_saying_why(tmp_path, caplog, monkeypatch):
    from retriever.embedding.embedders import OnnxEmbedder
    from retriever.embedding.onnx_runtime import cpu_summary

    model = _model_copy(tmp_path / "m3e", monkeypatch, _damaged_int8)
    embedder = OnnxEmbedder(str(model), model, quantized=True)
    [record] = caplog.records  # a warning of the library's log, for its caller to show (the CLI does)
    assert (record.name, record.levelname) == ("retriever.embedding.embedders", "WARNING")
    line = record.getMessage()
    assert line.startswith(f"the int8 model of {model} disagrees with fp32 on this CPU ({cpu_summary()}; cosine ")
    assert line.endswith(
        ", needs 0.99): using fp32, the same answers, more slowly. "
        "Set RETRIEVER_BACKEND=onnx to choose it yourself, and please report this CPU."
    )
    assert (embedder.backend, embedder.precision, embedder.agreement) == ("onnx-int8", "fp32", 1.0)
    texts = ["如何化解矛盾纠纷", "要建立矛盾纠纷排查调处机制，及时发现和化解各类矛盾纠纷。"]
    assert np.array_equal(embedder.encode(texts), OnnxEmbedder(str(model), model, quantized=False).encode(texts))
    assert len(caplog.records) == 1  # the fp32 model is checked too, and agrees


@pytest.mark.e2e
def test_the_model_files_are_checked_on_every_load(tmp_path, monkeypatch):
    from retriever.embedding.embedders import OnnxEmbedder
    from retriever.embedding.onnx_export import export_dir
    from retriever.errors import RetrieverError

    model = _model_copy(tmp_path / "m3e", monkeypatch)
    export = export_dir(model)
    assert OnnxEmbedder(str(model), model).precision == "int8"
    reference = np.load(export / REFERENCE_FILE)
    (export / REFERENCE_FILE).unlink()
    with open(export / REFERENCE_FILE, "wb") as f:  # vectors the model never gave
        np.savez(f, texts=reference["texts"], vectors=np.roll(reference["vectors"], 1, axis=0))
    with pytest.raises(RetrieverError) as caught:
        OnnxEmbedder(str(model), model, quantized=False)
    assert str(caught.value).startswith(
        f"model {model}: the exported model in {export} does not give the vectors it gave when it was exported (cosine "
    )
    assert str(caught.value).endswith("a file was changed or damaged; delete that folder to export the model again")


# Run as a CPU without VNNI: each model's precision, its load check and its vectors of
# the texts on stdin.
_ENCODE = """
import json, sys
import numpy as np
from retriever.embedding.embedders import load_embedder
embedder = load_embedder(sys.argv[1], "onnx-int8")
np.save(sys.argv[2], embedder.encode(json.load(sys.stdin)))
print(json.dumps([embedder.precision, embedder.agreement]))
"""


def _encode_as(mask, model: str, texts: list[str], out: Path) -> tuple[str, float, np.ndarray, str]:
    from benchmarks.cpu_kinds import Unavailable, masked_env

    try:
        env = masked_env(mask)
    except Unavailable as e:
        required_or_skip(f"no CPU without VNNI to run as: {e}")
    done = subprocess.run(
        [sys.executable, "-c", _ENCODE, model, str(out)],
        input=json.dumps(texts), capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    precision, agreement = json.loads(done.stdout)
    return precision, agreement, np.load(out), done.stderr


@pytest.mark.e2e
def test_on_a_cpu_without_vnni_the_int8_model_agrees_and_8_bit_weights_give_way(real, tmp_path, monkeypatch):
    from retriever.embedding.embedders import load_embedder
    from retriever.embedding.onnx_runtime import cpu_summary
    from retriever.text.words import for_matching

    texts = [for_matching(p.text) for p in real.index.passages]
    plain = load_embedder("m3e-small", "torch").encode(texts)
    # The recipe (7-bit weights) as a CPU with AVX2 only: int8, and close to torch.
    precision, agreement, vectors, stderr = _encode_as("avx2", "m3e-small", texts, tmp_path / "recipe.npy")
    cosines = (vectors * plain).sum(axis=1)
    assert (precision, stderr) == ("int8", "")
    assert agreement > 0.995 and cosines.min() > 0.99 and cosines.mean() > 0.995
    # Nearly this CPU's vectors, whatever it is: the integer products are exact on both,
    # the float kernels between them differ in their last bits (0.9994 at worst here).
    here = load_embedder("m3e-small", "onnx-int8").encode(texts)
    assert (vectors * here).sum(axis=1).min() > 0.999

    # 8-bit weights, as recipe 4 had them: the load check catches them there.
    model = str(_model_copy(tmp_path / "m3e", monkeypatch, _int8_without_7_bit_weights))
    precision, agreement, vectors, stderr = _encode_as("avx2", model, texts, tmp_path / "8-bit.npy")
    assert precision == "fp32" and agreement > 0.9999
    assert stderr.startswith(f"the int8 model of {model} disagrees with fp32 on this CPU (")  # logging's last resort
    assert (vectors * plain).sum(axis=1).min() > 0.9999
    # With VNNI, they are right (unless this whole run is masked: make test-novnni).
    if ", VNNI" in cpu_summary() and "CPUID_MASK" not in os.environ:
        precision, agreement, _, stderr = _encode_as(None, model, texts, tmp_path / "8-bit-here.npy")
        assert (precision, stderr) == ("int8", "") and agreement > 0.995
