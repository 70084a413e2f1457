"""Safetensors without the safetensors package: 8-byte little-endian header length, a JSON header
({name: {dtype, shape, data_offsets}}, optional __metadata__), then the raw little-endian tensor bytes.

Reading maps the file (numpy.memmap), so a 10 GB shard costs address space, not memory, until a tensor is used.
"""
from __future__ import annotations

import json
import struct

import numpy as np
import torch

# torch dtypes numpy has no type for (bfloat16) travel as same-width integers and are reinterpreted
_DTYPES = {
    "F64": (np.float64, torch.float64), "F32": (np.float32, torch.float32), "F16": (np.float16, torch.float16),
    "BF16": (np.int16, torch.bfloat16), "I64": (np.int64, torch.int64), "I32": (np.int32, torch.int32),
    "I16": (np.int16, torch.int16), "I8": (np.int8, torch.int8), "U8": (np.uint8, torch.uint8),
    "BOOL": (np.bool_, torch.bool),
}
_NAMES = {t: name for name, (_, t) in _DTYPES.items()}


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
    return 8 + n, header


class SafetensorsFile:
    """Lazy reader: tensors are views on a memory map until copied."""

    def __init__(self, path):
        self.path = path
        self.base, self.header = read_header(path)
        self.metadata = self.header.pop("__metadata__", None)
        self._map = np.memmap(path, dtype=np.uint8, mode="r")

    def keys(self):
        return list(self.header)

    def get(self, name) -> torch.Tensor:
        info = self.header[name]
        np_type, torch_type = _DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        raw = self._map[self.base + start:self.base + end]
        arr = np.frombuffer(raw, dtype=np_type).reshape(info["shape"])
        t = torch.from_numpy(arr.copy())  # copy: a tensor outliving the map must not point into it
        return t.view(torch_type) if torch_type == torch.bfloat16 else t


def save_file(tensors: dict, path, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to an 8-byte boundary
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
