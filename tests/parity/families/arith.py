"""PyTorch parity family for the arithmetic and reduction ops: a learned scale (Mul by an nn.Parameter), a residual
block (Add), an input normalization baked into the graph ((x - mean) / std: Sub and Div by registered buffers), and a
block of reductions (Pow by a constant, ReduceMean, ReduceSum, ReduceMax as torch.amax, ReduceL2 as torch.norm),
each between Linear layers. Read by tests/parity/make_families.py and check_families.py."""
import torch
from torch import nn


class LearnedScale(nn.Module):
    """Linear, then y * s with s a learned per-feature scale (Mul, both operands trained), ReLU, Linear."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 4)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 16))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x) * self.scale))


class Residual(nn.Module):
    """Linear, then h + tanh(W h + b) (Add of a branch and its input: fan-out summed), Linear."""

    def __init__(self):
        super().__init__()
        self.fc1, self.inner, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 16), nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h + torch.tanh(self.inner(h)))


class Normalized(nn.Module):
    """(x - mean) / std with mean and std registered buffers (constants in the graph, not trained), then Linear,
    ReLU, Linear."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.linspace(-1.0, 1.0, 12))
        self.register_buffer("std", torch.linspace(0.5, 2.0, 12))
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1((x - self.mean) / self.std)))


class Reductions(nn.Module):
    """Linear; h / (mean(h^2) + 1) (Pow by a constant 2, ReduceMean); h - amax(h) (ReduceMax); h / (||h|| + 1)
    (ReduceL2); plus sum(h) as a feature shift (ReduceSum); Linear."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 16), nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc1(x)
        h = h / (h.pow(2).mean(-1, keepdim=True) + 1)
        h = h - torch.amax(h, -1, keepdim=True)
        h = h / (torch.norm(h, p=2, dim=-1, keepdim=True) + 1)
        h = h - 0.1 * h.sum(-1, keepdim=True)
        return self.fc2(h)


MODELS = {
    "learned_scale": dict(make=LearnedScale),
    "residual": dict(make=Residual),
    "normalized_input": dict(make=Normalized, optimizer="adam", lr=0.01),
    "reductions": dict(make=Reductions),
}
