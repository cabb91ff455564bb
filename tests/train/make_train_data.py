"""Writes small training sets for the CLI's training tests: one good set and one per class of bad data. NumPy only;
the labels and features are random, the faults deliberate."""
import os
import sys

import numpy as np


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(3)
    x = rng.random((20, 784), dtype=np.float32)
    y = rng.integers(0, 10, 20).astype(np.int64)
    sets = {
        "good": (x, y),
        "label_range": (x, np.where(np.arange(20) == 7, 10, y)),
        "label_negative": (x, np.where(np.arange(20) == 3, -1, y)),
        "shape_mismatch": (x[:, :100], y),
        "count_mismatch": (x, y[:19]),
        "nan": (np.where(np.arange(784) == 5, np.float32("nan"), x).astype(np.float32), y),
        "inf": (np.where(np.arange(784) == 9, np.float32("inf"), x).astype(np.float32), y),
        "empty": (x[:0], y[:0]),
        # Labels stored as floats: whole numbers in range are class indices, these are not.
        "float_label_range": (x, np.where(np.arange(20) == 4, 99, y).astype(np.float32)),
        "float_label_fraction": (x, np.where(np.arange(20) == 6, 0.5, y).astype(np.float32)),
    }
    for name, (xs, ys) in sets.items():
        np.savez(os.path.join(out, name + ".npz"), x=xs, y=ys)
    print("\n".join(sets))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_train_data.py OUTDIR")
    main(sys.argv[1])
