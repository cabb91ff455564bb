"""Reference data for gradient clipping, accumulation and cross-entropy's options (tests/train/test_grad.cpp), from
PyTorch itself: the loss and every parameter's gradient by autograd for each loss option, and the weights, losses and
pre-clipping norms of short training runs. It writes MODEL.onnx files (one MLP, exported with its raw scores and with a
Softmax or LogSoftmax head), and per case NAME.npz (x, y, weights, loss(es), g:/w: per initializer, norms) beside
NAME.json (the options)."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

D, H, C = 12, 16, 4


def make_model(head):
    torch.manual_seed(11)
    layers = [nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C)]
    if head == "softmax":
        layers.append(nn.Softmax(dim=1))
    elif head == "logsoftmax":
        layers.append(nn.LogSoftmax(dim=1))
    return nn.Sequential(*layers)


def export(model, path):
    torch.onnx.export(model, torch.zeros(2, D), path, opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    import onnx
    from onnx import numpy_helper
    names = {}
    for init in onnx.load(path).graph.initializer:
        a = numpy_helper.to_array(init)
        for key, v in model.state_dict().items():
            if a.shape == v.shape and np.array_equal(a, v.numpy()):
                names[init.name] = key
    return names


def loss_of(model, head, cfg, xb, yb):
    """The loss as a PyTorch user writes it for these options: cross-entropy on the logits (the Softmax head's input),
    nll on the model's own output."""
    logits = model[:3](xb)
    w = torch.tensor(cfg["weights"], dtype=torch.float32) if cfg.get("weights") else None
    if cfg["loss"] == "nll":
        out = model(xb) if head == "logsoftmax" else logits
        return F.nll_loss(out, yb, weight=w, ignore_index=cfg.get("ignore_index", -100))
    return F.cross_entropy(logits, yb, weight=w, ignore_index=cfg.get("ignore_index", -100),
                           label_smoothing=cfg.get("label_smoothing", 0.0))


def targets(rng, n, cfg):
    if cfg.get("probabilities"):
        y = rng.random((n, C)).astype(np.float32)
        return y / y.sum(axis=1, keepdims=True)
    y = rng.integers(0, C, n).astype(np.int64)
    if cfg.get("ignored"):  # every fourth target, so that each batch and micro-batch holds some
        y[1::4] = -100
    return y


# One batch each: the loss and the gradient of every parameter, against TrainingSession::gradients.
GRADIENT_CASES = {
    "ce_weights":         dict(head="logits", loss="cross-entropy", weights=[1.0, 2.0, 0.5, 3.0]),
    "ce_smoothing":       dict(head="logits", loss="cross-entropy", label_smoothing=0.1),
    "ce_all_options":     dict(head="logits", loss="cross-entropy", weights=[1.0, 2.0, 0.5, 3.0], label_smoothing=0.2,
                               ignored=True),
    "ce_all_softmax":     dict(head="softmax", loss="cross-entropy", weights=[0.5, 1.0, 4.0, 2.0], label_smoothing=0.3,
                               ignored=True),
    "ce_ignore_2":        dict(head="softmax", loss="cross-entropy", ignore_index=2),
    "ce_probs_options":   dict(head="softmax", loss="cross-entropy", weights=[1.0, 2.0, 0.5, 3.0], label_smoothing=0.25,
                               probabilities=True),
    "ce_probs_logits":    dict(head="logits", loss="cross-entropy", label_smoothing=0.1, probabilities=True),
    "nll_weights_ignore": dict(head="logsoftmax", loss="nll", weights=[1.0, 2.0, 0.5, 3.0], ignored=True),
    "nll_on_scores":      dict(head="logits", loss="nll", weights=[2.0, 1.0, 1.0, 0.25], ignore_index=1),
}

# Short runs in file order: weights after every epoch's steps, the loss and the norm before clipping of each step.
# "big" is the batch PyTorch trains at; "batch" x "accumulate" is how onnxtrain gets there. 76 samples in steps of
# 32: the last step holds 12 samples, one micro-batch of 8 and one of 4.
TRAIN_CASES = {
    "clip_norm_sgd":   dict(head="logits", loss="cross-entropy", optimizer="sgd", lr=0.5, clip_grad_norm=0.3, big=16),
    "clip_norm_adam":  dict(head="softmax", loss="cross-entropy", optimizer="adam", lr=0.02, clip_grad_norm=0.05,
                            big=16),
    "clip_value_sgd":  dict(head="logits", loss="cross-entropy", optimizer="sgd", lr=0.5, momentum=0.9,
                            clip_grad_value=0.02, big=16),
    "accumulate_sgd":  dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.3, big=32, batch=8,
                            accumulate=4),
    "accumulate_adam": dict(head="logits", loss="cross-entropy", optimizer="adam", lr=0.01, big=32, batch=8,
                            accumulate=4),
    "accumulate_weighted": dict(head="logits", loss="cross-entropy", optimizer="sgd", lr=0.3, big=32, batch=8,
                                accumulate=4, weights=[1.0, 2.0, 0.5, 3.0], label_smoothing=0.1, ignored=True,
                                clip_grad_norm=0.5),
}
N_TRAIN, EPOCHS = 76, 2


