"""Writes the --diagnostics tests' models, 784 -> 32 Relu -> 10 Softmax, each sick in a way known by construction:
dead_mlp has 20 of its 32 hidden units dead on any input in [0, 1) (bias -5 against |w.x| < 0.8) and the other 12
alive on every one (bias +5); all_dead_mlp has all 32 dead; exploding_mlp has a second layer 10^5 too large;
overflow_mlp a first layer whose products overflow float32."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(path, w1, b1, w2, b2):
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["z"], name="fc2", transB=1),
        helper.make_node("Softmax", ["z"], ["p"], name="softmax", axis=1),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), n)
             for n, a in [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2), ("fc2.bias", b2)]]
    graph = helper.make_graph(nodes, "diagnostics", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    # |w.x| <= 784 * 0.001 < 0.8 for x in [0, 1): the sign of each pre-activation is its bias's.
    w1 = rng.uniform(-0.001, 0.001, (32, 784))
    w2 = rng.normal(0, 0.1, (10, 32))
    b2 = np.zeros(10)
    dead = np.where(np.arange(32) < 20, -5.0, 5.0)
    mlp(os.path.join(out, "dead_mlp.onnx"), w1, dead, w2, b2)
    mlp(os.path.join(out, "all_dead_mlp.onnx"), w1, np.full(32, -5.0), w2, b2)
    mlp(os.path.join(out, "exploding_mlp.onnx"), w1, np.full(32, 5.0), w2 * 1e5, b2)
    mlp(os.path.join(out, "overflow_mlp.onnx"), np.full((32, 784), 1e37), np.zeros(32), w2, b2)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_diagnostics_models.py OUTDIR")
    main(sys.argv[1])
