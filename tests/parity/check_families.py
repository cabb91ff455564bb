"""Trains each case make_families.py wrote with `onnxtrain train`, as a user would, and holds it to PyTorch: every
step's loss (from --log) and every initializer of the written model (rtol 1e-4, atol 1e-5), the written model through
the ONNX checker, and `onnxtrain run` on it against the PyTorch-trained model's outputs. With --ort (ONNX Runtime's
Node package, which bench/setup.sh installs), ONNX Runtime runs the written model too and must agree with `run`.
Prints a line per case and exits 1 if any fails."""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

RTOL, ATOL = 1e-4, 1e-5


def close(got, want, rtol=RTOL, atol=ATOL):
    """The worst |got - want| beyond atol + rtol |want|, as a message; '' when all are within."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape}, PyTorch has {want.shape}"
    excess = np.abs(got - want) - (atol + rtol * np.abs(want))
    if excess.size == 0 or excess.max() <= 0:
        return ""
    i = np.unravel_index(np.argmax(excess), excess.shape)
    return f"[{','.join(map(str, i))}] is {got[i]:.7g}, PyTorch has {want[i]:.7g}"


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(os.path.basename(c) for c in cmd[:2])} exited {p.returncode}: "
                           f"{p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}")
    return p


def ort_outputs(node_modules, model, x):
    """ONNX Runtime's outputs for x, through tests/parity/ort_run.js."""
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), x)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_run.js")
        env = dict(os.environ, NODE_PATH=node_modules)
        p = subprocess.run(["node", script, model, os.path.join(d, "x.npy"), os.path.join(d, "y.npy")],
                           capture_output=True, text=True, env=env, timeout=300)
        if p.returncode != 0:
            raise RuntimeError("ONNX Runtime: " + (p.stderr.strip().splitlines() or ["failed"])[-1])
        return np.load(os.path.join(d, "y.npy"))


def check(cli, data, case, node_modules):
    cfg = json.load(open(os.path.join(data, case + ".json")))
    ref = np.load(os.path.join(data, case + ".ref.npz"))
    with tempfile.TemporaryDirectory() as d:
        out, log, preds = (os.path.join(d, f) for f in ("trained.onnx", "log.jsonl", "preds.npz"))
        cmd = [cli, "train", os.path.join(data, case + ".onnx"), "--data", os.path.join(data, case + ".npz"),
               "--no-shuffle", "--batch-size", str(cfg["batch"]), "--epochs", str(cfg["epochs"]), "--loss", cfg["loss"],
               "--optimizer", cfg["optimizer"], "--lr", repr(cfg["lr"]), "--threads", "1", "--log", log, "--out", out]
        if cfg["freeze_batchnorm"]:
            cmd.append("--freeze-batchnorm")
        for name in cfg.get("freeze", []):
            cmd += ["--freeze", name]
        run(cmd)
        losses = [r["loss"] for r in map(json.loads, open(log)) if r.get("type") == "step"]
        if len(losses) != len(ref["losses"]):
            return f"{len(losses)} steps logged, PyTorch took {len(ref['losses'])}"
        if (bad := close(losses, ref["losses"])):
            return "loss at step " + bad
        model = onnx.load(out)
        onnx.checker.check_model(model)
        written = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        weights = [k for k in ref.files if k.startswith("w:")]
        if not weights:
            return "no initializer maps to a PyTorch parameter"
        for k in weights:
            if k[2:] not in written:
                return f"the written model has no initializer {k[2:]}"
            if (bad := close(written[k[2:]], ref[k])):
                return f"{k[2:]}{bad}"
        run([cli, "run", out, "--data", os.path.join(data, case + ".npz"), "--out", preds])
        got = np.load(preds)["output"]
        want = np.load(os.path.join(data, case + ".npz"))["output"]
        if (bad := close(got, want)):
            return "run: output" + bad
        # A training-form BatchNormalization (a training-mode export) normalizes with the batch's statistics in ONNX
        # Runtime, as ONNX defines the form; onnxtrain's run uses the running ones, as PyTorch's eval() does. The
        # outputs then differ by design, so ONNX Runtime checks only the other files.
        training_form = any(n.op_type == "BatchNormalization" and
                            (len(n.output) > 1 or any(a.name == "training_mode" and a.i for a in n.attribute))
                            for n in model.graph.node)
        if node_modules and not training_form:
            x = np.load(os.path.join(data, case + ".npz"))["x"]
            if (bad := close(ort_outputs(node_modules, out, x), got)):
                return "ONNX Runtime against run: output" + bad
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--family", help="only this family's cases")
    ap.add_argument("--ort", help="ONNX Runtime's node_modules folder")
    a = ap.parse_args()
    cases = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(a.data, "*.json")))
    if a.family:
        cases = [c for c in cases if json.load(open(os.path.join(a.data, c + ".json")))["family"] == a.family]
    if not cases:
        sys.exit(f"no cases in {a.data}" + (f" for family {a.family}" if a.family else ""))
    failed = 0
    for case in cases:
        try:
            why = check(a.cli, a.data, case, a.ort)
        except Exception as e:  # a failing command or a checker error fails the case, with its message
            why = str(e)
        print(("FAIL " if why else "ok   ") + case + (": " + why if why else ""), flush=True)
        failed += bool(why)
    print(f"{len(cases) - failed} of {len(cases)} cases match PyTorch")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
