"""Plain MLPs as PyTorch users write them, for the exporter's ties: zero-initialized biases, which an eval-mode
export merges into one initializer read through Identity nodes (each must train as its own parameter), and one
Linear applied twice, which is real sharing (one parameter, its gradient summed)."""
import torch
from torch import nn


def zero_biases():
    m = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    for layer in m:
        if isinstance(layer, nn.Linear):
            nn.init.zeros_(layer.bias)
    return m


class Shared(nn.Module):
    """The same hidden Linear applied twice: one weight, read by two nodes."""

    def __init__(self):
        super().__init__()
        self.inp, self.hidden, self.out = nn.Linear(12, 16), nn.Linear(16, 16), nn.Linear(16, 4)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = torch.relu(self.hidden(h))
        return self.out(torch.relu(self.hidden(h)))


MODELS = {
    "shared_layer": dict(make=Shared, optimizer="adam", lr=0.01),
}
