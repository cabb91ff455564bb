"""Exports the model families PyTorch users write (tests/parity/families/*.py, a MODELS dict each) at each opset and
export mode, trains each in PyTorch and records the reference that check_families.py holds `onnxtrain train` to.
Per case NAME (family_model_opsetO_mode) it writes NAME.onnx (the untrained export), NAME.npz (x, y, and the trained
model's output on x in eval mode), NAME.ref.npz (every step's loss, and w:<initializer> for the final value of each
initializer the export holds, BatchNorm running statistics included) and NAME.json (the training options).

A model's keys (all but make optional): make, a zero-arg callable returning the nn.Module (torch is seeded first);
input, the per-sample input shape (12,); dtype, float32 | int64 | uint8 (integers in [0, high), high 10; uint8 in
[0, 256)); loss, cross-entropy (on the (N, 4) logits) | mse (targets shaped as the output); optimizer, sgd | adam;
lr, 0.1; opsets, (13, 17); modes, the export modes, ("eval", "train"); freeze_bn, train under model.eval() and pass
--freeze-batchnorm. Registered buffers other than BatchNorm's statistics are not trained (--freeze)."""
import copy
import glob
import importlib.util
import json
import os
import sys

import numpy as np
import torch
from torch import nn

N, BATCH, EPOCHS, CLASSES = 50, 16, 2, 4


def families(here):
    """{family: MODELS} from families/*.py, in name order."""
    out = {}
    for path in sorted(glob.glob(os.path.join(here, "families", "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location("family_" + name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out[name] = mod.MODELS
    return out


def initializer_sources(model_proto, state):
    """Each initializer's PyTorch state entry: {onnx name: (state key, transposed)}. By name where the exporter kept
    the state key; else by value (a constant-folded, transposed copy of a bias-free Linear's weight), each state
    entry taken once where several hold equal values."""
    from onnx import numpy_helper
    sources, used = {}, set()
    inits = [(t.name, numpy_helper.to_array(t)) for t in model_proto.graph.initializer]
    for name, a in inits:
        if name in state and state[name].shape == a.shape:
            sources[name] = (name, False)
            used.add(name)
    for name, a in inits:
        if name in sources or a.dtype != np.float32:
            continue
        for key, v in state.items():
            if key in used:
                continue
            if a.shape == v.shape and np.array_equal(a, v):
                sources[name] = (key, False)
            elif a.ndim == 2 and a.shape == v.T.shape and np.array_equal(a, v.T):
                sources[name] = (key, True)
            else:
                continue
            used.add(key)
            break
    # Initializers the exporter tied (Identity(first) under the second's name): the state key is the Identity's output.
    for node in model_proto.graph.node:
        if node.op_type == "Identity" and node.output[0] in state and node.output[0] not in sources:
            sources[node.output[0]] = (node.output[0], False)
    return sources


def state_of(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items() if v.dtype.is_floating_point}


def data(cfg, rng, model):
    shape, dtype = tuple(cfg.get("input", (12,))), cfg.get("dtype", "float32")
    if dtype == "float32":
        x = rng.standard_normal((N,) + shape).astype(np.float32)
    elif dtype == "uint8":
        x = rng.integers(0, 256, (N,) + shape).astype(np.uint8)
    else:
        x = rng.integers(0, cfg.get("high", 10), (N,) + shape).astype(np.dtype(dtype))
    if cfg.get("loss", "cross-entropy") == "cross-entropy":
        y = rng.integers(0, CLASSES, N).astype(np.int64)
    else:
        probe = copy.deepcopy(model).eval()
        with torch.no_grad():
            out_shape = probe(torch.from_numpy(x[:1])).shape[1:]
        y = rng.standard_normal((N,) + tuple(out_shape)).astype(np.float32)
    return x, y


def run_case(out, family, name, cfg, opset, mode, seed):
    import onnx
    case = f"{family}_{name}_opset{opset}_{mode}"
    torch.manual_seed(seed)
    model = cfg["make"]()
    rng = np.random.default_rng(seed)
    x, y = data(cfg, rng, model)
    path = os.path.join(out, case + ".onnx")
    # The export traces a copy: a training-mode trace would otherwise move BatchNorm's running statistics.
    exported = copy.deepcopy(model)
    training = torch.onnx.TrainingMode.TRAINING if mode == "train" else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(exported, torch.from_numpy(x[:2]), path, opset_version=opset, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                      training=training, do_constant_folding=mode == "eval")
    proto = onnx.load(path)
    sources = initializer_sources(proto, state_of(model))

    loss_fn = nn.MSELoss() if cfg.get("loss") == "mse" else nn.CrossEntropyLoss()
    lr = cfg.get("lr", 0.1)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if cfg.get("optimizer") == "adam"
           else torch.optim.SGD(model.parameters(), lr=lr))
    model.train(not cfg.get("freeze_bn", False))
    losses = []
    for _ in range(EPOCHS):
        for b in range(0, N, BATCH):
            xb, yb = torch.from_numpy(x[b:b + BATCH]), torch.from_numpy(y[b:b + BATCH])
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    final = state_of(model)
    weights = {"w:" + n: (final[key].T if transposed else final[key]) for n, (key, transposed) in sources.items()}
    model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(x)).numpy()
    np.savez(os.path.join(out, case + ".npz"), x=x, y=y, output=output)
    np.savez(os.path.join(out, case + ".ref.npz"), losses=np.array(losses, np.float64), **weights)
    # A registered buffer that is no BatchNorm statistic (an input normalization's mean and std) is a constant to
    # PyTorch, but an initializer like any weight in the export: onnxtrain is told not to train it.
    trained = dict(model.named_parameters())
    stats = ("running_mean", "running_var", "num_batches_tracked")
    frozen = sorted(n for n, (k, _) in sources.items() if k not in trained and not k.endswith(stats))
    options = dict(family=family, loss=cfg.get("loss", "cross-entropy"), optimizer=cfg.get("optimizer", "sgd"), lr=lr,
                   batch=BATCH, epochs=EPOCHS, freeze_batchnorm=bool(cfg.get("freeze_bn", False)),
                   sources={n: k for n, (k, _) in sources.items()}, freeze=frozen)
    with open(os.path.join(out, case + ".json"), "w") as f:
        json.dump(options, f, indent=1)
    return case


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    seed = 0
    written = []
    for family, models in families(here).items():
        for name, cfg in models.items():
            for opset in cfg.get("opsets", (13, 17)):
                for mode in cfg.get("modes", ("eval", "train")):
                    seed += 1
                    written.append(run_case(out, family, name, cfg, opset, mode, seed))
    print(f"{len(written)} cases")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_families.py OUTDIR")
    main(sys.argv[1])
