"""Normalization family: BatchNorm1d and LayerNorm MLPs, for tests/parity/make_families.py.

BatchNorm1d models train under model.train() (batch statistics, running statistics updated as torch does) and, with
freeze_bn, under model.eval() with --freeze-batchnorm (the running statistics normalize and stay); the driver compares
every initializer after training, the running statistics included. LayerNorm exports as LayerNormalization at opset
17 and as its ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add decomposition at 13, which onnxtrain fuses back.
"""
import torch
from torch import nn


def bn_mlp(hidden=16, affine=True):
    def make():
        return nn.Sequential(nn.Linear(12, hidden), nn.BatchNorm1d(hidden, affine=affine), nn.ReLU(),
                             nn.Linear(hidden, 4))
    return make


def bn_deep():
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8), nn.BatchNorm1d(8),
                         nn.ReLU(), nn.Linear(8, 4))


def bn_momentum():
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16, momentum=0.3, eps=1e-3), nn.ReLU(), nn.Linear(16, 4))


def ln_mlp(hidden=16):
    def make():
        return nn.Sequential(nn.Linear(12, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, 4))
    return make


def ln_eps():
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16, eps=1e-3), nn.Tanh(), nn.Linear(16, 4))


def ln_bn():
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 8), nn.BatchNorm1d(8),
                         nn.ReLU(), nn.Linear(8, 4))


MODELS = {
    "bn_mlp": dict(make=bn_mlp()),
    "bn_mlp_adam": dict(make=bn_mlp(), optimizer="adam", lr=0.01),
    "bn_mlp_no_affine": dict(make=bn_mlp(affine=False)),
    "bn_deep": dict(make=bn_deep),
    "bn_momentum": dict(make=bn_momentum),
    "bn_mlp_frozen": dict(make=bn_mlp(), freeze_bn=True),
    "bn_deep_frozen": dict(make=bn_deep, freeze_bn=True),
    "ln_mlp": dict(make=ln_mlp()),
    "ln_mlp_adam": dict(make=ln_mlp(), optimizer="adam", lr=0.01),
    "ln_eps": dict(make=ln_eps),
    "ln_bn": dict(make=ln_bn),
    "ln_mse": dict(make=lambda: nn.Sequential(nn.Linear(12, 8), nn.LayerNorm(8), nn.Linear(8, 3)), loss="mse"),
}
