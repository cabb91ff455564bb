"""Exports the bundled Fashion-MNIST MLP (784-256-128-10: Relu, LeakyRelu, Softmax) and CNN (two Conv+Relu+MaxPool
stages of 16 and 32 channels, then Linear 1568-128-10 on raw scores) from PyTorch, with PyTorch's own outputs on a
fixed batch as the reference. With --variants it also writes the exports the tests compare against
(opsets 9 to 17, initializers listed as inputs, external data). It trains nothing."""
import argparse
import os

import numpy as np
import onnx
import torch
from torch import nn


def mlp(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.LeakyReLU(0.01),
        nn.Linear(128, 10), nn.Softmax(dim=1),
    ).eval()


def cnn(seed):
    """x: (N, 1, 28, 28) -> scores (N, 10). bench/cnn_torch.py trains this same module."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 7, 7)
        nn.Flatten(),                                                 # (N, 1568)
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10),
    ).eval()


def export(model, path, opset, shape=(784,), output="probs", **kwargs):
    torch.onnx.export(
        model, torch.zeros(2, *shape), path, opset_version=opset,
        input_names=["input"], output_names=[output],
        dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}},
        do_constant_folding=True, **kwargs)


def reference(model, path, rows, seed, shape=(784,), output="probs"):
    x = np.random.default_rng(seed).random((rows, *shape), dtype=np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    np.savez(path, input=x, **{output: y})


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--variants", action="store_true", help="also write the test variants")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    model = mlp(0)
    path = os.path.join(args.out, "fashion_mlp.onnx")
    export(model, path, 13)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["Gemm", "Relu", "Gemm", "LeakyRelu", "Gemm", "Softmax"], ops
    reference(model, os.path.join(args.out, "fashion_mlp.ref.npz"), 16, 0)

    model = cnn(0)
    path = os.path.join(args.out, "fashion_cnn.onnx")
    export(model, path, 13, shape=(1, 28, 28), output="scores")
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"], ops
    reference(model, os.path.join(args.out, "fashion_cnn.ref.npz"), 16, 0, shape=(1, 28, 28), output="scores")
    if not args.variants:
        return

    model = mlp(1)
    for opset in (9, 11, 13, 17):
        name = f"mlp_opset{opset}"
        export(model, os.path.join(args.out, name + ".onnx"), opset)
        reference(model, os.path.join(args.out, name + ".ref.npz"), 5, opset)
    export(model, os.path.join(args.out, "mlp_init_as_inputs.onnx"), 11, keep_initializers_as_inputs=True)
    reference(model, os.path.join(args.out, "mlp_init_as_inputs.ref.npz"), 5, 100)
    m = onnx.load(os.path.join(args.out, "mlp_opset13.onnx"))
    onnx.save_model(m, os.path.join(args.out, "mlp_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="mlp_external.onnx.data", size_threshold=0)
    reference(model, os.path.join(args.out, "mlp_external.ref.npz"), 5, 101)


if __name__ == "__main__":
    main()
