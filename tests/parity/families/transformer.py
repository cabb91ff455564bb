"""A transformer encoder layer as PyTorch users write a small sequence classifier: an embedding of int64 tokens,
nn.TransformerEncoderLayer (batch_first, no dropout), mean pooling over the sequence and a Linear head. It exercises
most ops at once: Gather, batched MatMul, Softmax, Transpose, Reshape through shape chains, LayerNorm, Relu, Add."""
import torch
from torch import nn

VOCAB, SEQ, D_MODEL, HEADS, FF = 10, 6, 16, 2, 32


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D_MODEL)
        self.layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True)
        self.head = nn.Linear(D_MODEL, 4)

    def forward(self, tokens):
        return self.head(self.layer(self.embed(tokens)).mean(dim=1))


MODELS = {
    "encoder_layer": dict(make=Encoder, input=(SEQ,), dtype="int64", high=VOCAB, lr=0.05),
}
