"""Writes the fuzz targets' seed corpora from the project's own models, test fixtures and Debian's Fashion-MNIST:
OUTDIR/model, OUTDIR/npy, OUTDIR/idx, OUTDIR/csv and OUTDIR/run. By default the small committed set (tests/fuzz/seeds, a few KB a file);
with --large the bigger run-time extras that tests/fuzz/run.sh adds. It runs nothing of onnxtrain's."""
import argparse
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"
CLI = os.path.join(ROOT, "build", "onnxtrain")  # --cli: what lists the ops onnxtrain runs
SMALL = 4096  # the committed seeds' size cap, in bytes


def ops(cli):
    """The ops onnxtrain runs, in lower case, from its registry (`onnxtrain info --ops`): the conformance node tests of
    these are model seeds."""
    lines = subprocess.run([cli, "info", "--ops"], check=True, capture_output=True, text=True).stdout.splitlines()
    # And Sum, one of autodiff's internal ops, which a model may not use: its node tests seed the importer's refusal.
    return {line.split()[0].lower() for line in lines[1:]} | {"sum"}


def run(script, *args):
    subprocess.run([sys.executable, os.path.join(ROOT, script), *args], check=True, stdout=subprocess.DEVNULL)


def shrink(m, k=4):
    """The same graph with every float initializer sliced to at most k along each dim, and declared dims cut to
    match: an MLP stays a consistent MLP, a few hundred bytes instead of a megabyte."""
    for t in m.graph.initializer:
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        a = a[tuple(slice(0, k) for _ in a.shape)].copy()
        t.CopyFrom(numpy_helper.from_array(a, t.name))
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value") and d.dim_value > k:
                d.dim_value = k
    return m


def self_external(m, name="model.onnx"):
    """m with its float initializers as external data inside the model file itself, under the name the fuzz entry
    gives its input: the importer's external-data path with no second file. The weights go after the message as an
    unknown field (number 1000), which protobuf keeps and the importer ignores."""
    blob, places = b"", []
    for t in m.graph.initializer:
        if t.data_type == TensorProto.FLOAT:
            raw = numpy_helper.to_array(t).tobytes()
            places.append((len(blob), len(raw)))
            blob += raw
            t.ClearField("raw_data")
            t.ClearField("float_data")
            t.data_location = TensorProto.EXTERNAL
            for key, value in (("location", name), ("offset", "0" * 8), ("length", str(len(raw)))):
                e = t.external_data.add()
                e.key, e.value = key, value
    data = m.SerializeToString()
    head = _varint(1000 << 3 | 2) + _varint(len(blob))
    start = len(data) + len(head)
    placeholder = b"\x0a\x06offset\x12\x08" + b"0" * 8  # StringStringEntryProto{key: "offset", value: "00000000"}
    for off, _ in places:  # in initializer order, as serialized
        i = data.index(placeholder)
        data = data[:i] + placeholder[:-8] + f"{start + off:08d}".encode() + data[i + len(placeholder):]
    return data + head + blob


def _varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def idx_bytes(path, count):
    """The first count items of an idx file, with the header's count cut to match."""
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        rank = head[3]
        dims = [int.from_bytes(f.read(4), "big") for _ in range(rank)]
        item = int(np.prod(dims[1:])) if rank > 1 else 1
        body = f.read(count * item)
    return head + b"".join(d.to_bytes(4, "big") for d in [count] + dims[1:]) + body


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:  # mtime 0: the same bytes every run
        f.write(data)
    return buf.getvalue()


def stable(path):
    """A fixture file's bytes with its time stamps (gzip mtime, zip member dates) fixed, so that the committed seeds
    come out the same on every run."""
    data = open(path, "rb").read()
    try:
        return restamped(data)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):  # a fixture broken on purpose is a seed as it is
        return data


def restamped(data):
    """data with its gzip or zip time stamps fixed; raises on a broken archive."""
    if data[:2] == b"\x1f\x8b":
        return gz(gzip.decompress(data))
    if zipfile.is_zipfile(io.BytesIO(data)):
        src, buf = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
                fixed.compress_type = info.compress_type
                dst.writestr(fixed, src.read(info))
        return buf.getvalue()
    return data


