"""Writes gradcheck's test models, each with a property known by construction (NumPy and onnx only):
kink_mlp.onnx + kink.npz: 2 -> 3 Relu -> 2 Softmax where sample 0's first hidden pre-activation is exactly 0
(0.5 * 1 + 0.5 * -1 + 0, exact in float32 and double) and every other one is at least 0.05 from 0;
overflow_mlp.onnx: 4 -> 3 Relu -> 2 whose first layer stays small (h >= 1 on inputs in [0, 1)) and whose second
layer's weights of 3e38 take every output past float32's largest value (3.4e38), though not past double's;
zero_grad_mlp.onnx + zero_grad.npz: parameters whose gradient is exactly 0 (see main)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(path, w1, b1, w2, b2, head):
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["z"], name="fc2", transB=1),
    ]
    out = "z"
    if head:
        nodes.append(helper.make_node("Softmax", ["z"], ["p"], name="softmax", axis=1))
        out = "p"
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n)
             for n, a in [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2), ("fc2.bias", b2)]]
    graph = helper.make_graph(nodes, "gradcheck", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", w1.shape[1]])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", w2.shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(out):
    os.makedirs(out, exist_ok=True)
    w1 = np.array([[1.0, -1.0], [0.7, 0.2], [-0.4, 0.9]])
    b1 = np.array([0.0, 0.1, -0.1])
    x = np.array([[0.5, 0.5], [0.3, -0.7], [0.9, 0.2], [-0.6, 0.8], [0.2, 0.9]], np.float32)
    pre = x.astype(np.float64) @ w1.astype(np.float32).T.astype(np.float64) + b1.astype(np.float32)
    assert pre[0, 0] == 0 and np.all(np.abs(np.delete(pre.ravel(), 0)) >= 0.05), pre
    mlp(os.path.join(out, "kink_mlp.onnx"), w1, b1, np.array([[0.5, -0.3, 0.8], [-0.6, 0.4, 0.2]]), np.array([0.1, -0.1]),
        head=True)
    np.savez(os.path.join(out, "kink.npz"), x=x, y=np.array([0, 1, 1, 0, 1], np.int64))

    rng = np.random.default_rng(5)
    mlp(os.path.join(out, "overflow_mlp.onnx"), rng.uniform(0, 0.1, (3, 4)), np.ones(3), np.full((2, 3), 3e38),
        np.zeros(2), head=False)

    # zero_grad_mlp.onnx + zero_grad.npz: 4 -> 3 Relu -> 10, plus a shift added to every logit, then Softmax, on 32
    # samples. Hidden unit 2 has bias -50 and is dead on every sample (|w . x| < 2 for x in [-1, 1)), so fc1.weight's
    # row 2, fc1.bias[2] and fc2.weight's column 2 have a gradient of exactly 0; and softmax is unchanged by a shift of
    # all logits, so the shift's gradient is exactly 0 too, though the float32 backward sums it from 320 terms
    # (p - t) / N that do not cancel exactly.
    rng = np.random.default_rng(1)
    w1 = rng.uniform(-0.5, 0.5, (3, 4))
    b1 = np.array([0.1, -0.2, -50.0])
    zx = rng.uniform(-1, 1, (32, 4)).astype(np.float32)
    assert np.all(zx.astype(np.float64) @ w1.astype(np.float32)[2].astype(np.float64) - 50 < -40)
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["z"], name="fc2", transB=1),
        helper.make_node("Add", ["z", "shift"], ["s"], name="shift_add"),
        helper.make_node("Softmax", ["s"], ["p"], name="softmax", axis=1),
    ]
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n)
             for n, a in [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", rng.normal(0, 1, (10, 3))),
                          ("fc2.bias", rng.normal(0, 1, 10)), ("shift", [0.3])]]
    graph = helper.make_graph(nodes, "zero_grad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "zero_grad_mlp.onnx"))
    np.savez(os.path.join(out, "zero_grad.npz"), x=zx, y=(np.arange(32) % 10).astype(np.int64))

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_gradcheck_models.py OUTDIR")
    main(sys.argv[1])
