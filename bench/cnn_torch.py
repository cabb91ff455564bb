"""PyTorch's side of the bundled CNN's accuracy check: trains models/make_models.py's cnn(0) (the init that
models/fashion_cnn.onnx holds) for one epoch of Debian's Fashion-MNIST with Adam (lr 1e-3, batch 64, cross-entropy on
the raw scores), as `onnxtrain train models/fashion_cnn.onnx --data fashion-mnist --optimizer adam --batch-size 64`
does, and prints the epoch's time and the test accuracy. Its shuffle is torch's (torch.randperm under --seed), not
onnxtrain's, so the two runs see the same samples in different orders.
Run with Debian's /usr/bin/python3."""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from make_models import cnn  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def idx(name, offset):
    with gzip.open(os.path.join(DATA, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def split(prefix):
    x = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    y = idx(f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=0, help="seeds the shuffle")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y = split("train")
    tx, ty = split("t10k")
    model = cnn(0).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    t0 = time.perf_counter()
    for i in range(0, len(x), 64):
        b = order[i:i + 64]
        opt.zero_grad()
        loss_fn(model(x[b]), y[b]).backward()
        opt.step()
    secs = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        acc = float((model(tx).argmax(1) == ty).float().mean())
    print(f"pytorch {torch.__version__}, {args.threads} threads: one epoch in {secs:.1f} s, test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
