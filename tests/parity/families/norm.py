"""Normalization family: BatchNorm1d and LayerNorm MLPs, for tests/parity/make_families.py.

BatchNorm1d models train under model.train() (batch statistics, the running statistics updated as torch does) and,
with freeze_bn, under model.eval() with --freeze-batchnorm (the running statistics normalize and stay); the driver
compares every initializer after training, the running statistics included. LayerNorm exports as LayerNormalization
at opset 17 and as its ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add decomposition at 13, which onnxtrain fuses back.

Two choices keep the comparison to float32 rounding meaningful. The last batch holds 2 samples (50 in 16s): over
2 values a channel, dX = scale / sigma * (dY - mean(dY) - xhat * mean(dY * xhat)) cancels to a size of eps / var
times |dY|, so at eps = 1e-5 its float32 rounding decides it and PyTorch in float32 and float64 differ past rtol 1e-4
themselves. So a BatchNorm1d over (N, C) has eps = 1e-3, or normalizes (N, C, L) (L values a sample). And a Linear
before a BatchNorm has no bias under Adam: its exact gradient is 0 (the normalization removes any shift), which Adam
would turn from rounding noise into steps of lr.
"""
from torch import nn


def bn_mlp(affine=True, bias=True):
    def make():
        return nn.Sequential(nn.Linear(12, 16, bias=bias), nn.BatchNorm1d(16, eps=1e-3, affine=affine), nn.ReLU(),
                             nn.Linear(16, 4))
    return make


def bn_deep():
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16, eps=1e-3), nn.ReLU(), nn.Linear(16, 8),
                         nn.BatchNorm1d(8, eps=1e-3), nn.ReLU(), nn.Linear(8, 4))


def bn_momentum():
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16, momentum=0.3, eps=1e-3), nn.ReLU(), nn.Linear(16, 4))


def bn_sequence():
    """BatchNorm1d over (N, C, L): each of the 4 channels of a (4, 12) sample normalized over N and L."""
    return nn.Sequential(nn.Linear(12, 8), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(32, 4))


def frozen_mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))


def ln_mlp():
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 4))


def ln_eps():
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16, eps=1e-3), nn.Tanh(), nn.Linear(16, 4))


def ln_bn():
    return nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 8),
                         nn.BatchNorm1d(8, eps=1e-3), nn.ReLU(), nn.Linear(8, 4))


MODELS = {
    "bn_mlp": dict(make=bn_mlp()),
    "bn_mlp_adam": dict(make=bn_mlp(bias=False), optimizer="adam", lr=0.01),
    "bn_mlp_no_affine": dict(make=bn_mlp(affine=False)),
    "bn_deep": dict(make=bn_deep),
    "bn_momentum": dict(make=bn_momentum),
    "bn_sequence": dict(make=bn_sequence, input=(4, 12)),
    "bn_mlp_frozen": dict(make=frozen_mlp, freeze_bn=True),
    "bn_deep_frozen": dict(make=bn_deep, freeze_bn=True),
    "ln_mlp": dict(make=ln_mlp),
    "ln_mlp_adam": dict(make=ln_mlp, optimizer="adam", lr=0.01),
    "ln_eps": dict(make=ln_eps),
    "ln_bn": dict(make=ln_bn),
    "ln_mse": dict(make=lambda: nn.Sequential(nn.Linear(12, 8), nn.LayerNorm(8), nn.Linear(8, 3)), loss="mse"),
}
