"""Exports small MLPs from PyTorch untrained, then trains each in PyTorch (no shuffling) and records the loss of every
step and every final weight: the reference that tests/parity/test_parity.cpp holds onnxtrain to. Per case it writes
NAME.onnx, NAME.npz (x, y, losses, w:<initializer> final weights, and the trained model's output on x) and NAME.cfg (the training options)."""
import os
import sys

import numpy as np
import torch
from torch import nn

N, D, H1, H2, C = 50, 12, 16, 8, 4     # 50 samples in batches of 16: the last batch is partial (2)
BATCH, EPOCHS = 16, 2


class Squeeze(nn.Module):
    """x.squeeze(dim), or x.squeeze() for dim None, in a forward(): exported as Squeeze."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.squeeze() if self.dim is None else x.squeeze(self.dim)


class Unsqueeze(Squeeze):
    """x.unsqueeze(dim): exported as Unsqueeze."""

    def forward(self, x):
        return x.unsqueeze(self.dim)


class TwoHeads(nn.Module):
    """Class probabilities beside an auxiliary head: trained through the first alone (--output probs), so the aux
    head's weights get no gradient and stay as they were, in PyTorch and in onnxtrain."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, H1), nn.ReLU())
        self.cls = nn.Linear(H1, C)
        self.aux = nn.Linear(H1, 2)

    def logits(self, x):
        return self.cls(self.body(x))

    def forward(self, x):
        h = self.body(x)
        return torch.softmax(self.cls(h), dim=1), self.aux(h)


def make_model(head, seed, arch="relu"):
    torch.manual_seed(seed)
    if arch == "two_heads":
        return TwoHeads()
    if arch == "tanh":
        layers = [nn.Linear(D, H1), nn.Tanh(), nn.Linear(H1, H2), nn.Sigmoid(), nn.Linear(H2, C)]
    elif arch == "nobias":  # nn.Linear(bias=False) exports as MatMul
        layers = [nn.Linear(D, H1, bias=False), nn.ReLU(), nn.Linear(H1, C, bias=False)]
    elif arch == "dropout":  # exported in training mode, so the Dropout node stays (at ratio 0: deterministic)
        layers = [nn.Linear(D, H1), nn.ReLU(), nn.Dropout(p=0.0), nn.Linear(H1, C)]
    elif arch == "linear3d":  # nn.Linear on (N, 3, D) exports as MatMul + Add
        layers = [nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, C)]
    elif arch == "squeeze":  # a regression head of width 1, squeezed to (N): targets of shape (N)
        layers = [nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, 1), Squeeze(-1)]
    elif arch == "squeeze_all":  # x.squeeze(): a last batch of one comes out as (), beside targets (1)
        layers = [nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, 1), Squeeze(None)]
    elif arch == "unsqueeze":  # (N, D) -> (N, 1, D) through 3-D Linears (MatMul + Add) and back to (N, C)
        layers = [Unsqueeze(1), nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, C), Squeeze(1)]
    elif arch == "flatten":  # image-shaped input, (N, 1, 3, 4)
        layers = [nn.Flatten(), nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, C)]
    else:
        layers = [nn.Linear(D, H1), nn.ReLU(), nn.Linear(H1, H2), nn.LeakyReLU(0.1), nn.Linear(H2, C)]
    heads = {"softmax": nn.Softmax(dim=1), "logsoftmax": nn.LogSoftmax(dim=1), "sigmoid": nn.Sigmoid()}
    if head in heads:
        layers.append(heads[head])
    return nn.Sequential(*layers)


def initializer_sources(path, model):
    """Each ONNX initializer's PyTorch parameter: {name: (state_dict key, transposed)}. A bias-free Linear exports as
    MatMul on a constant-folded, transposed, renamed copy of its weight."""
    import onnx
    from onnx import numpy_helper
    sources = {}
    for init in onnx.load(path).graph.initializer:
        a = numpy_helper.to_array(init)
        for key, v in model.state_dict().items():
            v = v.detach().numpy()
            if a.shape == v.shape and np.array_equal(a, v):
                sources[init.name] = (key, False)
            elif a.ndim == 2 and a.shape == v.T.shape and np.array_equal(a, v.T):
                sources[init.name] = (key, True)
    return sources


