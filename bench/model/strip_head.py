"""Writes a llama.cpp-only copy of a DuoGuard GGUF: the same metadata and tensors, minus the
classifier head `cls.output.weight`.

llama.cpp refuses a llama-architecture file with tensors it does not expect ("wrong number
of tensors"). The copy is done at the byte level (metadata copied verbatim, tensor data
copied block for block), so the body weights llama.cpp reads are exactly ours.

    python strip_head.py IN.gguf OUT.gguf
"""
import struct
import sys

HEAD = b"cls.output.weight"
# ggml type -> (block elements, block bytes) for the types our files hold.
TYPE_SIZE = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 30: (1, 2)}
# GGUF value type -> fixed size (strings = 8, arrays = 9 handled separately).
SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def skip_value(buf, pos, vtype):
    if vtype == 8:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    if vtype == 9:
        sub, count = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if sub in SCALAR:
            return pos + SCALAR[sub] * count
        for _ in range(count):
            pos = skip_value(buf, pos, sub)
        return pos
    return pos + SCALAR[vtype]


def main(src, dst):
    with open(src, "rb") as f:
        buf = memoryview(f.read())
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    assert magic == b"GGUF" and version == 3, "not a GGUF v3 file"
    pos = 24
    alignment = 32
    kv_start = pos
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, pos)
        key = bytes(buf[pos + 8:pos + 8 + klen])
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if key == b"general.alignment":
            (alignment,) = struct.unpack_from("<I", buf, pos)
        pos = skip_value(buf, pos, vtype)
    kv_bytes = bytes(buf[kv_start:pos])
    infos = []
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", buf, pos)
        name = bytes(buf[pos + 8:pos + 8 + nlen])
        pos += 8 + nlen
        (ndims,) = struct.unpack_from("<I", buf, pos)
        dims = struct.unpack_from("<%dQ" % ndims, buf, pos + 4)
        pos += 4 + 8 * ndims
        ttype, offset = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        elements = 1
        for d in dims:
            elements *= d
        per, size = TYPE_SIZE[ttype]
        infos.append((name, dims, ttype, offset, elements // per * size))
    data_start = (pos + alignment - 1) // alignment * alignment
    kept = [t for t in infos if t[0] != HEAD]
    assert len(kept) == len(infos) - 1, "no cls.output.weight in this file"

    def pad(n):
        return (n + alignment - 1) // alignment * alignment

    header = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(kept), n_kv))
    header += kv_bytes
    new_offset = 0
    placed = []
    for name, dims, ttype, offset, nbytes in kept:
        header += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims))
        header += struct.pack("<%dQ" % len(dims), *dims) + struct.pack("<IQ", ttype, new_offset)
        placed.append((offset, nbytes))
        new_offset = pad(new_offset + nbytes)
    header += b"\0" * (pad(len(header)) - len(header))
    with open(dst, "wb") as out:
        out.write(header)
        written = 0
        for offset, nbytes in placed:
            out.write(buf[data_start + offset:data_start + offset + nbytes])
            written += nbytes
            out.write(b"\0" * (pad(written) - written))
            written = pad(written)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
