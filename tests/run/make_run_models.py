"""Writes the models, data sets and NumPy references of the `run` tests (tests/run/test_run_command.cpp): outputs of
every layout `run` meets (0-d, (1, N*C), (3, N), (2, N, 3), int64), each with the data it runs on."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(out, name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_run_models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name + ".onnx"))


def x_in(width):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])


def out_of(name, elem=TensorProto.FLOAT, dims=None):
    return helper.make_tensor_value_info(name, elem, dims)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(19)

    # D3: a 0-d output beside a batch-major one. y: (N, 4); s: ()
    s0 = np.array(2.5, np.float32)
    save(out, "scalar", [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Identity", ["s0"], ["s"])],
         [x_in(4)], [out_of("y", dims=["N", 4]), out_of("s", dims=[])], [("s0", s0)])
    x = rng.standard_normal((3, 4)).astype(np.float32)
    np.savez(os.path.join(out, "x3x4.npz"), x=x)
    np.savez(os.path.join(out, "scalar.ref.npz"), y=np.maximum(x, 0), s=s0)

    # D4: Flatten(axis=0) makes (1, N*C) of (N, C); with labels, 20,000 samples of 10 classes.
    save(out, "flatten0", [helper.make_node("Flatten", ["x"], ["f"], axis=0)], [x_in(10)], [out_of("f", dims=[1, None])])
    x = rng.standard_normal((20000, 10)).astype(np.float32)
    y = rng.integers(0, 10, 20000).astype(np.int64)
    np.savez(os.path.join(out, "x20000x10.npz"), x=x, y=y)
    np.savez(os.path.join(out, "flatten0.ref.npz"), f=x.reshape(1, -1))
    # A real (N, C) first output, for the accuracy line: Softmax keeps each row's argmax.
    save(out, "classes", [helper.make_node("Softmax", ["x"], ["p"], axis=1)], [x_in(10)], [out_of("p", dims=["N", 10])])
    x = rng.standard_normal((10, 10)).astype(np.float32)
    y = x.argmax(axis=1).astype(np.int64)
    y[[1, 4, 8]] = (y[[1, 4, 8]] + 1) % 10  # 7 of the 10 right
    np.savez(os.path.join(out, "x10x10.npz"), x=x, y=y)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.savez(os.path.join(out, "classes.ref.npz"), p=e / e.sum(axis=1, keepdims=True),
             accuracy=np.array((x.argmax(axis=1) == y).mean()))

    # D5: layouts that are not batch-major, and dtypes other than float32.
    # t: (3, N), x transposed.
    save(out, "transpose", [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0])], [x_in(3)],
         [out_of("t", dims=[3, "N"])])
    for n in (9, 10):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        np.savez(os.path.join(out, f"x{n}x3.npz"), x=x)
        np.savez(os.path.join(out, f"transpose{n}.ref.npz"), t=x.T)
    # The same with the batch fixed at 5 (an export without dynamic_axes): 10 samples run in two batches of 5.
    save(out, "transpose_fixed", [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0])],
         [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 3])], [out_of("t", dims=[3, 5])])
    # m: (2, N, 3) = x (N, 4) @ w (2, 4, 3), broadcast over w's leading dim.
    w = rng.standard_normal((2, 4, 3)).astype(np.float32)
    save(out, "matmul3", [helper.make_node("MatMul", ["x", "w"], ["m"])], [x_in(4)], [out_of("m", dims=[2, "N", 3])],
         [("w", w)])
    x = rng.standard_normal((10, 4)).astype(np.float32)
    np.savez(os.path.join(out, "x10x4.npz"), x=x)
    np.savez(os.path.join(out, "matmul3.ref.npz"), m=np.matmul(x, w))
    # k: an int64 (3) sum of constants beside y: (N, 4).
    a, b = np.array([1, -2, 1 << 40], np.int64), np.array([5, 7, 3], np.int64)
    save(out, "int64", [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Add", ["a", "b"], ["k"])], [x_in(4)],
         [out_of("y", dims=["N", 4]), out_of("k", TensorProto.INT64, [3])], [("a", a), ("b", b)])
    np.savez(os.path.join(out, "int64.ref.npz"), y=np.maximum(x, 0), k=a + b)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_run_models.py OUTDIR")
    main(sys.argv[1])
