"""Wire format between grader and sandboxed worker: length-prefixed frames of JSON plus raw tensor bytes.

Runs on both sides (the worker imports it by path), so it depends on the standard library and torch
only. Nothing here unpickles; the decoder accepts only plain values and tensors described by dtype
and shape, and checks every size against the frame.

Frame:   u32 big-endian payload length | payload
Payload: u32 big-endian JSON length | JSON | tensor bytes, back to back
JSON:    {"id": ..., ... "value": tree, "tensors": [[dtype, shape, offset, nbytes, device], ...]}
Tree nodes: null, bool, int, float, str, list; {"$tuple": [...]}, {"$dict": [[key, value], ...]},
{"$tensor": index}, {"$handle": id, "type": name}.
"""

from __future__ import annotations

import json
import math
import os
import struct

import torch

MAX_FRAME = 256 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 100_000
# What decoding one frame may cost is bounded before it starts, not only the frame's length: the
# JSON head is parsed into Python objects (a few bytes of "[]," each become a 56-byte list), and
# every tensor-table entry is work. The JSON containers are counted in the raw bytes first (strings
# count too, which only makes the bound safer).
MAX_HEAD = 4 * 1024 * 1024
MAX_TENSORS = 4096
MAX_CONTAINERS = 2 * MAX_NODES + 2 * MAX_TENSORS

