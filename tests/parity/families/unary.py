"""MLPs with the smooth activations PyTorch exports as one ONNX op each: ELU (Elu, alpha given and default), SELU
(Selu, its defaults), Softplus with beta 1 (Softplus) and CELU (Celu, opset 12 on), between Linear layers."""
from torch import nn


def mlp(*acts):
    """Linear(12, 16), then each activation followed by a Linear, the last to the 4 logits."""
    layers, width = [nn.Linear(12, 16)], 16
    for i, act in enumerate(acts):
        layers += [act, nn.Linear(width, 4 if i == len(acts) - 1 else width)]
    return nn.Sequential(*layers)


MODELS = {
    "elu": dict(make=lambda: mlp(nn.ELU(), nn.ELU(alpha=0.5))),
    "selu": dict(make=lambda: mlp(nn.SELU(), nn.SELU()), optimizer="adam", lr=0.01),
    "softplus": dict(make=lambda: mlp(nn.Softplus(), nn.Softplus())),
    "celu": dict(make=lambda: mlp(nn.CELU(alpha=1.5), nn.CELU()), loss="mse", lr=0.05),
}
