import numpy as np

from retriever.embed import FP32_FILE, INT8_FILE, _drop_older_exports, pool_spans


def test_a_new_export_removes_the_files_of_older_recipes(tmp_path):
    current = [FP32_FILE, f"{FP32_FILE}.data", INT8_FILE, f"{INT8_FILE}.data"]
    older = ["model.onnx", "model-int8.onnx", "model-int8-2.onnx"]
    for name in [*current, *older, "tokenizer.json"]:
        (tmp_path / name).write_bytes(b"x")
    _drop_older_exports(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*current, "tokenizer.json"])


def test_span_vectors_pool_the_tokens_that_start_in_each_span():
    tokens = np.array([[9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0], [9.0, 9.0]], dtype=np.float32)
    # [CLS] and [SEP] have empty offsets and belong to no span.
    offsets = np.array([[0, 0], [0, 2], [2, 3], [3, 5], [0, 0]])
    whole = np.array([0.6, 0.8], dtype=np.float32)
    out = pool_spans(tokens, offsets, [(0, 2), (2, 5), (5, 9)], whole)
    assert np.allclose(out, [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])  # the last span has no token: the whole text's vector