def gradient_case(out, name, cfg, seed):
    IGNORE["current"] = cfg.get("ignore_index", -100)
    head = cfg["head"]
    model = make_model(head)
    names = export(model, os.path.join(out, name + ".onnx"))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((10, D)).astype(np.float32)
    y = targets(rng, 10, cfg)
    model.zero_grad()
    loss = loss_of(model, head, cfg, torch.from_numpy(x), torch.from_numpy(y))
    loss.backward()
    params = dict(model.named_parameters())
    grads = {"g:" + n: params[k].grad.numpy() for n, k in names.items()}
    np.savez(os.path.join(out, name + ".npz"), x=x, y=y, loss=np.array([loss.item()], np.float64),
             accuracy=np.array([accuracy(model, x, y)], np.float64), **grads)


def accuracy(model, x, y):
    """The argmax's hits over the class labels not ignored (-100 or the case's ignore_index), as a PyTorch user
    counts them; -1 for probability targets."""
    if y.ndim != 1:
        return -1.0
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    kept = (y != -100) & (y != IGNORE.get("current", -100))
    return float((pred[kept] == y[kept]).mean())


IGNORE = {}


def train_case(out, name, cfg, seed):
    head = cfg["head"]
    model = make_model(head)
    names = export(model, os.path.join(out, name + ".onnx"))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, D)).astype(np.float32)
    y = targets(rng, N_TRAIN, cfg)
    if cfg["optimizer"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg.get("momentum", 0))
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    losses, norms, accuracies = [], [], []
    big = cfg["big"]
    for _ in range(EPOCHS):
        for b in range(0, N_TRAIN, big):
            xb, yb = torch.from_numpy(x[b:b + big]), torch.from_numpy(y[b:b + big])
            with torch.no_grad():
                kept = yb != -100
                hits = (model(xb).argmax(dim=1)[kept] == yb[kept]).float().mean().item()
            accuracies.append(hits)
            opt.zero_grad()
            loss = loss_of(model, head, cfg, xb, yb)
            loss.backward()
            if cfg.get("clip_grad_norm"):
                norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad_norm"]).item())
            if cfg.get("clip_grad_value"):
                torch.nn.utils.clip_grad_value_(model.parameters(), cfg["clip_grad_value"])
            opt.step()
            losses.append(loss.item())
    params = dict(model.named_parameters())
    weights = {"w:" + n: params[k].detach().numpy() for n, k in names.items()}
    np.savez(os.path.join(out, name + ".npz"), x=x, y=y, losses=np.array(losses, np.float64),
             norms=np.array(norms, np.float64), accuracies=np.array(accuracies, np.float64), **weights)


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, (name, cfg) in enumerate(GRADIENT_CASES.items()):
        gradient_case(out, name, cfg, 100 + i)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(cfg, f)
    for i, (name, cfg) in enumerate(TRAIN_CASES.items()):
        train_case(out, name, cfg, 200 + i)
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(dict(cfg, epochs=EPOCHS, samples=N_TRAIN), f)
    # Bad class weights for the command line: a file of the wrong length, one of integers, one of two dimensions.
    np.save(os.path.join(out, "weights_3.npy"), np.array([1, 2, 3], np.float32))
    np.save(os.path.join(out, "weights_int.npy"), np.array([1, 2, 3, 4], np.int64))
    np.save(os.path.join(out, "weights_2d.npy"), np.ones((2, 2), np.float32))
    np.save(os.path.join(out, "weights_4.npy"), np.array([1.0, 2.0, 0.5, 3.0], np.float32))
    print("\n".join(list(GRADIENT_CASES) + list(TRAIN_CASES)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_grad_reference.py OUTDIR")
    main(sys.argv[1])
