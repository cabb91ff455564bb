"""Reference data for the learning-rate schedules, from torch.optim.lr_scheduler itself (PyTorch 1.13): what
tests/train/test_schedules.cpp holds onnxtrain's LrScheduler and Trainer to.

sequences.json: per case, the schedule's options (as LrSchedule names them), and the lr (and OneCycleLR's momentum)
of each optimizer step, read from the optimizer's param_group before each step; for plateau, the lr after each
validation of a given loss sequence.
NAME.onnx, NAME.npz (x, y), NAME_val.npz, NAME_ref.npz (w:<initializer> final weights) and NAME.json (the
options, and the lr of each step): a small MLP trained by PyTorch under each schedule, without shuffling."""
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from torch.optim import lr_scheduler as S

TOTAL = 40


def make_optimizer(params, cfg):
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg.get("momentum", 0))
    cls = torch.optim.Adam if cfg["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg["lr"])


def make_scheduler(opt, cfg, total):
    """The schedule as onnxtrain's LrSchedule describes it, built from torch's classes; total: its own steps."""
    kind, main_total = cfg["kind"], total
    if kind == "step":
        main = S.StepLR(opt, step_size=cfg["step_size"], gamma=cfg["gamma"])
    elif kind == "multistep":
        main = S.MultiStepLR(opt, milestones=cfg["milestones"], gamma=cfg["gamma"])
    elif kind == "exponential":
        main = S.ExponentialLR(opt, gamma=cfg["gamma"])
    elif kind == "cosine":
        main = S.CosineAnnealingLR(opt, T_max=main_total, eta_min=cfg.get("min_lr", 0))
    elif kind == "onecycle":
        main = S.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=main_total)
    elif kind == "plateau":
        return S.ReduceLROnPlateau(opt, factor=cfg.get("factor", 0.1), patience=cfg.get("patience", 10),
                                   threshold=cfg.get("threshold", 1e-4), threshold_mode=cfg.get("threshold_mode", "rel"),
                                   cooldown=cfg.get("cooldown", 0), min_lr=cfg.get("plateau_min_lr", 0))
    else:  # constant: after a warmup, the lr itself
        main = S.LambdaLR(opt, lambda _: 1.0)
    return main


def make_with_warmup(opt, cfg, total):
    """A warmup is created before the schedule, as a user writes it: LinearLR, the schedule, then SequentialLR."""
    warmup = cfg.get("warmup_steps", 0)
    if warmup == 0:
        return make_scheduler(opt, cfg, total)
    linear = S.LinearLR(opt, start_factor=1 / warmup, total_iters=warmup)
    main = make_scheduler(opt, dict(cfg, warmup_steps=0), total - warmup)
    return S.SequentialLR(opt, schedulers=[linear, main], milestones=[warmup])


