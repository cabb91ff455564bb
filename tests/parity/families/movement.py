"""Data movement as PyTorch users write it: torch.cat of two branches (Concat), x.view(x.size(0), -1) after a
reshape (a shape chain: Shape, Gather, Unsqueeze, Concat, Reshape, folded when a plan is made), an embedding with mean
pooling (Gather of a trained initializer by fed int64 indices; its gradient a scatter-add into the rows), and a uint8
image cast in the graph (Cast, then a division)."""
import torch
from torch import nn


class TwoBranches(nn.Module):
    """torch.cat of two Linear branches along the features: each branch's gradient is its slice of dY."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(12, 8), nn.Linear(12, 6), nn.Linear(14, 4)

    def forward(self, x):
        return self.out(torch.relu(torch.cat([self.a(x), torch.tanh(self.b(x))], dim=1)))


class ViewAfterReshape(nn.Module):
    """x reshaped to (N, 3, 4), a Linear over the last axis, then x.view(x.size(0), -1)."""

    def __init__(self):
        super().__init__()
        self.inner, self.out = nn.Linear(4, 4), nn.Linear(12, 4)

    def forward(self, x):
        h = torch.tanh(self.inner(x.reshape(x.size(0), 3, 4)))
        return self.out(h.view(h.size(0), -1))


class MeanEmbedding(nn.Module):
    """nn.Embedding(10, 8) over 6 tokens, mean-pooled, then a Linear: repeated tokens accumulate in the rows' grads."""

    def __init__(self):
        super().__init__()
        self.emb, self.out = nn.Embedding(10, 8), nn.Linear(8, 4)

    def forward(self, tokens):
        return self.out(self.emb(tokens).mean(1))


class Image(nn.Module):
    """A uint8 input cast in the graph: x.float() / 255, then an MLP."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x):
        return self.body(x.float() / 255)


MODELS = {
    "cat_branches": dict(make=TwoBranches),
    "view_after_reshape": dict(make=ViewAfterReshape),
    "embedding_mean": dict(make=MeanEmbedding, input=(6,), dtype="int64", high=10),
    "uint8_image": dict(make=Image, dtype="uint8"),
}
