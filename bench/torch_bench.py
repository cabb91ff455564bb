"""Times PyTorch training or inference of an MLP, or of the bundled CNN (--arch cnn: models/make_models.py's cnn(0),
which models/fashion_cnn.onnx holds), for bench/run.py, in its own process so that its threads and BLAS are set
before torch loads. Prints one line of key=value pairs, like onnxtrain_bench."""
import argparse
import ctypes
import os
import sys
import time

import torch
from torch import nn


def mlp(widths, arch="mlp"):
    """mlp: Linear layers with ReLU and LeakyReLU between them; ln_gelu: each hidden Linear followed by LayerNorm and
    GELU, as transformer feed-forward blocks are written."""
    layers = []
    acts = [nn.ReLU(), nn.LeakyReLU(0.01)]
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers += [nn.LayerNorm(widths[i + 1]), nn.GELU()] if arch == "ln_gelu" else [acts[i % 2]]
    return nn.Sequential(*layers)  # logits; the Softmax is fused into the loss, as PyTorch users train


def time_it(fn, seconds, repeats):
    for _ in range(3):
        fn()
    t0, calib = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds / repeats / 4 or calib < 2:
        fn()
        calib += 1
    n = max(3, int(seconds / repeats / ((time.perf_counter() - t0) / calib)))
    out = []
    for _ in range(repeats):
        s = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - s) / n)
    return sorted(out)


def blas_in_use():
    """(library, kernel): Debian's BLAS variant torch loaded, and for OpenBLAS the core whose kernels it runs, which
    OPENBLAS_CORETYPE sets and which otherwise is OpenBLAS's own detection (a CPU newer than the OpenBLAS build can
    fall back to old SSE3 kernels: "Prescott")."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line}
    # The folder tells Debian's variants apart: openblas-openmp, openblas-pthread, blas (netlib's reference).
    names = sorted({os.path.basename(os.path.dirname(os.path.realpath(p))) for p in libs if "libblas" in p})
    core = "-"
    for p in sorted(libs):
        try:
            corename = ctypes.CDLL(p).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        core = corename().decode()
        break
    return "+".join(names) or "none", core


def blas_is_right():
    """A forced OPENBLAS_CORETYPE can pick kernels this CPU runs wrongly: check a product against float64 first."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 784, generator=g), torch.randn(784, 257, generator=g)
    ref = a.double() @ b.double()
    return float((torch.mm(a, b).double() - ref).abs().max() / ref.abs().max()) < 1e-5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="784,256,128,10")
    ap.add_argument("--arch", default="mlp", choices=("mlp", "ln_gelu", "cnn"), help="cnn ignores --widths")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--mode", default="train")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)  # torch.get_num_threads() is 1 here by default: libcpuinfo counts one core
    if not blas_is_right():
        raise SystemExit(f"torch's BLAS ({'/'.join(blas_in_use())}) computes wrong products on this CPU")
    torch.manual_seed(0)
    if a.arch == "cnn":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
        from make_models import cnn
        model = cnn(0).train()  # make_models returns it in eval mode, for the export
        x = torch.rand(a.batch, 1, 28, 28)
        y = torch.arange(a.batch) % 10
    else:
        widths = [int(w) for w in a.widths.split(",")]
        model = mlp(widths, a.arch)
        x = torch.rand(a.batch, widths[0])
        y = torch.arange(a.batch) % widths[-1]
    if a.mode == "train":
        opt = torch.optim.SGD(model.parameters(), lr=1e-4)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        t = time_it(step, a.seconds, a.repeats)
    else:
        model.eval()

        def infer():  # as the exports compute: the MLPs end in Softmax, the CNN in raw scores
            with torch.no_grad():
                out = model(x)
                if a.arch != "cnn":
                    torch.softmax(out, dim=1)
        t = time_it(infer, a.seconds, a.repeats)
    med = t[len(t) // 2]
    blas, core = blas_in_use()
    print(f"mode={a.mode} samples_per_s={a.batch / med:.0f} spread={(t[-1] - t[0]) / med:.3f} "
          f"blas={blas} core={core} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
