"""Writes dropout_mlp.onnx for the resume tests: 784 -> 32 ReLU Dropout(0.3) -> 10 Softmax, exported by PyTorch in
training mode so that the Dropout node stays and draws real masks. Resuming must reproduce those masks."""
import os
import sys

import torch
from torch import nn


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Dropout(p=0.3), nn.Linear(32, 10), nn.Softmax(dim=1))
    model.train()
    torch.onnx.export(model, torch.zeros(2, 784), os.path.join(out, "dropout_mlp.onnx"), opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_dropout_model.py OUTDIR")
    main(sys.argv[1])
