"""Writes mixed_mlp.onnx for the fused update's test (test_fused_update.cpp): 784 -> 32 Gemm, Relu, then 32 -> 10 as
MatMul and Add, Softmax. Plain SGD folds into the Gemm's weight and bias gradients and the Add's bias gradient, but
not into the MatMul's, so one step updates some parameters in the GEMMs and the rest in the optimizer's pass.
Also fixed_batch4.onnx and fixed_batch3.onnx: the same graph with its batch dimension fixed at 4 and at 3, as
torch.onnx.export writes a model traced with such a dummy batch and no dynamic_axes (test_train_cli.cpp). And
column.onnx, a 784 -> 1 regression whose output is (N, 1), with its targets as (N) in column_1d.npz and as (N, 1)
in column_2d.npz. And binary.onnx, a 784 -> 1 Gemm with a Sigmoid head (a binary classifier), with 0/1 float
targets in binary.npz. And side_input.onnx: two inputs and two outputs, class probabilities p from x (784 -> 10) and an
output side from a second input z alone (3 -> 2), for training through p with x the only input fed."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save_one_output(out, name, rng, scale, sigmoid):
    """784 -> 1 as a Gemm, output (N, 1) named y; with sigmoid, a Sigmoid head named p (a binary classifier)."""
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["z" if sigmoid else "y"], name="fc", transB=1)]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["p"], name="sigmoid"))
    graph = helper.make_graph(
        nodes, name[:-5], [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("p" if sigmoid else "y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(rng.normal(0, scale, (1, 784)).astype(np.float32), "w"),
         numpy_helper.from_array(np.zeros(1, np.float32), "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name))


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("MatMul", ["a", "fc2.weight_t"], ["m"], name="fc2_matmul"),
        helper.make_node("Add", ["m", "fc2.bias"], ["z"], name="fc2_add"),
        helper.make_node("Softmax", ["z"], ["p"], name="softmax", axis=1),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in [
        ("fc1.weight", rng.normal(0, 0.05, (32, 784))), ("fc1.bias", rng.normal(0, 0.1, 32)),
        ("fc2.weight_t", rng.normal(0, 0.2, (32, 10))), ("fc2.bias", rng.normal(0, 0.1, 10))]]
    for name, batch in [("mixed_mlp.onnx", "N"), ("fixed_batch4.onnx", 4), ("fixed_batch3.onnx", 3)]:
        graph = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 784])],
                                  [helper.make_tensor_value_info("p", TensorProto.FLOAT, [batch, 10])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(out, name))

    save_one_output(out, "column.onnx", rng, 0.05, sigmoid=False)
    x = rng.random((20, 784)).astype(np.float32)
    t = x[:, :10].sum(axis=1).astype(np.float32)
    np.savez(os.path.join(out, "column_1d.npz"), x=x, y=t)
    np.savez(os.path.join(out, "column_2d.npz"), x=x, y=t[:, None])

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["z_fc"], name="fc", transB=1),
         helper.make_node("Softmax", ["z_fc"], ["p"], name="softmax", axis=1),
         helper.make_node("Gemm", ["z", "side.weight"], ["side"], name="side_fc", transB=1)],
        "side_input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 10]),
         helper.make_tensor_value_info("side", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(rng.normal(0, 0.05, (10, 784)).astype(np.float32), "fc.weight"),
         numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias"),
         numpy_helper.from_array(rng.normal(0, 0.5, (2, 3)).astype(np.float32), "side.weight")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "side_input.onnx"))

    save_one_output(out, "binary.onnx", rng, 0.1, sigmoid=True)
    xb = rng.normal(0, 1, (40, 784)).astype(np.float32)
    np.savez(os.path.join(out, "binary.npz"), x=xb, y=(rng.random(40) < 0.5).astype(np.float32))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_mixed_model.py OUTDIR")
    main(sys.argv[1])
