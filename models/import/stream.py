"""Streaming ONNX export for checkpoints larger than memory (a 7B decoder is ~27 GB in float32).

The graph is traced from a model whose parameters were never initialised or loaded (torch.empty: untouched pages
cost no memory, and reading them during the trace maps the kernel's zero page), exported with the parameters as
graph inputs (export_params=False), and then each parameter is read from the checkpoint on its own, converted to
float32 and appended to the part's external-data file; `Transpose(W)` of a Linear weight is stored already
transposed, so the graph keeps a plain MatMul on an initializer (which is also what the quantizer rewrites).
Peak memory: the largest single tensor in float32 (lm_head / embed_tokens of LLaMA-7B: 0.5 GB) plus what the
shard reader holds (torch < 2.1 reads a .bin shard whole; safetensors and torch >= 2.1 map it).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
import torch.nn as nn

INLINE_BELOW = 1024  # bytes: small tensors stay inside the .onnx file
ALIGN = 64


@contextlib.contextmanager
def no_init():
    """Module construction without the random initialisation (which would touch every page of a 7B model)."""
    classes = (nn.Linear, nn.Embedding, nn.Conv2d, nn.ConvTranspose2d, nn.LayerNorm)
    saved = {c: c.reset_parameters for c in classes}
    for c in classes:
        c.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for c, f in saved.items():
            c.reset_parameters = f


def _external(name, array, f, location):
    import onnx
    from onnx import numpy_helper
    if array.nbytes < INLINE_BELOW:
        return numpy_helper.from_array(np.ascontiguousarray(array), name)
    t = onnx.TensorProto()
    t.name = name
    t.data_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype) if hasattr(onnx.helper, "np_dtype_to_tensor_dtype") \
        else onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[array.dtype]
    t.dims.extend(array.shape)
    pad = -f.tell() % ALIGN
    f.write(b"\0" * pad)
    offset = f.tell()
    f.write(np.ascontiguousarray(array).tobytes())
    t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(array.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def quantize_blocks(b, bits, block_size):
    """Weight-only quantization in the layout of ONNX Runtime's MatMulNBits (com.microsoft): B [K, N] ->
    packed uint8 [N, K/block, block*bits/8] and float32 scales [N * K/block]; symmetric per block of K, zero point
    2^(bits-1) (the operator's default, so none is stored); 4-bit values two to a byte, the even k in the low
    nibble."""
    k, n = b.shape
    blocks = -(-k // block_size)
    w = np.zeros((n, blocks * block_size), np.float32)
    w[:, :k] = b.T
    w = w.reshape(n, blocks, block_size)
    qmax = 2 ** (bits - 1) - 1
    scale = np.abs(w).max(-1) / qmax
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(w / scale[..., None]) + 2 ** (bits - 1), 0, 2 ** bits - 1).astype(np.uint8)
    if bits == 4:
        q = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    return q, scale.reshape(-1).astype(np.float32)


def dequantize_blocks(q, scales, bits, k):
    """The float B [K, N] a MatMulNBits weight stands for (what ONNX Runtime multiplies by, up to rounding)."""
    if bits == 4:
        q = np.stack([q & 0x0F, q >> 4], axis=-1).reshape(q.shape[0], q.shape[1], -1)
    n, blocks, size = q.shape
    w = (q.astype(np.float32) - 2 ** (bits - 1)) * scales.reshape(n, blocks, 1)
    return w.reshape(n, blocks * size)[:, :k].T.copy()


def inject(path, io_inputs, fetch, quantize_bits=None, block_size=32):
    """Turns every graph input that is not one of `io_inputs` into an initializer whose values come from
    fetch(name) -> torch.Tensor, written to `path`.data one tensor at a time. quantize_bits (4 or 8): the
    Linear weights that only feed MatMuls become MatMulNBits weights."""
    import onnx
    from onnx import helper
    model = onnx.load(path)
    g = model.graph
    params = [i.name for i in g.input if i.name not in io_inputs]
    consumers = {}
    for node in g.node:
        for x in node.input:
            consumers.setdefault(x, []).append(node)
    location = os.path.basename(path) + ".data"
    drop = set()
    with open(path + ".data", "wb") as f:
        for name in params:
            arr = fetch(name).detach().to(torch.float32).numpy()
            uses = consumers.get(name, [])
            transposes = [n for n in uses if n.op_type == "Transpose" and arr.ndim == 2
                          and [list(a.ints) for a in n.attribute if a.name == "perm"] in ([[1, 0]], [])]
            if transposes:
                out = transposes[0].output[0]
                for n in transposes[1:]:
                    consumers.setdefault(out, []).extend(consumers.get(n.output[0], []))
                users = consumers.get(out, [])
                if quantize_bits and users and all(u.op_type == "MatMul" and list(u.input).index(out) == 1
                                                   for u in users):
                    q, scales = quantize_blocks(arr.T, quantize_bits, block_size)
                    g.initializer.append(_external(out + "_q", q, f, location))
                    g.initializer.append(_external(out + "_scales", scales, f, location))
                    for u in users:
                        u.op_type, u.domain = "MatMulNBits", "com.microsoft"
                        a_in = u.input[0]
                        del u.input[:]
                        u.input.extend([a_in, out + "_q", out + "_scales"])
                        u.attribute.extend([helper.make_attribute("K", arr.shape[1]),
                                            helper.make_attribute("N", arr.shape[0]),
                                            helper.make_attribute("bits", quantize_bits),
                                            helper.make_attribute("block_size", block_size)])
                else:
                    g.initializer.append(_external(out, arr.T, f, location))
                for n in transposes[1:]:  # every other transpose of the same weight reads the first one
                    for m in consumers.get(n.output[0], []):
                        for i, x in enumerate(m.input):
                            if x == n.output[0]:
                                m.input[i] = out
                drop.update(id(n) for n in transposes)
            if len(transposes) < len(uses):
                g.initializer.append(_external(name, arr, f, location))
            del arr
    keep = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(keep)
    inputs = [i for i in g.input if i.name in io_inputs]
    del g.input[:]
    g.input.extend(inputs)
    if quantize_bits and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    if not any(t.data_location == onnx.TensorProto.EXTERNAL for t in g.initializer):
        os.remove(path + ".data")
    onnx.save(model, path)


def stream_export(module, args, path, inputs, outputs, dynamic, fetch, opset, quantize_bits=None):
    module.eval()
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=opset, export_params=False, do_constant_folding=False)
    inject(path, set(inputs), fetch, quantize_bits)


def merge_parts(paths, out_path, outputs):
    """Chains part graphs that meet by tensor name into one graph, the parts' external data appended into one
    `out_path`.data (copied file to file, offsets shifted). Names a part shares with no other part get the
    part's prefix, so two parts' internals never collide."""
    import onnx
    graphs = [onnx.load(p, load_external_data=False) for p in paths]
    produced, consumed = {}, {}
    for k, m in enumerate(graphs):
        for o in m.graph.output:
            produced[o.name] = k
        for i in m.graph.input:
            consumed.setdefault(i.name, []).append(k)
    links = {n for n in produced if n in consumed}
    top_inputs = {n for n in consumed if n not in produced}
    shared = links | top_inputs | set(outputs)
    merged = onnx.helper.make_graph([], "decoder", [], [])
    location = os.path.basename(out_path) + ".data"
    seen_inputs = set()
    with open(out_path + ".data", "wb") as data:
        for k, (m, p) in enumerate(zip(graphs, paths)):
            g = m.graph

            def rename(name, k=k):
                return name if (not name or name in shared) else f"p{k}/{name}"
            for node in g.node:
                node.name = rename(node.name) if node.name else node.name
                for i, x in enumerate(node.input):
                    node.input[i] = rename(x)
                for i, x in enumerate(node.output):
                    node.output[i] = rename(x)
                merged.node.append(node)
            base = None
            for t in g.initializer:
                t.name = rename(t.name)
                if t.data_location == onnx.TensorProto.EXTERNAL:
                    if base is None:
                        data.write(b"\0" * (-data.tell() % ALIGN))
                        base = data.tell()
                        with open(p + ".data", "rb") as src:
                            while True:
                                chunk = src.read(1 << 24)
                                if not chunk:
                                    break
                                data.write(chunk)
                    for e in t.external_data:
                        if e.key == "offset":
                            e.value = str(int(e.value) + base)
                        elif e.key == "location":
                            e.value = location
                merged.initializer.append(t)
            for i in g.input:
                if i.name in top_inputs and i.name not in seen_inputs:
                    seen_inputs.add(i.name)
                    merged.input.append(i)
            for o in g.output:
                if o.name in outputs:
                    merged.output.append(o)
    order = {n: j for j, n in enumerate(outputs)}
    outs = sorted(merged.output, key=lambda o: order[o.name])
    del merged.output[:]
    merged.output.extend(outs)
    opsets = {}
    for m in graphs:
        for o in m.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = onnx.helper.make_model(merged, opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()],
                                   producer_name="groundchat-import")
    model.ir_version = graphs[0].ir_version
    onnx.save(model, out_path)
    for p in paths:
        os.remove(p)
        if os.path.exists(p + ".data"):
            os.remove(p + ".data")
