"""onnxtrain against PyTorch (and ONNX Runtime when its Node package is installed), side by side in one run, on the
same exported MLPs and the bundled CNN (models/fashion_cnn.onnx), data sizes and thread counts. One process at a
time: OpenMP programs sharing two cores slow each other down by orders of magnitude. Prints a table of samples/s,
ratios, the oneDNN GEMM bound and peak memory for the MLPs, and one for the CNN with its convolution-and-GEMM bound.

    python3 bench/run.py            # the full grid, 3 rounds (about 15 minutes)
    python3 bench/run.py --quick    # about 80 s: the CNN on 1 thread only
    python3 bench/run.py --epoch    # also one Fashion-MNIST epoch of the CNN, onnxtrain's CLI against PyTorch's
    python3 bench/run.py --against OLD/build   # also an older build, in the same rounds: is a change a slowdown?

Each cell is measured in rounds: every program once per round, the rounds one after the other, and the median of the
rounds taken per program. A passing disturbance on a shared machine then moves one round, not the ratio.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# name: (widths, arch). LN+GELU: LayerNorm and GELU after each hidden Linear (torch_bench.mlp), exported at opset 17.
MODELS = {"784-256-128-10": ([784, 256, 128, 10], "mlp"), "784-1024-1024-10": ([784, 1024, 1024, 10], "mlp"),
          "784-256-128-10 LN+GELU": ([784, 256, 128, 10], "ln_gelu")}
# The bundled CNN, as shipped (make_models.py's cnn(0)); torch_bench.py --arch cnn builds the same module.
CNN = os.path.join(ROOT, "models", "fashion_cnn.onnx")
CNN_DIMS = "1,28,28"  # one sample of its input, for ort_bench.js


def export(widths, arch, path):
    import torch
    from torch import nn
    sys.path.insert(0, HERE)
    from torch_bench import mlp
    m = nn.Sequential(*mlp(widths, arch), nn.Softmax(dim=1)).eval()
    torch.onnx.export(m, torch.zeros(2, widths[0]), path, opset_version=17 if arch == "ln_gelu" else 13,
                      input_names=["input"], output_names=["probs"],
                      dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}})


def parse(out):
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def strongest_openblas_core():
    """The OpenBLAS core with the widest f32 kernels this CPU runs: OpenBLAS 0.3.21 (Debian 12) detects no CPU newer
    than itself, and falls back to SSE3 ("Prescott") on one. SkylakeX is its AVX-512 sgemm (Cooperlake and Sapphire
    Rapids add only bf16 kernels), Haswell its AVX2 one."""
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    return "Haswell" if {"avx2", "fma"} <= flags else None


def run(cmd, threads, openblas_core=None, optional=False, raw=False):
    """Runs one measurement and returns its key=value pairs. openblas_core forces OPENBLAS_CORETYPE; without it the
    environment's setting (or OpenBLAS's detection) stands. optional: a failure returns None instead of stopping.
    raw: returns the whole stdout instead (the epoch runs, which print sentences)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if openblas_core:
        env["OPENBLAS_CORETYPE"] = openblas_core
    if os.path.isdir(OPENBLAS_OPENMP):  # OpenBLAS's OpenMP build shares torch's thread pool
        env["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP + ":" + env.get("LD_LIBRARY_PATH", "")
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        if optional:
            print(f"\n{' '.join(cmd)} failed (left out): {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout if raw else parse(r.stdout.strip().splitlines()[-1])


def measure(programs, threads, rounds):
    """Each program's key=value results over the rounds, every program once per round. A program is a command, or
    (command, OpenBLAS core) left out if that core fails here, or ("against", command) left out where the other build
    cannot load the model; left-out programs are set to None in programs and have no results."""
    got = {key: [] for key in programs}
    for _ in range(rounds):
        for key, cmd in programs.items():
            if isinstance(cmd, tuple) and cmd[0] == "against":
                r = run(cmd[1], threads, optional=True)
            elif isinstance(cmd, tuple):
                r = run(cmd[0], threads, cmd[1], optional=True)
            elif cmd:
                r = run(cmd, threads)
            else:
                continue
            if r is None:
                programs[key] = None
            else:
                got[key].append(r)
    return got


def median(got, key, field="samples_per_s"):
    return statistics.median(float(r[field]) for r in got[key]) if got[key] else None


def spread(got, key):
    """Within each measurement (its repeats) and across the rounds, whichever is wider."""
    vals = [float(r["samples_per_s"]) for r in got[key]]
    return max(max(float(r["spread"]) for r in got[key]), (max(vals) - min(vals)) / median(got, key))


def ort_available():
    node = shutil.which("node")
    return node and subprocess.run([node, "-e", "require('onnxruntime-node')"], cwd=HERE,
                                   capture_output=True).returncode == 0


def min_bytes(widths, batch):
    """Parameters, their gradients, no optimizer state (plain SGD), and one batch's activations and their gradients."""
    params = sum(widths[i] * widths[i + 1] + widths[i + 1] for i in range(len(widths) - 1))
    acts = batch * sum(widths)
    return 4 * (2 * params + 2 * acts)


def gemm_flops(widths):
    """FLOPs per sample of the bound's GEMMs: forward and weight gradients of every layer, data gradients but the
    first's."""
    macs = [widths[i] * widths[i + 1] for i in range(len(widths) - 1)]
    return 2 * (2 * sum(macs) + sum(macs[1:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small model and its LN+GELU variant, batches 32 and 256, "
                    "the CNN at batches 64 and 256 on 1 thread, short timings")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--cnn", action="store_true", help="the CNN's rows alone, on 1 and 2 threads (with --quick too)")
    ap.add_argument("--epoch", action="store_true", help="also one epoch of the CNN on Fashion-MNIST, onnxtrain's CLI "
                    "against bench/cnn_torch.py, per thread count of the CNN rows (over a minute)")
    ap.add_argument("--seconds", type=float, default=None, help="timing per measurement")
    ap.add_argument("--rounds", type=int, default=None, help="measurements of each cell (default 3, 1 with --quick)")
    ap.add_argument("--against", metavar="BUILD", help="another onnxtrain build (an older commit's) trained in the same "
                    "rounds; prints this build's training speed against it, for the models that build loads")
    a = ap.parse_args()
    bench = os.path.join(a.build, "bench", "onnxtrain_bench")
    old_bench = os.path.join(a.against, "bench", "onnxtrain_bench") if a.against else None
    for b in filter(None, (bench, old_bench)):
        if not os.path.exists(b):
            raise SystemExit(f"{b} not found: build first (bash scripts/setup.sh)")
    seconds = a.seconds or (0.4 if a.quick else 1.5)
    rounds = a.rounds or (1 if a.quick else 3)
    models = {k: v for k, v in MODELS.items() if k != "784-1024-1024-10"} if a.quick else MODELS
    if a.cnn:
        models = {}
    batches = (32, 256) if a.quick else (32, 256, 1024)
    use_ort = ort_available()
    # bf16 only where the CPU computes it natively; onnxtrain itself falls back to f32 elsewhere.
    bf16 = "avx512_bf16" in open("/proc/cpuinfo").read()
    tmp = tempfile.mkdtemp(prefix="onnxtrain_bench_")
    rows, started = [], time.time()
    info = {}
    # PyTorch twice: with OpenBLAS's strongest kernels for this CPU (the comparison), and as the environment has it.
    best = strongest_openblas_core()
    # Where the environment already asks for that core, the two are one PyTorch: measure it once.
    env_is_best = best is not None and os.environ.get("OPENBLAS_CORETYPE", "").lower() == best.lower()
    # The CPU's f32 FMA peak per thread count (no model is read in this mode).
    peak = {t: run([bench, "none", "--mode", "peak", "--threads", str(t)], t) for t in (1, 2)}
    for name, (widths, arch) in models.items():
        path = os.path.join(tmp, name.replace(" ", "_").replace("+", "_") + ".onnx")
        export(widths, arch, path)
        for threads in (1, 2):
            for batch in batches:
                common = ["--threads", str(threads), "--batch", str(batch), "--seconds", str(seconds)]
                tb = [sys.executable, os.path.join(HERE, "torch_bench.py"), "--widths", ",".join(map(str, widths)),
                      "--arch", arch] + common
                programs = {
                    "ours_t": [bench, path, "--mode", "train"] + common,
                    "ours_i": [bench, path, "--mode", "infer"] + common,
                    "bf16": [bench, path, "--mode", "train", "--precision", "bf16"] + common if bf16 else None,
                    "bound": [bench, path, "--mode", "gemm"] + common,
                    "blocked": [bench, path, "--mode", "gemm-blocked"] + common,
                    "torch_t": tb + ["--mode", "train"] if env_is_best else (tb + ["--mode", "train"], best),
                    "torch_env": None if env_is_best else tb + ["--mode", "train"],
                    "torch_i": tb + ["--mode", "infer"] if env_is_best else (tb + ["--mode", "infer"], best),
                    "ort_i": ["node", os.path.join(HERE, "ort_bench.js"), path, str(threads), str(batch), str(seconds)]
                    if use_ort else None,
                    "old_t": ("against", [old_bench, path, "--mode", "train"] + common) if old_bench else None,
                }
                got = measure(programs, threads, rounds)
                if env_is_best:
                    got["torch_env"] = got["torch_t"]
                if not got["torch_t"]:  # the forced core does not run here: compare with the environment's
                    got["torch_t"] = got["torch_env"]
                if not got["torch_i"]:
                    got["torch_i"] = [run(tb + ["--mode", "infer"], threads)]
                info.update(blas=got["torch_env"][0]["blas"], env_core=got["torch_env"][0].get("core", "-"),
                            core=got["torch_t"][0].get("core", "-"))
                med = lambda key, field="samples_per_s": median(got, key, field)
                rows.append(dict(model=name, threads=threads, batch=batch, ours_t=med("ours_t"), bf16=med("bf16"),
                                 torch_t=med("torch_t"), torch_env=med("torch_env"), bound=med("bound"), blocked=med("blocked"),
                                 ours_i=med("ours_i"), torch_i=med("torch_i"), ort_i=med("ort_i"), old_t=med("old_t"),
                                 peak=float(peak[threads]["gflops"]) * 1e9 / gemm_flops(widths),
                                 spread=max(spread(got, "ours_t"), spread(got, "torch_t")),
                                 rss=med("ours_t", "peak_rss_kb") / 1024, min=min_bytes(widths, batch) / 2**20))
                print(".", end="", flush=True, file=sys.stderr)
    mlp_seconds = time.time() - started

    # The bundled CNN, its own table: no bf16 or blocked inner products, and a bound that adds its convolutions.
    # PyTorch: the same handling as the MLPs' torch column (OpenBLAS's strongest core for its Linear layers; its
    # convolutions run its bundled oneDNN, whatever the BLAS).
    cnn_threads = (1,) if a.quick and not a.cnn else (1, 2)
    cnn_rows = []
    for threads in cnn_threads:
        for batch in (64, 256):
            common = ["--threads", str(threads), "--batch", str(batch), "--seconds", str(seconds)]
            tb = [sys.executable, os.path.join(HERE, "torch_bench.py"), "--arch", "cnn"] + common
            forced = lambda cmd: cmd if env_is_best else (cmd, best)
            programs = {
                "ours_t": [bench, CNN, "--mode", "train"] + common,
                "ours_i": [bench, CNN, "--mode", "infer"] + common,
                "bound": [bench, CNN, "--mode", "conv"] + common,
                "torch_t": forced(tb + ["--mode", "train"]),
                "torch_i": forced(tb + ["--mode", "infer"]),
                "ort_i": ["node", os.path.join(HERE, "ort_bench.js"), CNN, str(threads), str(batch), str(seconds),
                          CNN_DIMS] if use_ort else None,
                "old_t": ("against", [old_bench, CNN, "--mode", "train"] + common) if old_bench else None,
            }
            got = measure(programs, threads, rounds)
            for key, mode in (("torch_t", "train"), ("torch_i", "infer")):  # the forced core fails: the environment's
                if not got[key]:
                    got[key] = [run(tb + ["--mode", mode], threads)]
            med = lambda key, field="samples_per_s": median(got, key, field)
            b = got["bound"][0]
            cnn_rows.append(dict(model="fashion_cnn", threads=threads, batch=batch, ours_t=med("ours_t"),
                                 torch_t=med("torch_t"), bound=med("bound"), ours_i=med("ours_i"),
                                 torch_i=med("torch_i"), ort_i=med("ort_i"), old_t=med("old_t"),
                                 core=got["torch_t"][0].get("core", "-"),
                                 # samples/s at the FMA peak, for the step's conv and GEMM FLOPs
                                 peak=float(peak[threads]["gflops"]) * 1e9 / float(b["flops_per_sample"]),
                                 flops=float(b["flops_per_sample"]),
                                 impls=(b["conv_fwd"], b["conv_bwd_data"], b["conv_bwd_weights"]),
                                 spread=max(spread(got, "ours_t"), spread(got, "torch_t")),
                                 rss=med("ours_t", "peak_rss_kb") / 1024, min=med("ours_t", "min_bytes") / 2**20))
            print(".", end="", flush=True, file=sys.stderr)
    cnn_seconds = time.time() - started - mlp_seconds

    # One epoch of Fashion-MNIST as the README's example trains it (Adam, lr 1e-3, batch 64): the CLI's epoch line
    # against bench/cnn_torch.py, whose PyTorch runs as the torch column's does.
    epochs = []
    if a.epoch:
        cli = os.path.join(a.build, "onnxtrain")
        for threads in cnn_threads:
            out = run([cli, "train", CNN, "--data", "fashion-mnist", "--optimizer", "adam", "--lr", "1e-3",
                       "--batch-size", "64", "--epochs", "1", "--threads", str(threads),
                       "--out", os.path.join(tmp, "cnn.onnx")], threads, raw=True)
            ours = re.search(r"^epoch 1/1: .*, ([0-9.]+) s \(", out, re.M)
            cmd = [sys.executable, os.path.join(HERE, "cnn_torch.py"), "--threads", str(threads)]
            theirs = run(cmd, threads, None if env_is_best else best, optional=True, raw=True) or \
                run(cmd, threads, raw=True)
            torch_s = re.search(r"one epoch in ([0-9.]+) s", theirs)
            if not ours or not torch_s:
                raise SystemExit(f"no epoch time in:\n{out}\n{theirs}")
            epochs.append((threads, float(ours.group(1)), float(torch_s.group(1))))
            print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    shutil.rmtree(tmp)

    k = lambda v: f"{v / 1000:.0f}k" if v >= 10000 else f"{v / 1000:.1f}k"
    env_ct = os.environ.get("OPENBLAS_CORETYPE")
    print(f"PyTorch {__import__('torch').__version__} with BLAS {info.get('blas', '-')}: torch runs OpenBLAS's "
          f"{info.get('core', '-')} kernels, torch env its {info.get('env_core', '-')} kernels "
          f"({'OPENBLAS_CORETYPE=' + env_ct if env_ct else 'the environment sets no OPENBLAS_CORETYPE'}); ONNX Runtime: {'onnxruntime-node' if use_ort else 'not installed'}; {os.cpu_count()} cores; "
          f"{seconds:g} s per measurement, medians of 5 repeats, medians of {rounds} round{'s' if rounds > 1 else ''}")
    p1, p2 = peak[1], peak[2]
    print(f"f32 FMA peak, GFLOP/s: 1 thread {float(p1['gflops']):.0f} ({p1['isa']}; AVX2 {float(p1['avx2_gflops']):.0f}), "
          f"2 threads {float(p2['gflops']):.0f} (AVX2 {float(p2['avx2_gflops']):.0f})")
    if rows:  # the MLPs (not with --cnn)
        head = ("model", "thr", "batch", "train", "torch", "x torch", "2x torch % peak", "torch env", "x env", "bound", "% bound", "bound % peak", "blocked", "bf16",
                "infer", "torch",
                "x torch", "ORT", "x ORT", "spread", "RSS MiB", "min+50")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            ort = r["ort_i"]
            print("| " + " | ".join([
                r["model"], str(r["threads"]), str(r["batch"]), k(r["ours_t"]), k(r["torch_t"]),
                f"{r['ours_t'] / r['torch_t']:.2f}", f"{200 * r['torch_t'] / r['peak']:.0f}%", k(r["torch_env"]), f"{r['ours_t'] / r['torch_env']:.1f}",
                k(r["bound"]), f"{100 * r['ours_t'] / r['bound']:.0f}%",
                f"{100 * r['bound'] / r['peak']:.0f}%",
                f"{r['blocked'] / r['bound']:.2f}",
                k(r["bf16"]) if r["bf16"] else "-",
                k(r["ours_i"]), k(r["torch_i"]), f"{r['ours_i'] / r['torch_i']:.1f}",
                k(ort) if ort else "-", f"{r['ours_i'] / ort:.2f}" if ort else "-",
                f"{100 * r['spread']:.0f}%", f"{r['rss']:.0f}", f"{1.3 * r['min'] + 50:.0f}"]) + " |")
        print(f"train/infer: samples/s. torch: PyTorch with OpenBLAS's strongest kernels for this CPU (its AVX-512 or "
              f"AVX2 sgemm), the one the ratios compare with; 2x torch % peak: the GEMM FLOP rate that twice its samples/s would take, against "
              f"the CPU's f32 FMA peak; torch env: the same PyTorch with the environment's OpenBLAS core. "
              f"bound: oneDNN matmul alone on the same step's f32 GEMMs. bound % peak: the bound's "
              f"FLOP rate against the CPU's f32 FMA peak (vector FMAs alone, no loads). blocked: the same GEMMs as "
              f"inner products on weights kept in oneDNN's blocked layout, against the bound. bf16: onnxtrain training "
              f"with --precision bf16. spread: (max-min)/median "
              f"of the noisier side in training, over the repeats and over the rounds. min+50: 1.3x the theoretical minimum + 50 MiB. {mlp_seconds:.0f} s.")

    print(f"\nThe bundled CNN (models/fashion_cnn.onnx), trained with SGD (lr 1e-4) on cross-entropy of its scores:")
    head = ("model", "thr", "batch", "train", "torch", "x torch", "2x torch % peak", "bound", "% bound",
            "bound % peak", "train % peak", "infer", "torch", "x torch", "ORT", "x ORT", "spread", "RSS MiB", "min+50")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in cnn_rows:
        ort = r["ort_i"]
        print("| " + " | ".join([
            r["model"], str(r["threads"]), str(r["batch"]), k(r["ours_t"]), k(r["torch_t"]),
            f"{r['ours_t'] / r['torch_t']:.2f}", f"{200 * r['torch_t'] / r['peak']:.0f}%",
            k(r["bound"]), f"{100 * r['ours_t'] / r['bound']:.0f}%", f"{100 * r['bound'] / r['peak']:.0f}%",
            f"{100 * r['ours_t'] / r['peak']:.0f}%",
            k(r["ours_i"]), k(r["torch_i"]), f"{r['ours_i'] / r['torch_i']:.1f}",
            k(ort) if ort else "-", f"{r['ours_i'] / ort:.2f}" if ort else "-",
            f"{100 * r['spread']:.0f}%", f"{r['rss']:.0f}", f"{1.3 * r['min'] + 50:.0f}"]) + " |")
    impls = {}
    for r in cnn_rows:
        impls.setdefault(r["impls"], []).append(f"{r['threads']} thr batch {r['batch']}")
    chose = "; ".join(f"forward {f}, backward data {d}, backward weights {w} ({', '.join(cells)})"
                      for (f, d, w), cells in impls.items())
    flops = cnn_rows[0]["flops"] if cnn_rows else 0
    print(f"torch: PyTorch's own module (make_models.cnn(0)), OpenBLAS's {cnn_rows[0]['core'] if cnn_rows else '-'} "
          f"kernels for its Linear layers, its bundled oneDNN for its convolutions. bound: the step's convolutions "
          f"and GEMMs alone, as oneDNN primitives: each convolution's forward, backward data (not the first's) and "
          f"backward weights with its bias, on the layouts oneDNN picks and no reorder, then oneDNN matmul on the "
          f"Linear layers' GEMMs on plain buffers (onnxtrain_bench --mode conv). The convolutions oneDNN chose, in "
          f"node order: {chose}. % peak: the FLOP rate of the same convolutions and GEMMs ({flops / 1e6:.1f} MFLOP a "
          f"sample) against the CPU's f32 FMA peak; 2x torch % peak: the rate twice PyTorch's samples/s would take. "
          f"min+50: 1.3x (parameters, their gradients, the input batch, every forward node's output and its "
          f"gradient) + 50 MiB. {cnn_seconds:.0f} s.")
    if epochs:
        print(f"\nOne epoch of Fashion-MNIST (60000 samples; Adam, lr 1e-3, batch 64): `onnxtrain train` (its epoch "
              f"line) against bench/cnn_torch.py:")
        print("| thr | onnxtrain s | PyTorch s | x PyTorch |\n|---|---|---|---|")
        for threads, ours, theirs in epochs:
            print(f"| {threads} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.2f} |")
    if old_bench:
        print(f"\nTraining against {a.against}, measured in the same rounds:")
        print("| model | thr | batch | train | against | x against |\n|---|---|---|---|---|---|")
        for r in rows + cnn_rows:
            old = r["old_t"]
            print(f"| {r['model']} | {r['threads']} | {r['batch']} | {k(r['ours_t'])} | {k(old) if old else '-'} | "
                  f"{r['ours_t'] / old:.2f} |" if old else f"| {r['model']} | {r['threads']} | {r['batch']} | "
                  f"{k(r['ours_t'])} | - (does not load the model) | - |")


if __name__ == "__main__":
    main()
