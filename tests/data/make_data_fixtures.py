"""Writes .npy/.npz/idx fixtures with NumPy (values by formula: test_data_files.cpp recomputes them independently)
and hostile files for the readers' error tests. It reads nothing back."""
import gzip
import os
import struct
import sys
import zipfile

import numpy as np


def values(shape):
    """The formula the C++ test recomputes: element k (row-major) is k * 0.5 - 3."""
    return (np.arange(int(np.prod(shape)), dtype=np.float64) * 0.5 - 3).reshape(shape)


def npy_header(descr, shape):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, str(tuple(shape)))
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()


def idx(magic_rank, dims, payload):
    return struct.pack(">BBBB", 0, 0, 8, magic_rank) + b"".join(struct.pack(">I", d) for d in dims) + payload


def main(out):
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    np.save(p("f32.npy"), values((3, 4)).astype(np.float32))
    np.save(p("f64.npy"), values((2, 3, 5)))
    np.save(p("scalar.npy"), np.float32(-3.0))
    np.save(p("fortran.npy"), np.asfortranarray(values((3, 4)).astype(np.float32)))
    labels = np.arange(7) % 3
    np.save(p("u8.npy"), labels.astype(np.uint8))
    np.save(p("bool.npy"), (labels == 1))
    arrays = dict(x=values((6, 4)).astype(np.float32), y=labels[:6].astype(np.int64), y32=labels[:6].astype(np.int32))
    np.savez(p("plain.npz"), **arrays)
    np.savez_compressed(p("compressed.npz"), **arrays)

    img = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(4, 2, 3)
    lab = np.array([3, 1, 4, 1], np.uint8)
    for name, data in (("images-idx3-ubyte", idx(3, img.shape, img.tobytes())),
                       ("labels-idx1-ubyte", idx(1, lab.shape, lab.tobytes()))):
        with open(p(name), "wb") as f:
            f.write(data)
        with gzip.open(p(name + ".gz"), "wb") as f:
            f.write(data)

    hostile = {
        "truncated.npy": npy_header("<f4", (3, 4)) + bytes(20),
        "huge.npy": npy_header("<f4", (1000000000000,)) + bytes(80),
        "bad_magic.npy": b"NOTNUMPY" + bytes(100),
        "complex.npy": npy_header("<c8", (2,)) + bytes(16),
        "bigendian.npy": npy_header(">f4", (2,)) + bytes(8),
        "not_zip.npz": b"PK\x03\x04 this is not a zip file at all",
        "empty.npz": b"",
        "truncated.idx": idx(3, (10, 28, 28), bytes(100)),
        "bad_magic.idx": struct.pack(">I", 0x12345678) + bytes(16),
        "huge.idx": idx(3, (4000000000, 28, 28), bytes(16)),
    }
    for name, data in hostile.items():
        with open(p(name), "wb") as f:
            f.write(data)
    np.savez(p("bad_member.npz"), good=np.zeros(2, np.float32))
    with zipfile.ZipFile(p("bad_member.npz"), "a") as z:
        z.writestr("bad.npy", npy_header("<f4", (1000, 1000)) + bytes(8))

    # Decompression bombs of modest real size (the tests lower the memory limit through ONNXTRAIN_MEMORY_LIMIT_MB):
    # 32 MB of float32 zeros in a few kilobytes of .npz; two 6 MB members; 20 MB of idx3 pixels in a few kilobytes of
    # gzip; and the first bomb with its deflate stream corrupted two thirds in, which a reader that decompresses
    # everything before looking at the header reports as a zip error rather than as too large.
    np.savez_compressed(p("bomb.npz"), x=np.zeros((8000, 1000), np.float32))
    np.savez_compressed(p("two_members.npz"), x=np.zeros((1500, 1000), np.float32), y=np.zeros((1500, 1000), np.float32))
    with gzip.open(p("bomb-images-idx3-ubyte.gz"), "wb") as f:
        f.write(idx(3, (2000, 100, 100), bytes(2000 * 100 * 100)))
    with open(p("bomb.npz"), "rb") as f:
        data = bytearray(f.read())
    with zipfile.ZipFile(p("bomb.npz")) as z:
        info = z.getinfo("x.npy")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size * 2 // 3
    data[at:at + 8] = bytes(b ^ 0x5A for b in data[at:at + 8])
    with open(p("bomb_corrupt.npz"), "wb") as f:
        f.write(data)
    # A 0-d y: one label for the whole data set, not one per sample.
    np.savez(p("y_scalar.npz"), x=values((6, 4)).astype(np.float32), y=np.int64(3))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_data_fixtures.py OUTDIR")
    main(sys.argv[1])