DTYPES = {
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
    "float64": torch.float64, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
ITEMSIZE = {k: torch.empty((), dtype=v).element_size() for k, v in DTYPES.items()}


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame or value."""


class Handle:
    """An object that stays on the worker side; only its id and type name cross the boundary."""

    __slots__ = ("id", "type")

    def __init__(self, id: int, type: str):
        self.id, self.type = id, type

    def __repr__(self) -> str:
        return f"<{self.type} object in the sandbox #{self.id}>"


def encode(message: dict, value=None, *, to_handle=None) -> bytes:
    """Encode a message whose 'value' key holds a tree; objects that are not plain go to to_handle."""
    blobs: list[bytes] = []
    specs: list[list] = []

    def walk(v, depth):
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str:
            return v
        if t is int:
            return v if -(2**63) <= v < 2**63 else float(v)
        if t is float:
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, torch.Tensor) and t is torch.Tensor:
            return {"$tensor": _tensor(v, blobs, specs)}
        if isinstance(v, torch.Tensor):
            # A subclass crosses as its plain data, flagged, so the grader can refuse it.
            return {"$tensor": _tensor(v.as_subclass(torch.Tensor), blobs, specs), "subclass": t.__name__}
        if t is list:
            return [walk(x, depth + 1) for x in v]
        if t is tuple:
            return {"$tuple": [walk(x, depth + 1) for x in v]}
        if isinstance(v, dict) and all(type(k) is str for k in v):
            return {"$dict": [[k, walk(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, Handle):
            return {"$handle": v.id, "type": v.type}
        if to_handle is not None:
            h = to_handle(v)
            return {"$handle": h.id, "type": h.type}
        raise ProtocolError(f"cannot send a {t.__name__}")

    body = dict(message)
    body["value"] = walk(value, 0)
    body["tensors"] = specs
    head = json.dumps(body, allow_nan=False).encode()
    if len(specs) > MAX_TENSORS or len(head) > MAX_HEAD:
        raise ProtocolError(f"a value of more than {MAX_TENSORS} tensors or {MAX_HEAD} bytes of other data "
                            "cannot be sent")
    payload = struct.pack(">I", len(head)) + head + b"".join(blobs)
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"message of {len(payload)} bytes is over the {MAX_FRAME} byte limit")
    return struct.pack(">I", len(payload)) + payload


def _tensor(t: torch.Tensor, blobs: list, specs: list) -> int:
    if t.dtype not in DTYPE_NAMES:
        raise ProtocolError(f"tensors of dtype {t.dtype} cannot be sent")
    device = str(t.device)
    data = t.detach().to("cpu").contiguous()
    raw = data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b""
    offset = sum(len(b) for b in blobs)
    blobs.append(raw)
    specs.append([DTYPE_NAMES[t.dtype], list(data.shape), offset, len(raw), device])
    return len(specs) - 1


def decode(payload, *, from_handle=None, place=None) -> tuple[dict, object]:
    """Decode a payload into (message, value); raise ProtocolError on anything malformed.

    The cost is bounded by the frame, whatever the other side's encoder did: a JSON head of at most
    MAX_HEAD bytes and MAX_CONTAINERS lists and objects, at most MAX_TENSORS table entries, each
    inside the frame and starting at or after the end of the one before (no overlap: the bytes
    decoded never exceed the frame's, and no blob is copied twice).
    from_handle turns a {"$handle"} node into an object (the worker resolves its own handles);
    place(tensor, device_string) may move a decoded tensor to the device it came from.
    """
    if len(payload) < 4:
        raise ProtocolError("truncated frame")
    (head_len,) = struct.unpack(">I", payload[:4])
    if head_len > len(payload) - 4:
        raise ProtocolError("frame header longer than the frame")
    if head_len > MAX_HEAD:
        raise ProtocolError(f"frame header of {head_len} bytes is over the {MAX_HEAD} byte limit")
    head = bytes(payload[4:4 + head_len])
    if head.count(b"[") + head.count(b"{") > MAX_CONTAINERS:
        raise ProtocolError("frame header holds too many values")
    try:
        body = json.loads(head.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # ValueError: also a 5,000-digit integer
        raise ProtocolError(f"frame is not JSON: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise ProtocolError("frame is not a JSON object")
    blob = memoryview(payload)[4 + head_len:]
    specs = body.get("tensors", [])
    if not isinstance(specs, list) or len(specs) > MAX_TENSORS:
        raise ProtocolError("bad tensor table")
    tensors, end = [], 0
    for spec in specs:
        t, end = _decode_tensor(spec, blob, end, place)
        tensors.append(t)
    count = [0]

    def walk(v, depth):
        count[0] += 1
        if depth > MAX_DEPTH or count[0] > MAX_NODES:
            raise ProtocolError("value too deep or too large")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is list:
            return [walk(x, depth + 1) for x in v]
        if type(v) is dict and len(v) >= 1:
            if "$tensor" in v:
                i = v["$tensor"]
                if type(i) is not int or not 0 <= i < len(tensors):
                    raise ProtocolError("bad tensor reference")
                if "subclass" in v:
                    return NonPlainTensor(str(v["subclass"])[:100], tensors[i])
                return tensors[i]
            if set(v) == {"$tuple"} and type(v["$tuple"]) is list:
                return tuple(walk(x, depth + 1) for x in v["$tuple"])
            if set(v) == {"$dict"} and type(v["$dict"]) is list:
                out = {}
                for pair in v["$dict"]:
                    if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                        raise ProtocolError("bad dict entry")
                    out[pair[0]] = walk(pair[1], depth + 1)
                return out
            if set(v) == {"$float"} and v["$float"] in ("nan", "inf", "-inf"):
                return float(v["$float"])
            if set(v) == {"$handle", "type"} and type(v["$handle"]) is int and type(v["type"]) is str:
                if from_handle is not None:
                    return from_handle(v["$handle"], v["type"][:100])
                return Handle(v["$handle"], v["type"][:100])
        raise ProtocolError(f"unexpected value of type {type(v).__name__}")

    return body, walk(body.get("value"), 0)


class NonPlainTensor:
    """A reply that was a torch.Tensor subclass: kept apart so no comparison ever runs its code."""

    def __init__(self, type_name: str, data: torch.Tensor):
        self.type_name, self.data = type_name, data

    def __repr__(self) -> str:
        return f"<{self.type_name} (a torch.Tensor subclass)>"


def _reject_constant(name):
    raise ProtocolError(f"JSON constant {name} is not allowed")


def _decode_tensor(spec, blob: memoryview, start: int, place) -> tuple[torch.Tensor, int]:
    """One table entry, which must lie inside the frame at or after `start`; returns it and its end."""
    if type(spec) is not list or len(spec) != 5:
        raise ProtocolError("bad tensor description")
    dtype_name, shape, offset, nbytes, device = spec
    if type(dtype_name) is not str or dtype_name not in DTYPES or type(shape) is not list or len(shape) > 16:
        raise ProtocolError("bad tensor dtype or rank")
    if not all(type(d) is int and 0 <= d < 2**40 for d in shape):
        raise ProtocolError("bad tensor shape")
    if type(offset) is not int or type(nbytes) is not int or nbytes < 0 or offset < start \
            or offset + nbytes > len(blob):
        raise ProtocolError("tensor bytes overlap another tensor's or lie outside the frame")
    dtype = DTYPES[dtype_name]
    if math.prod(shape) * ITEMSIZE[dtype_name] != nbytes:
        raise ProtocolError("tensor size does not match its shape")
    if nbytes == 0:
        t = torch.empty(shape, dtype=dtype)
    else:
        t = torch.frombuffer(bytearray(blob[offset:offset + nbytes]), dtype=torch.uint8).view(dtype).reshape(shape)
    if place is not None and type(device) is str:
        t = place(t, device[:32])
    return t, offset + nbytes


def read_frame(fd: int, *, limit: int = MAX_FRAME) -> bytes:
    """Blocking read of one frame from a file descriptor (worker side)."""
    head = _read_exact(fd, 4)
    (n,) = struct.unpack(">I", head)
    if n > limit:
        raise ProtocolError(f"frame of {n} bytes is over the limit")
    return _read_exact(fd, n)


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, min(n - got, 1 << 20))
        if not b:
            raise EOFError("channel closed")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