def npz_bytes(compressed=False, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def fashion(split, count):
    """count images (uint8, (count, 28, 28)) and labels of Fashion-MNIST's split."""
    images = idx_bytes(f"{FASHION}/{split}-images-idx3-ubyte.gz", count)
    labels = idx_bytes(f"{FASHION}/{split}-labels-idx1-ubyte.gz", count)
    x = np.frombuffer(images[16:], np.uint8).reshape(count, 28, 28)
    y = np.frombuffer(labels[8:], np.uint8).astype(np.int64)
    return images, labels, x, y


def csv_seeds():
    """CSV files for fuzz_csv: well-formed ones (quoting, CRLF, a byte-order mark, exponents) and one per fault the
    reader names."""
    return {
        "iris-like.csv": b"sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,0\n"
                         b"7.0,3.2,4.7,1.4,1\n6.3,3.3,6.0,2.5,2\n",
        "quoted-crlf-bom.csv": b'\xef\xbb\xbf"a","b, with comma","y"\r\n"1.5",-2e-3,1\r\n3,"4",0\r\n',
        "regression.csv": b"x1,x2,target\n0.25,-1,3.75\n1e3,2.5E-2,-0.5\n\n7,8,9\n",
        "fraction-label.csv": b"a,y\n1,0.5\n",
        "not-a-number.csv": b"a,b,y\n1,two,0\n",
        "ragged.csv": b"a,b,y\n1,2\n3,4,5,6\n",
        "header-only.csv": b"a,b,y\n",
        "unclosed-quote.csv": b'a,b\n1,"2\n',
        "nan.csv": b"a,y\nnan,1\n",
    }


def committed(out, tmp):
    seeds = {"model": {}, "npy": {}, "idx": {}, "csv": csv_seeds(), "run": {}}
    m, n, i = seeds["model"], seeds["npy"], seeds["idx"]

    # Models: the bundled MLP and its test variants (opsets, initializers as inputs, external data), the Dropout
    # model, each shrunk; ONNX's node tests and our old-opset cases for the ops we run; the bad-model fixtures.
    run("models/make_models.py", "--variants", "--out", f"{tmp}/models")
    run("tests/train/make_dropout_model.py", f"{tmp}/train")
    sources = [f"{ROOT}/models/fashion_mlp.onnx"] + [f"{tmp}/models/{f}" for f in sorted(os.listdir(f"{tmp}/models"))
                                                     if f.startswith("mlp_") and f.endswith(".onnx")]
    sources.append(f"{tmp}/train/dropout_mlp.onnx")
    for src in sources:
        base = os.path.basename(src)[:-5]
        model = shrink(onnx.load(src))  # external data is read from beside src
        m[f"{base}-small.onnx"] = model.SerializeToString()
        if base == "mlp_external":
            m["mlp_self_external-small.onnx"] = self_external(model)
    run("tests/conformance/gen_node_tests.py", f"{tmp}/conf")
    run("tests/conformance/make_old_opset_tests.py", f"{tmp}/old", CLI)
    ours = ops(CLI)
    for root in (f"{tmp}/conf/node", f"{tmp}/old"):
        for case in sorted(os.listdir(root)):
            # test_reduce_mean_* is ReduceMean's, test_batchnorm_* BatchNormalization's, test_basic_conv_* Conv's: the name without underscores
            # starts with the op's.
            name = case[len("test_"):].replace("_", "").replace("batchnorm", "batchnormalization", 1).replace("basicconv", "conv", 1)
            path = f"{root}/{case}/model.onnx"
            if any(name.startswith(op) for op in ours) and "_expanded" not in case and os.path.getsize(path) <= SMALL:
                m[f"{case}.onnx"] = open(path, "rb").read()
    # Values that are not float32 tensors: typed Add and Identity, sequences, optionals, and models to refuse.
    run("tests/conformance/make_typed_tests.py", f"{tmp}/typed")
    for root, prefix in ((f"{tmp}/typed", "typed-"), (f"{tmp}/typed/bad", "typed-bad-")):
        for case in sorted(os.listdir(root)):
            path = f"{root}/{case}/model.onnx"
            if os.path.exists(path) and os.path.getsize(path) <= SMALL:
                m[f"{prefix}{case}.onnx"] = open(path, "rb").read()
    run("tests/bad_models/make_bad_models.py", f"{tmp}/bad")
    for f in sorted(os.listdir(f"{tmp}/bad")):
        if f.endswith(".onnx"):
            m[f"bad-{f}"] = stable(f"{tmp}/bad/{f}")

    # npy/npz: the data-file fixtures, slices of the bundled model's reference outputs and of Fashion-MNIST.
    run("tests/data/make_data_fixtures.py", f"{tmp}/data")
    for f in sorted(os.listdir(f"{tmp}/data")):
        if f.endswith((".npy", ".npz")):
            n[f"fixture-{f}"] = stable(f"{tmp}/data/{f}")
    ref = np.load(f"{ROOT}/models/fashion_mlp.ref.npz")
    n["fashion_mlp_ref-slice.npz"] = npz_bytes(**{k: ref[k][:2, :16] for k in ref.files})
    _, _, x, y = fashion("train", 3)
    n["fashion-train3.npz"] = npz_bytes(x=x, y=y)
    n["fashion-train3-compressed.npz"] = npz_bytes(True, x=x, y=y)
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(x[0, :8, :8].astype(np.float64)))
    n["fashion-image-fortran-f64.npy"] = buf.getvalue()

    # idx: the fixtures and the first few images and labels of each Fashion-MNIST split, plain and gzip.
    for f in sorted(os.listdir(f"{tmp}/data")):
        if "idx" in f:
            i[f"fixture-{f}"] = stable(f"{tmp}/data/{f}")
    for split, count in (("train", 2), ("t10k", 3)):
        images, labels, _, _ = fashion(split, count)
        i[f"fashion-{split}-images{count}"] = images
        i[f"fashion-{split}-images{count}.gz"] = gz(images)
        i[f"fashion-{split}-labels{count}"] = labels
        i[f"fashion-{split}-labels{count}.gz"] = gz(labels)
    # run: the `run` tests' models, whose outputs are 0-d, (1, N*C), (3, N), (2, N, 3), int64 and (N, C); the
    # bundled MLP and a Dropout model shrunk; and a truncated copy, which does not load. fuzz_run also reads the
    # model seeds (run.sh).
    run("tests/run/make_run_models.py", f"{tmp}/run")
    r = seeds["run"]
    for f in sorted(os.listdir(f"{tmp}/run")):
        if f.endswith(".onnx"):
            r[f"run-{f}"] = open(f"{tmp}/run/{f}", "rb").read()
    r["fashion_mlp-small.onnx"] = m["fashion_mlp-small.onnx"]
    r["dropout_mlp-small.onnx"] = m["dropout_mlp-small.onnx"]
    r["run-matmul3-truncated.onnx"] = r["run-matmul3.onnx"][:-20]
    write(out, seeds)