def momentum_of(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g["momentum"]


SEQUENCES = {
    "step": dict(kind="step", step_size=7, gamma=0.5, lr=0.1),
    "step_warmup": dict(kind="step", step_size=7, gamma=0.5, lr=0.1, warmup_steps=5),
    "multistep": dict(kind="multistep", milestones=[5, 12, 12, 30], gamma=0.3, lr=0.1),
    "multistep_warmup": dict(kind="multistep", milestones=[3, 20], gamma=0.3, lr=0.1, warmup_steps=4),
    "exponential": dict(kind="exponential", gamma=0.9, lr=0.07),
    "exponential_warmup": dict(kind="exponential", gamma=0.93, lr=0.07, warmup_steps=3),
    "cosine": dict(kind="cosine", lr=0.1),
    "cosine_min": dict(kind="cosine", lr=0.1, min_lr=0.001),
    "cosine_warmup": dict(kind="cosine", lr=0.3, min_lr=0.002, warmup_steps=6),
    "onecycle_sgd": dict(kind="onecycle", lr=0.4, optimizer="sgd"),
    "onecycle_adam": dict(kind="onecycle", lr=0.01, optimizer="adam"),
    "onecycle_warmup": dict(kind="onecycle", lr=0.4, optimizer="sgd", warmup_steps=5),
    "constant_warmup": dict(kind="constant", lr=0.05, warmup_steps=7),
    "plateau": dict(kind="plateau", lr=0.1, factor=0.5, patience=2, cooldown=1, plateau_min_lr=0.001),
    "plateau_abs": dict(kind="plateau", lr=0.1, factor=0.3, patience=1, threshold=0.05, threshold_mode="abs"),
}
# Validation losses for plateau: improving, flat, a small improvement under the threshold, rising, and so on.
METRICS = [1.0, 0.9, 0.9, 0.9, 0.95, 0.8999, 0.7, 0.7, 0.71, 0.72, 0.73, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49, 0.6, 0.6,
           0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]


def sequences(out):
    result = {}
    for name, cfg in SEQUENCES.items():
        cfg = dict(cfg)
        cfg.setdefault("optimizer", "sgd")
        p = torch.nn.Parameter(torch.zeros(1))
        opt = make_optimizer([p], cfg)
        sched = make_with_warmup(opt, cfg, TOTAL)
        lrs, moms = [], []
        if cfg["kind"] == "plateau":
            for m in METRICS:
                sched.step(m)
                lrs.append(opt.param_groups[0]["lr"])
        else:
            for _ in range(TOTAL):
                lrs.append(opt.param_groups[0]["lr"])
                moms.append(momentum_of(opt))
                opt.step()
                sched.step()
            lrs.append(opt.param_groups[0]["lr"])  # after the last step: what a resume with more steps would start at
            moms.append(momentum_of(opt))
        result[name] = dict(cfg, total=TOTAL, lrs=lrs, momentum=moms, metrics=METRICS)
    with open(os.path.join(out, "sequences.json"), "w") as f:
        json.dump(result, f)


D, H, C = 6, 10, 3
N, NV, BATCH, EPOCHS, VAL_EVERY = 64, 32, 8, 3, 4  # 8 steps an epoch, 24 in all; validation every 4 steps

TRAINED = {
    "sgd_step": dict(kind="step", step_size=5, gamma=0.5, optimizer="sgd", lr=0.3),  # plain SGD: the fused update
    "sgd_multistep_momentum": dict(kind="multistep", milestones=[6, 15], gamma=0.2, optimizer="sgd", lr=0.1,
                                   momentum=0.9),
    "adam_exponential": dict(kind="exponential", gamma=0.9, optimizer="adam", lr=0.02),
    "sgd_cosine_warmup": dict(kind="cosine", min_lr=0.01, warmup_steps=4, optimizer="sgd", lr=0.5),
    "adamw_cosine": dict(kind="cosine", optimizer="adamw", lr=0.02),
    "sgd_onecycle": dict(kind="onecycle", optimizer="sgd", lr=0.3),  # momentum cycled from 0.95, as torch does
    "adam_onecycle": dict(kind="onecycle", optimizer="adam", lr=0.03),  # beta1 cycled
    "sgd_warmup": dict(kind="constant", warmup_steps=6, optimizer="sgd", lr=0.4),
    # A threshold no loss meets: every validation after the first lowers the lr, whatever the last bits say.
    "sgd_plateau": dict(kind="plateau", factor=0.5, patience=0, threshold=0.5, optimizer="sgd", lr=0.4),
}


def trained(out, name, cfg, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C), nn.Softmax(dim=1))
    path = os.path.join(out, name + ".onnx")
    torch.onnx.export(model, torch.zeros(2, D), path, opset_version=13, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "parity"))
    from make_parity import initializer_sources
    sources = initializer_sources(path, model)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, N).astype(np.int64)
    xv = rng.standard_normal((NV, D)).astype(np.float32)
    yv = rng.integers(0, C, NV).astype(np.int64)
    logits, loss_fn = model[:-1], nn.CrossEntropyLoss()
    opt = make_optimizer(model.parameters(), cfg)
    total = N // BATCH * EPOCHS
    sched = make_with_warmup(opt, cfg, total)
    lrs, step = [], 0
    for _ in range(EPOCHS):
        for b in range(0, N, BATCH):
            lrs.append(opt.param_groups[0]["lr"])
            opt.zero_grad()
            loss_fn(logits(torch.from_numpy(x[b:b + BATCH])), torch.from_numpy(y[b:b + BATCH])).backward()
            opt.step()
            step += 1
            if cfg["kind"] == "plateau":
                if step % VAL_EVERY == 0:  # epoch ends fall on these too
                    with torch.no_grad():
                        sched.step(loss_fn(logits(torch.from_numpy(xv)), torch.from_numpy(yv)).item())
            else:
                sched.step()
    weights = {"w:" + k: (model.state_dict()[key].T if t else model.state_dict()[key]).detach().numpy()
               for k, (key, t) in sources.items()}
    np.savez(os.path.join(out, name + ".npz"), x=x, y=y)
    np.savez(os.path.join(out, name + "_val.npz"), x=xv, y=yv)
    np.savez(os.path.join(out, name + "_ref.npz"), **weights)
    with open(os.path.join(out, name + ".json"), "w") as f:  # the lrs as JSON: every bit of the doubles
        json.dump(dict(cfg, batch=BATCH, epochs=EPOCHS, val_every=VAL_EVERY, lrs=lrs), f)


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    sequences(out)
    for seed, (name, cfg) in enumerate(TRAINED.items()):
        trained(out, name, cfg, seed + 100)
    with open(os.path.join(out, "trained.json"), "w") as f:
        json.dump(list(TRAINED), f)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_schedules.py OUTDIR")
    main(sys.argv[1])
