"""Writes the models of the file-safety tests (test_file_safety.cpp): small 784 -> 8 Relu -> 10 Softmax MLPs that
take tests/train/good.npz. tiny_mlp trains fast (the long runs); nan_hidden_mlp holds a NaN in one hidden unit's
weights, which the Relu hides from the loss (relu(NaN) is 0 here, so the loss stays finite while the weight stays
NaN); sub/model.onnx keeps its weights as external data in a subfolder, sub/weights/w.bin."""
import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from make_diagnostics_models import mlp  # noqa: E402  784 -> H Relu -> 10 Softmax, saved to a path


def main(out):
    os.makedirs(os.path.join(out, "sub", "weights"), exist_ok=True)
    rng = np.random.default_rng(19)
    w1, b1 = rng.normal(0, 0.05, (8, 784)), np.zeros(8)
    w2, b2 = rng.normal(0, 0.3, (10, 8)), np.zeros(10)
    mlp(os.path.join(out, "tiny_mlp.onnx"), w1, b1, w2, b2)
    bad = w1.copy()
    bad[3, 5] = np.nan
    mlp(os.path.join(out, "nan_hidden_mlp.onnx"), bad, b1, w2, b2)
    onnx.save_model(onnx.load(os.path.join(out, "tiny_mlp.onnx")), os.path.join(out, "sub", "model.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=True, location="weights/w.bin",
                    size_threshold=0)


if __name__ == "__main__":
    main(sys.argv[1])
