"""A model's weights as numpy arrays, read without torch.

Two formats carry the weights of sentence-transformers models: `model.safetensors`
(a JSON header, then the raw tensors) and `pytorch_model.bin` (torch's zip archive: a
pickle that names the tensors, and one file of raw data per storage). Both are read
here with the standard library and numpy, so that exporting a model to ONNX needs no
torch (4+ GB with its CUDA libraries where pip installs it from PyPI).

The pickle is read by an unpickler that knows only the four names a state dict uses
(torch's tensor rebuild function, its storage types, OrderedDict): any other name, the
way a hostile pickle runs code, is refused. torch.load itself would run it unless told
weights_only.
"""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from retriever.errors import RetrieverError

# safetensors' and torch's names of the element types we can read.
_SAFETENSORS_TYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}
_TORCH_STORAGES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}
# No weights file of a model this tool can run is larger (bge-large: 1.3 GB); a header
# claiming more is damage, not a model.
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def weights_file(model_path: Path) -> Path:
    """The model's weights file: model.safetensors if it has one, else pytorch_model.bin."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / name).is_file():
            return model_path / name
    raise RetrieverError(f"model {model_path}: no model.safetensors or pytorch_model.bin")


def read_weights(model_path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the model by name, float tensors as float32."""
    file = weights_file(model_path)
    try:
        tensors = _read_safetensors(file) if file.suffix == ".safetensors" else _read_torch_zip(file)
    except (OSError, ValueError, KeyError, IndexError, TypeError, struct.error, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise RetrieverError(f"cannot read the weights in {file}: {e}") from None
    return {name: t.astype(np.float32) if t.dtype.kind == "f" else t for name, t in tensors.items()}


def _read_safetensors(file: Path) -> dict[str, np.ndarray]:
    with open(file, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if size > _MAX_HEADER_BYTES:
            raise ValueError(f"a header of {size} bytes")
        header = json.loads(f.read(size))
    data = np.memmap(file, dtype=np.uint8, mode="r", offset=8 + size)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_TYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor {name}: element type {entry['dtype']} is not supported")
        start, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])
    return tensors


class _Storage:
    """One storage of the archive: its element type and where its bytes are."""

    def __init__(self, dtype: type, key: str):
        self.dtype, self.key = dtype, key


class _StateDictUnpickler(pickle.Unpickler):
    """The unpickler of a torch state dict that builds numpy arrays and refuses every
    name a state dict does not use."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.loaded: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._tensor
        if module == "torch" and name in _TORCH_STORAGES:
            return _TORCH_STORAGES[name]
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _count = pid
        if kind != "storage" or dtype not in _TORCH_STORAGES.values():
            raise pickle.UnpicklingError(f"unexpected storage {pid!r}")
        return _Storage(dtype, str(key))

    def _tensor(self, storage: _Storage, offset: int, shape, stride, *_rest) -> np.ndarray:
        if storage.key not in self.loaded:
            raw = self.archive.read(f"{self.prefix}/data/{storage.key}")
            self.loaded[storage.key] = np.frombuffer(raw, dtype=storage.dtype)
        flat = self.loaded[storage.key]
        itemsize = flat.dtype.itemsize
        shape, stride = tuple(int(n) for n in shape), tuple(int(s) for s in stride)
        # as_strided reads wherever it is told: a tensor must lie inside its storage.
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
        if len(shape) != len(stride) or min((*shape, *stride, offset), default=0) < 0 or (0 not in shape and last >= len(flat)):
            raise ValueError(f"a tensor outside its storage ({storage.key})")
        if not shape:
            return flat[offset : offset + 1].reshape(())
        return np.lib.stride_tricks.as_strided(
            flat[offset:], shape=tuple(shape), strides=tuple(s * itemsize for s in stride), writeable=False
        ).copy()


def _read_torch_zip(file: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(file):
        raise ValueError("not torch's zip format (a model saved before torch 1.6; save it again, or as safetensors)")
    with zipfile.ZipFile(file) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError("no data.pkl in the archive")
        prefix = pickles[0].rsplit("/", 1)[0]
        with archive.open(pickles[0]) as f:
            state = _StateDictUnpickler(f, archive, prefix).load()
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ValueError("not a state dict of tensors")
    return dict(state)