def optimizer(params, cfg):
    name = cfg["optimizer"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg.get("momentum", 0), dampening=cfg.get("dampening", 0),
                               nesterov=cfg.get("nesterov", False), weight_decay=cfg.get("weight_decay", 0))
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg["lr"], betas=(cfg.get("beta1", 0.9), cfg.get("beta2", 0.999)), eps=cfg.get("eps", 1e-8),
               weight_decay=cfg.get("weight_decay", 0 if name == "adam" else 0.01))


CASES = {
    "sgd":            dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "sgd_momentum":   dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.05, momentum=0.9, dampening=0.1),
    "sgd_nesterov":   dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True),
    "sgd_weight_decay": dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1, momentum=0.5, weight_decay=0.01),
    "adam":           dict(head="softmax", loss="cross-entropy", optimizer="adam", lr=0.01, weight_decay=0.001),
    "adam_betas":     dict(head="softmax", loss="cross-entropy", optimizer="adam", lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6),
    "adamw":          dict(head="softmax", loss="cross-entropy", optimizer="adamw", lr=0.01, weight_decay=0.05),
    "ce_logits":      dict(head="logits", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "ce_soft_targets": dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1, soft=True),
    "mse":            dict(head="logits", loss="mse", optimizer="sgd", lr=0.05, momentum=0.9),
    "opset9":         dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1, opset=9),
    "opset11":        dict(head="softmax", loss="cross-entropy", optimizer="adam", lr=0.01, opset=11),
    # What PyTorch writes besides Gemm (the interop issue).
    "nll_logsoftmax": dict(head="logsoftmax", loss="nll", optimizer="sgd", lr=0.1),
    "bce_sigmoid":    dict(head="sigmoid", loss="bce", optimizer="sgd", lr=0.5, momentum=0.5),
    "tanh_sigmoid_mse": dict(head="logits", arch="tanh", loss="mse", optimizer="adam", lr=0.01),
    "linear_nobias":  dict(head="softmax", arch="nobias", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "flatten_image":  dict(head="softmax", arch="flatten", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "unfolded_init_inputs": dict(head="softmax", arch="nobias", loss="cross-entropy", optimizer="sgd", lr=0.1,
                                 opset=11, unfolded=True),
    "opset7":         dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1, opset=7),
    "linear_3d_input": dict(head="logits", arch="linear3d", loss="mse", optimizer="sgd", lr=0.05),
    "dropout_ratio0": dict(head="softmax", arch="dropout", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "opset17":        dict(head="logsoftmax", loss="nll", optimizer="adamw", lr=0.01, opset=17),
    # x.squeeze / x.unsqueeze in a forward(): axes as an input (opset 13) and as an attribute (11).
    "squeeze_regression": dict(head="logits", arch="squeeze", loss="mse", optimizer="sgd", lr=0.05),
    "squeeze_opset11": dict(head="logits", arch="squeeze", loss="mse", optimizer="adam", lr=0.01, opset=11),
    "unsqueeze_squeeze": dict(head="softmax", arch="unsqueeze", loss="cross-entropy", optimizer="sgd", lr=0.1),
    "squeeze_all_last_one": dict(head="logits", arch="squeeze_all", loss="mse", optimizer="sgd", lr=0.05, samples=49),
    # Two outputs, the loss on one of them (TrainOptions::output, --output).
    "two_heads":      dict(head="softmax", arch="two_heads", loss="cross-entropy", optimizer="adam", lr=0.01,
                           weight_decay=0.01, output="probs"),
    # export_modules_as_functions: the model is calls of its own functions (Sequential, Linear, ReLU, ...).
    "modules_as_functions": dict(head="softmax", loss="cross-entropy", optimizer="sgd", lr=0.1, momentum=0.9,
                                 opset=15, functions=True),
}


def run_case(out, name, cfg, seed):
    rng = np.random.default_rng(seed)
    model = make_model(cfg["head"], seed, cfg.get("arch", "relu"))
    in_shape = {"flatten": (1, 3, 4), "linear3d": (3, D)}.get(cfg.get("arch"), (D,))
    extra = dict(keep_initializers_as_inputs=True, do_constant_folding=False) if cfg.get("unfolded") else {}
    if cfg.get("arch") == "dropout":
        extra = dict(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    if cfg.get("functions"):
        extra = dict(export_modules_as_functions=True)
    outputs = ["probs", "aux"] if cfg.get("arch") == "two_heads" else ["output"]
    torch.onnx.export(model, torch.zeros(2, *in_shape), os.path.join(out, name + ".onnx"),
                      opset_version=cfg.get("opset", 13), input_names=["input"], output_names=outputs,
                      dynamic_axes={k: {0: "batch"} for k in ["input"] + outputs}, **extra)
    onnx_names = initializer_sources(os.path.join(out, name + ".onnx"), model)
    n = cfg.get("samples", N)
    x = rng.standard_normal((n,) + in_shape).astype(np.float32)
    if cfg["loss"] == "mse" and cfg.get("arch", "").startswith("squeeze"):
        y = rng.standard_normal(n).astype(np.float32)
    elif cfg["loss"] == "mse":
        y = rng.standard_normal((n,) + in_shape[:-1] + (C,) if cfg.get("arch") == "linear3d" else (n, C)).astype(np.float32)
    elif cfg["loss"] == "bce":
        y = rng.random((n, C)).astype(np.float32)
    elif cfg.get("soft"):
        y = rng.random((n, C)).astype(np.float32)
        y /= y.sum(axis=1, keepdims=True)
    else:
        y = rng.integers(0, C, n).astype(np.int64)
    # Cross-entropy reads logits: for a Softmax head, the Softmax's input (what onnxtrain's fused loss reads too).
    # nll and bce read the model's own output, as a PyTorch user writes them.
    if cfg.get("arch") == "two_heads":
        logits_of = model.logits
    else:
        logits_of = model[:-1] if cfg["head"] == "softmax" else model
    loss_fn = {"mse": nn.MSELoss(), "nll": nn.NLLLoss(), "bce": nn.BCELoss()}.get(cfg["loss"], nn.CrossEntropyLoss())
    opt = optimizer(model.parameters(), cfg)
    losses = []
    for _ in range(EPOCHS):
        for b in range(0, n, BATCH):
            xb, yb = torch.from_numpy(x[b:b + BATCH]), torch.from_numpy(y[b:b + BATCH])
            opt.zero_grad()
            loss = loss_fn(logits_of(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    weights = {"w:" + name: (model.state_dict()[key].T if transposed else model.state_dict()[key]).detach().numpy()
               for name, (key, transposed) in onnx_names.items()}
    with torch.no_grad():
        final_output = model(torch.from_numpy(x))
        final_output = (final_output[0] if isinstance(final_output, tuple) else final_output).numpy()  # the trained model's outputs, for `onnxtrain run`
    np.savez(os.path.join(out, name + ".npz"), x=x, y=y, losses=np.array(losses, np.float64), output=final_output,
             **weights)
    with open(os.path.join(out, name + ".cfg"), "w") as f:
        opts = {k: v for k, v in cfg.items() if k not in ("head", "soft", "opset", "arch", "unfolded", "samples", "functions")}
        opts.update(batch=BATCH, epochs=EPOCHS)
        for k, v in opts.items():
            f.write(f"{k}={int(v) if isinstance(v, bool) else v}\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for seed, (name, cfg) in enumerate(CASES.items()):
        run_case(out, name, cfg, seed)
    print("\n".join(CASES))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_parity.py OUTDIR")
    main(sys.argv[1])
