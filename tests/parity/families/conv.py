"""Convolution family: Conv1d and Conv2d nets with their pooling, for tests/parity/make_families.py. LeNets with
MaxPool and AvgPool; Conv + BatchNorm2d + global average and max pooling; 1-D pools with ceil mode and padding; plain
Conv + ReLU + Flatten + Linear; a strided, dilated and padded Conv; a depthwise-separable block; a residual block; a
Conv1d sequence classifier; Conv + BatchNorm2d, in a training-mode export (an eval-mode one folds the BatchNorm into the
Conv). Spatial means (x.mean((2, 3))) export as ReduceMean, the global average pool of these nets. Exported at opsets
11, 13 and 17.
"""
import torch
from torch import nn

OPSETS = (11, 13, 17)


class SpatialMean(nn.Module):
    def forward(self, x):
        return x.mean(tuple(range(2, x.dim())))


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.b(torch.relu(self.a(x))))


def conv_flat():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4))


def conv_strided():
    return nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=2, dilation=2), nn.Tanh(), nn.Flatten(),
                         nn.Linear(3 * 5 * 5, 4))


def depthwise_separable():
    return nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.Conv2d(4, 6, 1), nn.ReLU(), SpatialMean(),
                         nn.Linear(6, 4))


def residual():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), Residual(4), SpatialMean(), nn.Linear(4, 4))


def conv1d():
    return nn.Sequential(nn.Conv1d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv1d(8, 8, 3, stride=2), nn.ReLU(),
                         SpatialMean(), nn.Linear(8, 4))


def conv_bn():
    return nn.Sequential(nn.Conv2d(2, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU(), SpatialMean(), nn.Linear(6, 4))


def lenet(pool):
    def make():
        return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), pool(2), nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), pool(2),
                             nn.Flatten(), nn.Linear(5 * 2 * 2, 4))
    return make


def conv_bn_gap(pool):
    def make():
        return nn.Sequential(nn.Conv2d(2, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU(), pool(1), nn.Flatten(),
                             nn.Linear(6, 4))
    return make


def pools_1d():
    return nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(3, stride=2, ceil_mode=True),
                         nn.AvgPool1d(2, stride=1, padding=1, count_include_pad=False), nn.Flatten(), nn.Linear(4 * 6, 4))


MODELS = {
    "lenet_max": dict(make=lenet(nn.MaxPool2d), input=(1, 10, 10), opsets=OPSETS),
    "lenet_max_adam": dict(make=lenet(nn.MaxPool2d), input=(1, 10, 10), optimizer="adam", lr=0.01, opsets=OPSETS),
    "lenet_avg": dict(make=lenet(nn.AvgPool2d), input=(1, 10, 10), opsets=OPSETS),
    "conv_bn_gap": dict(make=conv_bn_gap(nn.AdaptiveAvgPool2d), input=(2, 7, 7), opsets=OPSETS, modes=("train",)),
    "conv_gmp": dict(make=conv_bn_gap(nn.AdaptiveMaxPool2d), input=(2, 7, 7), opsets=OPSETS, modes=("train",)),
    "pools_1d": dict(make=pools_1d, input=(2, 12), opsets=OPSETS),
    "conv_flat": dict(make=conv_flat, input=(1, 8, 8), opsets=OPSETS),
    "conv_flat_adam": dict(make=conv_flat, input=(1, 8, 8), optimizer="adam", lr=0.01, opsets=OPSETS),
    "conv_strided": dict(make=conv_strided, input=(2, 9, 9), opsets=OPSETS),
    "depthwise_separable": dict(make=depthwise_separable, input=(4, 6, 5), opsets=OPSETS),
    "residual": dict(make=residual, input=(1, 6, 6), opsets=OPSETS),
    "conv1d": dict(make=conv1d, input=(3, 12), opsets=OPSETS),
    "conv1d_mse": dict(make=lambda: nn.Sequential(nn.Conv1d(2, 3, 2), nn.Flatten(), nn.Linear(3 * 7, 3)),
                       input=(2, 8), loss="mse", opsets=OPSETS),
    # An eval-mode export folds the BatchNorm into the Conv: that file trains as the folded network, which PyTorch's
    # module is not, so only the training-mode export is held to PyTorch's weights.
    "conv_bn": dict(make=conv_bn, input=(2, 7, 7), opsets=OPSETS, modes=("train",)),
}
