from retriever.embed import FP32_FILE, INT8_FILE, _drop_older_exports


def test_a_new_export_removes_the_files_of_older_recipes(tmp_path):
    current = [FP32_FILE, f"{FP32_FILE}.data", INT8_FILE, f"{INT8_FILE}.data"]
    older = ["model.onnx", "model-int8.onnx", "model-int8-2.onnx"]
    for name in [*current, *older, "tokenizer.json"]:
        (tmp_path / name).write_bytes(b"x")
    _drop_older_exports(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*current, "tokenizer.json"])
