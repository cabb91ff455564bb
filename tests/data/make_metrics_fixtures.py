"""Writes the data and reference metrics for eval's metrics and the CSV and .npy-labels readers: two small models
exported from PyTorch (a 7-class classifier with a Softmax head, a 3-output regressor), their data as .npz, .csv
and .npy, and what PyTorch and NumPy compute on them (loss, top-1 and top-3 accuracy, per-class accuracy, the confusion
matrix, MSE, MAE and R^2 as sklearn's r2_score has it) in reference.json. Also the bad CSV files, one per fault."""
import csv
import json
import os
import sys

import numpy as np
import torch


def export(model, path, features):
    model.eval()
    torch.onnx.export(model, torch.zeros(2, features), path, input_names=["x"], output_names=["out"],
                      dynamic_axes={"x": {0: "batch"}, "out": {0: "batch"}}, opset_version=13)


def write_csv(path, header, rows, quote_header=False):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL if quote_header else csv.QUOTE_MINIMAL)
        w.writerow(header)
        w = csv.writer(f)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else int(v) for v in r])


def classification_metrics(logits, y, classes, k):
    pred = logits.argmax(1)
    conf = np.zeros((classes, classes), np.int64)
    for t, p in zip(y, pred):
        conf[t, p] += 1
    support = conf.sum(1)
    per_class = [float(conf[c, c] / support[c]) if support[c] else None for c in range(classes)]
    # The label among the k highest scores: torch.topk over the logits (distinct random floats, so no ties).
    topk = torch.topk(torch.from_numpy(logits), k, dim=1).indices.numpy()
    return {
        "loss": float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()),
        "accuracy": float((pred == y).mean()),
        "top_k": k,
        "top_k_accuracy": float((topk == y[:, None]).any(1).mean()),
        "per_class_accuracy": per_class,
        "confusion_matrix": conf.tolist(),
        "classes": classes,
    }


def regression_metrics(pred, target):
    p, t = torch.from_numpy(pred).double(), torch.from_numpy(target).double()
    # sklearn's r2_score, multioutput='uniform_average': 1 - SS_res / SS_tot per output column, then their mean.
    ss_res = ((t - p) ** 2).sum(0)
    ss_tot = ((t - t.mean(0)) ** 2).sum(0)
    return {
        "loss": float(torch.nn.functional.mse_loss(torch.from_numpy(pred), torch.from_numpy(target)).item()),
        "mse": float(((p - t) ** 2).mean().item()),
        "mae": float((p - t).abs().mean().item()),
        "r2": float((1 - ss_res / ss_tot).mean().item()),
    }


def main(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    ref = {}

    # A 7-class classifier whose labels use only classes 0..5: class 6 has no samples (per-class accuracy null).
    n, f, c = 203, 6, 7
    cls = torch.nn.Sequential(torch.nn.Linear(f, c), torch.nn.Softmax(dim=1))
    export(cls, os.path.join(out, "cls.onnx"), f)
    x = rng.standard_normal((n, f)).astype(np.float32)
    with torch.no_grad():
        logits = cls[0](torch.from_numpy(x)).numpy()
    # Labels that agree with the model about half the time, so that every metric is far from 0 and 1.
    y = np.where(rng.random(n) < 0.5, logits.argmax(1), rng.integers(0, 6, n)).astype(np.int64)
    y = np.where(y == 6, 5, y)
    ref["cls"] = classification_metrics(logits, y, c, 3)
    np.savez(os.path.join(out, "cls.npz"), x=x, y=y)
    np.save(os.path.join(out, "cls_x.npy"), x)
    np.save(os.path.join(out, "cls_y.npy"), y)
    np.save(os.path.join(out, "cls_y_short.npy"), y[:100])
    header = ["f%d" % i for i in range(f)] + ["label"]
    write_csv(os.path.join(out, "cls.csv"), header, [list(x[i]) + [y[i]] for i in range(n)])
    # The same labels stored as float32 whole numbers: refused under cross-entropy.
    np.savez(os.path.join(out, "cls_float_y.npz"), x=x, y=y.astype(np.float32))
    np.savez(os.path.join(out, "cls_no_y.npz"), x=x, z=y)
    # A fraction where a class label belongs, in a CSV.
    rows = [list(x[i]) + [y[i]] for i in range(n)]
    rows[3][-1] = 2.5
    write_csv(os.path.join(out, "cls_fraction.csv"), header, rows)

    # A 3-output regressor under mse.
    reg = torch.nn.Linear(5, 3)
    export(reg, os.path.join(out, "reg.onnx"), 5)
    xr = rng.standard_normal((97, 5)).astype(np.float32)
    with torch.no_grad():
        pr = reg(torch.from_numpy(xr)).numpy()
    tr = (pr + 0.5 * rng.standard_normal(pr.shape) * np.array([1.0, 0.3, 2.0])).astype(np.float32)
    ref["reg"] = regression_metrics(pr, tr)
    np.savez(os.path.join(out, "reg.npz"), x=xr, y=tr)

    # One output per sample, from a CSV whose target column sits between the features, quoted, its name holding a
    # comma: --target-col names it.
    reg1 = torch.nn.Linear(4, 1)
    export(reg1, os.path.join(out, "reg1.onnx"), 4)
    x1 = rng.standard_normal((50, 4)).astype(np.float32)
    with torch.no_grad():
        p1 = reg1(torch.from_numpy(x1)).numpy()
    t1 = (p1[:, 0] + rng.standard_normal(50)).astype(np.float32)
    ref["reg1"] = regression_metrics(p1, t1[:, None])
    write_csv(os.path.join(out, "reg1.csv"), ["a", "b", "price, usd", "c", "d"],
              [[x1[i, 0], x1[i, 1], t1[i], x1[i, 2], x1[i, 3]] for i in range(50)], quote_header=True)
    np.savez(os.path.join(out, "reg1_expected.npz"), x=x1, y=t1)

    # One file per fault the CSV reader names.
    bad = {
        "not_a_number.csv": "a,b,y\n1,2,0\n3,abc,1\n",
        "empty_cell.csv": "a,b,y\n1,2,0\n3,,1\n",
        "short_row.csv": "a,b,y\n1,2,0\n3,4\n",
        "long_row.csv": "a,b,y\n1,2,0\n3,4,1,5\n",
        "empty.csv": "",
        "header_only.csv": "a,b,y\n",
        "duplicate.csv": "a,b,a\n1,2,0\n",
        "unclosed.csv": "a,b,y\n1,2,\"0\n",
    }
    for name, text in bad.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)

    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_metrics_fixtures.py OUTDIR")
    main(sys.argv[1])
