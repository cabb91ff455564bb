"""Initializers PyTorch's exporter ties, and real sharing, in one model, trained in PyTorch as the reference for
tests/parity/test_parity.cpp (TiedInitializers). fc1 and fc2 start with zero biases: the eval-mode export (PyTorch 1.13)
writes fc2.bias as Identity(fc1.bias), which PyTorch trains as two tensors. `shared` is one Linear applied twice: one
initializer read by two Gemms, which PyTorch trains as one. Writes OUT/tied.onnx (eval mode) and OUT/tied.npz (x, y,
the loss of every step, w:<initializer> final weights) for plain SGD, no shuffling."""
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

N, D, H, C = 50, 12, 16, 4
BATCH, EPOCHS, LR = 16, 2, 0.1


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, H), nn.Linear(H, H)
        self.shared = nn.Linear(H, H)
        self.out = nn.Linear(H, C)
        with torch.no_grad():
            self.fc1.bias.zero_()
            self.fc2.bias.zero_()

    def forward(self, x):
        h = torch.relu(self.fc2(torch.relu(self.fc1(x))))
        h = torch.relu(self.shared(torch.relu(self.shared(h))))
        return self.out(h)


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = Tied()
    path = os.path.join(out, "tied.onnx")
    torch.onnx.export(model, torch.zeros(2, D), path, opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    g = onnx.load(path).graph
    # What the test is about: the export really tied the biases, and really shares `shared`.
    assert [(n.input[0], n.output[0]) for n in g.node if n.op_type == "Identity"] == [("fc1.bias", "fc2.bias")], g.node
    assert sum(1 for n in g.node for i in n.input if i == "shared.weight") == 2
    names = [t.name for t in g.initializer]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int64)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(EPOCHS):
        for b in range(0, N, BATCH):
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(x[b:b + BATCH])), torch.from_numpy(y[b:b + BATCH]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
    state = model.state_dict()
    weights = {"w:" + k: state[k].detach().numpy() for k in names + ["fc2.bias"]}
    np.savez(os.path.join(out, "tied.npz"), x=x, y=y, losses=np.array(losses, np.float64), **weights)


def check(source, written):
    """The trained file is what PyTorch would export after training: both biases as initializers of their own, no
    Identity, and everything else as the source has it (the initializers' values apart). Exits 1 saying what differs."""
    a, b = onnx.load(source), onnx.load(written)
    onnx.checker.check_model(b)
    if any(n.op_type == "Identity" for n in b.graph.node):
        sys.exit("the written model still has an Identity node")
    names = [t.name for t in b.graph.initializer]
    if sorted(names) != sorted([t.name for t in a.graph.initializer] + ["fc2.bias"]):
        sys.exit("initializers %s" % names)
    fc1, fc2 = (next(t for t in b.graph.initializer if t.name == k) for k in ("fc1.bias", "fc2.bias"))
    if (fc1.data_type, list(fc1.dims)) != (fc2.data_type, list(fc2.dims)):
        sys.exit("fc2.bias is not shaped as fc1.bias")
    a.graph.node.remove(next(n for n in a.graph.node if n.op_type == "Identity"))
    for m in (a, b):
        m.graph.ClearField("initializer")
    if a.SerializeToString() != b.SerializeToString():
        sys.exit("the written model differs from the source beyond the initializers and the Identity")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit("usage: make_tied.py OUTDIR | make_tied.py --check SOURCE.onnx WRITTEN.onnx")
