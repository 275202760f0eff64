#!/usr/bin/env python3
"""An independent safetensors reader, for checking files our C writer makes.

Uses only the standard library and numpy; shares no code with io/safetensors.c.
Parses the 8-byte header length and the JSON header itself, checks the
format's rules (known dtypes, sizes matching shapes, tensors tiling the data
section exactly, string-only metadata, no duplicate names), then prints each
tensor's name, dtype, shape, element count, CRC-32 of its raw bytes, sum, and
its first values (all of them with --all; raw bit patterns with --bits).

    /usr/bin/python3 tests/tools/safetensors_check.py model.safetensors [--all] [--bits]

Exit status: 0 if the file is valid, 1 with a message on stderr if not.
"""
import argparse
import json
import struct
import sys
import zlib

import numpy as np

# dtype -> (numpy little-endian type, bytes per element)
DTYPES = {
    "BOOL": ("u1", 1), "U8": ("<u1", 1), "I8": ("<i1", 1), "U16": ("<u2", 2), "I16": ("<i2", 2),
    "F16": ("<f2", 2), "BF16": ("<u2", 2), "U32": ("<u4", 4), "I32": ("<i4", 4), "F32": ("<f4", 4),
    "U64": ("<u8", 8), "I64": ("<i8", 8), "F64": ("<f8", 8),
}
MAX_HEADER = 100 << 20


class Invalid(Exception):
    pass


def unique_pairs(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise Invalid(f"duplicate key {k!r} in the header")
        seen[k] = v
    return seen


def no_constants(c):
    raise Invalid(f"{c} is not JSON")


def is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read(path):
    raw = open(path, "rb").read()
    if len(raw) < 8:
        raise Invalid(f"{len(raw)} bytes, too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8 or n > MAX_HEADER:
        raise Invalid(f"header length {n} does not fit the {len(raw)}-byte file")
    header_bytes = raw[8:8 + n]
    if not header_bytes.startswith(b"{"):
        raise Invalid("the header does not begin with '{'")
    try:
        header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=unique_pairs, parse_constant=no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Invalid(f"header: {e}")
    if not isinstance(header, dict):
        raise Invalid("the header is not a JSON object")
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise Invalid("__metadata__ must be an object of strings")
    tensors = []
    for name, info in header.items():
        if not name:
            raise Invalid("empty tensor name")
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise Invalid(f"tensor {name!r}: entry must have exactly dtype, shape, data_offsets")
        dtype, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise Invalid(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(is_uint(s) for s in shape):
            raise Invalid(f"tensor {name!r}: bad shape {shape!r}")
        if not isinstance(offs, list) or len(offs) != 2 or not all(is_uint(o) for o in offs) or offs[0] > offs[1]:
            raise Invalid(f"tensor {name!r}: bad data_offsets {offs!r}")
        numel = 1
        for s in shape:
            numel *= s
        if numel * DTYPES[dtype][1] != offs[1] - offs[0]:
            raise Invalid(f"tensor {name!r}: data_offsets {offs} hold {offs[1] - offs[0]} bytes, "
                          f"shape {shape} of {dtype} needs {numel * DTYPES[dtype][1]}")
        if offs[1] > len(data):
            raise Invalid(f"tensor {name!r}: data_offsets {offs} past the {len(data)}-byte data section")
        tensors.append((name, dtype, shape, offs))
    at = 0
    for name, _, _, (b, e) in sorted(tensors, key=lambda t: tuple(t[3])):
        if b != at:
            raise Invalid(f"tensor {name!r} begins at {b}, expected {at} (gap or overlap)")
        at = e
    if at != len(data):
        raise Invalid(f"{len(data) - at} bytes after the last tensor")
    return raw, n, meta, tensors, data


def values(dtype, shape, buf):
    np_type, _ = DTYPES[dtype]
    a = np.frombuffer(buf, dtype=np_type).reshape(shape)
    if dtype == "BF16":  # the high half of a float32
        a = (a.astype(np.uint32) << 16).view(np.float32)
    if dtype == "BOOL":
        a = a != 0
    return a


def fmt(x):
    if isinstance(x, (np.floating, float)):
        return "%.9g" % float(x)
    return str(int(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    ap.add_argument("--all", action="store_true", help="print every value, not the first 8")
    ap.add_argument("--bits", action="store_true", help="print raw element bits in hex instead of values")
    args = ap.parse_args()
    try:
        raw, n, meta, tensors, data = read(args.path)
    except (Invalid, OSError) as e:
        print(f"{args.path}: invalid: {e}", file=sys.stderr)
        return 1
    print(f"{args.path}: {len(raw)} bytes, header {n} bytes, data section at {8 + n} "
          f"({'8-aligned' if (8 + n) % 8 == 0 else 'not 8-aligned'}), {len(tensors)} tensors")
    if meta:
        print("metadata: " + json.dumps(meta, ensure_ascii=False))
    for name, dtype, shape, (b, e) in tensors:
        buf = data[b:e]
        a = values(dtype, shape, buf)
        flat = a.reshape(-1)
        if args.bits:
            width = DTYPES[dtype][1]
            shown = [buf[i:i + width][::-1].hex() for i in range(0, len(buf), width)]
        else:
            shown = [fmt(x) for x in flat]
        if not args.all and len(shown) > 8:
            shown = shown[:8] + ["..."]
        total = flat.astype(np.float64).sum() if flat.size else 0.0
        print(f"{json.dumps(name, ensure_ascii=False)} {dtype} {shape} n={flat.size} "
              f"crc32={zlib.crc32(buf):08x} sum={total:.9g}: {' '.join(shown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
