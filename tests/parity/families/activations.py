"""PyTorch parity family for the activations: GELU (erf and tanh forms), SiLU, Mish and Hardswish, which PyTorch
exports as several elementwise ops (fused by onnxtrain into one oneDNN eltwise primitive; Hardswish is one HardSwish
op at opset 17), PReLU with a per-channel slope that trains, Hardtanh and ReLU6 (Clip with Constant bounds), each
between Linear layers. Read by tests/parity/make_families.py and check_families.py."""
from torch import nn


def between_linears(act):
    """Linear(12, 16), the activation, Linear(16, 4)."""
    return lambda: nn.Sequential(nn.Linear(12, 16), act(), nn.Linear(16, 4))


MODELS = {
    "gelu_erf": dict(make=between_linears(nn.GELU)),
    "gelu_tanh": dict(make=between_linears(lambda: nn.GELU(approximate="tanh"))),
    "silu": dict(make=between_linears(nn.SiLU)),
    "mish": dict(make=between_linears(nn.Mish)),
    "prelu": dict(make=between_linears(lambda: nn.PReLU(16, init=0.2))),
    "hardtanh": dict(make=between_linears(lambda: nn.Hardtanh(-0.5, 0.5))),
    "relu6": dict(make=between_linears(nn.ReLU6)),
    "hardswish": dict(make=between_linears(nn.Hardswish), optimizer="adam", lr=0.01),
}
