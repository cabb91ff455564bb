"""Writes the models of the file-safety tests (test_file_safety.cpp): small 784 -> 8 Relu -> 10 Softmax MLPs that
take tests/train/good.npz. tiny_mlp trains fast (the long runs); nan_hidden_mlp holds a NaN in one hidden unit's
weights, which the Relu hides from the loss (relu(NaN) is 0 here, so the loss stays finite while the weight stays
NaN); sub/model.onnx keeps its weights as external data in a subfolder, sub/weights/w.bin."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(w1, b1, w2, b2):
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["a"], name="relu1"),
        helper.make_node("Gemm", ["a", "fc2.weight", "fc2.bias"], ["z"], name="fc2", transB=1),
        helper.make_node("Softmax", ["z"], ["p"], name="softmax", axis=1),
    ]
    inits = [numpy_helper.from_array(a.astype(np.float32), n)
             for n, a in [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2), ("fc2.bias", b2)]]
    graph = helper.make_graph(nodes, "file_safety", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def main(out):
    os.makedirs(os.path.join(out, "sub", "weights"), exist_ok=True)
    rng = np.random.default_rng(19)
    w1, b1 = rng.normal(0, 0.05, (8, 784)), np.zeros(8)
    w2, b2 = rng.normal(0, 0.3, (10, 8)), np.zeros(10)
    onnx.save(mlp(w1, b1, w2, b2), os.path.join(out, "tiny_mlp.onnx"))
    bad = w1.copy()
    bad[3, 5] = np.nan
    onnx.save(mlp(bad, b1, w2, b2), os.path.join(out, "nan_hidden_mlp.onnx"))
    onnx.save_model(mlp(w1, b1, w2, b2), os.path.join(out, "sub", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights/w.bin", size_threshold=0)


if __name__ == "__main__":
    main(sys.argv[1])
