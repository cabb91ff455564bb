"""Freezing by glob pattern against PyTorch: make_parity.py's MLP trained by PyTorch with requires_grad off for the
parameters that TrainOptions::freeze's patterns match (fnmatch.fnmatchcase: * spans dots, as fnmatch(3) without
FNM_PATHNAME), or that TrainOptions::train_only's patterns do not. Per case it writes NAME.onnx and NAME.npz (x, y,
losses, w:<initializer> final weights) and NAME.cfg (freeze= and train_only=, patterns separated by spaces)."""
import fnmatch
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_parity import BATCH, C, D, EPOCHS, N, initializer_sources, make_model  # noqa: E402

CASES = {
    # Every parameter of the first Linear, and the last layer's bias by a one-character wildcard.
    "freeze_glob": dict(freeze=["0.*", "?.bias"], train_only=[]),
    # Only the middle Linear trains (momentum and weight decay skip the frozen ones in torch.optim too).
    "train_only": dict(freeze=[], train_only=["2.*"]),
    # Both: train only the weights, and of those not the last.
    "train_only_and_freeze": dict(freeze=["4.weight"], train_only=["*.weight"]),
}


def frozen(name, cfg):
    def hit(patterns):
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)
    return hit(cfg["freeze"]) or (bool(cfg["train_only"]) and not hit(cfg["train_only"]))


def run_case(out, name, cfg, seed):
    rng = np.random.default_rng(seed)
    model = make_model("softmax", seed)
    path = os.path.join(out, name + ".onnx")
    torch.onnx.export(model, torch.zeros(2, D), path, opset_version=13, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    sources = initializer_sources(path, model)
    params = dict(model.named_parameters())
    for onnx_name, (key, _) in sources.items():
        params[key].requires_grad_(not frozen(onnx_name, cfg))
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    losses = []
    for _ in range(EPOCHS):
        for b in range(0, N, BATCH):
            xb, yb = torch.from_numpy(x[b:b + BATCH]), torch.from_numpy(y[b:b + BATCH])
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model[:-1](xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    state = model.state_dict()
    weights = {"w:" + n: (state[k].T if t else state[k]).detach().numpy() for n, (k, t) in sources.items()}
    np.savez(os.path.join(out, name + ".npz"), x=x, y=y, losses=np.array(losses, np.float64), **weights)
    with open(os.path.join(out, name + ".cfg"), "w") as f:
        f.write("freeze=" + " ".join(cfg["freeze"]) + "\ntrain_only=" + " ".join(cfg["train_only"]) + "\n")
        f.write("frozen=" + " ".join(sorted(n for n in sources if frozen(n, cfg))) + "\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for seed, (name, cfg) in enumerate(CASES.items()):
        run_case(out, name, cfg, 100 + seed)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_freeze.py OUTDIR")
    main(sys.argv[1])
