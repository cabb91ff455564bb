"""Exports PyTorch's shape chains (Shape, Gather, Unsqueeze, Concat before a Reshape) and trains them in PyTorch: the
reference for tests/ops/test_shape_chains.cpp. Per model, OUTDIR/NAME.onnx and NAME.npz: x, y (int64 labels), out (the
untrained model's output on x), losses (each SGD step's cross-entropy) and w:<initializer> (the final weights).
    flat13, flat17    x.view(x.size(0), -1) on (N, 3, 4), then a Linear
    heads13, heads17  an attention-style head split read from x.shape: view(b, t, h, d).transpose(1, 2), then
                      reshape(b, -1) and a Linear
    positions13, 17   x + nn.Embedding(5, 8)(torch.arange(x.size(1))) on (N, T, 8), mean over T, a Linear; also
                      x_short and out_short: the untrained model on a shorter sequence
And embedding13.onnx/.npz: nn.Embedding(10, 8) by int64 tokens (N, 6) with repeats, flattened, then a Linear; the npz
holds tokens, y and PyTorch's gradients of the loss on them (g:<initializer>)."""
import os
import sys

import numpy as np
import torch
from torch import nn

N, BATCH, LR = 10, 4, 0.1  # 10 samples in batches of 4: the last is partial, a second plan whose chain folds again


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))


class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.fc = nn.Linear(40, 4)

    def forward(self, x):
        b, t, c = x.shape
        q = self.lin(x).view(b, t, 2, 4).transpose(1, 2)
        return self.fc(q.reshape(b, -1))


class Positions(nn.Module):
    """A learned position embedding read by torch.arange over the sequence's length, then mean pooling."""
    def __init__(self):
        super().__init__()
        self.pos = nn.Embedding(5, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = x + self.pos(torch.arange(x.size(1)))
        return self.fc(h.mean(1))


def sources(path, model):
    """Each initializer's parameter: {name: (state_dict key, transposed)} (a Linear before MatMul exports W^T)."""
    import onnx
    from onnx import numpy_helper
    found = {}
    for init in onnx.load(path).graph.initializer:
        a = numpy_helper.to_array(init)
        for key, v in model.state_dict().items():
            v = v.detach().numpy()
            if a.shape == v.shape and np.array_equal(a, v):
                found[init.name] = (key, False)
            elif a.ndim == 2 and a.shape == v.T.shape and np.array_equal(a, v.T):
                found[init.name] = (key, True)
    return found


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, make, shape in (("flat", Flat, (3, 4)), ("heads", Heads, (5, 8)), ("positions", Positions, (5, 8))):
        for opset in (13, 17):
            torch.manual_seed(7)
            model = make()
            x = torch.randn(N, *shape)
            y = torch.randint(0, 4, (N,))
            path = os.path.join(out, f"{name}{opset}.onnx")
            torch.onnx.export(model, x[:2], path, opset_version=opset, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "N", 1: "T"} if name == "positions" else {0: "N"}, "y": {0: "N"}})
            names = sources(path, model)
            with torch.no_grad():
                first = model(x).numpy()
                short = model(x[:3, :3]).numpy() if name == "positions" else None  # a shorter sequence
            sgd = torch.optim.SGD(model.parameters(), lr=LR)
            losses = []
            for b in range(0, N, BATCH):
                sgd.zero_grad()
                loss = nn.functional.cross_entropy(model(x[b:b + BATCH]), y[b:b + BATCH])
                loss.backward()
                sgd.step()
                losses.append(loss.item())
            state = model.state_dict()
            arrays = {"x": x.numpy(), "y": y.numpy(), "out": first, "losses": np.array(losses, np.float32)}
            if name == "positions":
                arrays.update(x_short=x[:3, :3].numpy().copy(), out_short=short)
            for init, (key, transposed) in names.items():
                w = state[key].numpy()
                arrays["w:" + init] = w.T.copy() if transposed else w
            np.savez(os.path.join(out, f"{name}{opset}.npz"), **arrays)


class Embedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.fc = nn.Linear(48, 4)

    def forward(self, tokens):
        e = self.emb(tokens)
        return self.fc(e.view(e.size(0), -1))


def embedding(out):
    torch.manual_seed(3)
    model = Embedding()
    tokens = torch.randint(0, 10, (5, 6))
    tokens[0, :3] = 7  # repeated within a sample and across samples: their rows' gradients add up
    tokens[3, 5] = 7
    y = torch.randint(0, 4, (5,))
    path = os.path.join(out, "embedding13.onnx")
    torch.onnx.export(model, tokens[:2], path, opset_version=13, input_names=["tokens"], output_names=["y"],
                      dynamic_axes={"tokens": {0: "N"}, "y": {0: "N"}})
    names = sources(path, model)
    nn.functional.cross_entropy(model(tokens), y).backward()
    grads = dict(model.named_parameters())
    arrays = {"tokens": tokens.numpy(), "y": y.numpy()}
    for init, (key, transposed) in names.items():
        g = grads[key].grad.numpy()
        arrays["g:" + init] = g.T.copy() if transposed else g
    np.savez(os.path.join(out, "embedding13.npz"), **arrays)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_shape_chains.py OUTDIR")
    main(sys.argv[1])
    embedding(sys.argv[1])