def large(out, tmp):
    """Run-time extras, too big to commit: more Fashion-MNIST, the training-test data sets, the reference npz. None
    for models: the bundled ones are near 1 MB, far over fuzz_model's input size; their shrunk copies are committed."""
    seeds = {"model": {}, "npy": {}, "idx": {}, "csv": {}, "run": {}}
    run("tests/train/make_train_data.py", f"{tmp}/train")
    for f in sorted(os.listdir(f"{tmp}/train")):
        if f.endswith(".npz"):
            seeds["npy"][f"train-{f}"] = open(f"{tmp}/train/{f}", "rb").read()
    seeds["npy"]["fashion_mlp.ref.npz"] = open(f"{ROOT}/models/fashion_mlp.ref.npz", "rb").read()
    images, labels, x, y = fashion("t10k", 40)
    seeds["npy"]["fashion-t10k40-compressed.npz"] = npz_bytes(True, x=x, y=y)
    seeds["idx"]["fashion-t10k-images40.gz"] = gz(images)
    seeds["idx"]["fashion-t10k-labels1000.gz"] = gz(idx_bytes(f"{FASHION}/t10k-labels-idx1-ubyte.gz", 1000))
    write(out, seeds)


def write(out, seeds):
    for target, files in seeds.items():
        d = os.path.join(out, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


def main():
    global CLI
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", help="folder for model/, npy/, idx/, csv/ and run/ (replaced)")
    ap.add_argument("--large", action="store_true", help="the run-time extras instead of the committed seeds")
    ap.add_argument("--cli", default=CLI, help="the onnxtrain command line, whose `info --ops` lists the ops")
    args = ap.parse_args()
    CLI = args.cli
    with tempfile.TemporaryDirectory() as tmp:
        (large if args.large else committed)(args.out, tmp)


if __name__ == "__main__":
    main()
